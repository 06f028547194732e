#pragma once
// Quadrature encoder decoding: a state machine over the levels of BOTH lines, fed by the
// RT thread, publishing its count in one atomic word (seed §3.2) that the loop reads.
//
// Direction: forward is "A leads B", i.e. the gray sequence (a,b) 00 -> 10 -> 11 -> 01 -> 00.
//
// Counting pipeline (all on the RT thread, inside on_levels):
//   1. levels -> quarter step (+1, -1, none, or invalid when both lines changed at once).
//   2. quarter steps -> counts with hysteresis: 4x counts every quarter step; 2x and 1x
//      keep a sub-count `acc` in (-s, s) (s = 4 / counts_per_period quarter steps per
//      count) and emit a count only when acc reaches +s or -s, then restart from 0. So a
//      count is emitted on completing s quarter steps in one direction, and taking it
//      back needs s quarter steps the other way: contact bounce or a reversal at any
//      phase cannot make the count flicker or drift, and whenever the net quarter motion
//      since the last reset is a multiple of s the count is exactly net / s.
//   3. counts -> limited counts: clamp or wrap at min/max (see below). The limited count
//      is the published word; position() = floor(counts / div).
//
// min/max work in position units. In counts they become:
//   wrap  (both set, mode wrap): counts live in [min*div, max*div + div - 1] and wrap, so
//         the position runs min..max and wraps to the other end.
//   clamp (otherwise, at whichever limit is set): counts live in
//         [min*div + div - 1, max*div]; a count step beyond a limit is dropped, so no
//         hidden counts pile up: at max, one count back reads max - 1 at once, and at min
//         one count forward reads min + 1.
//
// Threads: on_levels / resync run on one thread (the RT thread). position(), counts(),
// velocity(), invalid_transitions(), last_change_ns() and reset() may be called from
// another thread (the loop). Objects are neither copyable nor movable (atomics inside);
// keep them at a fixed address (e.g. std::unique_ptr) once the RT thread has them.

#include <array>
#include <atomic>
#include <cstdint>

#include "config/schema.hpp"

namespace gpioirq::devices {

// Gray phase of the levels: 00 -> 0, 10 -> 1, 11 -> 2, 01 -> 3.
constexpr int quadrature_phase(bool a, bool b) noexcept {
  return a ? (b ? 2 : 1) : (b ? 3 : 0);
}

enum class Transition : std::uint8_t {
  none,      // same levels as before (or the first levels seen): nothing to count
  forward,   // one quarter step, A leading B
  backward,  // one quarter step, B leading A
  invalid,   // both lines changed: a state was skipped; not counted as movement
};

// One quarter step between two gray phases.
constexpr Transition quadrature_step(int from_phase, int to_phase) noexcept {
  switch ((to_phase - from_phase) & 3) {
    case 0:
      return Transition::none;
    case 1:
      return Transition::forward;
    case 3:
      return Transition::backward;
    default:
      return Transition::invalid;
  }
}

class Encoder {
 public:
  // Velocity estimate tuning. The estimate covers the newest transitions that lie within
  // `window_ns` of the newest one (at most kHistory of them); velocity(now) bounds it by
  // one quarter step per (now - last change), so it falls smoothly once motion stops, and
  // reads 0 once `idle_ns` have passed without a step.
  struct VelocityTuning {
    std::uint64_t window_ns = 100'000'000;  // 100 ms
    std::uint64_t idle_ns = 500'000'000;    // 500 ms
  };
  static constexpr std::size_t kHistory = 16;

  // Throws std::invalid_argument for counts_per_period not 1/2/4, div < 1, min > max,
  // or limits so large that min*div / max*div overflow.
  explicit Encoder(const config::EncoderConfig& cfg);
  Encoder(const config::EncoderConfig& cfg, VelocityTuning tuning);
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // --- RT side (one thread) ---

  // New levels of both lines at kernel timestamp ts. The first call after construction
  // only sets the state. Picks up a pending reset() first. noexcept, no allocation.
  Transition on_levels(bool a, bool b, std::uint64_t timestamp_ns) noexcept;

  // After a loss gap: take the current levels as the state without counting anything
  // (the motion during the gap is unknown) and drop the half-counted sub-count.
  void resync(bool a, bool b) noexcept;

  // --- any thread ---

  // Published count (after counts_per_period, hysteresis and min/max), and position.
  std::int64_t counts() const noexcept;
  std::int64_t position() const noexcept;
  // Velocity in counts per second (counts_per_period units, before div and limits),
  // signed, from kernel timestamps; now_ns on the same clock as the edge timestamps.
  double velocity(std::uint64_t now_ns) const noexcept;
  std::uint64_t invalid_transitions() const noexcept;
  std::uint64_t transitions() const noexcept;     // valid quarter steps seen
  std::uint64_t last_change_ns() const noexcept;  // timestamp of the last valid step; 0 none

  // Control "reset": the count goes back to its start value (0, or the nearest value
  // inside the limits). Called from the loop. The RT thread owns the count, so the loop
  // only raises a request (reset_req_ += 1); the RT thread applies it before its next
  // transition and acknowledges (reset_ack_ = req) after publishing the new count.
  // Until it does, counts() already reads the start value, so the loop never sees the
  // old count after reset() returns. Invalid/transition counters are not reset.
  void reset() noexcept;

  // A saved count (the state file, #13): the count becomes `counts`, brought inside the
  // limits (clamped, or wrapped into the range). Only while the RT thread does not run
  // (at start, or when a reload adds the device). Returns the count set.
  std::int64_t restore_counts(std::int64_t counts) noexcept;

  // Static facts, handy for status.
  int counts_per_period() const noexcept { return counts_per_period_; }
  std::int64_t div() const noexcept { return div_; }
  std::int64_t start_counts() const noexcept { return start_counts_; }

 private:
  void apply_reset() noexcept;
  void step_counts(int dir) noexcept;
  void note_step(int dir, std::uint64_t ts) noexcept;

  // configuration
  int counts_per_period_ = 4;
  int quarters_per_count_ = 1;
  std::int64_t div_ = 1;
  bool wrap_ = false;
  std::int64_t lo_ = INT64_MIN;  // limits in counts
  std::int64_t hi_ = INT64_MAX;
  std::int64_t start_counts_ = 0;
  VelocityTuning tuning_;

  // RT-thread state
  int phase_ = -1;          // -1: not known yet
  int acc_ = 0;             // hysteresis sub-count, in (-quarters_per_count_, quarters_per_count_)
  std::int64_t count_ = 0;  // RT copy of counts_
  std::int64_t quarters_ = 0;  // net quarter steps, unlimited (velocity)
  std::uint32_t reset_seen_ = 0;
  struct Sample {
    std::uint64_t ts;
    std::int64_t quarters;
  };
  std::array<Sample, kHistory> history_{};
  std::size_t history_head_ = 0;  // next slot to write
  std::size_t history_size_ = 0;

  // published
  std::atomic<std::int64_t> counts_{0};
  std::atomic<double> velocity_qps_{0.0};  // quarter steps per second at last change
  std::atomic<std::uint64_t> last_change_ns_{0};
  std::atomic<std::uint64_t> invalid_{0};
  std::atomic<std::uint64_t> transitions_{0};
  std::atomic<std::uint32_t> reset_req_{0};  // written by the loop
  std::atomic<std::uint32_t> reset_ack_{0};  // written by the RT thread

  static_assert(std::atomic<std::int64_t>::is_always_lock_free);
  static_assert(std::atomic<double>::is_always_lock_free);
};

// floor(a / b) for b > 0.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

}  // namespace gpioirq::devices
