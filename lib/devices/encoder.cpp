#include "devices/encoder.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace gpioirq::devices {

namespace {

std::int64_t checked_mul(std::int64_t a, std::int64_t b, const std::string& name) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw std::invalid_argument("encoder '" + name + "': min/max times div overflows");
  return r;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& name) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    throw std::invalid_argument("encoder '" + name + "': min/max times div overflows");
  return r;
}

}  // namespace

Encoder::Encoder(const config::EncoderConfig& cfg) : Encoder(cfg, VelocityTuning{}) {}

Encoder::Encoder(const config::EncoderConfig& cfg, VelocityTuning tuning) : tuning_(tuning) {
  if (cfg.counts_per_period != 1 && cfg.counts_per_period != 2 && cfg.counts_per_period != 4)
    throw std::invalid_argument("encoder '" + cfg.name + "': counts_per_period must be 1, 2 or 4");
  if (cfg.div < 1) throw std::invalid_argument("encoder '" + cfg.name + "': div must be >= 1");
  if (cfg.min && cfg.max && *cfg.min > *cfg.max)
    throw std::invalid_argument("encoder '" + cfg.name + "': min must not be greater than max");
  counts_per_period_ = cfg.counts_per_period;
  quarters_per_count_ = 4 / cfg.counts_per_period;
  div_ = cfg.div;

  wrap_ = cfg.min && cfg.max && cfg.mode == config::RangeMode::wrap;
  if (wrap_) {
    lo_ = checked_mul(*cfg.min, div_, cfg.name);
    hi_ = checked_add(checked_mul(*cfg.max, div_, cfg.name), div_ - 1, cfg.name);
  } else {
    if (cfg.min) lo_ = checked_add(checked_mul(*cfg.min, div_, cfg.name), div_ - 1, cfg.name);
    if (cfg.max) hi_ = checked_mul(*cfg.max, div_, cfg.name);
    // min == max with div > 1: the range in counts would be empty; pin it.
    if (lo_ > hi_) lo_ = hi_;
  }
  start_counts_ = std::clamp<std::int64_t>(0, lo_, hi_);
  count_ = start_counts_;
  counts_.store(count_, std::memory_order_relaxed);
}

