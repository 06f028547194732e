#pragma once
// The encoder kind: [[encoder]] tables (encoder_config.hpp) made into encoder devices
// (encoder_device.hpp).

#include <memory>

#include "config/device_settings.hpp"
#include "kinds/kind.hpp"

namespace gpioirq::kinds {

const Kind& encoder_kind();

// Defined with the device class, in encoder_device.cpp.
std::unique_ptr<Device> make_encoder_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx);

}  // namespace gpioirq::kinds
