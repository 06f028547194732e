#pragma once
// The poll kind: [[poll]] tables (poll_config.hpp) made into poll devices (poll_device.hpp).

#include <memory>

#include "config/device_settings.hpp"
#include "kinds/kind.hpp"

namespace gpioirq::kinds {

const Kind& poll_kind();

// Defined with the device class, in poll_device.cpp.
std::unique_ptr<Device> make_poll_device(const Kind& kind, const config::DeviceConfig& cfg,
                                         DeviceContext& ctx);

}  // namespace gpioirq::kinds
