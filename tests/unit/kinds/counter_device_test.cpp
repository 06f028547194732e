// The counter device on the test context: its RT hook counts the configured edges in one
// word, monitor clients get the count per pulse, the event log a count and a frequency row
// per flush interval while pulses come (rows only, never live), and status, metrics,
// summary and reset report and clear it.
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "fake_context.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/counter/counter_device.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"

using namespace gpioirq;

namespace {

class TestCounterKind final : public kinds::Kind {
 public:
  std::string_view name() const override { return "counter"; }
  std::string_view plural() const override { return "counters"; }
  config::DeviceSection section() const override { return {"counter", nullptr}; }
  std::unique_ptr<kinds::Device> make(const config::DeviceConfig& c,
                                      kinds::DeviceContext& ctx) const override {
    return kinds::make_counter_device(*this, c, ctx);
  }
};

constexpr std::uint16_t kLine = 7;
constexpr std::uint64_t kMs = 1'000'000;

config::CounterConfig water() {
  config::CounterConfig c;
  c.name = "water";
  c.line = {"main", std::uint32_t{12}, {}};
  c.edge = config::EdgeKind::rising;
  c.scale = 0.5;
  c.unit = "l";
  c.window_ms = 1000;
  return c;
}

struct Rig {
  explicit Rig(const config::CounterConfig& c) {
    device = kind.make(
        config::DeviceConfig{
            "counter", c.name, {}, std::make_shared<config::SettingsOf<config::CounterConfig>>(c)},
        ctx);
    counter = dynamic_cast<kinds::CounterDevice*>(device.get());
    REQUIRE(counter != nullptr);
    request = device->line_request();
    REQUIRE(request.has_value());
    REQUIRE(request->hook != nullptr);
    device->state.lines = {kLine};
    device->state.offsets = {12};
  }

  // One edge through the RT hook; `to_loop`: and then dispatched to the device.
  void edge(bool rising, std::uint64_t ts, bool to_loop = true) {
    gpio::RawEdge e;
    e.timestamp_ns = ts;
    e.offset = 12;
    e.line_seqno = ++seqno;
    e.global_seqno = seqno;
    e.rising = rising;
    gpio::EdgeRecord r;
    r.timestamp_ns = ts;
    r.line_seqno = seqno;
    r.global_seqno = seqno;
    r.line = kLine;
    r.level = rising ? 1 : 0;
    REQUIRE(request->hook->on_edge(kLine, rising, e, r.value));
    if (to_loop) device->on_edge(r, 0);
  }
  // A pulse every 4 ms (250 Hz) from `from` on: rising, then falling 1 ms later.
  std::uint64_t pulses(int n, std::uint64_t from, bool to_loop = true) {
    std::uint64_t ts = from;
    for (int i = 0; i < n; ++i, ts += 4 * kMs) {
      edge(true, ts, to_loop);
      edge(false, ts + kMs, to_loop);
    }
    return ts - 4 * kMs;  // the last rising edge
  }

