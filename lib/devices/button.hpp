#pragma once
// Button / switch decoding from kernel edge timestamps: software debounce, then gestures.
// Runs on the loop thread (edges come from the ring); time-driven parts are driven by a
// timer the loop arms for next_deadline(). Pure logic: no I/O, no clocks of its own.
//
// Levels are logical: true = pressed / closed (active_low is applied by the line request).
// All times are nanoseconds on the clock of the edge timestamps (CLOCK_MONOTONIC by
// default); on_time() must be given the same clock.
//
// ---- Debounce ------------------------------------------------------------------------
// The accepted (debounced) level changes only when the raw level has differed from it and
// then stayed unchanged for debounce_ms: the edge that leaves the accepted level opens a
// "burst"; every further edge restarts the stability timer; when the raw level has been
// stable for >= debounce_ms (last edge + debounce <= time), the burst ends:
//   - raw level != accepted level: the change is accepted, stamped with the timestamp of
//     the FIRST edge of the burst (the moment the contact first moved);
//   - raw level == accepted level: it was a glitch (shorter than debounce_ms), dropped.
// debounce_ms = 0 accepts every change at its edge.
// Edges decide by their own timestamps, whatever the loop's lateness: an edge arriving
// with ts >= last edge + debounce first completes the previous burst at that deadline.
//
// ---- Gestures (kind = button) ----------------------------------------------------------
// Gestures run on the accepted timeline. While a burst is pending, that timeline is known
// only up to the burst's first edge, so gesture deadlines wait for the burst to resolve
// (a release that starts 1 ms before the long-press time prevents the long press even if
// it is accepted later).
//   press        accepted change to pressed; ts = first edge, start = ts.
//   release      accepted change to released; ts = first edge, start = its press ts.
//   long_press   the button has been held continuously for >= long_press_ms since its
//                press; once per press; ts = press ts + long_press_ms, start = press ts.
//                A release stamped exactly at press + long_press_ms still counts as held.
//   double_click a press whose ts is <= double_click_ms after the release of a pending
//                click candidate; emitted right after that press event; ts = this press,
//                start = the first press of the pair.
//   click        a click candidate whose window passed (no press with ts <=
//                release + double_click_ms); ts = release + double_click_ms (when it
//                became certain), start = its press ts.
// A click candidate is a press/release that fired no long_press and was not the second
// press of a double click. So: one short press -> click; two -> double_click (no click);
// three -> double_click then click; a long press -> long_press only. The second press of
// a double click can still become a long_press if held. double_click_ms = 0 disables
// double clicks: the click (ts = release) comes out on the next call after the release
// (next_deadline() = release + 1 ns).
//
// ---- Switch (kind = switch) ------------------------------------------------------------
//   close / open  accepted change to closed (true) / open (false); ts = first edge.
// Nothing else.
//
// ---- Output ------------------------------------------------------------------------------
// Every call returns the events it produced, in timestamp order, in a fixed-capacity
// ButtonEvents (no allocation). At most 4 events can come out of one call
// (click, press, double_click, long_press), the capacity is 8.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "config/schema.hpp"

namespace gpioirq::devices {

enum class ButtonEventKind : std::uint8_t {
  press,
  release,
  long_press,
  click,
  double_click,
  open,
  close,
};

std::string_view to_string(ButtonEventKind kind) noexcept;

struct ButtonEvent {
  ButtonEventKind kind;
  std::uint64_t ts_ns;     // see the table above
  std::uint64_t start_ns;  // start of the gesture (press ts); == ts_ns for press/open/close
};

class ButtonEvents {
 public:
  static constexpr std::size_t kCapacity = 8;
  void push(const ButtonEvent& e) noexcept {
    if (size_ < kCapacity) items_[size_++] = e;
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const ButtonEvent& operator[](std::size_t i) const noexcept { return items_[i]; }
  const ButtonEvent* begin() const noexcept { return items_.data(); }
  const ButtonEvent* end() const noexcept { return items_.data() + size_; }

 private:
  std::array<ButtonEvent, kCapacity> items_{};
  std::size_t size_ = 0;
};

class Button {
 public:
  // initial_level: the line's logical level when the request was made (read it).
  Button(const config::ButtonConfig& cfg, bool initial_level) noexcept;

  // One edge: the new logical level and its kernel timestamp.
  ButtonEvents on_edge(bool level, std::uint64_t ts_ns) noexcept;
  // The loop's timer fired (or any time the loop wants): process deadlines <= now.
  ButtonEvents on_time(std::uint64_t now_ns) noexcept;
  // When on_time() next has work to do; nullopt: nothing pending (disarm the timer).
  std::optional<std::uint64_t> next_deadline() const noexcept;

  // After a loss gap: the line now reads `level`. A pending burst is dropped; if the
  // level differs from the accepted one, the change is accepted at ts (press/release or
  // close/open), but gesture state (click windows, long press) is cleared since the
  // history in between is unknown.
  ButtonEvents resync(bool level, std::uint64_t ts_ns) noexcept;

  bool level() const noexcept { return accepted_; }  // debounced level
  bool raw_level() const noexcept { return raw_; }
  std::uint64_t glitches() const noexcept { return glitches_; }  // rejected bursts
  config::ButtonKind kind() const noexcept { return kind_; }

 private:
  void advance(std::uint64_t now, ButtonEvents& out) noexcept;
  void gestures_until(std::uint64_t t, ButtonEvents& out) noexcept;
  void accept(bool level, std::uint64_t ts, ButtonEvents& out) noexcept;
  std::optional<std::uint64_t> gesture_deadline() const noexcept;

  config::ButtonKind kind_;
  std::uint64_t debounce_ns_;
  std::uint64_t long_press_ns_;
  std::uint64_t double_click_ns_;

  // debouncer
  bool accepted_;
  bool raw_;
  bool pending_ = false;           // a burst is open
  std::uint64_t burst_start_ = 0;  // first edge of the open burst
  std::uint64_t last_edge_ = 0;    // last edge of the open burst
  std::uint64_t clock_ = 0;        // latest time processed (edges or on_time)
  std::uint64_t glitches_ = 0;

  // gestures (button kind)
  bool held_ = false;  // a press we know the start of is being held
  std::uint64_t press_ts_ = 0;
  bool long_fired_ = false;
  bool second_press_ = false;  // the current press completed a double click
  bool candidate_ = false;     // a click waiting for its double-click window
  std::uint64_t cand_press_ts_ = 0;
  std::uint64_t cand_release_ts_ = 0;
};

}  // namespace gpioirq::devices
