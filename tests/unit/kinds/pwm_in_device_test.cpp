// The pwm_in device on the test context: what it asks the daemon for (line request, sim
// generator), the rows and live events it emits from edges, its timeout on the real loop
// timer, and its reports (status, metrics, summary, reset). The decoder's arithmetic has its
// own tests (pwm_decoder_test.cpp); here the figures are checked where they leave the device.
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>

#include <poll.h>
#include <time.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "fake_context.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/device.hpp"
#include "kinds/pwm_in/pwm_in_config.hpp"
#include "kinds/pwm_in/pwm_in_device.hpp"

using namespace gpioirq;
using kinds_test::RecordedEvent;
using Row = sinks::DeviceEvent::Row;

namespace {

constexpr std::uint64_t kMs = 1'000'000;

std::uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// The kind as the device sees it (its name); the real Kind's parts are tested elsewhere.
class TestKind final : public kinds::Kind {
 public:
  std::string_view name() const override { return "pwm_in"; }
  std::string_view plural() const override { return "PWM inputs"; }
  config::DeviceSection section() const override { return {"pwm_in", nullptr}; }
  std::unique_ptr<kinds::Device> make(const config::DeviceConfig& c,
                                      kinds::DeviceContext& ctx) const override {
    return kinds::make_pwm_in_device(*this, c, ctx);
  }
};
const TestKind test_kind;

kinds::PwmInConfig fan_config() {
  kinds::PwmInConfig c;
  c.name = "fan";
  c.line = {"sim0", std::uint32_t{3}, {"a.toml", 4, 8}};
  c.window_ms = 100;
  c.timeout_ms = 1000;
  c.place = {"a.toml", 2, 1};
  return c;
}

std::unique_ptr<kinds::PwmInDevice> make_device(const kinds::PwmInConfig& c,
                                                kinds::DeviceContext& ctx) {
  config::DeviceConfig dc{"pwm_in", c.name, c.place,
                          std::make_shared<const config::SettingsOf<kinds::PwmInConfig>>(c)};
  std::unique_ptr<kinds::Device> d = test_kind.make(dc, ctx);
  auto* p = dynamic_cast<kinds::PwmInDevice*>(d.get());
  REQUIRE(p != nullptr);
  d.release();
  return std::unique_ptr<kinds::PwmInDevice>(p);
}

// Hands the device edges as the daemon's dispatch does, with contiguous seqnos.
struct Feeder {
  kinds::PwmInDevice& device;
  std::uint32_t seqno = 0;

  void edge(std::uint64_t ts, bool rising) {
    gpio::EdgeRecord r;
    r.timestamp_ns = ts;
    r.line_seqno = ++seqno;
    r.global_seqno = seqno;
    r.kind = gpio::RecordKind::edge;
    r.level = rising ? 1 : 0;
    device.on_edge(r, 0);
  }
  // `cycles` full cycles from t: rising at t, falling at t + high, ..., then the rising edge
  // that ends the last one. Returns that last rising edge's time.
  std::uint64_t train(std::uint64_t t, std::uint64_t high, std::uint64_t period, int cycles) {
    edge(t, true);
    return more(t, high, period, cycles);
  }
  // The same after a rising edge at t that was already fed.
  std::uint64_t more(std::uint64_t t, std::uint64_t high, std::uint64_t period, int cycles) {
    for (int i = 0; i < cycles; ++i) {
      edge(t + high, false);
      t += period;
      edge(t, true);
    }
    return t;
  }
  void gap(std::uint32_t lost) {
    gpio::EdgeRecord r;
    r.kind = gpio::RecordKind::gap;
    r.count = lost;
    r.line_seqno = seqno + 1;
    r.global_seqno = seqno + lost;
    seqno += lost;
    device.on_gap(r, 0);
  }
};

struct MetricSample {
  std::size_t family;
  std::string labels;
  double value;
};
class RecordingMetrics final : public kinds::MetricsOut {
 public:
  std::vector<MetricSample> samples;
  void sample(std::size_t family, std::string_view extra_labels, double v) override {
    samples.push_back({family, std::string(extra_labels), v});
  }
  const MetricSample* find(std::size_t family) const {
    for (const MetricSample& s : samples)
      if (s.family == family) return &s;
    return nullptr;
  }
};

}  // namespace