  kinds_test::FakeContext ctx;
  TestCounterKind kind;
  std::unique_ptr<kinds::Device> device;
  kinds::CounterDevice* counter = nullptr;
  std::optional<kinds::LineRequest> request;
  std::uint32_t seqno = 0;
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

TEST_CASE("the counter asks for its line with its edge kind and counts those edges in its RT hook",
          "[kinds][counter]") {
  config::CounterConfig c = water();
  c.edge = GENERATE(config::EdgeKind::rising, config::EdgeKind::falling, config::EdgeKind::both);
  c.settings.bias = config::Bias::pull_up;
  Rig rig(c);
  const kinds::LineRequest& req = *rig.request;
  REQUIRE(req.lines.size() == 1);
  CHECK(req.lines[0].first ==
        &config::settings_cast<config::CounterConfig>(rig.device->config()).line);
  CHECK(req.lines[0].second == "line");
  CHECK(req.edge == c.edge);
  CHECK(req.settings.bias == config::Bias::pull_up);
  CHECK(req.kernel_debounce_us == 0);

  // 10 pulses that the loop never sees (a full ring): counted all the same.
  rig.pulses(10, 1000, false);
  CHECK(rig.counter->count() == (c.edge == config::EdgeKind::both ? 20u : 10u));
  CHECK(rig.ctx.recorded.events.empty());
}

TEST_CASE("monitor gets the count per pulse; the log gets count and frequency rows per flush",
          "[kinds][counter]") {
  Rig rig(water());
  rig.ctx.recorded.live_devices.insert("water");
  const std::uint64_t last = rig.pulses(5, 1'000'000'000);
  // One live line per pulse (falling edges are no pulse), no row.
  const auto counts = rig.ctx.recorded.named("count");
  REQUIRE(counts.size() == 5);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    CHECK(counts[i].row == sinks::DeviceEvent::Row::none);
    CHECK(counts[i].live);
    CHECK(counts[i].device == "water");
    CHECK(counts[i].kind == "counter");
    CHECK(counts[i].ts_ns == 1'000'000'000 + i * 4 * kMs);
    REQUIRE(counts[i].fields.has_value());
    CHECK(*counts[i].fields == nlohmann::json{{"value", i + 1}});
  }

  // The flush: a count row and a frequency row, for the log only.
  rig.ctx.recorded.events.clear();
  const std::uint64_t now = last + 2 * kMs;
  rig.device->on_flush(now);
  const auto& rows = rig.ctx.recorded.events;
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].event == "count");
  CHECK(rows[0].row == sinks::DeviceEvent::Row::event);
  CHECK_FALSE(rows[0].live);
  CHECK(rows[0].ts_ns == now);
  CHECK(rows[0].value.as_integer() == 5);
  CHECK(rows[0].value2.as_real() == 2.5);  // 5 pulses of 0.5 l
  CHECK(rows[0].unit == "l");
  CHECK(rows[1].event == "frequency");
  CHECK(rows[1].row == sinks::DeviceEvent::Row::event);
  CHECK_FALSE(rows[1].live);
  CHECK(rows[1].ts_ns == now);
  CHECK(rows[1].value.as_real() == Catch::Approx(250.0));   // Hz
  CHECK(rows[1].value2.as_real() == Catch::Approx(125.0));  // l/s
  CHECK(rows[1].unit == "l");
  for (const auto& r : rows) CHECK_FALSE(r.fields.has_value());

