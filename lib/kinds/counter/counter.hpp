#pragma once
// The counter kind: [[counter]] tables (counter_config.hpp) made into counter devices
// (counter_device.hpp).

#include <memory>

#include "config/device_settings.hpp"
#include "kinds/kind.hpp"

namespace gpioirq::kinds {

const Kind& counter_kind();

// Defined with the device class, in counter_device.cpp.
std::unique_ptr<Device> make_counter_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx);

}  // namespace gpioirq::kinds
