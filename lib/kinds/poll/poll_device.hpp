#pragma once
// A polled file, read through the loop so that no file can block it: each tick opens the
// path non-blocking and submits one io_uring read with a deadline (3/4 of the interval, at
// most kPollDeadlineMs); a read still running then is cancelled and counted as failed. A tick
// that finds the previous read still in flight (a cancel the file did not honour) skips.
// (A FIFO read waits for data even when opened non-blocking: io_uring polls it.)

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "core/unique_fd.hpp"
#include "devices/polled_source.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "loop/callback_completion.hpp"
#include "loop/timer.hpp"

namespace gpioirq::kinds {

// Defined here; kinds/poll/poll.hpp declares it too (PollKind::make() calls it).
std::unique_ptr<Device> make_poll_device(const Kind& kind, const config::DeviceConfig& cfg,
                                         DeviceContext& ctx);

class PollDevice final : public Device {
 public:
  static constexpr std::uint32_t kPollDeadlineMs = 2000;

  PollDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context);
  ~PollDevice() override;

  const config::PollConfig& settings() const noexcept { return poll_; }
  const devices::PolledSource& source() const noexcept { return source_; }
  // How long a read may take before it is cancelled and counted as failed.
  std::uint64_t deadline_ns() const noexcept;

  std::optional<LineRequest> line_request() override { return std::nullopt; }
  // Its periodic read timer (ctx.add_timer), every interval_ms; the first read one
  // interval after.
  void start() override;

  // status `polls`: reads, errors, the last error and success, whether a read is out.
  nlohmann::json status_entry() const override;
  // Its object in the `counters` reply: status_entry() with the value and unit.
  nlohmann::json status(std::uint64_t now) const override;
  // "47.3 °C": the last value (6 significant digits) and unit; or what the last read
  // failed with ("No such file or directory").
  std::string summary(std::uint64_t now) const override;
  // Publishing (MQTT): {value, unit}, value null until a read succeeds or when the last
  // failed; a sensor in its unit.
  nlohmann::json published_state(std::uint64_t now) const override;
  std::vector<sinks::HaEntity> ha_entities() const override;

 private:
  void on_tick();
  void on_read(int res);
  void report(const devices::PollReading& reading);

  const config::PollConfig& poll_;  // in config(): shared, never changed
  devices::PolledSource source_;
  std::uint64_t ticks_skipped_ = 0;  // ticks that found the previous read still in flight
  // The read in flight: its fd and buffer outlive read_op_ (declared before it).
  core::UniqueFd fd_;
  std::array<char, devices::PolledSource::kMaxFileBytes> buffer_{};
  bool timed_out_ = false;  // the deadline passed: the read's own result is ignored
  loop::CallbackCompletion read_op_;
  loop::Timer deadline_;
};

}  // namespace gpioirq::kinds
