#include "kinds/encoder/encoder.hpp"

#include "kinds/device.hpp"
#include "kinds/encoder/encoder_config.hpp"

namespace gpioirq::kinds {

namespace {

// In the order of the metrics reply.
constexpr MetricFamily encoder_metrics[] = {
    {"gpioirq_encoder_position", "", "gauge"},
    {"gpioirq_encoder_position_error_bound", "How far the position may be off after lost edges.",
     "gauge"},
};

class EncoderKind final : public Kind {
 public:
  std::string_view name() const override { return "encoder"; }
  std::string_view plural() const override { return "encoders"; }
  config::DeviceSection section() const override { return {"encoder", &parse_encoder_config}; }
  std::unique_ptr<Device> make(const config::DeviceConfig& c, DeviceContext& ctx) const override {
    return make_encoder_device(*this, c, ctx);
  }
  std::string_view list_command() const override { return "encoders"; }
  std::span<const MetricFamily> metric_families() const override { return encoder_metrics; }
};

}  // namespace

const Kind& encoder_kind() {
  static const EncoderKind kind;
  return kind;
}

}  // namespace gpioirq::kinds
