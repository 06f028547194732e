// The button device on the test context: its line request, the level it starts from, the
// gesture rows and live lines its edges make, the deadlines its loop timer runs (long
// press, the end of a click's double-click window) with the edges already read dispatched
// first, the resync after lost edges or an outage, and what it reports.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "devices/button.hpp"
#include "fake_context.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/line_source.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/button/button_device.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "loop/timer.hpp"

using namespace gpioirq;

namespace {

class TestButtonKind final : public kinds::Kind {
 public:
  std::string_view name() const override { return "button"; }
  std::string_view plural() const override { return "buttons"; }
  config::DeviceSection section() const override { return {"button", nullptr}; }
  std::unique_ptr<kinds::Device> make(const config::DeviceConfig& c,
                                      kinds::DeviceContext& ctx) const override {
    return kinds::make_button_device(*this, c, ctx);
  }
};

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

constexpr std::uint16_t kLine = 3;    // ingest line id
constexpr std::uint32_t kOffset = 9;  // chip offset
constexpr std::uint64_t kMs = 1'000'000;

config::ButtonConfig doorbell() {
  config::ButtonConfig c;
  c.name = "bell";
  c.line = {"main", std::uint32_t{kOffset}, {}};
  c.debounce_ms = 0;  // every change accepted at its edge: timestamps below are exact
  c.long_press_ms = 80;
  c.double_click_ms = 60;
  c.kernel_debounce_us = 500;
  return c;
}

struct Rig {
  explicit Rig(const config::ButtonConfig& c, int level_at_attach = 0) {
    device = kind.make(
        config::DeviceConfig{
            "button", c.name, {}, std::make_shared<config::SettingsOf<config::ButtonConfig>>(c)},
        ctx);
    button = dynamic_cast<kinds::ButtonDevice*>(device.get());
    REQUIRE(button != nullptr);
    request = device->line_request();
    REQUIRE(request.has_value());
    auto l = std::make_unique<FakeLines>();
    l->levels = {{kOffset, level_at_attach}};
    l->offsets_ = {kOffset};
    lines = l.get();
    device->state.source = std::move(l);
    device->state.lines = {kLine};
    device->state.offsets = {kOffset};
    device->attached();
  }

  void edge(bool level, std::uint64_t ts) {
    gpio::EdgeRecord r;
    r.timestamp_ns = ts;
    r.line = kLine;
    r.level = level ? 1 : 0;
    device->on_edge(r, 0);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : ctx.recorded.events) out.push_back(e.event);
    return out;
  }

