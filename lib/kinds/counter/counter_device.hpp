#pragma once
// A pulse counter as the daemon runs it: one line, counted by an RT hook, its frequency
// estimated on the loop, a count and a frequency row per flush interval while pulses come.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "devices/pulse_counter.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/ingest_thread.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"

namespace gpioirq::kinds {

// The RT hook counts the pulses in one word (as an encoder's position), so a full edge
// ring costs log rows and frequency samples, never counts; the loop's PulseCounter
// estimates the frequency from the edges that reach it.
struct CounterRt final : gpio::RtLineHook {
  explicit CounterRt(config::EdgeKind edges_counted) : counted(edges_counted) {}
  config::EdgeKind counted;                 // which edges are pulses (the counter's `edge`)
  std::atomic<std::uint64_t> rt_pulses{0};  // written by the RT thread only

  bool on_edge(std::uint16_t line, bool level, const gpio::RawEdge& edge,
               std::int64_t& value) noexcept override;
};

class CounterDevice final : public Device {
 public:
  CounterDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context);

  std::optional<LineRequest> line_request() override;
  void simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) override;
  void on_edge(const gpio::EdgeRecord& r, std::size_t line_index) override;
  void on_flush(std::uint64_t now_mono) override;
  nlohmann::json status(std::uint64_t now) const override;
  void metrics(MetricsOut& samples, std::uint64_t now) const override;
  std::string summary(std::uint64_t now) const override;
  // Publishing (MQTT): {value, count, frequency_hz, unit}; a total and a frequency sensor.
  nlohmann::json published_state(std::uint64_t now) const override;
  std::vector<sinks::HaEntity> ha_entities() const override;
  void reset() override;

  // Loop side: pulses since start or the last reset, including those still in the ring.
  std::uint64_t count() const noexcept {
    return rt_.rt_pulses.load(std::memory_order_relaxed) - reset_base_;
  }
  double value() const noexcept { return static_cast<double>(count()) * settings_.scale; }
  const devices::PulseCounter& counter() const noexcept { return counter_; }

 private:
  const config::CounterConfig& settings_;  // inside config(), which the device owns
  CounterRt rt_;
  devices::PulseCounter counter_;   // loop: frequency
  std::uint64_t count_logged_ = 0;  // the count in the last `count` EVENT row
  std::uint64_t reset_base_ = 0;    // rt_pulses at the last reset (loop)
};

std::unique_ptr<Device> make_counter_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx);

}  // namespace gpioirq::kinds
