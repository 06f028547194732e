// The kind-blind interfaces every kind codes against: a device's settings compared without
// knowing their type (the reload diff and Config::operator== rely on it), the EventOut that
// builds live fields only when someone listens, and the Device base on the test context.
#include <catch2/catch_test_macros.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

#include "config/config_error.hpp"
#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "fake_context.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "sinks/device_event.hpp"

using namespace gpioirq;

namespace {

// A kind's settings as a kind would write them: a plain struct and its two ADL helpers.
struct ProbeConfig {
  std::string name;
  config::LineRef line;
  int rate = 1;
  config::SourcePlace place;

  bool operator==(const ProbeConfig&) const = default;
};
void blank_places(ProbeConfig& c) {
  c.place = {};
  c.line.place = {};
}
std::vector<const config::LineRef*> line_refs_of(const ProbeConfig& c) {
  return {&c.line};
}

// Another kind with the same members: equal values must still not make equal settings.
struct OtherConfig {
  std::string name;
  config::LineRef line;
  int rate = 1;
  config::SourcePlace place;

  bool operator==(const OtherConfig&) const = default;
};
void blank_places(OtherConfig& c) {
  c.place = {};
  c.line.place = {};
}
std::vector<const config::LineRef*> line_refs_of(const OtherConfig& c) {
  return {&c.line};
}

ProbeConfig probe(int rate, std::uint32_t table_line) {
  ProbeConfig c;
  c.name = "flow";
  c.line = {"main", std::uint32_t{17}, {"a.toml", table_line + 1, 8}};
  c.rate = rate;
  c.place = {"a.toml", table_line, 1};
  return c;
}

config::DeviceConfig device_config(std::shared_ptr<const config::DeviceSettings> settings) {
  return config::DeviceConfig{"probe", "flow", {"a.toml", 3, 1}, std::move(settings)};
}

}  // namespace

TEST_CASE("settings moved in the file are the same for a reload but not equal", "[kinds]") {
  const config::SettingsOf<ProbeConfig> here(probe(5, 3));
  const config::SettingsOf<ProbeConfig> moved(probe(5, 30));
  const config::SettingsOf<ProbeConfig> copy(probe(5, 3));

  CHECK(here.same_settings(moved));
  CHECK(moved.same_settings(here));
  CHECK_FALSE(here.equals(moved));
  CHECK(here.same_settings(copy));
  CHECK(here.equals(copy));
}

TEST_CASE("a changed key or another kind makes different settings", "[kinds]") {
  const config::SettingsOf<ProbeConfig> slow(probe(5, 3));
  const config::SettingsOf<ProbeConfig> fast(probe(6, 3));
  CHECK_FALSE(slow.same_settings(fast));
  CHECK_FALSE(slow.equals(fast));

  const ProbeConfig p = probe(5, 3);
  const config::SettingsOf<OtherConfig> other(OtherConfig{p.name, p.line, p.rate, p.place});
  CHECK_FALSE(slow.same_settings(other));
  CHECK_FALSE(other.same_settings(slow));
  CHECK_FALSE(slow.equals(other));
  CHECK_FALSE(other.equals(slow));
}

TEST_CASE("line_refs points at the lines inside the settings", "[kinds]") {
  const config::SettingsOf<ProbeConfig> s(probe(5, 3));
  const std::vector<const config::LineRef*> refs = s.line_refs();
  REQUIRE(refs.size() == 1);
  CHECK(refs[0] == &s.value.line);
  CHECK(refs[0]->chip == "main");
}

TEST_CASE("DeviceConfig compares its settings by value", "[kinds]") {
  const auto a = std::make_shared<const config::SettingsOf<ProbeConfig>>(probe(5, 3));
  const auto b = std::make_shared<const config::SettingsOf<ProbeConfig>>(probe(5, 3));
  const auto moved = std::make_shared<const config::SettingsOf<ProbeConfig>>(probe(5, 30));

  CHECK(device_config(a) == device_config(b));
  CHECK_FALSE(device_config(a) == device_config(moved));
  config::DeviceConfig renamed = device_config(a);
  renamed.name = "drain";
  CHECK_FALSE(device_config(a) == renamed);
  config::DeviceConfig other_kind = device_config(a);
  other_kind.kind = "counter";
  CHECK_FALSE(device_config(a) == other_kind);
  CHECK_FALSE(device_config(a) == device_config(nullptr));
  CHECK(device_config(nullptr) == device_config(nullptr));
}

TEST_CASE("settings_cast gives a kind its own settings and refuses another kind's", "[kinds]") {
  const config::DeviceConfig d =
      device_config(std::make_shared<const config::SettingsOf<ProbeConfig>>(probe(7, 3)));
  CHECK(config::settings_cast<ProbeConfig>(d).rate == 7);
  CHECK_THROWS_AS(config::settings_cast<OtherConfig>(d), std::bad_cast);
  CHECK_THROWS_AS(config::settings_cast<ProbeConfig>(device_config(nullptr)), std::bad_cast);
}

