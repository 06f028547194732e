#pragma once
// A PWM input as the daemon runs it: one line, both edges, no RT hook (the kernel's
// timestamps and edge types in the EdgeRecords are all it needs). The loop feeds each edge
// to its PwmDecoder and emits what the decoder reports: a `pulse` per cycle (live only), the
// `pwm`, `pwm_high` and `pwm_value` rows per closed window, `stuck_high`/`stuck_low` when the
// line falls silent and `signal` when cycles come back. A periodic loop timer reports a
// silence that no edge ends.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "kinds/pwm_in/pwm_decoder.hpp"
#include "kinds/pwm_in/pwm_in_config.hpp"

namespace gpioirq::kinds {

// Metric family indexes, in pwm_in_kind().metric_families() order.
enum PwmInMetric : std::size_t {
  kPwmDutyRatio = 0,
  kPwmFrequencyHz = 1,
  kPwmValue = 2,
  kPwmCyclesTotal = 3,
  kPwmStuck = 4,
};

class PwmInDevice final : public Device {
 public:
  PwmInDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context);

  std::optional<LineRequest> line_request() override;
  void simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) override;
  void attached() override;
  void start() override;

  void on_edge(const gpio::EdgeRecord& r, std::size_t line_index) override;
  void on_gap(const gpio::EdgeRecord& r, std::size_t line_index) override;

  nlohmann::json status(std::uint64_t now) const override;
  void metrics(MetricsOut& out, std::uint64_t now) const override;
  std::string summary(std::uint64_t now) const override;
  // Publishing (MQTT): the last cycle's {duty, frequency_hz, value} (null before the first
  // cycle), its unit and the signal's state; sensors for value, duty and frequency.
  nlohmann::json published_state(std::uint64_t now) const override;
  std::vector<sinks::HaEntity> ha_entities() const override;
  void reset() override;

  const PwmDecoder& decoder() const noexcept { return decoder_; }
  // The loop timer's work (public for tests): a silence due at the line clock's now.
  void check_timeout();

 private:
  // Now on the clock of the line's timestamps (realtime or monotonic); `monotonic_now` is
  // used as it is when the line is on CLOCK_MONOTONIC.
  std::uint64_t line_now(std::uint64_t monotonic_now) const noexcept;
  std::uint64_t line_now() const noexcept;
  void emit(const PwmUpdate& u);

  const PwmInConfig& settings_;  // inside config(), which the device owns
  PwmDecoder decoder_;
};

// The Kind's make(): its DeviceConfig must hold PwmInConfig settings.
std::unique_ptr<Device> make_pwm_in_device(const Kind& kind, const config::DeviceConfig& cfg,
                                           DeviceContext& ctx);

}  // namespace gpioirq::kinds