TEST_CASE("pwm_in asks for its one line on both edges, without an RT hook", "[kinds][pwm_in]") {
  kinds_test::FakeContext ctx;
  kinds::PwmInConfig c = fan_config();
  c.settings.active_low = true;
  c.settings.bias = config::Bias::pull_up;
  auto device = make_device(c, ctx);
  const std::optional<kinds::LineRequest> req = device->line_request();
  REQUIRE(req.has_value());
  REQUIRE(req->lines.size() == 1);
  CHECK(*req->lines[0].first == c.line);
  CHECK(req->lines[0].second == "line");
  CHECK(req->edge == config::EdgeKind::both);
  CHECK(req->hook == nullptr);
  CHECK(req->settings == c.settings);
  CHECK(req->kernel_debounce_us == 0);
}

TEST_CASE("pwm_in emits a pwm, pwm_high and pwm_value row per window, pulses live only",
          "[kinds][pwm_in]") {
  kinds_test::FakeContext ctx;
  auto device = make_device(fan_config(), ctx);
  device->attached();
  Feeder feed{*device};
  const std::uint64_t t0 = monotonic_ns();
  // 1 kHz, 25 %: the 100 ms window opened at t0 is closed by the cycle ending at t0 + 100 ms.
  const std::uint64_t end = feed.train(t0, 250'000, 1'000'000, 100);
  CHECK(end == t0 + 100 * kMs);
  CHECK(device->decoder().cycles() == 100);

  CHECK(ctx.recorded.named("pulse").empty());  // nobody listens: not even built
  const auto pwm = ctx.recorded.named("pwm");
  REQUIRE(pwm.size() == 1);
  CHECK(pwm[0].ts_ns == end);
  CHECK(pwm[0].device == "fan");
  CHECK(pwm[0].kind == "pwm_in");
  CHECK(pwm[0].row == Row::event);
  CHECK(pwm[0].value.as_real() == 0.25);
  CHECK(pwm[0].value2.as_real() == 1000.0);
  CHECK_FALSE(pwm[0].fields.has_value());
  const auto high = ctx.recorded.named("pwm_high");
  REQUIRE(high.size() == 1);
  CHECK(high[0].value.as_real() == 250.0);
  CHECK(high[0].value2.as_real() == 250.0);
  CHECK(high[0].unit == "us");
  const auto value = ctx.recorded.named("pwm_value");
  REQUIRE(value.size() == 1);
  CHECK(value[0].value.as_real() == 0.25);
  CHECK(value[0].value2.kind() == sinks::EventValue::Kind::integer);
  CHECK(value[0].value2.as_integer() == 100);
  // Rows in time order: pwm, pwm_high, pwm_value, all at the window's end.
  REQUIRE(ctx.recorded.events.size() == 3);
  CHECK(ctx.recorded.events[0].event == "pwm");
  CHECK(ctx.recorded.events[2].event == "pwm_value");

  SECTION("a monitor gets a pulse per cycle and the window's figures") {
    ctx.recorded.live_devices.insert("fan");
    ctx.recorded.events.clear();
    // The next window opened at `end`, the closing cycle's end.
    const std::uint64_t closing = feed.more(end, 250'000, 1'000'000, 100);
    const auto pulses = ctx.recorded.named("pulse");
    REQUIRE(pulses.size() == 100);
    CHECK(pulses[0].row == Row::none);
    CHECK(pulses[0].ts_ns == end + 1'000'000);
    REQUIRE(pulses[0].fields.has_value());
    CHECK(*pulses[0].fields ==
          nlohmann::json{{"high_ns", 250'000}, {"period_ns", 1'000'000}, {"value", 0.25}});
    const auto windows = ctx.recorded.named("pwm");
    REQUIRE(windows.size() == 1);
    CHECK(windows[0].ts_ns == closing);
    REQUIRE(windows[0].fields.has_value());
    CHECK(
        *windows[0].fields ==
        nlohmann::json{{"cycles", 100}, {"duty", 0.25}, {"frequency_hz", 1000.0}, {"value", 0.25}});
    CHECK(windows[0].live);
    // The window's other figures are rows only.
    CHECK_FALSE(ctx.recorded.named("pwm_high").at(0).live);
    CHECK_FALSE(ctx.recorded.named("pwm_value").at(0).live);
    CHECK_FALSE(ctx.recorded.named("pwm_value").at(0).fields.has_value());
  }
}

TEST_CASE("pwm_in scales its value: an MH-Z19 at 1000 ppm, a servo in degrees", "[kinds][pwm_in]") {
  kinds_test::FakeContext ctx;
  SECTION("MH-Z19B, duty with trims") {
    kinds::PwmInConfig c = fan_config();
    c.name = "co2";
    c.high_trim_us = 2000;
    c.period_trim_us = 4000;
    c.scale = 5000;
    c.unit = "ppm";
    c.window_ms = 10'000;
    c.timeout_ms = 3000;
    auto device = make_device(c, ctx);
    device->attached();
    Feeder feed{*device};
    // TH 202 ms, TL 802 ms: 5000 * 200 / 1000 = 1000 ppm.
    feed.train(monotonic_ns(), 202 * kMs, 1004 * kMs, 10);
    const auto value = ctx.recorded.named("pwm_value");
    REQUIRE(value.size() == 1);
    CHECK(value[0].value.as_real() == Catch::Approx(1000.0).epsilon(1e-12));
    CHECK(value[0].unit == "ppm");
    CHECK(device->summary(monotonic_ns()) == "duty 20.1%  0.996 Hz  1000 ppm");
    CHECK(device->status(0)["value"].get<double>() == Catch::Approx(1000.0).epsilon(1e-12));
  }
  SECTION("RC servo, high time") {
    kinds::PwmInConfig c = fan_config();
    c.name = "servo";
    c.measure = kinds::PwmMeasure::high;
    c.high_trim_us = 1500;
    c.scale = 0.18;
    c.unit = "deg";
    auto device = make_device(c, ctx);
    device->attached();
    Feeder feed{*device};
    ctx.recorded.live_all = true;
    std::uint64_t t = monotonic_ns();
    for (std::uint64_t high_us : {1000u, 2000u}) {
      feed.edge(t, true);
      feed.edge(t + high_us * 1000, false);
      t += 20 * kMs;
    }
    feed.edge(t, true);
    const auto pulses = ctx.recorded.named("pulse");
    REQUIRE(pulses.size() == 2);
    CHECK((*pulses[0].fields)["value"].get<double>() == Catch::Approx(-90.0));
    CHECK((*pulses[1].fields)["value"].get<double>() == Catch::Approx(90.0));
  }
}

TEST_CASE("pwm_in reports a silent line stuck low from its own timer, then the signal",
          "[kinds][pwm_in]") {
  kinds_test::FakeContext ctx;
  kinds::PwmInConfig c = fan_config();
  c.timeout_ms = 40;  // checked every 10 ms
  auto device = make_device(c, ctx);
  auto sim = std::make_unique<gpio::SimSource>("sim0/fan");
  const std::uint32_t offset = 3;
  sim->set_edge(offset, config::EdgeKind::both);  // the line exists, idle low, no generator
  device->state.source = std::move(sim);
  device->state.offsets = {offset};
  const std::uint64_t before_attach = monotonic_ns();
  device->attached();
  const std::uint64_t watched_from = device->decoder().last_edge_ns();  // no edge: start()
  CHECK(watched_from >= before_attach);
  device->start();
  CHECK(ctx.timers_of(*device) == 1);
  CHECK(device->summary(monotonic_ns()) == "no signal");
  CHECK(device->status(0)["state"] == "no_signal");
  CHECK(device->status(0)["duty"].is_null());
  CHECK(device->status(0)["window"].is_null());

  REQUIRE(ctx.run_until([&] { return !ctx.recorded.named("stuck_low").empty(); }, 2000));
  CHECK(ctx.drain_pending_calls > 0);  // edges already read go first
  const RecordedEvent stuck = ctx.recorded.named("stuck_low").at(0);
  CHECK(stuck.value.as_integer() == 40);  // ms since it was watched: the timeout exactly
  CHECK(stuck.unit == "ms");
  CHECK(stuck.ts_ns == watched_from + 40 * kMs);
  CHECK(stuck.cls == sinks::EventClass::occurrence);
  CHECK(device->status(0)["state"] == "stuck_low");
  CHECK(device->status(0)["stuck_since_ns"] == stuck.ts_ns);
  CHECK(device->summary(monotonic_ns()).starts_with("STUCK LOW "));
  RecordingMetrics m;
  device->metrics(m, 0);
  REQUIRE(m.find(kinds::kPwmStuck) != nullptr);
  CHECK(m.find(kinds::kPwmStuck)->value == 1.0);
  CHECK(m.find(kinds::kPwmDutyRatio) == nullptr);  // no window yet: no figure, not a 0

  // Reported once: more ticks add nothing.
  const std::size_t before = ctx.recorded.events.size();
  ctx.run_until([] { return false; }, 60);
  CHECK(ctx.recorded.events.size() == before);

  // Cycles again: the first complete one says how long the signal was gone.
  Feeder feed{*device};
  const std::uint64_t back = monotonic_ns();
  feed.train(back, 250'000, 1'000'000, 1);
  const auto signal = ctx.recorded.named("signal");
  REQUIRE(signal.size() == 1);
  CHECK(static_cast<std::uint64_t>(signal[0].value.as_integer()) == (back - watched_from) / kMs);
  CHECK(signal[0].ts_ns == back + 1'000'000);
  CHECK(device->status(0)["state"] == "ok");
  CHECK(device->status(0)["stuck_since_ns"].is_null());

  SECTION("silent after a rising edge: stuck high") {
    // The train ended on a rising edge: the line sits high.
    REQUIRE(ctx.run_until([&] { return !ctx.recorded.named("stuck_high").empty(); }, 2000));
    CHECK(ctx.recorded.named("stuck_high").at(0).value.as_integer() == 40);
    CHECK(device->summary(monotonic_ns()).starts_with("STUCK HIGH "));
  }
  SECTION("a down device reports nothing") {
    device->state.down = true;
    feed.edge(monotonic_ns(), false);
    ctx.run_until([] { return false; }, 100);
    CHECK(ctx.recorded.named("stuck_low").size() == 1);
    CHECK(ctx.recorded.named("stuck_high").empty());
  }
}

TEST_CASE("pwm_in's sim generator gives exactly the configured duty and rate", "[kinds][pwm_in]") {
  kinds_test::FakeContext ctx;
  kinds::PwmInConfig c = fan_config();
  c.sim_rate_hz = 1000;
  c.sim_duty = 0.25;
  c.window_ms = 10;
  auto device = make_device(c, ctx);
  gpio::SimSource sim("sim0/fan");
  const std::uint32_t offsets[] = {3};
  device->simulate(sim, offsets);
  sim.start();
  device->attached();
  // The sim's edges, straight into the device (the RT thread and the ring are the daemon's).
  std::array<gpio::RawEdge, 64> buf{};
  std::uint64_t read = 0;
  while (!device->decoder().last_window() && read < 200) {
    pollfd p{sim.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    const int n = sim.read_events(buf);
    for (int i = 0; i < n; ++i) {
      const gpio::RawEdge& e = buf[static_cast<std::size_t>(i)];
      gpio::EdgeRecord r;
      r.timestamp_ns = e.timestamp_ns;
      r.line_seqno = e.line_seqno;
      r.level = e.rising ? 1 : 0;
      device->on_edge(r, 0);
      ++read;
    }
  }
  REQUIRE(device->decoder().last_window().has_value());
  const kinds::PwmWindow& w = *device->decoder().last_window();
  CHECK(w.cycles == 10);
  CHECK(w.duty.min == 0.25);
  CHECK(w.duty.max == 0.25);
  CHECK(w.frequency_hz.mean == 1000.0);
  CHECK(w.period_us.min == 1000.0);
  CHECK(w.period_us.max == 1000.0);

  SECTION("no rate: no generator") {
    kinds::PwmInConfig idle = fan_config();
    auto quiet = make_device(idle, ctx);
    gpio::SimSource sim2("sim0/idle");
    quiet->simulate(sim2, offsets);
    CHECK(sim2.offsets().empty());
  }
}

TEST_CASE("pwm_in shows its last closed window in status, metrics and summary", "[kinds][pwm_in]") {
  kinds_test::FakeContext ctx;
  auto device = make_device(fan_config(), ctx);
  device->attached();
  Feeder feed{*device};
  const std::uint64_t t0 = monotonic_ns();
  // One cycle 200 us high, then 99 at 100 us, 1 ms each: the 100 ms window holds 100.
  const std::uint64_t t1 = feed.train(t0, 200'000, 1'000'000, 1);
  CHECK(device->decoder().last_window() == std::nullopt);
  CHECK(device->summary(0) == "duty 20.0%  1.00 kHz");  // the last cycle until a window closes
  feed.more(t1, 100'000, 1'000'000, 99);
  const nlohmann::json s = device->status(0);
  REQUIRE(s["window"].is_object());
  CHECK(s["window"]["cycles"] == 100);
  CHECK(s["window"]["from_ns"] == t0);
  CHECK(s["window"]["to_ns"] == t0 + 100 * kMs);
  CHECK(s["window"]["high_us"] == nlohmann::json{{"min", 100.0}, {"mean", 101.0}, {"max", 200.0}});
  CHECK(s["window"]["period_us"] ==
        nlohmann::json{{"min", 1000.0}, {"mean", 1000.0}, {"max", 1000.0}});
  CHECK(s["window"]["duty"] == nlohmann::json{{"min", 0.1}, {"mean", 0.101}, {"max", 0.2}});
  CHECK(s["window"]["frequency_hz"] ==
        nlohmann::json{{"min", 1000.0}, {"mean", 1000.0}, {"max", 1000.0}});
  CHECK(s["window"]["value"] == nlohmann::json{{"min", 0.1}, {"mean", 0.101}, {"max", 0.2}});
  CHECK(s["state"] == "ok");
  const auto high = ctx.recorded.named("pwm_high");
  REQUIRE(high.size() == 1);
  CHECK(high[0].value.as_real() == 100.0);   // min
  CHECK(high[0].value2.as_real() == 200.0);  // max
  CHECK(ctx.recorded.named("pwm").at(0).value.as_real() == 0.101);
  CHECK(device->summary(0) == "duty 10.1%  1.00 kHz");
  RecordingMetrics m;
  device->metrics(m, 0);
  REQUIRE(m.find(kinds::kPwmDutyRatio) != nullptr);
  CHECK(m.find(kinds::kPwmDutyRatio)->value == 0.101);
  CHECK(m.find(kinds::kPwmFrequencyHz)->value == 1000.0);
  CHECK(m.find(kinds::kPwmValue)->value == 0.101);
  CHECK(m.find(kinds::kPwmCyclesTotal)->value == 100.0);
  CHECK(m.find(kinds::kPwmStuck)->value == 0.0);
  for (const MetricSample& sample : m.samples) CHECK(sample.labels.empty());
}

TEST_CASE("pwm_in publishes its last cycle and signal; HA sees value, duty and frequency",
          "[kinds][pwm_in][mqtt]") {
  kinds_test::FakeContext ctx;
  kinds::PwmInConfig c = fan_config();
  c.unit = "%";
  c.scale = 100;
  auto device = make_device(c, ctx);
  device->attached();
  // Before any cycle: nothing measured, nothing made up.
  CHECK(device->published_state(0) == nlohmann::json{{"duty", nullptr},
                                                     {"frequency_hz", nullptr},
                                                     {"value", nullptr},
                                                     {"unit", "%"},
                                                     {"signal", "no_signal"}});
  Feeder feed{*device};
  feed.train(monotonic_ns(), 250'000, 1'000'000, 3);
  const nlohmann::json p = device->published_state(0);
  CHECK(p["duty"] == 0.25);
  CHECK(p["frequency_hz"] == 1000.0);
  CHECK(p["value"] == 25.0);
  CHECK(p["unit"] == "%");
  CHECK(p["signal"] == "ok");

  const std::vector<sinks::HaEntity> ha = device->ha_entities();
  REQUIRE(ha.size() == 3);
  for (const auto& e : ha) {
    CHECK(e.component == "sensor");
    CHECK(e.state_class == "measurement");
    CHECK(p.contains(e.state_member));
  }
  CHECK(ha[0].state_member == "value");
  CHECK(ha[0].unit == "%");
  CHECK(ha[1].state_member == "duty");
  CHECK(ha[1].unit.empty());
  CHECK(ha[2].state_member == "frequency_hz");
  CHECK(ha[2].unit == "Hz");
}

TEST_CASE("pwm_in drops the cycle a loss cuts, counts GAPs as lost, and resets",
          "[kinds][pwm_in]") {
  kinds_test::FakeContext ctx;
  auto device = make_device(fan_config(), ctx);
  device->attached();
  Feeder feed{*device};
  std::uint64_t t = monotonic_ns();
  feed.edge(t, true);
  feed.edge(t + 250'000, false);
  feed.gap(1);  // the rising edge that would end the cycle is lost
  device->state.gaps_kernel += 1;
  t += 2'000'000;
  feed.edge(t, true);
  feed.edge(t + 250'000, false);
  feed.edge(t + 1'000'000, true);
  CHECK(device->decoder().cycles() == 1);  // only the cycle after the loss
  CHECK(device->lost() == 1);
  nlohmann::json s = device->status(0);
  CHECK(s["name"] == "fan");
  CHECK(s["cycles"] == 1);
  CHECK(s["lost"] == 1);
  CHECK(s["invalid"] == 0);
  CHECK(s["out_of_range"] == 0);
  CHECK(s["unit"] == "");
  CHECK(s["measure"] == "duty");
  CHECK(s["high_us"] == 250.0);
  CHECK(s["period_us"] == 1000.0);
  CHECK(s["duty"] == 0.25);
  CHECK(s["frequency_hz"] == 1000.0);
  CHECK(s["value"] == 0.25);

  device->state.latency.record(5000);
  device->reset();
  s = device->status(0);
  CHECK(s["cycles"] == 0);
  CHECK(s["window"].is_null());
  CHECK(s["duty"].is_null());
  CHECK(device->state.latency.count() == 0);
}
