#include "kinds/pwm_in/pwm_decoder.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace gpioirq::kinds {

namespace {

constexpr std::uint64_t kNsPerUs = 1000;
constexpr std::uint64_t kNsPerMs = 1'000'000;
constexpr std::uint32_t kMaxTrimUs = 60'000'000;

// sum - n*trim as a double: exact (one rounding, what a replay with exact integers gets)
// whenever it fits in 64 bits, which it does for any signal with a trim below its own high
// time or period. Otherwise (a trim of seconds on hundreds of millions of cycles) it is
// computed in doubles, to 1e-16 relative. No 128-bit integers: 32-bit builds lack them.
double trimmed_sum(std::uint64_t sum, std::uint64_t n, std::uint64_t trim) noexcept {
  std::uint64_t n_trim = 0;
  std::int64_t diff = 0;
  if (!__builtin_mul_overflow(n, trim, &n_trim) && !__builtin_sub_overflow(sum, n_trim, &diff))
    return static_cast<double>(diff);
  return static_cast<double>(sum) - static_cast<double>(n) * static_cast<double>(trim);
}

// n*k as a double: n*k rounded once, as double(n*k) would be where n*k fits (n < 2^53).
double times(std::uint64_t n, double k) noexcept {
  return static_cast<double>(n) * k;
}

}  // namespace

std::string_view to_string(PwmMeasure m) noexcept {
  switch (m) {
    case PwmMeasure::duty:
      return "duty";
    case PwmMeasure::high:
      return "high";
    case PwmMeasure::period:
      return "period";
    case PwmMeasure::frequency:
      return "frequency";
  }
  return "?";
}

std::optional<PwmMeasure> pwm_measure_from(std::string_view name) noexcept {
  for (PwmMeasure m :
       {PwmMeasure::duty, PwmMeasure::high, PwmMeasure::period, PwmMeasure::frequency}) {
    if (to_string(m) == name) return m;
  }
  return std::nullopt;
}

std::string_view to_string(PwmState s) noexcept {
  switch (s) {
    case PwmState::no_signal:
      return "no_signal";
    case PwmState::ok:
      return "ok";
    case PwmState::stuck_high:
      return "stuck_high";
    case PwmState::stuck_low:
      return "stuck_low";
  }
  return "?";
}

PwmDecoder::PwmDecoder(const PwmDecoderSettings& s)
    : settings_(s),
      window_ns_(std::uint64_t{s.window_ms} * kNsPerMs),
      timeout_ns_(std::uint64_t{s.timeout_ms} * kNsPerMs),
      high_trim_ns_(std::uint64_t{s.high_trim_us} * kNsPerUs),
      period_trim_ns_(std::uint64_t{s.period_trim_us} * kNsPerUs) {
  if (s.window_ms == 0) throw std::invalid_argument("pwm_in: window_ms must be > 0");
  if (s.timeout_ms == 0) throw std::invalid_argument("pwm_in: timeout_ms must be > 0");
  if (s.high_trim_us > kMaxTrimUs || s.period_trim_us > kMaxTrimUs)
    throw std::invalid_argument("pwm_in: a trim must be <= 60000000 us");
  if (!std::isfinite(s.scale) || s.scale == 0.0)
    throw std::invalid_argument("pwm_in: scale must be finite and non-zero");
  if (!std::isfinite(s.offset)) throw std::invalid_argument("pwm_in: offset must be finite");
}

void PwmDecoder::start(std::uint64_t now_ns) noexcept {
  have_edge_ = false;
  last_edge_ts_ = now_ns;
  seqno_known_ = false;
  drop_phase();
  acc_ = Accumulator{};
  state_ = PwmState::no_signal;
  stuck_now_ = false;
  active_since_stuck_ = false;
}

void PwmDecoder::reset() noexcept {
  cycles_ = 0;
  invalid_ = 0;
  out_of_range_ = 0;
  losses_ = 0;
  last_cycle_.reset();
  last_window_.reset();
  acc_ = Accumulator{};
  drop_phase();
}

void PwmDecoder::drop_phase() noexcept {
  phase_ = Phase::none;
}

void PwmDecoder::on_gap() noexcept {
  ++losses_;
  drop_phase();
  seqno_known_ = false;  // the seqno jump of the next edge is this same loss
}

