#pragma once
// How a device kind reads its own [[table]]: the loader hands the kind's parse function a
// DeviceReader, a TableReader that also knows what the whole file has defined so far (its
// chips, the one name space of devices, the lines in use, the file's directory). The checks
// every device table shares live here, so their messages stay the same for every kind:
//   "demo.toml:9:5: encoder 'knob'.a: line 17 of chip 'main' is already used by button
//    'stop'.line (at demo.toml:3:8)"
// A kind's parse function reads 'name' first (name()), then its own keys with the
// TableReader reads, and returns its settings; any problem is a ConfigError.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "config/table_reader.hpp"

namespace gpioirq::config {

// The loader's state shared by every table of one file: the chips read so far, the device
// names and the lines in use (each with where it was defined), the file's directory.
// Defined in loader.cpp.
struct LoaderState;

class DeviceReader : public TableReader {  // made by the loader, one per [[table]]
 public:
  // `subject` as for TableReader: "encoder #2" until name() has read the name.
  DeviceReader(const toml::table& table, std::string_view file, std::string subject,
               LoaderState& state);

  // Checks 'name' (the subject becomes "<table> 'x'"), refuses keys not in `keys` (the
  // nearest one suggested), requires 'name', and registers it in the one name space:
  // "duplicate name 'x' (first defined at F:L:C as <what>)". what: "an encoder".
  std::string name(std::span<const std::string_view> keys, std::string_view what);
  // The name name() read; empty before. The loader's DeviceConfig::name.
  const std::string& device_name() const noexcept { return device_name_; }
  // 'chip': required, must name a [[chip]] defined in the file.
  const ChipConfig& chip();
  // A line offset or line name under `key` on `chip`; refuses a line another device uses.
  LineRef line(std::string_view key, const ChipConfig& chip);
  // bias, active_low, clock.
  LineSettings line_settings();
  // sim_rate_hz (0..max) into `rate`, refused on a chip that is not a sim chip.
  void sim_rate(const ChipConfig& chip, double& rate, double max);
  // A path, made absolute against the configuration file's directory.
  std::optional<std::string> path(std::string_view key);

 private:
  LoaderState& state_;
  std::string device_name_;
};

// One kind's table in the file: what the loader needs to read it without naming the kind.
struct DeviceSection {
  std::string_view table;                                           // "encoder" for [[encoder]]
  std::shared_ptr<const DeviceSettings> (*parse)(DeviceReader& r);  // throws ConfigError
};

// As config/loader.hpp's parse() and load(), reading one [[table]] array per section, in the
// order given (which is the order of Config::devices by kind). Top-level keys allowed:
// daemon, chip and every section's table.
Config parse(std::string_view text, std::string_view file, std::span<const DeviceSection> sections);
Config load(const std::string& path, std::span<const DeviceSection> sections);

}  // namespace gpioirq::config
