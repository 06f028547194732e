#pragma once
// [[counter]]: reads one table into a config::CounterConfig (the struct stays plain data in
// config/schema.hpp); keys in docs/CONFIGURATION.md.

#include <memory>

#include "config/device_reader.hpp"
#include "config/device_settings.hpp"

namespace gpioirq::kinds {

// Throws config::ConfigError for anything wrong in the table.
std::shared_ptr<const config::DeviceSettings> parse_counter_config(config::DeviceReader& r);

}  // namespace gpioirq::kinds
