// Placeholder until the imu device class moves here (imu_device.cpp, DEFINING
// make_imu_device): the daemon does not make devices through the kinds yet, and every
// binary must link. Deleted when imu_device.cpp is merged.

#include <stdexcept>

#include "kinds/device.hpp"
#include "kinds/imu/imu.hpp"

namespace gpioirq::kinds {

std::unique_ptr<Device> make_imu_device(const Kind&, const config::DeviceConfig&, DeviceContext&) {
  throw std::logic_error("imu device not moved yet");
}

}  // namespace gpioirq::kinds
