// Placeholder until the button device class moves here (button_device.cpp, DEFINING
// make_button_device): the daemon does not make devices through the kinds yet, and every
// binary must link. Deleted when button_device.cpp is merged.

#include <stdexcept>

#include "kinds/button/button.hpp"
#include "kinds/device.hpp"

namespace gpioirq::kinds {

std::unique_ptr<Device> make_button_device(const Kind&, const config::DeviceConfig&,
                                           DeviceContext&) {
  throw std::logic_error("button device not moved yet");
}

}  // namespace gpioirq::kinds
