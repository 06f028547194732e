#include "kinds/imu/imu.hpp"

#include "kinds/device.hpp"
#include "kinds/imu/imu_config.hpp"

namespace gpioirq::kinds {

namespace {

// In the order of the metrics reply.
constexpr MetricFamily imu_metrics[] = {
    {"gpioirq_imu_frames_total", "", "counter"},
    {"gpioirq_imu_frames_lost_total",
     "IMU frames lost, by where: before the file (overrun) or by the file.", "counter"},
    {"gpioirq_imu_overruns_total", "", "counter"},
};

// Frames, not edges: no edge latency histogram.
class ImuKind final : public Kind {
 public:
  std::string_view name() const override { return "imu"; }
  std::string_view plural() const override { return "IMUs"; }
  config::DeviceSection section() const override { return {"imu", &parse_imu_config}; }
  std::unique_ptr<Device> make(const config::DeviceConfig& c, DeviceContext& ctx) const override {
    return make_imu_device(*this, c, ctx);
  }
  std::string_view list_command() const override { return "imu"; }
  std::span<const MetricFamily> metric_families() const override { return imu_metrics; }
  bool in_latency_report() const override { return false; }
};

}  // namespace

const Kind& imu_kind() {
  static const ImuKind kind;
  return kind;
}

}  // namespace gpioirq::kinds