Transition Encoder::on_levels(bool a, bool b, std::uint64_t timestamp_ns) noexcept {
  if (reset_req_.load(std::memory_order_acquire) != reset_seen_) apply_reset();
  const int phase = quadrature_phase(a, b);
  if (phase_ < 0) {
    phase_ = phase;
    return Transition::none;
  }
  const Transition t = quadrature_step(phase_, phase);
  phase_ = phase;
  switch (t) {
    case Transition::none:
      break;
    case Transition::invalid:
      // Single writer: load+store is enough and cheaper than an RMW.
      invalid_.store(invalid_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      break;
    case Transition::forward:
      step_counts(+1);
      note_step(+1, timestamp_ns);
      break;
    case Transition::backward:
      step_counts(-1);
      note_step(-1, timestamp_ns);
      break;
  }
  return t;
}

void Encoder::resync(bool a, bool b) noexcept {
  if (reset_req_.load(std::memory_order_acquire) != reset_seen_) apply_reset();
  phase_ = quadrature_phase(a, b);
  acc_ = 0;
  // The motion during the gap is unknown: velocity restarts from the next step.
  history_size_ = 0;
}

void Encoder::apply_reset() noexcept {
  reset_seen_ = reset_req_.load(std::memory_order_acquire);
  acc_ = 0;
  count_ = start_counts_;
  counts_.store(count_, std::memory_order_release);
  // Acknowledge after publishing, so a reader that sees ack == req also sees the new count.
  reset_ack_.store(reset_seen_, std::memory_order_release);
}

void Encoder::step_counts(int dir) noexcept {
  acc_ += dir;
  if (acc_ > -quarters_per_count_ && acc_ < quarters_per_count_) return;
  acc_ = 0;
  std::int64_t next = count_;
  if (dir > 0) {
    if (count_ < hi_) {
      next = count_ + 1;
    } else if (wrap_) {
      next = lo_;
    } else {
      return;  // clamped: the step is dropped, nothing hidden accumulates
    }
  } else {
    if (count_ > lo_) {
      next = count_ - 1;
    } else if (wrap_) {
      next = hi_;
    } else {
      return;
    }
  }
  count_ = next;
  counts_.store(count_, std::memory_order_release);
}

void Encoder::note_step(int dir, std::uint64_t ts) noexcept {
  quarters_ += dir;
  transitions_.store(transitions_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);

  history_[history_head_] = Sample{ts, quarters_};
  history_head_ = (history_head_ + 1) % kHistory;
  if (history_size_ < kHistory) ++history_size_;

  // Oldest sample still within the window of the newest one (the newest is at head-1).
  std::size_t oldest = 0;  // index offset back from the newest
  for (std::size_t back = 1; back < history_size_; ++back) {
    const Sample& s = history_[(history_head_ + kHistory - 1 - back) % kHistory];
    if (ts - s.ts > tuning_.window_ns) {
      // Nothing within the window but the newest: use the previous step anyway, which
      // gives one step over the pause (a lower bound on the speed, the best there is).
      if (back == 1) oldest = 1;
      break;
    }
    oldest = back;
  }
  double qps = 0.0;
  if (oldest > 0) {
    const Sample& s = history_[(history_head_ + kHistory - 1 - oldest) % kHistory];
    if (ts > s.ts) {
      qps = static_cast<double>(quarters_ - s.quarters) * 1e9 / static_cast<double>(ts - s.ts);
    } else {
      // Same timestamp (coarse clock): keep the previous estimate.
      qps = velocity_qps_.load(std::memory_order_relaxed);
    }
  }
  velocity_qps_.store(qps, std::memory_order_relaxed);
  last_change_ns_.store(ts, std::memory_order_release);
}

std::int64_t Encoder::counts() const noexcept {
  // A reset the RT thread has not picked up yet already counts for the reader.
  if (reset_ack_.load(std::memory_order_acquire) != reset_req_.load(std::memory_order_relaxed))
    return start_counts_;
  return counts_.load(std::memory_order_acquire);
}

std::int64_t Encoder::position() const noexcept {
  return floor_div(counts(), div_);
}

double Encoder::velocity(std::uint64_t now_ns) const noexcept {
  const std::uint64_t last = last_change_ns_.load(std::memory_order_acquire);
  if (last == 0 && transitions_.load(std::memory_order_relaxed) == 0) return 0.0;
  double qps = velocity_qps_.load(std::memory_order_relaxed);
  if (now_ns > last) {
    const std::uint64_t idle = now_ns - last;
    if (idle >= tuning_.idle_ns) return 0.0;
    // Motion that has stopped cannot be faster than one step per time since the last.
    const double bound = 1e9 / static_cast<double>(idle);
    qps = std::clamp(qps, -bound, bound);
  }
  return qps * counts_per_period_ / 4.0;
}

std::uint64_t Encoder::invalid_transitions() const noexcept {
  return invalid_.load(std::memory_order_relaxed);
}

std::uint64_t Encoder::transitions() const noexcept {
  return transitions_.load(std::memory_order_relaxed);
}

std::uint64_t Encoder::last_change_ns() const noexcept {
  return last_change_ns_.load(std::memory_order_acquire);
}

void Encoder::reset() noexcept {
  reset_req_.fetch_add(1, std::memory_order_acq_rel);
}

std::int64_t Encoder::restore_counts(std::int64_t counts) noexcept {
  std::int64_t c = std::clamp(counts, lo_, hi_);
  if (wrap_ && c != counts) {
    // Limits changed since the save: the count goes round the range as a turn would.
    // Unsigned arithmetic: hi_ - lo_ and the distance of counts from the range fit in 64
    // bits whatever their signs.
    const std::uint64_t span =
        static_cast<std::uint64_t>(hi_) - static_cast<std::uint64_t>(lo_) + 1;
    std::uint64_t rel;
    if (counts > hi_) {
      rel = (static_cast<std::uint64_t>(counts) - static_cast<std::uint64_t>(lo_)) % span;
    } else {  // below lo_
      const std::uint64_t below =
          (static_cast<std::uint64_t>(lo_) - static_cast<std::uint64_t>(counts)) % span;
      rel = below == 0 ? 0 : span - below;
    }
    c = static_cast<std::int64_t>(static_cast<std::uint64_t>(lo_) + rel);
  }
  reset_seen_ = reset_req_.load(std::memory_order_acquire);
  acc_ = 0;
  count_ = c;
  counts_.store(count_, std::memory_order_release);
  reset_ack_.store(reset_seen_, std::memory_order_release);
  return c;
}

}  // namespace gpioirq::devices
