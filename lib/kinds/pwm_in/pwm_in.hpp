#pragma once
// The kind `pwm_in`: a PWM / pulse-width input on one line (RC servo pulses, a sensor's PWM
// output such as the MH-Z19's, fan PWM). Its parts: pwm_in_config (the [[pwm_in]] table),
// pwm_decoder (cycles, windows and timeouts from edge timestamps, pure), pwm_in_device (the
// Device the daemon runs). Listed once in kinds/registry.cpp.

#include "kinds/kind.hpp"

namespace gpioirq::kinds {

const Kind& pwm_in_kind();

}  // namespace gpioirq::kinds
