#pragma once
// Reading and validating the daemon's TOML configuration (key reference:
// docs/CONFIGURATION.md). Every problem is a ConfigError whose what() is one line,
// "file:line:column: subject: problem", e.g.
//   "demo.toml:7:15: daemon.rt_priority: expected an integer from 0 to 99, found 120".
// The result has every default filled in and every path made absolute (relative paths are
// taken relative to the directory of the configuration file).

#include <string>
#include <string_view>

#include "config/config_error.hpp"
#include "config/device_reader.hpp"
#include "config/schema.hpp"

namespace gpioirq::config {

// Config parse(std::string_view text, std::string_view file_name,
//              std::span<const DeviceSection> sections);
//   Parses `text` as if it were the file `file_name`, which is used in messages, for
//   Config::file and as the base of relative paths. Touches nothing on the system: whether
//   chips, buses, groups and polled files exist is for the daemon to find out.
// Config load(const std::string& path, std::span<const DeviceSection> sections);
//   Reads the file at `path` and parses it; an unreadable file is a ConfigError naming the
//   file and the system's reason ("No such file or directory").
// Both are declared in config/device_reader.hpp. `sections` are the device kinds' tables;
// the configuration module names no kind, so callers use kinds::parse_config() and
// kinds::load_config() (lib/kinds/kind.hpp), which pass every kind's section.

}  // namespace gpioirq::config
