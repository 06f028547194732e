#include "kinds/counter/counter.hpp"

#include "kinds/counter/counter_config.hpp"
#include "kinds/device.hpp"

namespace gpioirq::kinds {

namespace {

// In the order of the metrics reply.
constexpr MetricFamily counter_metrics[] = {
    {"gpioirq_counter_total", "", "counter"},
    {"gpioirq_counter_frequency_hz", "", "gauge"},
};

class CounterKind final : public Kind {
 public:
  std::string_view name() const override { return "counter"; }
  std::string_view plural() const override { return "counters"; }
  config::DeviceSection section() const override { return {"counter", &parse_counter_config}; }
  std::unique_ptr<Device> make(const config::DeviceConfig& c, DeviceContext& ctx) const override {
    return make_counter_device(*this, c, ctx);
  }
  std::string_view list_command() const override { return "counters"; }
  std::span<const MetricFamily> metric_families() const override { return counter_metrics; }
};

}  // namespace

const Kind& counter_kind() {
  static const CounterKind kind;
  return kind;
}

}  // namespace gpioirq::kinds
