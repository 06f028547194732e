// [[pwm_in]] as a user writes it: every key's default, its range and the exact message a
// wrong value gets (file:line:column, the key, what was expected, what was found), through
// the registry's parse, as gpioirqd --check-config reads a file.
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.hpp"
#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "kinds/kind.hpp"
#include "kinds/pwm_in/pwm_in.hpp"
#include "kinds/pwm_in/pwm_in_config.hpp"

using namespace gpioirq;

namespace {

std::string error_of(std::string_view text) {
  try {
    (void)kinds::parse_config(text, "x.toml");
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

const kinds::PwmInConfig& only_pwm_in(const config::Config& c) {
  REQUIRE(c.devices.size() == 1);
  REQUIRE(c.devices[0].kind == "pwm_in");
  return config::settings_cast<kinds::PwmInConfig>(c.devices[0]);
}

// Lines 1..3 a chip, 4 the table, 5..7 name, chip, line: a key on line 8.
#define GPIO_CHIP "[[chip]]\nname = \"gpio0\"\npath = \"/dev/gpiochip0\"\n"
#define SIM_CHIP "[[chip]]\nname = \"sim0\"\nbackend = \"sim\"\nsim_num_lines = 8\n"
#define FAN_GPIO GPIO_CHIP "[[pwm_in]]\nname = \"fan\"\nchip = \"gpio0\"\nline = 5\n"
#define FAN_SIM SIM_CHIP "[[pwm_in]]\nname = \"fan\"\nchip = \"sim0\"\nline = 5\n"

struct BadFile {
  const char* what;
  const char* text;
  const char* message;
};

// clang-format off
const BadFile bad_files[] = {
    {"misspelt key", FAN_GPIO "windw_ms = 100\n",
     "x.toml:8:1: pwm_in 'fan': key 'windw_ms' is unknown; did you mean 'window_ms'?"},
    {"no line", GPIO_CHIP "[[pwm_in]]\nname = \"fan\"\nchip = \"gpio0\"\n",
     "x.toml:4:1: pwm_in 'fan': missing required key 'line'"},
    {"window too short", FAN_GPIO "window_ms = 9\n",
     "x.toml:8:13: pwm_in 'fan'.window_ms: expected an integer from 10 to 3600000, found 9"},
    {"window too long", FAN_GPIO "window_ms = 3600001\n",
     "x.toml:8:13: pwm_in 'fan'.window_ms: expected an integer from 10 to 3600000, found 3600001"},
    {"no timeout", FAN_GPIO "timeout_ms = 0\n",
     "x.toml:8:14: pwm_in 'fan'.timeout_ms: expected an integer from 1 to 3600000, found 0"},
    {"timeout too long", FAN_GPIO "timeout_ms = 3600001\n",
     "x.toml:8:14: pwm_in 'fan'.timeout_ms: expected an integer from 1 to 3600000, found 3600001"},
    {"unknown measure", FAN_GPIO "measure = \"dutty\"\n",
     "x.toml:8:11: pwm_in 'fan'.measure: expected one of \"duty\", \"high\", \"period\", \"frequency\", found \"dutty\"; did you mean \"duty\"?"},
    {"high trim with measure = frequency", FAN_GPIO "measure = \"frequency\"\nhigh_trim_us = 10\n",
     "x.toml:9:16: pwm_in 'fan'.high_trim_us: applies only to measure = \"duty\" or \"high\", and measure is \"frequency\""},
    {"high trim with measure = period", FAN_GPIO "measure = \"period\"\nhigh_trim_us = 10\n",
     "x.toml:9:16: pwm_in 'fan'.high_trim_us: applies only to measure = \"duty\" or \"high\", and measure is \"period\""},
    {"period trim with measure = high", FAN_GPIO "measure = \"high\"\nperiod_trim_us = 10\n",
     "x.toml:9:18: pwm_in 'fan'.period_trim_us: applies only to measure = \"duty\" or \"period\", and measure is \"high\""},
    {"period trim with measure = frequency", FAN_GPIO "period_trim_us = 10\nmeasure = \"frequency\"\n",
     "x.toml:8:18: pwm_in 'fan'.period_trim_us: applies only to measure = \"duty\" or \"period\", and measure is \"frequency\""},
    {"trim over a minute", FAN_GPIO "high_trim_us = 60000001\n",
     "x.toml:8:16: pwm_in 'fan'.high_trim_us: expected an integer from 0 to 60000000, found 60000001"},
    {"negative trim", FAN_GPIO "period_trim_us = -1\n",
     "x.toml:8:18: pwm_in 'fan'.period_trim_us: expected an integer from 0 to 60000000, found -1"},
    {"zero scale", FAN_GPIO "scale = 0\n",
     "x.toml:8:9: pwm_in 'fan'.scale: expected a non-zero number, found 0"},
    {"huge scale", FAN_GPIO "scale = 1e13\n",
     "x.toml:8:9: pwm_in 'fan'.scale: expected a number from -1e+12 to 1e+12, found 1e+13"},
    {"offset not a number", FAN_GPIO "offset = nan\n",
     "x.toml:8:10: pwm_in 'fan'.offset: expected a number from -1e+12 to 1e+12, found nan"},
    {"unit not a string", FAN_GPIO "unit = 3\n",
     "x.toml:8:8: pwm_in 'fan'.unit: expected a string, found an integer"},
    {"sim rate on a gpiod chip", FAN_GPIO "sim_rate_hz = 100\n",
     "x.toml:8:15: pwm_in 'fan'.sim_rate_hz: applies only to devices on a sim chip, and chip 'gpio0' has backend \"gpiod\""},
    {"sim duty on a gpiod chip", FAN_GPIO "sim_duty = 0.5\n",
     "x.toml:8:12: pwm_in 'fan'.sim_duty: applies only to devices on a sim chip, and chip 'gpio0' has backend \"gpiod\""},
    {"sim rate too high", FAN_SIM "sim_rate_hz = 100001\n",
     "x.toml:9:15: pwm_in 'fan'.sim_rate_hz: expected a number from 0 to 1e+05, found 100001"},
    {"sim duty 1", FAN_SIM "sim_duty = 1\n",
     "x.toml:9:12: pwm_in 'fan'.sim_duty: expected a number greater than 0 and less than 1, found 1"},
    {"sim duty 0", FAN_SIM "sim_duty = 0.0\n",
     "x.toml:9:12: pwm_in 'fan'.sim_duty: expected a number greater than 0 and less than 1, found 0"},
    {"sim duty as text", FAN_SIM "sim_duty = \"half\"\n",
     "x.toml:9:12: pwm_in 'fan'.sim_duty: expected a number greater than 0 and less than 1, found a string"},
    {"line used by a counter",
     GPIO_CHIP "[[counter]]\nname = \"flow\"\nchip = \"gpio0\"\nline = 5\n[[pwm_in]]\nname = \"fan\"\nchip = \"gpio0\"\nline = 5\n",
     "x.toml:11:8: pwm_in 'fan'.line: line 5 of chip 'gpio0' is already used by counter 'flow'.line (at x.toml:7:8)"},
    {"name used by an encoder",
     GPIO_CHIP "[[encoder]]\nname = \"fan\"\nchip = \"gpio0\"\na = 1\nb = 2\n[[pwm_in]]\nname = \"fan\"\nchip = \"gpio0\"\nline = 5\n",
     "x.toml:10:8: pwm_in 'fan'.name: duplicate name 'fan' (first defined at x.toml:4:1 as an encoder)"},
    {"a PWM input's name used again",
     FAN_GPIO "[[pwm_in]]\nname = \"fan\"\nchip = \"gpio0\"\nline = 6\n",
     "x.toml:9:8: pwm_in 'fan'.name: duplicate name 'fan' (first defined at x.toml:4:1 as a PWM input)"},
};
// clang-format on

}  // namespace

TEST_CASE("a bad [[pwm_in]] gets one exact message", "[kinds][pwm_in][config]") {
  for (const BadFile& bad : bad_files) {
    INFO(bad.what);
    CHECK(error_of(bad.text) == bad.message);
  }
}

TEST_CASE("[[pwm_in]] defaults", "[kinds][pwm_in][config]") {
  const config::Config c = kinds::parse_config(FAN_GPIO, "x.toml");
  REQUIRE(c.devices.size() == 1);
  CHECK(c.devices[0].name == "fan");
  CHECK(c.devices[0].place == config::SourcePlace{"x.toml", 4, 1});
  const kinds::PwmInConfig& p = only_pwm_in(c);
  CHECK(p.name == "fan");
  CHECK(p.line == config::LineRef{"gpio0", std::uint32_t{5}, {"x.toml", 7, 8}});
  CHECK(p.settings == config::LineSettings{});
  CHECK(p.window_ms == 1000);
  CHECK(p.timeout_ms == 1000);
  CHECK(p.measure == kinds::PwmMeasure::duty);
  CHECK(p.high_trim_us == 0);
  CHECK(p.period_trim_us == 0);
  CHECK(p.scale == 1.0);
  CHECK(p.offset == 0.0);
  CHECK(p.unit.empty());
  CHECK(p.sim_rate_hz == 0);
  CHECK(p.sim_duty == 0.5);
  const std::vector<const config::LineRef*> refs = c.devices[0].settings->line_refs();
  REQUIRE(refs.size() == 1);
  CHECK(refs[0] == &p.line);
}

TEST_CASE("[[pwm_in]] reads every key", "[kinds][pwm_in][config]") {
  SECTION("an MH-Z19B on a named line") {
    const config::Config c = kinds::parse_config(GPIO_CHIP R"([[pwm_in]]
name = "co2"
chip = "gpio0"
line = "CO2_PWM"
bias = "pull-down"
active_low = true
clock = "realtime"
window_ms = 10000
timeout_ms = 3000
measure = "duty"
high_trim_us = 2000
period_trim_us = 4000
scale = 5000
offset = -1.5
unit = "ppm"
)",
                                                 "x.toml");
    const kinds::PwmInConfig& p = only_pwm_in(c);
    CHECK(p.line.line == std::variant<std::uint32_t, std::string>{std::string("CO2_PWM")});
    CHECK(p.settings ==
          config::LineSettings{config::Bias::pull_down, true, config::EventClock::realtime});
    CHECK(p.window_ms == 10000);
    CHECK(p.timeout_ms == 3000);
    CHECK(p.high_trim_us == 2000);
    CHECK(p.period_trim_us == 4000);
    CHECK(p.scale == 5000);
    CHECK(p.offset == -1.5);
    CHECK(p.unit == "ppm");
    const kinds::PwmDecoderSettings d = p.decoder_settings();
    CHECK(d.window_ms == 10000);
    CHECK(d.timeout_ms == 3000);
    CHECK(d.high_trim_us == 2000);
    CHECK(d.period_trim_us == 4000);
    CHECK(d.scale == 5000);
    CHECK(d.offset == -1.5);
  }
  SECTION("a servo, measure = high, and the sim keys on a sim chip") {
    const config::Config c = kinds::parse_config(FAN_SIM R"(measure = "high"
high_trim_us = 1500
scale = 0.18
unit = "deg"
sim_rate_hz = 50
sim_duty = 0.075
)",
                                                 "x.toml");
    const kinds::PwmInConfig& p = only_pwm_in(c);
    CHECK(p.measure == kinds::PwmMeasure::high);
    CHECK(p.decoder_settings().measure == kinds::PwmMeasure::high);
    CHECK(p.high_trim_us == 1500);
    CHECK(p.scale == 0.18);
    CHECK(p.sim_rate_hz == 50);
    CHECK(p.sim_duty == 0.075);
  }
  SECTION("measure = period and frequency") {
    CHECK(only_pwm_in(
              kinds::parse_config(FAN_GPIO "measure = \"period\"\nperiod_trim_us = 7\n", "x.toml"))
              .period_trim_us == 7);
    CHECK(
        only_pwm_in(kinds::parse_config(FAN_GPIO "measure = \"frequency\"\n", "x.toml")).measure ==
        kinds::PwmMeasure::frequency);
  }
}

