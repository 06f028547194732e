// PollDevice on the test context: a real temporary file read through the real event loop
// every interval; each reading a `poll` row (and live event), a failing file a `poll_error`
// row when its state changes, not every interval; what status and `counters` show of it.
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <concepts>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "core/unique_fd.hpp"
#include "fake_context.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "kinds/poll/poll_device.hpp"
#include "support/temp_dir.hpp"

// What SettingsOf<PollConfig> needs, for as long as config/schema.hpp does not declare it
// (part A2 adds `void blank_places(PollConfig&)` and `line_refs_of(const PollConfig&)`
// there): constrained templates, so that those plain functions win once they exist.
namespace gpioirq::config {
template <typename T>
requires std::same_as<T, PollConfig>
void blank_places(T& c) {
  c.place = {};
}
template <typename T>
requires std::same_as<T, PollConfig> std::vector<const LineRef*> line_refs_of(const T&) {
  return {};
}
}  // namespace gpioirq::config

using namespace gpioirq;
using kinds::PollDevice;

namespace {

class TestPollKind final : public kinds::Kind {
 public:
  std::string_view name() const override { return "poll"; }
  std::string_view plural() const override { return "polled"; }
  config::DeviceSection section() const override { return {"poll", nullptr}; }
  std::unique_ptr<kinds::Device> make(const config::DeviceConfig& c,
                                      kinds::DeviceContext& ctx) const override {
    return kinds::make_poll_device(*this, c, ctx);
  }
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

struct Fixture {
  gpioirq_test::TempDir dir;
  kinds_test::FakeContext ctx;
  TestPollKind kind;
  config::PollConfig cfg;
  std::unique_ptr<kinds::Device> device;

