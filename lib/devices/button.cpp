#include "devices/button.hpp"

#include <algorithm>

namespace gpioirq::devices {

namespace {
constexpr std::uint64_t kNsPerMs = 1'000'000;
}

std::string_view to_string(ButtonEventKind kind) noexcept {
  switch (kind) {
    case ButtonEventKind::press:
      return "press";
    case ButtonEventKind::release:
      return "release";
    case ButtonEventKind::long_press:
      return "long_press";
    case ButtonEventKind::click:
      return "click";
    case ButtonEventKind::double_click:
      return "double_click";
    case ButtonEventKind::open:
      return "open";
    case ButtonEventKind::close:
      return "close";
  }
  return "unknown";
}

Button::Button(const config::ButtonConfig& cfg, bool initial_level) noexcept
    : kind_(cfg.kind),
      debounce_ns_(std::uint64_t{cfg.debounce_ms} * kNsPerMs),
      long_press_ns_(std::uint64_t{cfg.long_press_ms} * kNsPerMs),
      double_click_ns_(std::uint64_t{cfg.double_click_ms} * kNsPerMs),
      accepted_(initial_level),
      raw_(initial_level) {}

ButtonEvents Button::on_edge(bool level, std::uint64_t ts_ns) noexcept {
  ButtonEvents out;
  // Complete whatever the time up to this edge decides (a burst that has been stable
  // long enough, gesture deadlines) before the edge changes anything.
  advance(ts_ns, out);
  const std::uint64_t t = clock_;  // ts_ns, or later if the edge arrived out of order
  if (!pending_) {
    // Leaving the accepted level opens a burst. A repeated edge of the accepted level
    // (the opposite edge was lost) also opens one, which ends as a glitch if it holds.
    pending_ = true;
    burst_start_ = t;
  }
  last_edge_ = t;
  raw_ = level;
  advance(t, out);  // debounce 0 accepts at once
  return out;
}

ButtonEvents Button::on_time(std::uint64_t now_ns) noexcept {
  ButtonEvents out;
  advance(now_ns, out);
  return out;
}

ButtonEvents Button::resync(bool level, std::uint64_t ts_ns) noexcept {
  ButtonEvents out;
  clock_ = std::max(clock_, ts_ns);
  pending_ = false;
  raw_ = level;
  held_ = false;
  long_fired_ = false;
  second_press_ = false;
  candidate_ = false;
  if (level != accepted_) {
    accepted_ = level;
    if (kind_ == config::ButtonKind::switch_) {
      out.push({level ? ButtonEventKind::close : ButtonEventKind::open, clock_, clock_});
    } else {
      // A press seen only at resync has no known start: it makes no gestures.
      out.push({level ? ButtonEventKind::press : ButtonEventKind::release, clock_, clock_});
    }
  }
  return out;
}

std::optional<std::uint64_t> Button::next_deadline() const noexcept {
  if (pending_) return last_edge_ + debounce_ns_;
  return gesture_deadline();
}

std::optional<std::uint64_t> Button::gesture_deadline() const noexcept {
  if (kind_ == config::ButtonKind::switch_) return std::nullopt;
  std::optional<std::uint64_t> d;
  if (held_ && !long_fired_) d = press_ts_ + long_press_ns_;
  if (candidate_) {
    const std::uint64_t c = cand_release_ts_ + double_click_ns_ + 1;  // window is inclusive
    d = d ? std::min(*d, c) : c;
  }
  return d;
}

void Button::advance(std::uint64_t now, ButtonEvents& out) noexcept {
  now = std::max(now, clock_);
  clock_ = now;
  if (pending_ && now - last_edge_ >= debounce_ns_) {
    // The accepted timeline is known up to the burst's first edge: settle deadlines
    // that fall before it, then the burst itself.
    gestures_until(burst_start_, out);
    pending_ = false;
    if (raw_ != accepted_) {
      accept(raw_, burst_start_, out);
    } else {
      ++glitches_;
    }
  }
  gestures_until(pending_ ? burst_start_ : now, out);
}

void Button::gestures_until(std::uint64_t t, ButtonEvents& out) noexcept {
  if (kind_ == config::ButtonKind::switch_) return;
  if (held_ && !long_fired_ && t >= press_ts_ + long_press_ns_) {
    long_fired_ = true;
    out.push({ButtonEventKind::long_press, press_ts_ + long_press_ns_, press_ts_});
  }
  if (candidate_ && t > cand_release_ts_ + double_click_ns_) {
    candidate_ = false;
    out.push({ButtonEventKind::click, cand_release_ts_ + double_click_ns_, cand_press_ts_});
  }
}

void Button::accept(bool level, std::uint64_t ts, ButtonEvents& out) noexcept {
  accepted_ = level;
  if (kind_ == config::ButtonKind::switch_) {
    out.push({level ? ButtonEventKind::close : ButtonEventKind::open, ts, ts});
    return;
  }
  if (level) {
    out.push({ButtonEventKind::press, ts, ts});
    second_press_ = false;
    if (candidate_ && ts - cand_release_ts_ <= double_click_ns_) {
      out.push({ButtonEventKind::double_click, ts, cand_press_ts_});
      candidate_ = false;
      second_press_ = true;
    }
    held_ = true;
    press_ts_ = ts;
    long_fired_ = false;
  } else {
    out.push({ButtonEventKind::release, ts, held_ ? press_ts_ : ts});
    if (held_ && !long_fired_ && !second_press_) {
      candidate_ = true;
      cand_press_ts_ = press_ts_;
      cand_release_ts_ = ts;
    }
    held_ = false;
    second_press_ = false;
  }
}

}  // namespace gpioirq::devices