  // No new pulse: no rows. New pulses, even unseen by the loop: rows again.
  rig.device->on_flush(now + 1000 * kMs);
  CHECK(rows.size() == 2);
  rig.pulses(3, last + 100 * kMs, false);
  rig.device->on_flush(now + 2000 * kMs);
  REQUIRE(rows.size() == 4);
  CHECK(rows[2].value.as_integer() == 8);
}

TEST_CASE("nobody listening: a pulse emits nothing", "[kinds][counter]") {
  Rig rig(water());
  rig.pulses(5, 1000);
  CHECK(rig.ctx.recorded.events.empty());
  CHECK(rig.counter->count() == 5);
}

TEST_CASE("counter status, metrics, summary and reset", "[kinds][counter]") {
  Rig rig(water());
  const std::uint64_t last = rig.pulses(101, 1'000'000'000);
  rig.device->state.gaps_ring = 4;
  rig.device->state.latency.record(500);
  const std::uint64_t now = last + kMs;

  const nlohmann::json s = rig.device->status(now);
  CHECK(s["name"] == "water");
  CHECK(s["count"] == 101);
  CHECK(s["frequency_hz"].get<double>() == Catch::Approx(250.0));
  CHECK(s["value"] == 50.5);
  CHECK(s["rate"].get<double>() == Catch::Approx(125.0));
  CHECK(s["unit"] == "l");
  CHECK(s["lost"] == 4);
  CHECK(s.size() == 7);

  RecordingMetrics m;
  rig.device->metrics(m, now);
  REQUIRE(m.samples.size() == 2);
  CHECK(std::get<0>(m.samples[0]) == 0);
  CHECK(std::get<1>(m.samples[0]).empty());
  CHECK(std::get<2>(m.samples[0]) == 101.0);
  CHECK(std::get<0>(m.samples[1]) == 1);
  CHECK(std::get<2>(m.samples[1]) == Catch::Approx(250.0));

  CHECK(rig.device->summary(now) == "50.5 l  250 Hz");

  rig.device->reset();
  CHECK(rig.counter->count() == 0);
  CHECK(rig.device->status(now)["count"] == 0);
  CHECK(rig.device->status(now)["frequency_hz"] == 0.0);
  CHECK(rig.device->state.latency.count() == 0);
  // Counting on from the reset, live lines too.
  rig.ctx.recorded.live_all = true;
  rig.pulses(2, now + kMs);
  CHECK(rig.counter->count() == 2);
  REQUIRE(rig.ctx.recorded.events.back().fields.has_value());
  CHECK(*rig.ctx.recorded.events.back().fields == nlohmann::json{{"value", 2}});
}

TEST_CASE("the counter publishes its value, count and frequency; HA sees a total and a frequency",
          "[kinds][counter][mqtt]") {
  config::CounterConfig c = water();
  c.device_class = "water";
  Rig rig(c);
  const std::uint64_t last = rig.pulses(101, 1'000'000'000);
  const std::uint64_t now = last + kMs;
  const nlohmann::json p = rig.device->published_state(now);
  CHECK(p.size() == 4);
  CHECK(p["value"] == 50.5);  // in its unit: 101 pulses * 0.5 l
  CHECK(p["count"] == 101);
  CHECK(p["frequency_hz"].get<double>() == Catch::Approx(250.0));
  CHECK(p["unit"] == "l");

  const std::vector<sinks::HaEntity> ha = rig.device->ha_entities();
  REQUIRE(ha.size() == 2);
  CHECK(ha[0].component == "sensor");
  CHECK(ha[0].object_id == "total");
  CHECK(ha[0].state_member == "value");
  CHECK(ha[0].unit == "l");
  CHECK(ha[0].device_class == "water");
  CHECK(ha[0].state_class == "total_increasing");
  CHECK(ha[1].component == "sensor");
  CHECK(ha[1].object_id == "frequency");
  CHECK(ha[1].state_member == "frequency_hz");
  CHECK(ha[1].unit == "Hz");
  CHECK(ha[1].state_class == "measurement");
  // Every entity reads a member the state has.
  for (const auto& e : ha) CHECK(p.contains(e.state_member));

  // No device_class configured: none sent (HA then takes the unit alone).
  Rig plain(water());
  CHECK(plain.device->ha_entities()[0].device_class.empty());
  rig.device->reset();
  CHECK(rig.device->published_state(now)["value"] == 0.0);
}

TEST_CASE("the counter's summary leaves out an empty unit and cuts a long one",
          "[kinds][counter]") {
  config::CounterConfig c = water();
  c.unit = "";
  c.scale = 1;
  {
    Rig rig(c);
    rig.pulses(3, 1000);
    CHECK(rig.device->summary(1000 + 9 * kMs) == "3  250 Hz");
  }
  c.unit = "very long unit name that does not fit";
  {
    Rig rig(c);
    rig.pulses(3, 1000);
    const std::string s = rig.device->summary(1000 + 9 * kMs);
    CHECK(s.size() <= 32);
    CHECK(s.starts_with("3 very long"));
    CHECK(s.ends_with("  250 Hz"));
  }
  // "³" is 2 bytes; 22 bytes of room would end inside the 7th one: the cut leaves it out.
  c.unit = "abm³m³m³m³m³m³m³";
  {
    Rig rig(c);
    rig.pulses(3, 1000);
    const std::string s = rig.device->summary(1000 + 9 * kMs);
    CHECK(s == "3 abm³m³m³m³m³m³m  250 Hz");
    CHECK_NOTHROW(nlohmann::json(s).dump());  // valid UTF-8, so the reply can be sent
  }
}

TEST_CASE("on a sim chip the counter gets pulses at its sim_rate_hz", "[kinds][counter]") {
  config::CounterConfig c = water();
  c.sim_rate_hz = 1000;
  Rig rig(c);
  const auto edges = simulated(*rig.device, {12}, config::EdgeKind::rising, 30);
  REQUIRE(edges.size() >= 3);
  for (std::size_t i = 0; i < edges.size(); ++i) {
    CHECK(edges[i].offset == 12);
    CHECK(edges[i].rising);
    if (i > 0) CHECK(edges[i].timestamp_ns - edges[i - 1].timestamp_ns == 1'000'000);
  }
}

// Persistence (#13): a new device restored from what an earlier one saved continues from
// its total; set_value makes value() read the given number and pulses add to it.
TEST_CASE("a restored counter continues from the saved total, never from 0",
          "[kinds][counter][state]") {
  nlohmann::json saved;
  {
    Rig before(water());
    before.pulses(7, 1000);
    before.device->reset();  // a reset counts: the saved total is what the user saw
    before.pulses(1234, 10'000'000'000);
    saved = before.device->save_state();
    CHECK(saved["pulses"] == 1234);
    CHECK(saved["value"] == 617.0);
    CHECK(saved["unit"] == "l");
  }
  // Through text, as the state file holds it.
  saved = nlohmann::json::parse(saved.dump());
  Rig after(water());
  const std::string words = after.device->restore_state(saved);
  CHECK(words == "total 617 l (1234 pulses)");
  CHECK(after.counter->count() == 1234);
  CHECK(after.counter->value() == 617.0);
  after.ctx.recorded.live_all = true;
  const std::uint64_t last = after.pulses(3, 1'000'000'000);
  CHECK(after.counter->count() == 1237);
  CHECK(*after.ctx.recorded.named("count").back().fields == nlohmann::json{{"value", 1237}});
  after.ctx.recorded.events.clear();
  after.device->on_flush(last + kMs);
  REQUIRE(after.ctx.recorded.events.size() == 2);
  CHECK(after.ctx.recorded.events[0].value.as_integer() == 1237);
  CHECK(after.ctx.recorded.events[0].value2.as_real() == 618.5);
  CHECK(after.device->status(last)["count"] == 1237);
  // reset goes to 0 still.
  after.device->reset();
  CHECK(after.counter->count() == 0);
  CHECK(after.counter->value() == 0.0);
}

TEST_CASE("a counter's saved state that makes no sense is refused", "[kinds][counter][state]") {
  Rig rig(water());
  for (const char* text :
       {R"({"value": 3})", R"({"pulses": -4})", R"({"pulses": "12"})", R"({"pulses": 1.5})",
        R"([1])", R"({"pulses": 3, "value_offset": "x"})"}) {
    INFO(text);
    CHECK_THROWS_AS(rig.device->restore_state(nlohmann::json::parse(text)), std::invalid_argument);
  }
  CHECK(rig.counter->count() == 0);
}

TEST_CASE("set_value: the value reads the number set, pulses add to it, it is saved",
          "[kinds][counter][state]") {
  Rig rig(water());  // 0.5 l per pulse
  rig.pulses(10, 1000);
  rig.device->set_value(12345.6);
  CHECK(rig.counter->value() == 12345.6);
  CHECK(rig.counter->count() == 24691);  // whole pulses; 0.1 l is kept as the rest
  rig.pulses(4, 1'000'000'000);
  CHECK(rig.counter->value() == 12347.6);
  const nlohmann::json saved = nlohmann::json::parse(rig.device->save_state().dump());
  Rig after(water());
  after.device->restore_state(saved);
  CHECK(after.counter->value() == 12347.6);
  CHECK(after.counter->count() == 24695);
  // Bad values, with the reason; nothing changes.
  for (double bad : {-1.0, std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN(), 1e300}) {
    INFO(bad);
    CHECK_THROWS_AS(after.device->set_value(bad), std::invalid_argument);
  }
  CHECK(after.counter->value() == 12347.6);
  after.device->set_value(0);
  CHECK(after.counter->value() == 0.0);
  CHECK(after.counter->count() == 0);
}

TEST_CASE("a counter with a negative scale cannot be set", "[kinds][counter][state]") {
  config::CounterConfig c = water();
  c.scale = -1;
  Rig rig(c);
  CHECK_THROWS_AS(rig.device->set_value(5), std::invalid_argument);
}

// Debounce: edges with kernel timestamps through the RT hook; only pulses whose active level
// lasted min_pulse_us count, the others are bounces.
TEST_CASE("min_pulse_us: short pulses are bounces, long ones count, at their end",
          "[kinds][counter][debounce]") {
  config::CounterConfig c = water();
  c.min_pulse_us = 1000;  // 1 ms
  c.edge = GENERATE(config::EdgeKind::rising, config::EdgeKind::falling);
  const bool active = c.edge == config::EdgeKind::rising;
  Rig rig(c);
  CHECK(rig.request->edge == config::EdgeKind::both);  // it times both edges
  rig.ctx.recorded.live_all = true;
  constexpr std::uint64_t kUs = 1000;
  std::uint64_t t = 1'000'000'000;
  // A reed switch closing: three bounces of 50 us, then 20 ms closed, then a release
  // bounce of 30 us.
  auto level_for = [&](std::uint64_t at, bool on) { rig.edge(on == active, at); };
  level_for(t, true);
  level_for(t + 50 * kUs, false);
  level_for(t + 100 * kUs, true);
  level_for(t + 150 * kUs, false);
  level_for(t + 200 * kUs, true);
  level_for(t + 250 * kUs, false);
  CHECK(rig.counter->count() == 0);
  level_for(t + 300 * kUs, true);
  CHECK(rig.counter->count() == 0);  // under way: not counted until it ends
  level_for(t + 20'300 * kUs, false);
  CHECK(rig.counter->count() == 1);
  level_for(t + 20'400 * kUs, true);
  level_for(t + 20'430 * kUs, false);
  CHECK(rig.counter->count() == 1);
  CHECK(rig.counter->bounces() == 4);
  // Exactly min_pulse_us counts; one ns less does not.
  t += 100 * kMs;
  level_for(t, true);
  level_for(t + 1000 * kUs, false);
  level_for(t + 5 * kMs, true);
  level_for(t + 5 * kMs + 1000 * kUs - 1, false);
  CHECK(rig.counter->count() == 2);
  CHECK(rig.counter->bounces() == 5);
  // One live count per counted pulse, at the edge that ended it.
  const auto counts = rig.ctx.recorded.named("count");
  REQUIRE(counts.size() == 2);
  CHECK(counts[0].ts_ns == 1'000'000'000 + 20'300 * kUs);
  CHECK(*counts[1].fields == nlohmann::json{{"value", 2}});
  const nlohmann::json s = rig.device->status(t + 6 * kMs);
  CHECK(s["bounces"] == 5);
  CHECK(s["count"] == 2);
}

TEST_CASE("without min_pulse_us the counter has no bounces member and its edge as configured",
          "[kinds][counter][debounce]") {
  Rig rig(water());
  CHECK(rig.request->edge == config::EdgeKind::rising);
  CHECK_FALSE(rig.device->status(0).contains("bounces"));
  // A 1 us pulse counts as it always did.
  rig.edge(true, 1000);
  rig.edge(false, 2000);
  CHECK(rig.counter->count() == 1);
}

TEST_CASE("with min_pulse_us the sim makes reed-switch pulses: one counted, three bounces each",
          "[kinds][counter][debounce]") {
  config::CounterConfig c = water();
  c.sim_rate_hz = 1000;  // 1 ms period
  c.min_pulse_us = 200;
  Rig rig(c);
  std::vector<gpio::RawEdge> edges = simulated(*rig.device, {12}, config::EdgeKind::both, 40);
  REQUIRE(edges.size() >= 16);
  edges.resize(edges.size() / 8 * 8);  // whole cycles
  // Each cycle: rise, 20 us, fall, 20 us, rise, 20 us, fall, 20 us, rise, held 400 us (twice
  // min_pulse_us), fall, 20 us, rise, 20 us, fall, then the rest of the millisecond.
  const std::uint64_t expected_gaps[] = {20'000, 20'000, 20'000, 20'000, 400'000, 20'000, 20'000};
  for (std::size_t i = 0; i + 7 < edges.size(); i += 8) {
    for (std::size_t k = 0; k < 7; ++k) {
      INFO("cycle " << i / 8 << " step " << k);
      CHECK(edges[i + k].rising == (k % 2 == 0));
      CHECK(edges[i + k + 1].timestamp_ns - edges[i + k].timestamp_ns == expected_gaps[k]);
    }
    if (i + 8 < edges.size()) CHECK(edges[i + 8].timestamp_ns - edges[i].timestamp_ns == 1'000'000);
  }
  for (const gpio::RawEdge& e : edges) {
    std::int64_t value = 0;
    rig.request->hook->on_edge(kLine, e.rising, e, value);
  }
  const std::uint64_t cycles = edges.size() / 8;
  CHECK(rig.counter->count() == cycles);
  CHECK(rig.counter->bounces() == 3 * cycles);
}