TEST_CASE("EventOut builds the live fields only when someone listens", "[kinds]") {
  kinds_test::RecordingEvents out;
  sinks::EventOut& events = out;
  sinks::DeviceEvent ev;
  ev.ts_ns = 1234;
  ev.device = "flow";
  ev.kind = "probe";
  ev.event = "count";
  ev.value = sinks::EventValue::integer(42);
  int built = 0;
  auto add_fields = [&](nlohmann::json& f) {
    ++built;
    f["count"] = 42;
  };

  events.emit(ev, add_fields);
  CHECK(built == 0);
  REQUIRE(out.events.size() == 1);
  CHECK_FALSE(out.events[0].fields.has_value());
  CHECK(out.events[0].value.as_integer() == 42);

  out.live_devices.insert("flow");
  events.emit(ev, add_fields);
  CHECK(built == 1);
  REQUIRE(out.events.size() == 2);
  REQUIRE(out.events[1].fields.has_value());
  CHECK(*out.events[1].fields == nlohmann::json{{"count", 42}});

  // The virtual one directly, with and without fields (never the template).
  events.emit(ev, nullptr);
  const nlohmann::json given = {{"count", 43}};
  events.emit(ev, &given);
  REQUIRE(out.events.size() == 4);
  CHECK_FALSE(out.events[2].fields.has_value());
  REQUIRE(out.events[3].fields.has_value());
  CHECK(*out.events[3].fields == given);
  CHECK(built == 1);
}

namespace {

class ProbeKind final : public kinds::Kind {
 public:
  std::string_view name() const override { return "probe"; }
  std::string_view plural() const override { return "probes"; }
  config::DeviceSection section() const override { return {"probe", nullptr}; }
  std::unique_ptr<kinds::Device> make(const config::DeviceConfig& c,
                                      kinds::DeviceContext& ctx) const override;
};

// Counts a tick of its timer as an event, as a counter's window does.
class ProbeDevice final : public kinds::Device {
 public:
  ProbeDevice(const kinds::Kind& device_kind, config::DeviceConfig cfg,
              kinds::DeviceContext& context)
      : Device(device_kind, std::move(cfg), context) {}

  std::optional<kinds::LineRequest> line_request() override { return std::nullopt; }
  void start() override {
    loop::Timer& timer = ctx.add_timer(*this, [this] {
      ++ticks_;
      sinks::DeviceEvent ev;
      ev.device = name();
      ev.kind = kind().name();
      ev.event = "tick";
      ev.value = sinks::EventValue::integer(ticks_);
      out().emit(ev, [&](nlohmann::json& f) { f["ticks"] = ticks_; });
    });
    timer.start_once(1'000'000);
  }
  nlohmann::json status(std::uint64_t) const override { return {{"ticks", ticks_}}; }
  std::string summary(std::uint64_t) const override { return std::to_string(ticks_) + " ticks"; }

 private:
  std::int64_t ticks_ = 0;
};

std::unique_ptr<kinds::Device> ProbeKind::make(const config::DeviceConfig& c,
                                               kinds::DeviceContext& ctx) const {
  return std::make_unique<ProbeDevice>(*this, c, ctx);
}

}  // namespace

TEST_CASE("a device keeps its own copy of its config and emits through the context", "[kinds]") {
  kinds_test::FakeContext ctx;
  ctx.recorded.live_all = true;
  const ProbeKind kind{};
  config::DeviceConfig cfg =
      device_config(std::make_shared<const config::SettingsOf<ProbeConfig>>(probe(5, 3)));
  const std::unique_ptr<kinds::Device> device = kind.make(cfg, ctx);
  cfg.name = "replaced by a reload";

  CHECK(device->name() == "flow");
  CHECK(&device->kind() == &kind);
  CHECK(config::settings_cast<ProbeConfig>(device->config()).rate == 5);

  device->state.gaps_kernel = 3;
  device->state.gaps_ring = 4;
  CHECK(device->lost() == 7);

  device->start();
  CHECK(ctx.timers_of(*device) == 1);
  CHECK(device->state.timer_slots.size() == 1);
  REQUIRE(ctx.run_until([&] { return !ctx.recorded.events.empty(); }));
  const kinds_test::RecordedEvent& tick = ctx.recorded.events.at(0);
  CHECK(tick.device == "flow");
  CHECK(tick.kind == "probe");
  CHECK(tick.event == "tick");
  CHECK(tick.value.as_integer() == 1);
  REQUIRE(tick.fields.has_value());
  CHECK(*tick.fields == nlohmann::json{{"ticks", 1}});
  CHECK(device->summary(0) == "1 ticks");
}

namespace {

// What throw_log_open_error threw: "config: <what()>" for a ConfigError (exit 78),
// "runtime: <what()>" for any other runtime_error.
std::string thrown_by_log_open_error(int err) {
  try {
    kinds::throw_log_open_error("the IMU file", "/var/log/gpioirqd/tilt.imu", err);
  } catch (const config::ConfigError& e) {
    return std::string("config: ") + e.what();
  } catch (const std::runtime_error& e) {
    return std::string("runtime: ") + e.what();
  }
  return "nothing";
}

}  // namespace

TEST_CASE("a device's log file behind a link is a configuration error, a full disk is not",
          "[kinds]") {
  CHECK(thrown_by_log_open_error(-ELOOP) ==
        "config: opening the IMU file /var/log/gpioirqd/tilt.imu: it is a symbolic link (log "
        "files are never opened through links; remove it)");
  CHECK(thrown_by_log_open_error(-EMLINK).starts_with("config: "));
  CHECK(thrown_by_log_open_error(-EINVAL) ==
        "config: opening the IMU file /var/log/gpioirqd/tilt.imu: it is not a regular file");
  CHECK(thrown_by_log_open_error(-ENOSPC) ==
        std::string("runtime: opening the IMU file /var/log/gpioirqd/tilt.imu: ") +
            std::strerror(ENOSPC));
}
