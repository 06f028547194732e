#pragma once
// [[pwm_in]]: the settings of a PWM / pulse-width input, as its parse function reads them
// (keys, defaults and ranges: docs/CONFIGURATION.md). Plain data; the kind's other files
// get it back from a DeviceConfig with config::settings_cast<PwmInConfig>().

#include <memory>
#include <string>
#include <vector>

#include "config/device_reader.hpp"
#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "kinds/pwm_in/pwm_decoder.hpp"

namespace gpioirq::kinds {

struct PwmInConfig {
  std::string name;
  config::LineRef line;
  config::LineSettings settings;
  std::uint32_t window_ms = 1000;         // statistics window, closed by edges
  std::uint32_t timeout_ms = 1000;        // no edge this long: stuck
  PwmMeasure measure = PwmMeasure::duty;  // what `value` scales
  std::uint32_t high_trim_us = 0;         // measure duty and high only
  std::uint32_t period_trim_us = 0;       // measure duty and period only
  double scale = 1.0;                     // never 0
  double offset = 0.0;
  std::string unit;
  double sim_rate_hz = 0;  // sim chip only: cycles per second generated; 0 = none
  double sim_duty = 0.5;   // sim chip only: high time / period, 0 < d < 1
  config::SourcePlace place;

  bool operator==(const PwmInConfig&) const = default;

  PwmDecoderSettings decoder_settings() const {
    return {window_ms, timeout_ms, measure, high_trim_us, period_trim_us, scale, offset};
  }
};

// Found by ADL from config::SettingsOf<PwmInConfig>. Inline, as the struct: the device and
// its tests use them without the parser.
inline void blank_places(PwmInConfig& c) {
  c.place = {};
  c.line.place = {};
}
inline std::vector<const config::LineRef*> line_refs_of(const PwmInConfig& c) {
  return {&c.line};
}

// The kind's DeviceSection::parse: reads one [[pwm_in]] table; throws config::ConfigError
// ("file:line:column: pwm_in 'fan'.window_ms: expected ...").
std::shared_ptr<const config::DeviceSettings> parse_pwm_in(config::DeviceReader& r);

}  // namespace gpioirq::kinds
