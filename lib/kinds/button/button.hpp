#pragma once
// The button kind: [[button]] tables (button_config.hpp) made into button devices
// (button_device.hpp).

#include <memory>

#include "config/device_settings.hpp"
#include "kinds/kind.hpp"

namespace gpioirq::kinds {

const Kind& button_kind();

// Defined with the device class, in button_device.cpp.
std::unique_ptr<Device> make_button_device(const Kind& kind, const config::DeviceConfig& cfg,
                                           DeviceContext& ctx);

}  // namespace gpioirq::kinds
