#include "kinds/pwm_in/pwm_in_config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "config/table_reader.hpp"

namespace gpioirq::kinds {

namespace {

// In the order of docs/CONFIGURATION.md; they are the "did you mean" candidates too.
constexpr std::string_view pwm_in_keys[] = {
    "name",      "chip",       "line",        "bias",         "active_low",     "clock",
    "window_ms", "timeout_ms", "measure",     "high_trim_us", "period_trim_us", "scale",
    "offset",    "unit",       "sim_rate_hz", "sim_duty"};

constexpr std::string_view measure_names[] = {"duty", "high", "period", "frequency"};
constexpr PwmMeasure measure_values[] = {PwmMeasure::duty, PwmMeasure::high, PwmMeasure::period,
                                         PwmMeasure::frequency};

// As the other kinds: loose "finite and sane" bounds for scale factors and offsets.
constexpr double max_magnitude = 1e12;
// What the decoder accepts (pwm_decoder.hpp): a minute.
constexpr std::int64_t max_trim_us = 60'000'000;
// Above this the sim's period (10 us) nears its 100 us tick: edges would come in batches of
// ten, still exact, but nothing a PWM test needs.
constexpr double max_sim_rate_hz = 100'000;

std::string single_quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

// A duty strictly between 0 and 1: at 0 or 1 the line has no edges, so no cycle.
std::optional<double> open_fraction(const config::DeviceReader& r, std::string_view key) {
  const toml::node* n = r.get(key);
  if (n == nullptr) return std::nullopt;
  const std::string expected = "expected a number greater than 0 and less than 1";
  double value = 0;
  if (const auto* i = n->as_integer())
    value = static_cast<double>(i->get());
  else if (const auto* f = n->as_floating_point())
    value = f->get();
  else
    r.fail(key, expected + ", found " + std::string(config::type_phrase(n->type())));
  if (!(value > 0 && value < 1)) r.fail(key, expected + ", found " + config::number_text(value));
  return value;
}

}  // namespace

std::shared_ptr<const config::DeviceSettings> parse_pwm_in(config::DeviceReader& r) {
  PwmInConfig c;
  c.name = r.name(pwm_in_keys, "a PWM input");
  c.place = r.place();
  r.require("chip");
  r.require("line");
  const config::ChipConfig& chip = r.chip();
  c.line = r.line("line", chip);
  c.settings = r.line_settings();
  config::assign(c.window_ms, r.integer("window_ms", 10, 3'600'000));
  config::assign(c.timeout_ms, r.integer("timeout_ms", 1, 3'600'000));
  config::assign(c.measure, r.choice("measure", measure_names, measure_values));
  // A trim that the chosen measure does not use would be silently ignored: refused instead.
  if (c.measure != PwmMeasure::duty && c.measure != PwmMeasure::high)
    r.forbid("high_trim_us", "applies only to measure = \"duty\" or \"high\", and measure is \"" +
                                 std::string(to_string(c.measure)) + "\"");
  if (c.measure != PwmMeasure::duty && c.measure != PwmMeasure::period)
    r.forbid("period_trim_us",
             "applies only to measure = \"duty\" or \"period\", and measure is \"" +
                 std::string(to_string(c.measure)) + "\"");
  config::assign(c.high_trim_us, r.integer("high_trim_us", 0, max_trim_us));
  config::assign(c.period_trim_us, r.integer("period_trim_us", 0, max_trim_us));
  if (auto scale = r.number("scale", -max_magnitude, max_magnitude)) {
    if (*scale == 0) r.fail("scale", "expected a non-zero number, found 0");
    c.scale = *scale;
  }
  config::assign(c.offset, r.number("offset", -max_magnitude, max_magnitude));
  config::assign(c.unit, r.string("unit", true));
  r.sim_rate(chip, c.sim_rate_hz, max_sim_rate_hz);
  if (chip.backend != config::Backend::sim)
    r.forbid("sim_duty", "applies only to devices on a sim chip, and chip " +
                             single_quoted(chip.name) + " has backend \"gpiod\"");
  config::assign(c.sim_duty, open_fraction(r, "sim_duty"));
  return std::make_shared<const config::SettingsOf<PwmInConfig>>(std::move(c));
}

}  // namespace gpioirq::kinds
