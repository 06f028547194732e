#pragma once
// Pulse counter for flow meters, anemometers, tachometers: counts edges of the configured
// kind and estimates the pulse frequency from kernel timestamps. Loop-thread object (fed
// from the edge ring); plain data, no I/O, no allocation after construction.
//
// Frequency over the window (window_ms):
//   The window is kept as kBuckets time buckets of window/kBuckets each, holding the count
//   and the first and last pulse timestamps that fell into them. frequency(now) takes the
//   pulses in the buckets that are not older than the window (so the effective window is
//   between (kBuckets-1)/kBuckets and 1 window long) and returns
//     (n - 1) / (last pulse ts - first pulse ts)      for n >= 2 pulses,
//   i.e. the mean pulse interval measured between real pulse timestamps: exact for a
//   steady train, however the window boundary falls. With a single pulse in the window
//   it uses the interval to the pulse before it (slow signals, < 2 pulses per window).
//   When the last pulse is older than the window, the frequency is 0: after pulses stop,
//   the reading holds for one window and then drops to 0.

#include <array>
#include <cstdint>

#include "config/schema.hpp"

namespace gpioirq::devices {

class PulseCounter {
 public:
  static constexpr std::size_t kBuckets = 16;

  // Throws std::invalid_argument when window_ms is 0.
  explicit PulseCounter(const config::CounterConfig& cfg);

  // Whether an edge to `level` (true = rising) is a pulse for a counter of that kind.
  static bool is_pulse(config::EdgeKind kind, bool level) noexcept {
    return kind == config::EdgeKind::both || (kind == config::EdgeKind::rising) == level;
  }

  // An edge: `level` is the line's logical level after the edge (true = rising).
  // Returns true when it was counted (is_pulse).
  bool on_edge(bool level, std::uint64_t ts_ns) noexcept;

  std::uint64_t count() const noexcept { return count_; }
  double frequency(std::uint64_t now_ns) const noexcept;  // pulses per second
  double value() const noexcept { return static_cast<double>(count_) * scale_; }  // in unit
  double rate(std::uint64_t now_ns) const noexcept { return frequency(now_ns) * scale_; }  // unit/s
  std::uint64_t last_pulse_ns() const noexcept { return last_ts_; }

  // Control "reset": count and frequency history back to zero.
  void reset() noexcept;

 private:
  struct Bucket {
    std::uint64_t epoch = 0;  // ts / bucket width, + 1 (0 = empty)
    std::uint64_t count = 0;
    std::uint64_t first_ts = 0;
    std::uint64_t last_ts = 0;
  };

  config::EdgeKind edge_;
  double scale_;
  std::uint64_t window_ns_;
  std::uint64_t bucket_ns_;
  std::uint64_t count_ = 0;
  std::uint64_t last_ts_ = 0;
  std::uint64_t prev_ts_ = 0;
  std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace gpioirq::devices
