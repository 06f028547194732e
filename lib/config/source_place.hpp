#pragma once
// SourcePlace on its own, so that config/device_settings.hpp (DeviceConfig) can use it
// without config/schema.hpp, which holds the devices' DeviceConfigs and so includes it.

#include <cstdint>
#include <string>

namespace gpioirq::config {

// Where a value came from in the file, for error messages after parsing
// (e.g. "the same line used twice" names both places). For a device it is its [[table]]
// header; for a LineRef, the line's value. Ignored by config::diff().
struct SourcePlace {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;

  bool operator==(const SourcePlace&) const = default;
};

}  // namespace gpioirq::config
