#include "kinds/poll/poll.hpp"

#include "kinds/device.hpp"
#include "kinds/poll/poll_config.hpp"

namespace gpioirq::kinds {

namespace {

// A polled file has no line: it is never down and has no edge latency. Its devices are
// listed by `counters`, after the counters.
class PollKind final : public Kind {
 public:
  std::string_view name() const override { return "poll"; }
  std::string_view plural() const override { return "polled"; }
  config::DeviceSection section() const override { return {"poll", &parse_poll_config}; }
  std::unique_ptr<Device> make(const config::DeviceConfig& c, DeviceContext& ctx) const override {
    return make_poll_device(*this, c, ctx);
  }
  std::string_view list_command() const override { return "counters"; }
  std::string_view status_key() const override { return "polls"; }
  bool in_latency_report() const override { return false; }
  bool can_be_down() const override { return false; }
};

}  // namespace

const Kind& poll_kind() {
  static const PollKind kind;
  return kind;
}

}  // namespace gpioirq::kinds
