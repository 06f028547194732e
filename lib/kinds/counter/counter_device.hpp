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
//
// Debounce (min_pulse_us > 0): the line is requested with both edges, and a pulse is its
// active level (high for edge = rising, low for falling) from the edge that starts it to
// the edge that ends it, by kernel timestamps. It counts at its end, when it lasted at
// least min_pulse_ns; a shorter one (a reed switch's bounce) is counted as a bounce.
struct CounterRt final : gpio::RtLineHook {
  CounterRt(config::EdgeKind edges_counted, std::uint64_t min_pulse)
      : counted(edges_counted), min_pulse_ns(min_pulse) {}
  config::EdgeKind counted;                  // which edges are pulses (the counter's `edge`)
  std::uint64_t min_pulse_ns;                // 0: every counted edge is a pulse
  std::atomic<std::uint64_t> rt_pulses{0};   // written by the RT thread only
  std::atomic<std::uint64_t> rt_bounces{0};  // pulses shorter than min_pulse_ns; RT only
  // RT thread only: the pulse under way (debounce).
  bool in_pulse = false;
  std::uint64_t pulse_start_ns = 0;

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

  // Persistence and `set` (#13): the total as the user sees it survives a restart.
  nlohmann::json save_state() const override;
  std::string restore_state(const nlohmann::json& saved) override;
  void set_value(double value) override;

  // Loop side: pulses since start or the last reset, including those still in the ring,
  // plus the pulses a restore or a `set` started from.
  std::uint64_t count() const noexcept {
    return rt_.rt_pulses.load(std::memory_order_relaxed) - reset_base_ + pulse_offset_;
  }
  double value() const noexcept { return value_of(count()); }
  // The value of a count read once: a reply that shows both must compute them from one
  // read, or a pulse the RT thread counts in between makes them disagree.
  double value_of(std::uint64_t pulses) const noexcept {
    return static_cast<double>(pulses) * settings_.scale + value_offset_;
  }
  std::uint64_t bounces() const noexcept { return rt_.rt_bounces.load(std::memory_order_relaxed); }
  const devices::PulseCounter& counter() const noexcept { return counter_; }

 private:
  const config::CounterConfig& settings_;  // inside config(), which the device owns
  CounterRt rt_;
  devices::PulseCounter counter_;   // loop: frequency
  std::uint64_t count_logged_ = 0;  // the count in the last `count` EVENT row
  std::uint64_t reset_base_ = 0;    // rt_pulses at the last reset, restore or set (loop)
  // What a restore or a `set` started from: whole pulses, and the fraction of one pulse a
  // set value left over, in the unit (0 <= value_offset_ < |scale|).
  std::uint64_t pulse_offset_ = 0;
  double value_offset_ = 0;
  std::uint64_t last_rt_pulses_ = 0;  // debounce: the RT count at the last record seen (loop)
  // The count of the pulse ending at record r (its RT count), as count() would say.
  std::uint64_t count_at(std::int64_t rt_value) const noexcept;
};

std::unique_ptr<Device> make_counter_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx);

}  // namespace gpioirq::kinds
