#pragma once
// The imu kind: [[imu]] tables (imu_config.hpp) made into imu devices (imu_device.hpp).

#include <memory>

#include "config/device_settings.hpp"
#include "kinds/kind.hpp"

namespace gpioirq::kinds {

const Kind& imu_kind();

// Defined with the device class, in imu_device.cpp.
std::unique_ptr<Device> make_imu_device(const Kind& kind, const config::DeviceConfig& cfg,
                                        DeviceContext& ctx);

}  // namespace gpioirq::kinds
