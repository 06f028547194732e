// What a reload changes: streams whose settings did not change must keep running.

#include <catch2/catch_test_macros.hpp>

#include <string>

#include "config/config_diff.hpp"
#include "config/loader.hpp"
#include "kinds/kind.hpp"

namespace {

using namespace gpioirq::config;
using Names = std::vector<std::string>;

constexpr const char* base = R"(
[daemon]
rt_priority = 50

[[chip]]
name = "gpio0"
path = "/dev/gpiochip0"

[[chip]]
name = "gpio1"
path = "/dev/gpiochip1"

[[encoder]]
name = "knob"
chip = "gpio0"
a = 1
b = 2

[[button]]
name = "start"
chip = "gpio1"
line = 3

[[poll]]
name = "temp"
path = "/sys/class/thermal/thermal_zone0/temp"
)";

Config cfg(const std::string& text) {
  return gpioirq::kinds::parse_config(text, "/etc/gpioirqd.toml");
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("the same file reloaded changes nothing", "[config][diff]") {
  const ConfigDiff d = diff(cfg(base), cfg(base));
  CHECK(d.unchanged == Names{"knob", "start", "temp"});
  CHECK(d.changed.empty());
  CHECK(d.added.empty());
  CHECK(d.removed.empty());
  CHECK_FALSE(d.daemon_changed);
}

TEST_CASE("moving tables and adding comments changes nothing", "[config][diff]") {
  const std::string moved = std::string("# moved around\n\n\n") + R"(
[[poll]]
name = "temp"
path = "/sys/class/thermal/thermal_zone0/temp"

[[button]]
line = 3
chip = "gpio1"
name = "start"

[[chip]]
name = "gpio1"
path = "/dev/gpiochip1"

[[chip]]
name = "gpio0"
path = "/dev/gpiochip0"

[[encoder]]
name = "knob"
chip = "gpio0"
a = 1
b = 2
bias = "as-is"   # the default, written out

[daemon]
rt_priority = 50
)";
  const ConfigDiff d = diff(cfg(base), cfg(moved));
  CHECK(d.unchanged == Names{"temp", "start", "knob"});
  CHECK(d.changed.empty());
  CHECK_FALSE(d.daemon_changed);
}

TEST_CASE("a changed setting restarts only that device", "[config][diff]") {
  const ConfigDiff d = diff(cfg(base), cfg(replaced(base, "b = 2\n", "b = 2\ndiv = 4\n")));
  CHECK(d.changed == Names{"knob"});
  CHECK(d.unchanged == Names{"start", "temp"});
}

TEST_CASE("a changed chip restarts the devices on it", "[config][diff]") {
  const ConfigDiff d =
      diff(cfg(base), cfg(replaced(base, "\"/dev/gpiochip1\"", "\"/dev/gpiochip2\"")));
  CHECK(d.changed == Names{"start"});
  CHECK(d.unchanged == Names{"knob", "temp"});
}

TEST_CASE("added, removed and kind-changed devices", "[config][diff]") {
  std::string text =
      replaced(base, "[[button]]\nname = \"start\"", "[[counter]]\nname = \"start\"");
  text = replaced(text, "[[poll]]\nname = \"temp\"", "[[poll]]\nname = \"cpu_temp\"");
  const ConfigDiff d = diff(cfg(base), cfg(text));
  CHECK(d.unchanged == Names{"knob"});
  CHECK(d.changed == Names{"start"});
  CHECK(d.added == Names{"cpu_temp"});
  CHECK(d.removed == Names{"temp"});
}

TEST_CASE("daemon settings are reported apart from devices", "[config][diff]") {
  const ConfigDiff d = diff(cfg(base), cfg(replaced(base, "rt_priority = 50", "rt_priority = 60")));
  CHECK(d.daemon_changed);
  CHECK(d.unchanged == Names{"knob", "start", "temp"});
}