bool PwmDecoder::silent_for_timeout(std::uint64_t t) const noexcept {
  return t >= last_edge_ts_ && t - last_edge_ts_ >= timeout_ns_;
}

void PwmDecoder::expire(bool level, PwmUpdate& u) noexcept {
  // Only called when silent_for_timeout(): last + timeout <= t, so no overflow.
  const std::uint64_t ts = last_edge_ts_ + timeout_ns_;
  if (stuck_now_) {
    if (!active_since_stuck_) return;  // reported already, nothing since
    // A glitch during the outage, silent again: the outage goes on.
    active_since_stuck_ = false;
    drop_phase();
    close_window(ts, true, u);  // opened by the glitch, holds no cycle: closes silently
    if (level == stuck_.high) return;
  } else {
    stuck_now_ = true;
    active_since_stuck_ = false;
    outage_from_ = last_edge_ts_;
    drop_phase();
    close_window(ts, true, u);
  }
  stuck_ = PwmStuck{level, ts, ts >= outage_from_ ? ts - outage_from_ : 0};  // 0: clock step
  state_ = level ? PwmState::stuck_high : PwmState::stuck_low;
  u.stuck = true;
}

PwmUpdate PwmDecoder::on_edge(std::uint64_t ts_ns, bool rising, std::uint32_t line_seqno) noexcept {
  PwmUpdate u;
  bool doubtful = false;
  if (have_edge_ && ts_ns < last_edge_ts_) {
    // The clock stepped back: nothing spans the step.
    ++invalid_;
    drop_phase();
    if (acc_.open) close_window(acc_.last_end, false, u);
  } else if (silent_for_timeout(ts_ns)) {
    // Silence the timer has not reported (yet): same figures as if it had.
    expire(have_edge_ ? last_level_ : !rising, u);
  }
  if (stuck_now_ && !active_since_stuck_) {
    active_since_stuck_ = true;
    outage_to_ = ts_ns;
  }

  const bool contiguous = seqno_known_ && line_seqno == static_cast<std::uint32_t>(last_seqno_ + 1);
  if (seqno_known_ && !contiguous) {
    ++losses_;
    drop_phase();
  } else if (contiguous && rising == last_level_) {
    ++invalid_;
    drop_phase();
    doubtful = true;
  }

  if (!doubtful) {
    switch (phase_) {
      case Phase::none:
        if (rising) {
          r1_ = ts_ns;
          phase_ = Phase::high;
          if (!acc_.open) {
            acc_.open = true;
            acc_.from_ns = ts_ns;
          }
        }
        break;
      case Phase::high:
        if (!rising) {
          f_ = ts_ns;
          phase_ = Phase::low;
        }
        break;
      case Phase::low:
        if (rising) {
          complete_cycle(r1_, f_, ts_ns, u);
          r1_ = ts_ns;
          phase_ = Phase::high;
        }
        break;
    }
  }

  have_edge_ = true;
  last_level_ = rising;
  last_edge_ts_ = ts_ns;
  last_seqno_ = line_seqno;
  seqno_known_ = true;
  return u;
}

std::optional<double> PwmDecoder::measure_x(std::uint64_t high_sum, std::uint64_t period_sum,
                                            std::uint64_t n) const noexcept {
  switch (settings_.measure) {
    case PwmMeasure::duty: {
      const double den = trimmed_sum(period_sum, n, period_trim_ns_);
      if (den <= 0) return std::nullopt;
      return trimmed_sum(high_sum, n, high_trim_ns_) / den;
    }
    case PwmMeasure::high:
      return trimmed_sum(high_sum, n, high_trim_ns_) / times(n, 1000.0);
    case PwmMeasure::period: {
      const double num = trimmed_sum(period_sum, n, period_trim_ns_);
      if (num <= 0) return std::nullopt;
      return num / times(n, 1000.0);
    }
    case PwmMeasure::frequency:
      return times(n, 1e9) / static_cast<double>(period_sum);
  }
  return std::nullopt;
}