TEST_CASE("a moved [[pwm_in]] is the same device for a reload, a changed one is not",
          "[kinds][pwm_in][config]") {
  const config::Config a = kinds::parse_config(FAN_GPIO "scale = 2\n", "x.toml");
  const config::Config moved = kinds::parse_config("\n\n" FAN_GPIO "scale = 2\n", "x.toml");
  const config::Config changed = kinds::parse_config(FAN_GPIO "scale = 3\n", "x.toml");
  CHECK(a.devices[0].settings->same_settings(*moved.devices[0].settings));
  CHECK_FALSE(a.devices[0].settings->equals(*moved.devices[0].settings));
  CHECK_FALSE(a.devices[0].settings->same_settings(*changed.devices[0].settings));
}

TEST_CASE("pwm_in is the registry's sixth kind, seen through `devices`", "[kinds][pwm_in]") {
  const auto all = kinds::registry();
  REQUIRE(all.size() == 6);
  const kinds::Kind& k = *all[5];
  CHECK(&k == &kinds::pwm_in_kind());
  CHECK(kinds::find_kind("pwm_in") == &k);
  CHECK(k.name() == "pwm_in");
  CHECK(k.plural() == "PWM inputs");
  CHECK(k.section().table == "pwm_in");
  CHECK(kinds::config_sections().back().table == "pwm_in");
  CHECK(k.list_command().empty());
  CHECK(k.status_key().empty());
  CHECK(k.in_latency_report());
  CHECK(k.can_be_down());
  std::vector<std::string> families;
  for (const kinds::MetricFamily& f : k.metric_families()) {
    families.push_back(std::string(f.name) + " " + std::string(f.type));
    CHECK_FALSE(f.help.empty());
  }
  CHECK(families ==
        std::vector<std::string>{"gpioirq_pwm_duty_ratio gauge", "gpioirq_pwm_frequency_hz gauge",
                                 "gpioirq_pwm_value gauge", "gpioirq_pwm_cycles_total counter",
                                 "gpioirq_pwm_stuck gauge"});
}
