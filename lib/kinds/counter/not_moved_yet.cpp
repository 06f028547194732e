// Placeholder until the counter device class moves here (counter_device.cpp, DEFINING
// make_counter_device): the daemon does not make devices through the kinds yet, and every
// binary must link. Deleted when counter_device.cpp is merged.

#include <stdexcept>

#include "kinds/counter/counter.hpp"
#include "kinds/device.hpp"

namespace gpioirq::kinds {

std::unique_ptr<Device> make_counter_device(const Kind&, const config::DeviceConfig&,
                                            DeviceContext&) {
  throw std::logic_error("counter device not moved yet");
}

}  // namespace gpioirq::kinds
