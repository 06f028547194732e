// The `devices` command: every configured device, grouped by kind, each with what any
// client can show without knowing its kind (down and why, losses, a one-cell summary) and
// the figures its kind's own list command reports. The file lists the kinds in an order of
// its own; the reply follows the kinds' table (encoder, button, counter, imu, poll), devices
// of a kind in file order.

#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {
using namespace host;

const std::string kConfig = daemon_section() + sim_chip_section() +
                            "[[chip]]\n"
                            "name = \"expander\"\n"
                            "label = \"mcp23017-not-plugged-in\"\n"
                            "[[poll]]\n"
                            "name = \"level\"\n"
                            "path = \"level.txt\"\n"
                            "interval_ms = 50\n"
                            "unit = \"mm\"\n"
                            "[[counter]]\n"
                            "name = \"flow\"\n"
                            "chip = \"sim0\"\n"
                            "line = 4\n"
                            "unit = \"L\"\n"
                            "sim_rate_hz = 200\n"
                            "[[imu]]\n"
                            "name = \"tilt\"\n"
                            "i2c_bus = \"sim\"\n"
                            "trigger = \"timer\"\n"
                            "rate_hz = 100\n"
                            "[[button]]\n"
                            "name = \"start\"\n"
                            "chip = \"sim0\"\n"
                            "line = 3\n"
                            "[[encoder]]\n"
                            "name = \"idle\"\n"
                            "chip = \"sim0\"\n"
                            "a = 0\n"
                            "b = 1\n"
                            "[[encoder]]\n"
                            "name = \"ghost\"\n"
                            "chip = \"expander\"\n"
                            "a = 0\n"
                            "b = 1\n";

std::vector<std::string> names_of(const Json& devices) {
  std::vector<std::string> names;
  for (const auto& d : devices) names.push_back(d.at("name").get<std::string>());
  return names;
}

const Json& entry_named(const Json& list, const std::string& name) {
  for (const auto& d : list)
    if (d.at("name") == name) return d;
  FAIL("no entry '" << name << "' in " << list.dump());
  throw;  // not reached
}

// Characters, not bytes: "°C" is one cell wide.
std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

TEST_CASE("devices: every device by kind in the kinds' order, down, lost, summary and its figures",
          "[host][devices]") {
  TempDir dir;
  write_file(dir.file("level.txt"), "42\n");
  Daemon d(dir, kConfig);
  REQUIRE(wait_until(
      [&] {
        const Json c = d.ok("counters").at("counters");
        return entry_named(c, "flow").at("count").get<std::int64_t>() >= 20 &&
               entry_named(c, "level").at("reads").get<std::int64_t>() >= 1;
      },
      10s));

  const Json reply = d.ok("devices");
  INFO(reply.dump());
  CHECK(reply.at("kinds") == Json::array({"encoder", "button", "counter", "imu", "poll"}));
  const Json& by_kind = reply.at("devices");
  REQUIRE(by_kind.size() == 5);
  CHECK(names_of(by_kind.at("encoder")) == std::vector<std::string>{"idle", "ghost"});
  CHECK(names_of(by_kind.at("button")) == std::vector<std::string>{"start"});
  CHECK(names_of(by_kind.at("counter")) == std::vector<std::string>{"flow"});
  CHECK(names_of(by_kind.at("imu")) == std::vector<std::string>{"tilt"});
  CHECK(names_of(by_kind.at("poll")) == std::vector<std::string>{"level"});

  for (const auto& [kind, devices] : by_kind.items())
    for (const auto& dev : devices) {
      INFO(kind << ": " << dev.dump());
      CHECK(dev.at("down").is_boolean());
      CHECK(dev.at("lost").is_number_unsigned());
      REQUIRE(dev.at("summary").is_string());
      CHECK(utf8_length(dev.at("summary").get<std::string>()) <= 32);
      CHECK(dev.contains("down_reason") == dev.at("down").get<bool>());
    }

  // The device whose chip is missing is down, with the reason status gives.
  const Json& ghost = entry_named(by_kind.at("encoder"), "ghost");
  CHECK(ghost.at("down") == true);
  const std::string reason = ghost.at("down_reason").get<std::string>();
  CHECK(reason.find("mcp23017-not-plugged-in") != std::string::npos);
  const Json status = d.ok("status");
  REQUIRE(status.at("devices_down").size() == 1);
  CHECK(status.at("devices_down").at(0).at("reason") == reason);
  CHECK(entry_named(by_kind.at("counter"), "flow").at("down") == false);
  CHECK(entry_named(by_kind.at("counter"), "flow").at("lost") == 0);

  // Each entry carries its kind's list reply object: the same members, and for devices
  // that do not move (an encoder without edges, a button without presses) the same values.
  const Json encoders = d.ok("encoders").at("encoders");
  const Json& idle = entry_named(by_kind.at("encoder"), "idle");
  for (const auto& [key, value] : entry_named(encoders, "idle").items()) {
    INFO("encoder member " << key);
    CHECK(idle.at(key) == value);
  }
  const Json& start = entry_named(by_kind.at("button"), "start");
  const Json buttons = d.ok("buttons").at("buttons");
  for (const auto& [key, value] : entry_named(buttons, "start").items()) {
    INFO("button member " << key);
    CHECK(start.at(key) == value);
  }
  const Json counters = d.ok("counters").at("counters");
  for (const auto& [key, value] : entry_named(counters, "flow").items())
    CHECK(entry_named(by_kind.at("counter"), "flow").contains(key));
  for (const auto& [key, value] : entry_named(counters, "level").items())
    CHECK(entry_named(by_kind.at("poll"), "level").contains(key));
  const Json imus = d.ok("imu").at("imu");
  for (const auto& [key, value] : entry_named(imus, "tilt").items())
    CHECK(entry_named(by_kind.at("imu"), "tilt").contains(key));
  REQUIRE(d.stop() == 0);
}

TEST_CASE(
    "devices NAMES: only those devices, kinds without one left out; an unknown name is refused",
    "[host][devices]") {
  TempDir dir;
  write_file(dir.file("level.txt"), "42\n");
  Daemon d(dir, kConfig);

  const Json reply = d.ok("devices", {{"names", {"level", "ghost", "flow"}}});
  INFO(reply.dump());
  CHECK(reply.at("kinds") == Json::array({"encoder", "counter", "poll"}));
  const Json& by_kind = reply.at("devices");
  CHECK(by_kind.size() == 3);
  CHECK(names_of(by_kind.at("encoder")) == std::vector<std::string>{"ghost"});
  CHECK(names_of(by_kind.at("counter")) == std::vector<std::string>{"flow"});
  CHECK(names_of(by_kind.at("poll")) == std::vector<std::string>{"level"});

  const Json refused = d.request("devices", {{"names", {"flow", "nosuch"}}});
  CHECK(refused.at("ok") == false);
  CHECK(refused.at("error") == "unknown stream 'nosuch'");
  REQUIRE(d.stop() == 0);
}