  kinds_test::FakeContext ctx;
  TestButtonKind kind;
  std::unique_ptr<kinds::Device> device;
  kinds::ButtonDevice* button = nullptr;
  FakeLines* lines = nullptr;
  std::optional<kinds::LineRequest> request;
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

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE(
    "the button asks for its line with the kernel debounce, no RT hook, and starts from "
    "its level",
    "[kinds][button]") {
  config::ButtonConfig c = doorbell();
  c.settings.active_low = true;
  Rig rig(c, 1);
  const kinds::LineRequest& req = *rig.request;
  REQUIRE(req.lines.size() == 1);
  CHECK(req.lines[0].first ==
        &config::settings_cast<config::ButtonConfig>(rig.device->config()).line);
  CHECK(req.lines[0].second == "line");
  CHECK(req.settings.active_low);
  CHECK(req.edge == config::EdgeKind::both);
  CHECK(req.kernel_debounce_us == 500);
  CHECK(req.hook == nullptr);
  // Held down when the line was requested: pressed, and nothing happened.
  CHECK(rig.button->button().level());
  CHECK(rig.ctx.recorded.events.empty());
  CHECK(rig.device->summary(0) == "pressed");
}

TEST_CASE("button gestures are rows and live lines, their deadlines run on the loop timer",
          "[kinds][button]") {
  Rig rig(doorbell());
  const bool monitored = GENERATE(false, true);
  rig.ctx.recorded.live_all = monitored;
  rig.device->start();
  CHECK(rig.ctx.timers_of(*rig.device) == 1);

  // A click: press, release 30 ms later; the click comes when its double-click window
  // (60 ms after the release) has passed, from the timer.
  const std::uint64_t t0 = loop::Timer::now_ns();
  rig.edge(true, t0);
  rig.edge(false, t0 + 30 * kMs);
  CHECK(rig.names() == Names{"press", "release"});
  REQUIRE(rig.ctx.run_until([&] { return rig.ctx.recorded.events.size() == 3; }));
  CHECK(rig.names() == Names{"press", "release", "click"});
  CHECK(rig.ctx.drain_pending_calls >= 1);  // the timer dispatched what was read first

  const auto& ev = rig.ctx.recorded.events;
  CHECK(ev[0].ts_ns == t0);
  CHECK(ev[0].value.kind() == sinks::EventValue::Kind::none);
  CHECK(ev[0].unit.empty());
  CHECK(ev[0].cls == sinks::EventClass::state);
  CHECK(ev[1].ts_ns == t0 + 30 * kMs);
  CHECK(ev[1].value.as_integer() == 30);  // held for 30 ms
  CHECK(ev[1].unit == "ms");
  CHECK(ev[2].ts_ns == t0 + 90 * kMs);  // release + double_click_ms
  CHECK(ev[2].value.kind() == sinks::EventValue::Kind::none);
  CHECK(ev[2].cls == sinks::EventClass::occurrence);
  for (const auto& e : ev) {
    CHECK(e.device == "bell");
    CHECK(e.kind == "button");
    CHECK(e.row == sinks::DeviceEvent::Row::event);
    CHECK(e.live);
    // The live line is {ts_ns, name, event} and nothing else.
    if (monitored)
      CHECK(e.fields == std::optional<nlohmann::json>(nlohmann::json::object()));
    else
      CHECK_FALSE(e.fields.has_value());
  }

  // A long press: held past long_press_ms, reported by the timer at press + 80 ms.
  rig.ctx.recorded.events.clear();
  const std::uint64_t t1 = loop::Timer::now_ns();
  rig.edge(true, t1);
  REQUIRE(rig.ctx.run_until([&] { return rig.ctx.recorded.events.size() == 2; }));
  CHECK(rig.names() == Names{"press", "long_press"});
  CHECK(ev[1].ts_ns == t1 + 80 * kMs);
  CHECK(ev[1].value.as_integer() == 80);
  CHECK(ev[1].unit == "ms");
  rig.edge(false, t1 + 1500 * kMs);
  CHECK(rig.names() == Names{"press", "long_press", "release"});
  CHECK(ev[2].value.as_integer() == 1500);

  // One timer for all of it, re-armed, never another.
  CHECK(rig.ctx.timers_of(*rig.device) == 1);
  const nlohmann::json s = rig.device->status(0);
  CHECK(s == nlohmann::json{{"name", "bell"},
                            {"kind", "button"},
                            {"level", false},
                            {"glitches", 0},
                            {"lost", 0},
                            {"press", 2},
                            {"release", 2},
                            {"long_press", 1},
                            {"click", 1},
                            {"double_click", 0},
                            {"open", 0},
                            {"close", 0}});
  CHECK(rig.device->summary(t1 + 4600 * kMs) == "released  last release 3s");
  // Long after, the age stays within 3 digits and the summary within top's 32 columns.
  const std::uint64_t day = 86'400'000 * kMs;
  CHECK(rig.device->summary(t1 + 1600 * kMs + 50 * day) == "released  last release 50d");
  CHECK(rig.device->summary(t1 + 1600 * kMs + 5000 * day) == "released  last release 999d+");
}

TEST_CASE("a button deadline dispatches the edges already read before it decides",
          "[kinds][button]") {
  // The release happened before the long-press deadline but is still in the ring when the
  // timer fires: the timer must hand it over first, so there is no long press.
  Rig rig(doorbell());
  rig.device->start();
  const std::uint64_t t0 = loop::Timer::now_ns();
  rig.edge(true, t0);
  bool handed = false;
  rig.ctx.on_drain_pending = [&] {
    if (handed) return;
    handed = true;
    rig.edge(false, t0 + 50 * kMs);
  };
  REQUIRE(rig.ctx.run_until([&] { return handed; }));
  REQUIRE(rig.ctx.run_until([&] { return !rig.ctx.recorded.named("click").empty(); }));
  CHECK(rig.names() == Names{"press", "release", "click"});
  CHECK(rig.ctx.recorded.named("release").at(0).value.as_integer() == 50);
}

TEST_CASE("the button resyncs from its line after lost edges and after an outage",
          "[kinds][button]") {
  Rig rig(doorbell());
  rig.device->start();
  const std::uint64_t t0 = loop::Timer::now_ns();
  rig.edge(true, t0);
  REQUIRE(rig.names() == Names{"press"});

  // Edges lost; the line reads released now: a release at the GAP's timestamp, and the
  // gesture state is gone (no click, no long press later).
  rig.lines->levels[kOffset] = 0;
  gpio::EdgeRecord gap;
  gap.kind = gpio::RecordKind::gap;
  gap.line = kLine;
  gap.count = 3;
  gap.timestamp_ns = t0 + 10 * kMs;
  rig.device->on_gap(gap, 0);
  CHECK(rig.names() == Names{"press", "release"});
  CHECK(rig.ctx.recorded.events.back().ts_ns == t0 + 10 * kMs);
  rig.ctx.run_until([] { return false; }, 200);  // past both deadlines
  CHECK(rig.names() == Names{"press", "release"});

  // Down and back (a new line request) while pressed: attached() reports the press.
  rig.lines->levels[kOffset] = 1;
  const std::uint64_t before = loop::Timer::now_ns();
  rig.device->attached();
  CHECK(rig.names() == Names{"press", "release", "press"});
  CHECK(rig.ctx.recorded.events.back().ts_ns >= before);
  CHECK(rig.button->button().level());
  // A press seen only at the resync has no known start: however long it is held, no long
  // press follows.
  rig.ctx.run_until([] { return false; }, 200);
  CHECK(rig.ctx.recorded.named("long_press").empty());
  CHECK(rig.ctx.timers_of(*rig.device) == 1);
}

TEST_CASE("a switch reports close and open, and reset clears its counts and latency",
          "[kinds][button]") {
  config::ButtonConfig c = doorbell();
  c.name = "door";
  c.kind = config::ButtonKind::switch_;
  Rig rig(c);
  rig.device->start();
  rig.edge(true, 1000);
  rig.edge(false, 2000);
  rig.edge(true, 3000);
  CHECK(rig.names() == Names{"close", "open", "close"});
  for (const auto& e : rig.ctx.recorded.events) {
    CHECK(e.value.kind() == sinks::EventValue::Kind::none);
    CHECK(e.cls == sinks::EventClass::state);
  }
  CHECK(rig.device->summary(5000) == "closed");
  rig.device->state.latency.record(10);
  nlohmann::json s = rig.device->status(0);
  CHECK(s["kind"] == "switch");
  CHECK(s["close"] == 2);
  CHECK(s["open"] == 1);
  CHECK(s["level"] == true);

  rig.device->reset();
  s = rig.device->status(0);
  CHECK(s["close"] == 0);
  CHECK(s["open"] == 0);
  CHECK(s["level"] == true);  // the line's state is not a count
  CHECK(rig.device->state.latency.count() == 0);
  rig.edge(false, 4000);
  CHECK(rig.device->summary(4000 + 61'000 * kMs) == "open  last open 61s");
}

TEST_CASE("a button publishes pressed and its last event; HA sees a binary sensor and triggers",
          "[kinds][button][mqtt]") {
  Rig rig(doorbell());
  rig.device->start();
  CHECK(rig.device->published_state(0) == nlohmann::json{{"pressed", false}});
  const std::uint64_t t0 = loop::Timer::now_ns();
  rig.edge(true, t0);
  CHECK(rig.device->published_state(0) ==
        nlohmann::json{{"pressed", true}, {"last_event", "press"}});
  rig.edge(false, t0 + 30 * kMs);
  CHECK(rig.device->published_state(0) ==
        nlohmann::json{{"pressed", false}, {"last_event", "release"}});

  const std::vector<sinks::HaEntity> ha = rig.device->ha_entities();
  REQUIRE(ha.size() == 4);
  CHECK(ha[0].component == "binary_sensor");
  CHECK(ha[0].object_id == "pressed");
  CHECK(ha[0].state_member == "pressed");
  // The member's JSON text when on and off.
  CHECK(ha[0].payload_on == nlohmann::json(true).dump());
  CHECK(ha[0].payload_off == nlohmann::json(false).dump());
  // Each trigger fires on the event name the device emits for that gesture.
  const std::vector<std::pair<std::string, std::string>> triggers = {
      {"click", "button_short_press"},
      {"double_click", "button_double_press"},
      {"long_press", "button_long_press"}};
  for (std::size_t i = 0; i < triggers.size(); ++i) {
    const sinks::HaEntity& t = ha[i + 1];
    CHECK(t.component == "device_automation");
    CHECK(t.trigger_event == triggers[i].first);
    CHECK(t.object_id == triggers[i].first);
    CHECK(t.trigger_type == triggers[i].second);
    CHECK(t.trigger_subtype == "bell");
  }
  // The click the device decides once the double-click time has passed is the event a
  // trigger waits for.
  REQUIRE(rig.ctx.run_until([&] { return !rig.ctx.recorded.named("click").empty(); }));
  CHECK(rig.device->published_state(0)["last_event"] == "click");

  // No double clicks configured: no double-press trigger.
  config::ButtonConfig single = doorbell();
  single.double_click_ms = 0;
  Rig no_double(single);
  const auto ha2 = no_double.device->ha_entities();
  REQUIRE(ha2.size() == 3);
  CHECK(ha2[1].trigger_event == "click");
  CHECK(ha2[2].trigger_event == "long_press");
}

TEST_CASE("a switch publishes on; HA sees a binary sensor and no triggers",
          "[kinds][button][mqtt]") {
  config::ButtonConfig c = doorbell();
  c.name = "door";
  c.kind = config::ButtonKind::switch_;
  Rig rig(c);
  rig.device->start();
  rig.edge(true, 1000);
  CHECK(rig.device->published_state(0) == nlohmann::json{{"on", true}, {"last_event", "close"}});
  const std::vector<sinks::HaEntity> ha = rig.device->ha_entities();
  REQUIRE(ha.size() == 1);
  CHECK(ha[0].component == "binary_sensor");
  CHECK(ha[0].state_member == "on");
  CHECK(ha[0].payload_on == "true");
  CHECK(ha[0].payload_off == "false");
}

TEST_CASE("on a sim chip the button is pressed at its sim_rate_hz, with contact bounce",
          "[kinds][button]") {
  config::ButtonConfig c = doorbell();
  c.sim_rate_hz = 100;  // the first press 10 ms after the start
  Rig rig(c);
  const auto edges = simulated(*rig.device, {kOffset}, config::EdgeKind::both, 40);
  REQUIRE(edges.size() == 3);  // the press and two bounce flips; the release comes at 130 ms
  CHECK(edges[0].offset == kOffset);
  CHECK(edges[0].rising);
  CHECK(edges[1].timestamp_ns - edges[0].timestamp_ns == 1'000'000);
  CHECK(edges[2].timestamp_ns - edges[1].timestamp_ns == 1'000'000);
}

TEST_CASE(
    "at the stop, gestures waiting for a deadline are decided; a reload's removal ends without",
    "[kinds][button]") {
  SECTION("a click waiting out its double-click window") {
    Rig rig(doorbell());
    rig.edge(true, 1000 * kMs);
    rig.edge(false, 1010 * kMs);
    CHECK(rig.names() == Names{"press", "release"});
    rig.device->finish(kinds::Finish::stop);
    CHECK(rig.names() == Names{"press", "release", "click"});
  }
  SECTION("a press held, not yet long") {
    Rig rig(doorbell());
    rig.edge(true, 1000 * kMs);
    rig.device->finish(kinds::Finish::stop);
    CHECK(rig.names() == Names{"press", "long_press"});
  }
  SECTION("removed by a reload") {
    Rig rig(doorbell());
    rig.edge(true, 1000 * kMs);
    rig.edge(false, 1010 * kMs);
    rig.device->finish(kinds::Finish::retired);
    CHECK(rig.names() == Names{"press", "release"});
  }
}
