// Devices that are not there at start: a chip missing (the host kernel has no GPIO at
// all, so any gpiod chip is), a line on it, an I2C bus that does not exist. The daemon
// must start anyway, run what it can, say which devices are down and why (status, the
// event log's DOWN rows, the journal/stderr), and keep waiting for them; a configuration
// error is still refused with exit 78 (check_config_test). The real kernel's side, a chip
// removed and re-created under a running daemon, is vm:daemon_chip_hotplug.

#include <catch2/catch_test_macros.hpp>

#include <map>
#include <string>

#include "harness.hpp"

namespace {
using namespace host;

const std::string kConfig = daemon_section() + sim_chip_section() +
                            "[[chip]]\n"
                            "name = \"expander\"\n"
                            "label = \"mcp23017-not-plugged-in\"\n"
                            "[[counter]]\n"
                            "name = \"flow\"\n"
                            "chip = \"sim0\"\n"
                            "line = 1\n"
                            "sim_rate_hz = 200\n"
                            "[[encoder]]\n"
                            "name = \"knob\"\n"
                            "chip = \"expander\"\n"
                            "a = 0\n"
                            "b = 1\n"
                            "[[button]]\n"
                            "name = \"door\"\n"
                            "chip = \"expander\"\n"
                            "line = \"DOOR\"\n"
                            "[[imu]]\n"
                            "name = \"tilt\"\n"
                            "i2c_bus = \"/dev/i2c-250\"\n"
                            "trigger = \"timer\"\n"
                            "rate_hz = 100\n";

}  // namespace

TEST_CASE("A chip, line or I2C bus missing at start: the daemon runs the rest and waits",
          "[host][devices]") {
  TempDir dir;
  Daemon d(dir, kConfig);

  // The stream on the present chip runs.
  REQUIRE(wait_until([&] { return d.ok("counters").at("counters").at(0).at("count").get<std::int64_t>() >= 50; },
                     10s));
  const Json status = d.ok("status");
  const Json& down = status.at("devices_down");
  REQUIRE(down.size() == 3);
  std::map<std::string, std::string> reasons;
  for (const auto& x : down) reasons[x.at("name").get<std::string>()] = x.at("reason").get<std::string>();
  CHECK(reasons["knob"].find("mcp23017-not-plugged-in") != std::string::npos);
  CHECK(reasons["door"].find("mcp23017-not-plugged-in") != std::string::npos);
  CHECK(reasons["tilt"].find("/dev/i2c-250") != std::string::npos);
  CHECK(status.at("device_outages") == 3);

  // It keeps waiting: a second later they are still down, still retried, nothing exited.
  REQUIRE(wait_until([&] { return d.ok("status").at("uptime_s").get<double>() > 2.5; }, 10s));
  CHECK(d.ok("status").at("devices_down").size() == 3);
  CHECK_FALSE(d.process().exited());
  const std::string metrics = d.ok("metrics").at("text").get<std::string>();
  CHECK(metrics.find("gpioirq_device_down{device=\"knob\"} 1\n") != std::string::npos);
  CHECK(metrics.find("gpioirq_device_down{device=\"flow\"} 0\n") != std::string::npos);
  // Listing commands still show the down devices with their state.
  CHECK(d.ok("encoders").at("encoders").at(0).at("position") == 0);

  REQUIRE(d.stop() == 0);
  int down_rows = 0;
  for (const auto& r : read_event_log(d.event_log()))
    if (r.type == "DOWN") {
      ++down_rows;
      CHECK((r.info.starts_with("knob: ") || r.info.starts_with("door: ") || r.info.starts_with("tilt: ")));
    }
  CHECK(down_rows == 3);
  const std::string err = d.stderr_text();
  CHECK(err.find("knob is down") != std::string::npos);
  CHECK(err.find("tilt is down") != std::string::npos);
}
