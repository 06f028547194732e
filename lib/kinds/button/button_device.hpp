#pragma once
// A button or switch as the daemon runs it: one line, decoded on the loop thread (no RT
// hook: nothing about a button is urgent), a loop timer for the gesture deadlines (long
// press, the end of a double-click window), and a resync whenever edges were lost or the
// line was away.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "devices/button.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "loop/timer.hpp"

namespace gpioirq::kinds {

// The EVENT kind and live `event` of a gesture; also its counter's name in status.
const char* button_event_name(devices::ButtonEventKind k);

class ButtonDevice final : public Device {
 public:
  static constexpr std::size_t kEventKinds = 7;  // devices::ButtonEventKind press .. close

  ButtonDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context);

  std::optional<LineRequest> line_request() override;
  void simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) override;
  void attached() override;
  void start() override;
  void on_edge(const gpio::EdgeRecord& r, std::size_t line_index) override;
  void on_gap(const gpio::EdgeRecord& r, std::size_t line_index) override;
  void finish(Finish why) override;
  nlohmann::json status(std::uint64_t now) const override;
  std::string summary(std::uint64_t now) const override;
  // Publishing (MQTT): {pressed} (a switch: {on}) and the last event's name; a binary
  // sensor, and a button's gestures as Home Assistant device triggers.
  nlohmann::json published_state(std::uint64_t now) const override;
  std::vector<sinks::HaEntity> ha_entities() const override;
  void reset() override;

  const devices::Button& button() const noexcept { return button_; }
  // Gestures of that kind since start or the last reset.
  std::uint64_t events(devices::ButtonEventKind k) const noexcept {
    return events_[static_cast<std::size_t>(k)];
  }

 private:
  // Now on the line's event clock, which the button's timestamps use.
  std::uint64_t clock_now() const noexcept;
  void arm_timer();
  void on_timer();
  void log_events(const devices::ButtonEvents& events);

  const config::ButtonConfig& settings_;  // inside config(), which the device owns
  devices::Button button_;
  std::array<std::uint64_t, kEventKinds> events_{};  // per devices::ButtonEventKind
  bool attached_before_ = false;  // its lines were requested once: a later attach resyncs
  bool started_ = false;          // start() ran: deadlines are armed from here on
  loop::Timer* timer_ = nullptr;  // made on first use, owned by the daemon (ctx.add_timer)
  std::optional<devices::ButtonEvent> last_event_;  // for summary()
};

std::unique_ptr<Device> make_button_device(const Kind& kind, const config::DeviceConfig& cfg,
                                           DeviceContext& ctx);

}  // namespace gpioirq::kinds