void PwmDecoder::complete_cycle(std::uint64_t r1, std::uint64_t f, std::uint64_t r2,
                                PwmUpdate& u) noexcept {
  const std::uint64_t period = r2 - r1;
  const std::uint64_t high = f - r1;
  if (period == 0) {
    ++invalid_;
    return;
  }
  PwmCycle c;
  c.start_ns = r1;
  c.high_ns = high;
  c.period_ns = period;
  c.high_us = static_cast<double>(high) / static_cast<double>(kNsPerUs);
  c.period_us = static_cast<double>(period) / static_cast<double>(kNsPerUs);
  c.duty = static_cast<double>(high) / static_cast<double>(period);
  c.frequency_hz = 1e9 / static_cast<double>(period);
  const std::optional<double> x = measure_x(high, period, 1);
  if (x) {
    c.value = value_of(*x);
  } else {
    ++out_of_range_;
  }
  ++cycles_;
  last_cycle_ = c;
  u.cycle = true;

  if (stuck_now_) {
    stuck_now_ = false;
    active_since_stuck_ = false;
    outage_ns_ = outage_to_ >= outage_from_ ? outage_to_ - outage_from_ : 0;  // 0: clock step
    u.signal = true;
  }
  state_ = PwmState::ok;

  if (!acc_.open) {  // cannot happen (a phase implies an open window); kept safe
    acc_.open = true;
    acc_.from_ns = r1;
  }
  Accumulator& a = acc_;
  if (a.n == 0) {
    a.high_min = a.high_max = high;
    a.period_min = a.period_max = period;
    a.duty_min = a.duty_max = c.duty;
  } else {
    a.high_min = std::min(a.high_min, high);
    a.high_max = std::max(a.high_max, high);
    a.period_min = std::min(a.period_min, period);
    a.period_max = std::max(a.period_max, period);
    a.duty_min = std::min(a.duty_min, c.duty);
    a.duty_max = std::max(a.duty_max, c.duty);
  }
  if (x) {
    if (a.valued == 0) {
      a.x_min = a.x_max = *x;
    } else {
      a.x_min = std::min(a.x_min, *x);
      a.x_max = std::max(a.x_max, *x);
    }
    ++a.valued;
  }
  ++a.n;
  a.high_sum += high;  // cycles are disjoint and inside [from, r2]: the sums fit in 64 bits
  a.period_sum += period;
  a.last_end = r2;

  if (r2 - a.from_ns >= window_ns_) {  // a difference: no overflow near the clock's end
    close_window(r2, false, u);
    acc_.open = true;
    acc_.from_ns = r2;
  }
}

void PwmDecoder::close_window(std::uint64_t to_ns, bool by_stuck, PwmUpdate& u) noexcept {
  const Accumulator a = acc_;
  acc_ = Accumulator{};
  if (!a.open || a.n == 0) return;
  PwmWindow w;
  w.from_ns = a.from_ns;
  w.to_ns = to_ns;
  w.closed_by_stuck = by_stuck;
  w.cycles = a.n;
  w.high_sum_ns = a.high_sum;
  w.period_sum_ns = a.period_sum;
  const double n_us = times(a.n, 1000.0);
  const double us = static_cast<double>(kNsPerUs);
  w.high_us = {static_cast<double>(a.high_min) / us, static_cast<double>(a.high_sum) / n_us,
               static_cast<double>(a.high_max) / us};
  w.period_us = {static_cast<double>(a.period_min) / us, static_cast<double>(a.period_sum) / n_us,
                 static_cast<double>(a.period_max) / us};
  w.duty = {a.duty_min, static_cast<double>(a.high_sum) / static_cast<double>(a.period_sum),
            a.duty_max};
  w.frequency_hz = {1e9 / static_cast<double>(a.period_max),
                    times(a.n, 1e9) / static_cast<double>(a.period_sum),
                    1e9 / static_cast<double>(a.period_min)};
  const std::optional<double> x_mean = measure_x(a.high_sum, a.period_sum, a.n);
  if (x_mean && a.valued > 0) {
    double lo = value_of(a.x_min);
    double hi = value_of(a.x_max);
    if (lo > hi) std::swap(lo, hi);  // a negative scale
    w.value = PwmRange{lo, value_of(*x_mean), hi};
  }
  last_window_ = w;
  u.window = true;
}

}  // namespace gpioirq::kinds
