// Placeholder until the encoder device class moves here (encoder_device.cpp, DEFINING
// make_encoder_device): the daemon does not make devices through the kinds yet, and every
// binary must link. Deleted when encoder_device.cpp is merged.

#include <stdexcept>

#include "kinds/device.hpp"
#include "kinds/encoder/encoder.hpp"

namespace gpioirq::kinds {

std::unique_ptr<Device> make_encoder_device(const Kind&, const config::DeviceConfig&,
                                            DeviceContext&) {
  throw std::logic_error("encoder device not moved yet");
}

}  // namespace gpioirq::kinds
