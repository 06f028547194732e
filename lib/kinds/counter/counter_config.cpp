#include "kinds/counter/counter_config.hpp"

#include <algorithm>
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
constexpr std::string_view counter_keys[] = {
    "name",      "chip",  "line", "bias",         "active_low",   "clock",      "edge",
    "window_ms", "scale", "unit", "min_pulse_us", "device_class", "sim_rate_hz"};
constexpr std::string_view edge_names[] = {"rising", "falling", "both"};
constexpr EdgeKind edge_values[] = {EdgeKind::rising, EdgeKind::falling, EdgeKind::both};

// Loose "finite and sane" bounds for scale factors.
constexpr double max_magnitude = 1e12;

}  // namespace

std::shared_ptr<const config::DeviceSettings> parse_counter_config(config::DeviceReader& r) {
  CounterConfig c;
  c.name = r.name(counter_keys, "a counter");
  c.place = r.place();
  r.require("chip");
  r.require("line");
  const ChipConfig& chip = r.chip();
  c.line = r.line("line", chip);
  c.settings = r.line_settings();
  assign(c.edge, r.choice("edge", edge_names, edge_values));
  assign(c.window_ms, r.integer("window_ms", 10, 3'600'000));
  if (auto scale = r.number("scale", -max_magnitude, max_magnitude)) {
    if (*scale == 0) r.fail("scale", "expected a non-zero number, found 0");
    c.scale = *scale;
  }
  assign(c.unit, r.string("unit", true));
  assign(c.min_pulse_us, r.integer("min_pulse_us", 0, 1'000'000));
  // A pulse is the edge's level until the opposite edge: with "both" there is no
  // opposite level to time.
  if (c.min_pulse_us > 0 && c.edge == EdgeKind::both)
    r.fail("min_pulse_us",
           "expected edge = \"rising\" or \"falling\" with a debounce (a pulse is timed from "
           "its edge to the opposite one), found edge = \"both\"");
  if (auto device_class = r.string("device_class")) {
    // Home Assistant's sensor device classes are lowercase words joined by '_'.
    const bool valid = device_class->size() <= 32 &&
                       std::all_of(device_class->begin(), device_class->end(),
                                   [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; });
    if (!valid)
      r.fail("device_class",
             "expected a Home Assistant device class: at most 32 of a-z and _ (\"water\", "
             "\"gas\", \"energy\"), found \"" +
                 *device_class + "\"");
    c.device_class = *device_class;
  }
  r.sim_rate(chip, c.sim_rate_hz, 10'000'000);
  return std::make_shared<const config::SettingsOf<config::CounterConfig>>(std::move(c));
}

}  // namespace gpioirq::kinds
