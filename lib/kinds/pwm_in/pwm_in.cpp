#include "kinds/pwm_in/pwm_in.hpp"

#include <memory>

#include "kinds/pwm_in/pwm_in_config.hpp"
#include "kinds/pwm_in/pwm_in_device.hpp"

namespace gpioirq::kinds {

namespace {

// In PwmInMetric order (pwm_in_device.hpp): the device's samples name them by index.
constexpr MetricFamily kFamilies[] = {
    {"gpioirq_pwm_duty_ratio", "Mean duty cycle (high time / period) of the last closed window.",
     "gauge"},
    {"gpioirq_pwm_frequency_hz", "Mean frequency of the last closed window.", "gauge"},
    {"gpioirq_pwm_value", "Mean scaled value (scale, offset, unit) of the last closed window.",
     "gauge"},
    {"gpioirq_pwm_cycles_total", "Complete PWM cycles measured.", "counter"},
    {"gpioirq_pwm_stuck", "1 while the line has had no edge for timeout_ms.", "gauge"},
};

class PwmInKind final : public Kind {
 public:
  std::string_view name() const override { return "pwm_in"; }
  std::string_view plural() const override { return "PWM inputs"; }
  config::DeviceSection section() const override { return {"pwm_in", &parse_pwm_in}; }
  std::unique_ptr<Device> make(const config::DeviceConfig& c, DeviceContext& ctx) const override {
    return make_pwm_in_device(*this, c, ctx);
  }
  // No list command of its own: `devices` shows it.
  std::span<const MetricFamily> metric_families() const override { return kFamilies; }
};

}  // namespace

const Kind& pwm_in_kind() {
  static const PwmInKind kind;
  return kind;
}

}  // namespace gpioirq::kinds
