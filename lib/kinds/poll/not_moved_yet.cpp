// Placeholder until the poll device class moves here (poll_device.cpp, DEFINING
// make_poll_device): the daemon does not make devices through the kinds yet, and every
// binary must link. Deleted when poll_device.cpp is merged.

#include <stdexcept>

#include "kinds/device.hpp"
#include "kinds/poll/poll.hpp"

namespace gpioirq::kinds {

std::unique_ptr<Device> make_poll_device(const Kind&, const config::DeviceConfig&, DeviceContext&) {
  throw std::logic_error("poll device not moved yet");
}

}  // namespace gpioirq::kinds
