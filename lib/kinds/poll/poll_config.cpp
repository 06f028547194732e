#include "kinds/poll/poll_config.hpp"

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
constexpr std::string_view poll_keys[] = {"name", "path", "interval_ms", "scale", "offset", "unit"};
// Loose "finite and sane" bounds for scale factors and offsets.
constexpr double max_magnitude = 1e12;

}  // namespace

std::shared_ptr<const config::DeviceSettings> parse_poll_config(config::DeviceReader& r) {
  PollConfig p;
  p.name = r.name(poll_keys, "a poll source");
  p.place = r.place();
  r.require("path");
  p.path = *r.path("path");
  assign(p.interval_ms, r.integer("interval_ms", 10, 86'400'000));
  assign(p.scale, r.number("scale", -max_magnitude, max_magnitude));
  assign(p.offset, r.number("offset", -max_magnitude, max_magnitude));
  assign(p.unit, r.string("unit", true));
  return std::make_shared<const config::SettingsOf<config::PollConfig>>(std::move(p));
}

}  // namespace gpioirq::kinds
