// The encoder device: its RT hook through losses (carried over from the stream test: a
// simulated shaft makes quadrature edges with the kernel's seqnos; the "kernel" drops runs
// of events and the hook sees only what is kept, as the RT thread would hand them over;
// after each loss the position must follow the motion exactly again, and the published
// bound must cover how far it is off the true position at every point), and what its loop
// side emits and reports: position and position_uncertain rows and live lines, status,
// metrics, summary, reset.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "fake_context.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/line_source.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/device.hpp"
#include "kinds/encoder/encoder_device.hpp"
#include "kinds/kind.hpp"

using namespace gpioirq;

namespace {

class TestEncoderKind final : public kinds::Kind {
 public:
  std::string_view name() const override { return "encoder"; }
  std::string_view plural() const override { return "encoders"; }
  config::DeviceSection section() const override { return {"encoder", nullptr}; }
  std::unique_ptr<kinds::Device> make(const config::DeviceConfig& c,
                                      kinds::DeviceContext& ctx) const override {
    return kinds::make_encoder_device(*this, c, ctx);
  }
};

// A line request whose levels a test sets; no edges of its own.
class FakeLines final : public gpio::LineSource {
 public:
  std::map<std::uint32_t, int> levels;  // offset -> 0/1; missing: -EIO
  std::vector<std::uint32_t> offsets_;
  int fd() const noexcept override { return -1; }
  int read_events(std::span<gpio::RawEdge>) noexcept override { return 0; }
  int read_level(std::uint32_t offset) noexcept override {
    const auto it = levels.find(offset);
    return it == levels.end() ? -EIO : it->second;
  }
  const std::vector<std::uint32_t>& offsets() const noexcept override { return offsets_; }
  std::string describe() const override { return "fake"; }
};

constexpr std::uint16_t kLineA = 4, kLineB = 5;        // ingest line ids
constexpr std::uint32_t kOffsetA = 17, kOffsetB = 22;  // chip offsets

struct Shaft {
  bool a = false, b = false;
  std::int64_t quarters = 0;
  std::uint32_t global = 0;
  std::uint32_t seq_a = 0, seq_b = 0;
  // One quarter step; returns the kernel event it makes (line 0 = a, 1 = b).
  std::pair<std::uint16_t, gpio::RawEdge> step(bool forward) {
    // Forward gray order 00 -> 10 -> 11 -> 01: move a when a == b, else b.
    const bool move_a = forward ? (a == b) : (a != b);
    gpio::RawEdge e;
    e.timestamp_ns = 1'000'000ull * (++global);
    e.global_seqno = global;
    if (move_a) {
      a = !a;
      e.offset = kOffsetA;
      e.line_seqno = ++seq_a;
      e.rising = a;
    } else {
      b = !b;
      e.offset = kOffsetB;
      e.line_seqno = ++seq_b;
      e.rising = b;
    }
    quarters += forward ? 1 : -1;
    return {static_cast<std::uint16_t>(move_a ? 0 : 1), e};
  }
};

config::EncoderConfig x4() {
  config::EncoderConfig c;
  c.name = "knob";
  c.a = {"main", std::uint32_t{kOffsetA}, {}};
  c.b = {"main", std::uint32_t{kOffsetB}, {}};
  c.counts_per_period = 4;
  return c;
}

// An encoder device as the daemon sets it up: made by its kind, lines requested (ids
// kLineA/kLineB at kOffsetA/kOffsetB, both low), attached; then each edge goes through the
// RT hook and, as the loop would dispatch it, to the device.
struct Rig {
  explicit Rig(const config::EncoderConfig& c) {
    device = kind.make(
        config::DeviceConfig{
            "encoder", c.name, {}, std::make_shared<config::SettingsOf<config::EncoderConfig>>(c)},
        ctx);
    enc = dynamic_cast<kinds::EncoderDevice*>(device.get());
    REQUIRE(enc != nullptr);
    request = device->line_request();
    REQUIRE(request.has_value());
    REQUIRE(request->hook != nullptr);
    auto lines = std::make_unique<FakeLines>();
    lines->levels = {{kOffsetA, 0}, {kOffsetB, 0}};
    lines->offsets_ = {kOffsetA, kOffsetB};
    device->state.source = std::move(lines);
    device->state.lines = {kLineA, kLineB};
    device->state.offsets = {kOffsetA, kOffsetB};
    device->attached();  // init_levels: both low, as the stream test's resync(false, false)
  }

