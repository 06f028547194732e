#include "kinds/encoder/encoder_config.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "config/config_error.hpp"

namespace gpioirq::kinds {

using namespace config;

namespace {

// The keys double as the "did you mean" candidates, so keep them complete and in the order
// of docs/CONFIGURATION.md.
constexpr std::string_view encoder_keys[] = {
    "name", "chip", "a",   "b",    "bias",          "active_low", "clock", "counts_per_period",
    "div",  "min",  "max", "mode", "detent_events", "sim_rate_hz"};
constexpr std::string_view mode_names[] = {"wrap", "clamp"};
constexpr RangeMode mode_values[] = {RangeMode::wrap, RangeMode::clamp};

constexpr std::int64_t counts_per_period_values[] = {1, 2, 4};

}  // namespace

std::shared_ptr<const config::DeviceSettings> parse_encoder_config(config::DeviceReader& r) {
  EncoderConfig e;
  e.name = r.name(encoder_keys, "an encoder");
  e.place = r.place();
  r.require("chip");
  r.require("a");
  r.require("b");
  const ChipConfig& chip = r.chip();
  e.a = r.line("a", chip);
  e.b = r.line("b", chip);
  e.line = r.line_settings();
  assign(e.counts_per_period, r.integer_one_of("counts_per_period", counts_per_period_values));
  assign(e.div, r.integer("div", 1, 1'000'000));
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  e.min = r.integer("min", lo, hi);
  e.max = r.integer("max", lo, hi);
  if (e.min && e.max && *e.min >= *e.max)
    r.fail("max", "expected an integer greater than min (" + std::to_string(*e.min) + "), found " +
                      std::to_string(*e.max));
  assign(e.mode, r.choice("mode", mode_names, mode_values));
  if (e.mode == RangeMode::wrap && !(e.min && e.max))
    r.fail("mode", "\"wrap\" needs both 'min' and 'max'");
  assign(e.detent_events, r.boolean("detent_events"));
  r.sim_rate(chip, e.sim_rate_hz, 10'000'000);
  return std::make_shared<const config::SettingsOf<config::EncoderConfig>>(std::move(e));
}

}  // namespace gpioirq::kinds
