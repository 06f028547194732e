#include "kinds/button/button.hpp"

#include "kinds/button/button_config.hpp"
#include "kinds/device.hpp"

namespace gpioirq::kinds {

namespace {

class ButtonKind final : public Kind {
 public:
  std::string_view name() const override { return "button"; }
  std::string_view plural() const override { return "buttons"; }
  config::DeviceSection section() const override { return {"button", &parse_button_config}; }
  std::unique_ptr<Device> make(const config::DeviceConfig& c, DeviceContext& ctx) const override {
    return make_button_device(*this, c, ctx);
  }
  std::string_view list_command() const override { return "buttons"; }
};

}  // namespace

const Kind& button_kind() {
  static const ButtonKind kind;
  return kind;
}

}  // namespace gpioirq::kinds