  Fixture() {
    cfg.name = "cpu_temp";
    cfg.path = dir.file("temp");
    cfg.interval_ms = 20;
    cfg.scale = 0.001;
    cfg.unit = "°C";
  }
  PollDevice& make() {
    device = kind.make(
        config::DeviceConfig{"poll",
                             cfg.name,
                             {},
                             std::make_shared<const config::SettingsOf<config::PollConfig>>(cfg)},
        ctx);
    return dynamic_cast<PollDevice&>(*device);
  }
  bool wait_for(std::string_view event, std::size_t n = 1) {
    return ctx.run_until([&] { return ctx.recorded.named(event).size() >= n; });
  }
};

}  // namespace

TEST_CASE("PollDevice: reads its file every interval into poll rows and status", "[poll]") {
  Fixture f;
  f.ctx.recorded.live_all = true;
  write_file(f.cfg.path, "47300\n");
  PollDevice& poll = f.make();
  CHECK_FALSE(poll.line_request().has_value());
  CHECK(poll.summary(0) == "no reading yet");
  poll.start();
  CHECK(f.ctx.timers_of(poll) == 1);  // its interval timer, counted by the daemon
  REQUIRE(f.wait_for("poll", 2));     // periodic: a second reading follows

  const auto rows = f.ctx.recorded.named("poll");
  CHECK(rows[0].device == "cpu_temp");
  CHECK(rows[0].kind == "poll");
  CHECK(rows[0].row == sinks::DeviceEvent::Row::event);
  CHECK(rows[0].value.kind() == sinks::EventValue::Kind::real);
  CHECK(rows[0].value.as_real() == 47300 * 0.001);  // raw * scale + offset
  CHECK(rows[0].value2.as_real() == 47300);
  CHECK(rows[0].unit == "°C");
  REQUIRE(rows[0].fields.has_value());
  CHECK(*rows[0].fields == nlohmann::json({{"value", 47300 * 0.001}}));
  CHECK(f.ctx.recorded.named("poll_error").empty());

  const nlohmann::json entry = poll.status_entry();
  CHECK(entry["name"] == "cpu_temp");
  CHECK(entry["path"] == f.cfg.path);
  CHECK(entry["reads"].get<std::uint64_t>() >= 2);
  CHECK(entry["errors"] == 0);
  CHECK(entry["consecutive_failures"] == 0);
  CHECK(entry["error"] == "");
  CHECK(entry["last_ok_ns"].get<std::uint64_t>() > 0);
  CHECK(entry.contains("reading"));
  CHECK(entry["ticks_skipped"] == 0);
  CHECK(entry.size() == 9);

  // In the `counters` reply: the same, with the value and its unit.
  nlohmann::json counters = poll.status(0);
  CHECK(counters["value"] == 47300 * 0.001);
  CHECK(counters["unit"] == "°C");
  counters.erase("value");
  counters.erase("unit");
  counters.erase("reads");  // may have moved on between the two calls
  counters.erase("last_ok_ns");
  counters.erase("reading");
  nlohmann::json expected = entry;
  expected.erase("reads");
  expected.erase("last_ok_ns");
  expected.erase("reading");
  CHECK(counters == expected);

  CHECK(poll.summary(0) == "47.3 °C");
  CHECK(poll.lost() == 0);
}

TEST_CASE("PollDevice: publishes its value and unit, null until read; HA sees a sensor",
          "[poll][mqtt]") {
  Fixture f;
  write_file(f.cfg.path, "47300\n");
  PollDevice& poll = f.make();
  CHECK(poll.published_state(0) == nlohmann::json{{"value", nullptr}, {"unit", "°C"}});
  poll.start();
  REQUIRE(f.wait_for("poll"));
  CHECK(poll.published_state(0) == nlohmann::json{{"value", 47300 * 0.001}, {"unit", "°C"}});
  const std::vector<sinks::HaEntity> ha = poll.ha_entities();
  REQUIRE(ha.size() == 1);
  CHECK(ha[0].component == "sensor");
  CHECK(ha[0].state_member == "value");
  CHECK(ha[0].unit == "°C");
  CHECK(ha[0].state_class == "measurement");
  // A failed read: no stale number.
  std::filesystem::remove(f.cfg.path);
  REQUIRE(f.wait_for("poll_error"));
  CHECK(poll.published_state(0)["value"].is_null());
}

TEST_CASE("PollDevice: a failing file is one poll_error row per change, then poll rows again",
          "[poll]") {
  Fixture f;
  f.ctx.recorded.live_all = true;
  PollDevice& poll = f.make();  // no file yet
  poll.start();
  REQUIRE(f.ctx.run_until([&] { return poll.source().consecutive_failures() >= 3; }));

  const auto errors = f.ctx.recorded.named("poll_error");
  REQUIRE(errors.size() == 1);  // logged when the state changed, not every interval
  CHECK(errors[0].value.as_integer() == ENOENT);
  CHECK(errors[0].unit.find(f.cfg.path) != std::string::npos);  // the message, with the path
  REQUIRE(errors[0].fields.has_value());
  CHECK((*errors[0].fields)["error"] == errors[0].unit);
  CHECK(f.ctx.recorded.named("poll").empty());

  const nlohmann::json entry = poll.status_entry();
  CHECK(entry["errors"].get<std::uint64_t>() >= 3);
  CHECK(entry["consecutive_failures"].get<std::uint64_t>() >= 3);
  CHECK(entry["error"] == errors[0].unit);
  CHECK(entry["last_ok_ns"] == 0);
  CHECK(poll.summary(0) == "No such file or directory");

  write_file(f.cfg.path, "51000");
  REQUIRE(f.wait_for("poll"));
  CHECK(f.ctx.recorded.named("poll")[0].value.as_real() == 51.0);
  CHECK(poll.status_entry()["consecutive_failures"] == 0);
  CHECK(f.ctx.recorded.named("poll_error").size() == 1);
}

TEST_CASE("PollDevice: a read that outlives its deadline is cancelled and reported", "[poll]") {
  Fixture f;
  REQUIRE(::mkfifo(f.cfg.path.c_str(), 0600) == 0);
  // A writer that never writes: the read waits for data.
  const core::UniqueFd writer(::open(f.cfg.path.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(writer.valid());
  PollDevice& poll = f.make();
  CHECK(poll.deadline_ns() == 15'000'000);  // 3/4 of the interval
  poll.start();
  REQUIRE(f.wait_for("poll_error"));
  CHECK(f.ctx.recorded.named("poll_error")[0].value.as_integer() == ETIMEDOUT);
  CHECK_FALSE(f.ctx.recorded.named("poll_error")[0].fields.has_value());  // nobody listened
  CHECK(poll.summary(0) == "read timed out");
}

TEST_CASE("PollDevice: a summary is at most 32 bytes, cut between characters", "[poll]") {
  Fixture f;
  f.cfg.scale = 1;
  f.cfg.unit = "°°°°°°°°°°°°°°°°°°°°";  // 40 bytes
  write_file(f.cfg.path, "7");
  PollDevice& poll = f.make();
  poll.start();
  REQUIRE(f.wait_for("poll"));
  const std::string s = poll.summary(0);
  CHECK(s == "7 °°°°°°°°°°°°°°°");  // 2 + 15 * 2 bytes: the 16th ° would end at byte 34
}