  // The RT thread's part only (the loop may never see it: a full ring).
  gpio::EdgeRecord rt(const std::pair<std::uint16_t, gpio::RawEdge>& ev) {
    const std::uint16_t id = ev.first == 0 ? kLineA : kLineB;
    gpio::EdgeRecord r;
    r.timestamp_ns = ev.second.timestamp_ns;
    r.line_seqno = ev.second.line_seqno;
    r.global_seqno = ev.second.global_seqno;
    r.line = id;
    r.level = ev.second.rising ? 1 : 0;
    request->hook->on_edge(id, ev.second.rising, ev.second, r.value);
    return r;
  }
  // The RT thread, then the loop.
  void feed(const std::pair<std::uint16_t, gpio::RawEdge>& ev) {
    const gpio::EdgeRecord r = rt(ev);
    device->on_edge(r, ev.first);
  }

  kinds_test::FakeContext ctx;
  TestEncoderKind kind;
  std::unique_ptr<kinds::Device> device;
  kinds::EncoderDevice* enc = nullptr;
  std::optional<kinds::LineRequest> request;
};

class RecordingMetrics final : public kinds::MetricsOut {
 public:
  std::vector<std::tuple<std::size_t, std::string, double>> samples;
  void sample(std::size_t family, std::string_view extra, double v) override {
    samples.emplace_back(family, std::string(extra), v);
  }
};

// What the device's simulate() makes a sim chip generate in its first `ms` milliseconds.
std::vector<gpio::RawEdge> simulated(kinds::Device& d, const std::vector<std::uint32_t>& offsets,
                                     config::EdgeKind edge, int ms) {
  gpio::SimSource sim("test");
  for (const std::uint32_t o : offsets) sim.set_edge(o, edge);
  d.simulate(sim, offsets);
  sim.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  std::vector<gpio::RawEdge> buf(4096);
  const int n = sim.read_events(buf);
  REQUIRE(n >= 0);
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

}  // namespace

TEST_CASE("After a kernel FIFO overflow the encoder position follows the motion exactly",
          "[kinds][encoder][faults]") {
  Rig rig(x4());
  const kinds::EncoderRt& enc = rig.enc->rt();
  Shaft shaft;
  for (int i = 0; i < 100; ++i) rig.rt(shaft.step(true));
  REQUIRE(enc.encoder.position() == 100);
  REQUIRE(enc.position_error_bound() == 0);

  // 3000 steps forward while nobody reads: only the newest 1024 events are kept.
  std::vector<std::pair<std::uint16_t, gpio::RawEdge>> burst;
  for (int i = 0; i < 3000; ++i) burst.push_back(shaft.step(true));
  for (std::size_t i = burst.size() - 1024; i < burst.size(); ++i) rig.rt(burst[i]);
  const std::int64_t p0 = enc.encoder.position();
  const std::int64_t off = shaft.quarters - p0;
  INFO("position " << p0 << ", true " << shaft.quarters << ", bound "
                   << enc.position_error_bound());
  CHECK(enc.resyncs.load() == 1);
  CHECK(enc.position_error_bound() >= 3000 - 1024);
  CHECK(static_cast<std::uint64_t>(off < 0 ? -off : off) <= enc.position_error_bound());

  // Then 200 forward and 50 back: exactly +150, in the right direction.
  for (int i = 0; i < 200; ++i) rig.rt(shaft.step(true));
  CHECK(enc.encoder.position() == p0 + 200);
  for (int i = 0; i < 50; ++i) rig.rt(shaft.step(false));
  CHECK(enc.encoder.position() == p0 + 150);
  CHECK(enc.encoder.invalid_transitions() == 0);
}

TEST_CASE("Random walks with random losses: exact between losses, always within the bound",
          "[kinds][encoder][faults]") {
  const int cpp = GENERATE(1, 2, 4);
  const int div = GENERATE(1, 3);
  config::EncoderConfig c = x4();
  c.counts_per_period = cpp;
  c.div = div;
  Rig rig(c);
  const kinds::EncoderRt& enc = rig.enc->rt();
  Shaft shaft;
  std::mt19937 rng(static_cast<unsigned>(cpp * 10 + div));
  const std::int64_t quarters_per_position = 4 / cpp * div;
  for (int round = 0; round < 200; ++round) {
    // A loss of 1..50 events in a row (possibly none), then a walk that the hook sees.
    if (round > 0 && rng() % 2) {
      const int lost = 1 + static_cast<int>(rng() % 50);
      for (int i = 0; i < lost; ++i) shaft.step(rng() % 3 != 0);
    }
    bool synced = false;
    std::int64_t sync_position = 0, sync_quarters = 0;
    for (int i = 0; i < 60; ++i) {
      rig.rt(shaft.step(rng() % 4 != 0));
      if (!synced && enc.known_a && enc.known_b) {
        synced = true;
        sync_position = enc.encoder.position();
        sync_quarters = shaft.quarters;
      }
    }
    REQUIRE(synced);
    // Against the true position: within the bound, where x1/x2 hysteresis and div
    // rounding may add one more (a lossless decoder is that far off the truncated value).
    const std::int64_t true_position = shaft.quarters / quarters_per_position;
    const std::int64_t err = enc.encoder.position() - true_position;
    INFO("round " << round << " cpp " << cpp << " div " << div << " position "
                  << enc.encoder.position() << " true " << true_position << " bound "
                  << enc.position_error_bound());
    const std::uint64_t slack = (cpp == 4 && div == 1) ? 0 : 1;
    CHECK(static_cast<std::uint64_t>(err < 0 ? -err : err) <= enc.position_error_bound() + slack);
    if (cpp == 4 && div == 1)
      CHECK(enc.encoder.position() - sync_position == shaft.quarters - sync_quarters);
  }
  CHECK(enc.encoder.invalid_transitions() == 0);
}

TEST_CASE("an edge that comes after a later seqno (two CPUs) is no loss of 2^32 steps",
          "[kinds][encoder][faults]") {
  // On a multi-core kernel line B's IRQ thread can queue seqno N+1 before line A's
  // thread queues N, in another read than N+1 (one read's edges are put in order).
  Rig rig(x4());
  const kinds::EncoderRt& enc = rig.enc->rt();
  Shaft shaft;
  for (int i = 0; i < 41; ++i) rig.rt(shaft.step(true));
  REQUIRE(enc.encoder.position() == 41);
  const auto first = shaft.step(true), second = shaft.step(true);
  REQUIRE(first.second.global_seqno + 1 == second.second.global_seqno);
  rig.rt(second);
  rig.rt(first);  // late
  CHECK(enc.late.load() == 1);
  // The late edge was counted as possibly lost, never as a wrapped difference.
  CHECK(enc.position_error_bound() <= 4);
  const std::int64_t off = shaft.quarters - enc.encoder.position();
  CHECK(static_cast<std::uint64_t>(off < 0 ? -off : off) <= enc.position_error_bound());
  // The late edge told its line's level: counting is exact again from the next edge on.
  const std::int64_t p0 = enc.encoder.position();
  for (int i = 0; i < 30; ++i) rig.rt(shaft.step(true));
  for (int i = 0; i < 10; ++i) rig.rt(shaft.step(false));
  CHECK(enc.encoder.position() == p0 + 20);
  CHECK(enc.encoder.invalid_transitions() == 0);
  CHECK(enc.position_error_bound() <= 4);
}

TEST_CASE("the encoder asks for both lines with its RT hook and reads their levels when attached",
          "[kinds][encoder]") {
  config::EncoderConfig c = x4();
  c.line.active_low = true;
  Rig rig(c);
  const kinds::LineRequest& req = *rig.request;
  REQUIRE(req.lines.size() == 2);
  CHECK(req.lines[0].second == "a");
  CHECK(req.lines[1].second == "b");
  // The refs point into the device's own copy of its settings (they outlive a reload).
  const auto& own = config::settings_cast<config::EncoderConfig>(rig.device->config());
  CHECK(req.lines[0].first == &own.a);
  CHECK(req.lines[1].first == &own.b);
  CHECK(req.settings.active_low);
  CHECK(req.edge == config::EdgeKind::both);
  CHECK(req.kernel_debounce_us == 0);
  CHECK(req.hook == &rig.enc->rt());
  CHECK(rig.enc->rt().line_a == kLineA);
  CHECK(rig.enc->rt().line_b == kLineB);
  CHECK(rig.enc->rt().offset_b == kOffsetB);

  // Attached again with a as high: the first step forward from 10 is b rising (phase 2).
  auto& lines = dynamic_cast<FakeLines&>(*rig.device->state.source);
  lines.levels[kOffsetA] = 1;
  rig.device->attached();
  gpio::RawEdge e;
  e.timestamp_ns = 5;
  e.offset = kOffsetB;
  e.line_seqno = 1;
  e.global_seqno = 1;
  e.rising = true;
  std::int64_t value = 0;
  rig.request->hook->on_edge(kLineB, true, e, value);
  CHECK(value == 1);
  CHECK(rig.enc->rt().encoder.invalid_transitions() == 0);
}

TEST_CASE("the encoder logs each new position, and how far it may be off after a loss",
          "[kinds][encoder]") {
  config::EncoderConfig c = x4();
  c.counts_per_period = 1;  // four quarter steps per position
  Rig rig(c);
  const bool monitored = GENERATE(false, true);
  rig.ctx.recorded.live_all = monitored;
  Shaft shaft;
  for (int i = 0; i < 8; ++i) rig.feed(shaft.step(true));
  // Eight quarter steps: positions 1 and 2, one row each, at the edge that made them.
  auto positions = rig.ctx.recorded.named("position");
  REQUIRE(positions.size() == 2);
  CHECK(rig.ctx.recorded.events.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const kinds_test::RecordedEvent& p = positions[i];
    CHECK(p.device == "knob");
    CHECK(p.kind == "encoder");
    CHECK(p.row == sinks::DeviceEvent::Row::event);
    CHECK(p.live);
    CHECK(p.cls == sinks::EventClass::state);
    CHECK(p.value.as_integer() == static_cast<std::int64_t>(i) + 1);
    CHECK(p.ts_ns == 1'000'000ull * 4 * (i + 1));
    CHECK(p.value2.kind() == sinks::EventValue::Kind::real);
    CHECK(p.value2.as_real() > 0);  // forward
    CHECK(p.unit.empty());
    if (monitored) {
      REQUIRE(p.fields.has_value());
      CHECK(*p.fields == nlohmann::json{{"value", i + 1}});
    } else {
      CHECK_FALSE(p.fields.has_value());
    }
  }
  CHECK(rig.ctx.recorded.named("position_uncertain").empty());

  // 21 quarter steps lost in the kernel: the next edge the loop sees says by how much the
  // position may be off, before its position.
  for (int i = 0; i < 21; ++i) shaft.step(true);
  rig.ctx.recorded.events.clear();
  for (int i = 0; i < 12; ++i) rig.feed(shaft.step(true));
  const auto uncertain = rig.ctx.recorded.named("position_uncertain");
  REQUIRE_FALSE(uncertain.empty());
  REQUIRE(rig.ctx.recorded.events.front().event == "position_uncertain");
  const std::uint64_t bound = rig.enc->position_error_bound();
  CHECK(bound >= 21 / 4);
  // One row per change of the bound; the last says what it is now.
  const kinds_test::RecordedEvent& last = uncertain.back();
  CHECK(last.value.as_integer() == static_cast<std::int64_t>(bound));
  CHECK(last.value2.as_integer() == 1);  // resyncs
  CHECK(last.cls == sinks::EventClass::loss);
  CHECK(last.device == "knob");
  for (std::size_t i = 1; i < uncertain.size(); ++i)
    CHECK(uncertain[i].value.as_integer() != uncertain[i - 1].value.as_integer());
  if (monitored) {
    REQUIRE(last.fields.has_value());
    CHECK(*last.fields == nlohmann::json{{"value", bound}});
  }
  // Back in step: positions follow again, without another uncertain row.
  rig.ctx.recorded.events.clear();
  for (int i = 0; i < 8; ++i) rig.feed(shaft.step(true));
  CHECK(rig.ctx.recorded.named("position_uncertain").empty());
  CHECK(rig.ctx.recorded.named("position").size() == 2);
}

TEST_CASE("with detent_events each new position is also a detent occurrence, without a row",
          "[kinds][encoder]") {
  config::EncoderConfig c = x4();
  c.counts_per_period = 1;  // four quarter steps per position
  c.detent_events = GENERATE(false, true);
  Rig rig(c);
  rig.ctx.recorded.live_all = true;
  Shaft shaft;
  for (int i = 0; i < 8; ++i) rig.feed(shaft.step(true));   // positions 1, 2
  for (int i = 0; i < 4; ++i) rig.feed(shaft.step(false));  // back to 1
  const auto positions = rig.ctx.recorded.named("position");
  REQUIRE(positions.size() == 3);
  const auto detents = rig.ctx.recorded.named("detent");
  if (!c.detent_events) {
    CHECK(detents.empty());
    return;
  }
  REQUIRE(detents.size() == 3);
  const std::int64_t expected[][2] = {{1, 0}, {2, 1}, {1, 2}};  // value, previous
  for (std::size_t i = 0; i < 3; ++i) {
    const kinds_test::RecordedEvent& d = detents[i];
    CHECK(d.cls == sinks::EventClass::occurrence);
    CHECK(d.row == sinks::DeviceEvent::Row::none);
    CHECK(d.live);
    CHECK(d.ts_ns == positions[i].ts_ns);
    REQUIRE(d.fields.has_value());
    CHECK(*d.fields == nlohmann::json{{"value", expected[i][0]}, {"previous", expected[i][1]}});
  }
  // Each detent right after its position row, in order.
  std::vector<std::string> order;
  for (const auto& e : rig.ctx.recorded.events) order.push_back(e.event);
  CHECK(order ==
        std::vector<std::string>{"position", "detent", "position", "detent", "position", "detent"});
}

TEST_CASE("encoder status, metrics, summary and reset", "[kinds][encoder]") {
  Rig rig(x4());
  Shaft shaft;
  for (int i = 0; i < 30; ++i) rig.feed(shaft.step(true));
  for (int i = 0; i < 20; ++i) rig.feed(shaft.step(false));
  rig.device->state.gaps_kernel = 2;
  rig.device->state.gaps_ring = 1;
  rig.device->state.latency.record(1000);
  const std::uint64_t now = shaft.global * 1'000'000ull;

  const nlohmann::json s = rig.device->status(now);
  CHECK(s == nlohmann::json{{"name", "knob"},
                            {"position", 10},
                            {"counts", 10},
                            {"velocity", rig.enc->rt().encoder.velocity(now)},
                            {"transitions", 50},
                            {"invalid", 0},
                            {"lost", 3},
                            {"resyncs", 0},
                            {"late", 0},
                            {"position_error_bound", 0}});
  CHECK(s["velocity"].get<double>() < 0);  // backwards lately

  RecordingMetrics m;
  rig.device->metrics(m, now);
  REQUIRE(m.samples.size() == 2);
  CHECK(m.samples[0] == std::tuple<std::size_t, std::string, double>{0, "", 10.0});
  CHECK(m.samples[1] == std::tuple<std::size_t, std::string, double>{1, "", 0.0});

  const std::string summary = rig.device->summary(now);
  CHECK(summary.starts_with("pos 10  vel -"));
  CHECK(summary.ends_with("/s"));
  CHECK(summary.size() <= 32);

  rig.device->reset();
  CHECK(rig.device->status(now)["position"] == 0);
  CHECK(rig.device->state.latency.count() == 0);
  // The RT side applies the reset at its next step: it counts on from the start value.
  rig.feed(shaft.step(true));
  CHECK(rig.device->status(now)["position"] == 1);
}

TEST_CASE("the encoder publishes its position, velocity and losses; HA sees a position",
          "[kinds][encoder][mqtt]") {
  Rig rig(x4());
  Shaft shaft;
  for (int i = 0; i < 30; ++i) rig.feed(shaft.step(true));
  for (int i = 0; i < 20; ++i) rig.feed(shaft.step(false));
  rig.device->state.gaps_kernel = 2;
  const std::uint64_t now = shaft.global * 1'000'000ull;
  const nlohmann::json p = rig.device->published_state(now);
  CHECK(p == nlohmann::json{
                 {"position", 10}, {"velocity", rig.enc->rt().encoder.velocity(now)}, {"lost", 2}});
  CHECK(p["velocity"].get<double>() < 0);

  const std::vector<sinks::HaEntity> ha = rig.device->ha_entities();
  REQUIRE(ha.size() == 1);
  CHECK(ha[0].component == "sensor");
  CHECK(ha[0].object_id == "position");
  CHECK(ha[0].state_member == "position");
  CHECK(ha[0].state_class == "measurement");
  CHECK(ha[0].unit.empty());
}

TEST_CASE("on a sim chip the encoder turns at its sim_rate_hz", "[kinds][encoder]") {
  config::EncoderConfig c = x4();
  c.sim_rate_hz = 2000;  // an edge every 500 us, a then b
  Rig rig(c);
  const auto edges = simulated(*rig.device, {kOffsetA, kOffsetB}, config::EdgeKind::both, 30);
  REQUIRE(edges.size() >= 4);
  CHECK(edges[0].offset == kOffsetA);
  CHECK(edges[1].offset == kOffsetB);
  CHECK(edges[2].offset == kOffsetA);
  CHECK(edges[1].timestamp_ns - edges[0].timestamp_ns == 500'000);
  CHECK(edges[2].timestamp_ns - edges[1].timestamp_ns == 500'000);
}

// Persistence (#13): the position a new encoder device restores is where the old one was,
// and motion continues from there.
TEST_CASE("a restored encoder continues from the saved position", "[kinds][encoder][state]") {
  config::EncoderConfig c = x4();
  c.div = 2;
  nlohmann::json saved;
  {
    Rig before(c);
    Shaft shaft;
    for (int i = 0; i < 41; ++i) before.feed(shaft.step(true));
    CHECK(before.enc->rt().encoder.position() == 20);
    saved = nlohmann::json::parse(before.device->save_state().dump());
  }
  CHECK(saved["counts"] == 41);
  CHECK(saved["position"] == 20);
  Rig after(c);
  CHECK(after.device->restore_state(saved) == "position 20");
  CHECK(after.enc->rt().encoder.position() == 20);
  CHECK(after.device->status(0)["position"] == 20);
  Shaft shaft;
  after.feed(shaft.step(true));
  CHECK(after.enc->rt().encoder.counts() == 42);
  for (int i = 0; i < 10; ++i) after.feed(shaft.step(false));
  CHECK(after.enc->rt().encoder.position() == 16);
  // reset goes back to the start value.
  after.device->reset();
  CHECK(after.enc->rt().encoder.position() == 0);
}

TEST_CASE("a restored encoder position respects min/max: clamped or wrapped",
          "[kinds][encoder][state]") {
  config::EncoderConfig c = x4();
  c.min = 0;
  c.max = 99;
  const nlohmann::json saved = {{"counts", 250}, {"position", 250}, {"div", 1}};
  {
    Rig rig(c);  // clamp
    CHECK(rig.device->restore_state(saved) ==
          "position 99 (saved 250 counts, brought inside min/max)");
  }
  c.mode = config::RangeMode::wrap;
  {
    Rig rig(c);
    CHECK(rig.device->restore_state(saved).starts_with("position 50"));
    Rig neg(c);
    neg.device->restore_state({{"counts", -1}});
    CHECK(neg.enc->rt().encoder.position() == 99);
  }
  // div changed since the save: the position the user saw is kept.
  c = x4();
  c.div = 4;
  Rig rig(c);
  CHECK(rig.device->restore_state({{"counts", 41}, {"position", 20}, {"div", 2}}) == "position 20");
  CHECK(rig.enc->rt().encoder.counts() == 80);
  CHECK_THROWS_AS(rig.device->restore_state({{"position", 3}}), std::invalid_argument);
  CHECK_THROWS_AS(rig.device->restore_state({{"counts", "3"}}), std::invalid_argument);
}

TEST_CASE("an encoder cannot be set", "[kinds][encoder][state]") {
  Rig rig(x4());
  try {
    rig.device->set_value(3);
    FAIL("set_value did not throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "a device of kind encoder cannot be set");
  }
}
