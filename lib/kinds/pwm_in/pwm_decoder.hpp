#pragma once
// PWM / pulse-width input decoding from kernel edge timestamps (kind `pwm_in`): RC servo
// pulses, the PWM output of sensors such as the MH-Z19 CO2 sensor, fan PWM. Pure logic: no
// I/O, no clocks of its own. It runs on the loop thread, fed from the edge ring at whatever
// rate the line toggles, so nothing here allocates: the decoder is plain fixed-size data
// (trivially copyable, checked by the unit test) and every per-edge call is noexcept.
//
// All times are nanoseconds on the clock of the edge timestamps (the line's `clock`);
// on_time() must be given the same clock. Levels are logical: active_low is applied by the
// line request (the kernel reports logical edge types), so with active_low = true "high" is
// the time the pin is physically low, and stuck_high means the pin sits physically low.
//
// ---- Cycles ------------------------------------------------------------------------------
// A cycle is rising r1 -> falling f -> rising r2 with contiguous line seqnos:
//   high = f - r1, period = r2 - r1 (integers, ns); r2 is the next cycle's r1.
// Levels are the kernel's edge types, never toggled: gpio-sim and real controllers can merge
// two fast toggles into one event, and toggling would then invert the phase for ever.
//   - Two edges of the same type in a row (contiguous seqnos) count `invalid` and restart
//     the phase. The repeated edge is doubtful (its timestamp may be a merged event's), so
//     it is not used: the next cycle starts at the next rising edge that follows a falling
//     one. r,r,f,r therefore gives no cycle; r,r,f,r,f,r gives one.
//   - An edge older than the edge before it (a clock step of `clock = realtime`) counts
//     `invalid`, drops the partial cycle and closes the open window (at its last cycle's
//     end); time then follows the new clock and that edge may start the next cycle. A cycle
//     of period 0 (three edges on the same ns) counts `invalid` and is not measured. A high
//     time of 0 with a period > 0 is measured as it is (duty 0).
//   - A line seqno that does not follow the previous one (edges lost in the kernel FIFO or
//     the ring), or on_gap(), drops the partial cycle: no cycle ever spans a loss, it is
//     discarded, never measured wrong. The edge after the jump is itself trustworthy and
//     may start the next cycle. A lost falling edge costs the one cycle that contained it;
//     a lost rising edge costs the two (it ended one and started the next). `losses` counts
//     each loss once (an on_gap() and the seqno jump of the edge after it are one loss).
//   - The first edges after start() (starting in the middle of a pulse) only set the
//     phase: the first cycle is the first full r1 -> f -> r2.
// Duty 0 % and 100 % have no edges: they are not cycles but a stuck line (below).
//
// ---- Per cycle ---------------------------------------------------------------------------
//   high_us = high/1000, period_us = period/1000, duty = high/period,
//   frequency_hz = 1e9/period (one double division each),
//   x by `measure` with h = high_trim, p = period_trim (ns):
//     duty       (high-h)/(period-p)      high       (high-h)/1000 (µs, may be negative)
//     period     (period-p)/1000 (µs)     frequency  1e9/period (trims not used)
//   value = offset + scale*x. For duty and period, period-p <= 0 leaves no value (null)
//   and counts `out_of_range`; the cycle itself (high, period, duty, Hz) still counts.
//
// ---- Window ------------------------------------------------------------------------------
// Time-based, window_ms long, closed by edges so that a replay of the EDGE rows gives the
// same figures. It opens at the first cycle start (r1) after start()/reset()/stuck; every
// completed cycle is added (cycles dropped by a loss are simply not in it); the cycle whose
// end r2 >= opening + window closes it (to_ns = r2) and the next window opens at that r2.
// Sums are integers; each mean divides once:
//   high_us  Σhigh/(n*1000)   period_us  Σperiod/(n*1000)   duty  Σhigh/Σperiod
//   frequency_hz  (n*1e9)/Σperiod       value  offset + scale*x̄, with x̄ by measure:
//     duty (Σhigh-n*h)/(Σperiod-n*p)   high (Σhigh-n*h)/(n*1000)
//     period (Σperiod-n*p)/(n*1000)   frequency (n*1e9)/Σperiod
// min/max are over the cycles; for value over the cycles that had one. The window's value
// is null when x̄ is (Σperiod-n*p <= 0) or when no cycle had a value. Σ-n*trim is exact
// whenever it fits in 64 bits (any trim below the signal's own times), else computed in
// doubles. A stuck line closes the open window at the stuck time; a window without a cycle
// closes silently (nothing to report).
//
// ---- Timeout -----------------------------------------------------------------------------
// No edge for timeout_ms -> stuck at the level after the last edge (high -> stuck_high); with
// no edge since start(), the level on_time() reads through its callback. The stuck time is
// last edge + timeout (the moment it became stuck by definition), not the moment the loop's
// timer noticed: the loop's timer (on_time) or the next edge (on_edge: a silence >= timeout
// before it) reports it, whichever comes first, with the same figures either way. Entering
// stuck drops the partial cycle (no cycle spans an outage) and closes the window.
// Stuck is reported once per outage. Edges during an outage that complete no cycle (a
// glitch) end nothing: if the line then falls silent again at another level, that level is
// reported (stuck_low -> stuck_high); at the same level, nothing new. The first complete
// cycle after a stuck report ends the outage: `signal`, with outage_ns = the first edge of
// the activity that brought the signal back minus the last edge before the outage (from
// start() when there was none). timeout_ms must exceed the longest high or low time of the
// signal, or every slow pulse is an outage.
//
// ---- Output ------------------------------------------------------------------------------
// on_edge()/on_time() return which reports are new (PwmUpdate); the figures are read from
// last_cycle(), last_window(), stuck(), outage_ns(). In one call `stuck` and `cycle` never
// both happen; emitted in the order cycle, signal, window, stuck, the rows come out in
// timestamp order (a window closed by a stuck line ends at the stuck time).

#include <cstdint>
#include <optional>
#include <string_view>

namespace gpioirq::kinds {

enum class PwmMeasure : std::uint8_t { duty, high, period, frequency };
std::string_view to_string(PwmMeasure m) noexcept;  // "duty", "high", ...
std::optional<PwmMeasure> pwm_measure_from(std::string_view name) noexcept;

enum class PwmState : std::uint8_t { no_signal, ok, stuck_high, stuck_low };
std::string_view to_string(PwmState s) noexcept;  // "no_signal", "ok", "stuck_high", ...

struct PwmDecoderSettings {
  std::uint32_t window_ms = 1000;
  std::uint32_t timeout_ms = 1000;
  PwmMeasure measure = PwmMeasure::duty;
  std::uint32_t high_trim_us = 0;    // used by measure duty and high
  std::uint32_t period_trim_us = 0;  // used by measure duty and period
  double scale = 1.0;
  double offset = 0.0;
};

struct PwmCycle {
  std::uint64_t start_ns = 0;  // r1
  std::uint64_t high_ns = 0;
  std::uint64_t period_ns = 0;
  double high_us = 0;
  double period_us = 0;
  double duty = 0;
  double frequency_hz = 0;
  std::optional<double> value;  // null: out of range (see above)
  std::uint64_t end_ns() const noexcept { return start_ns + period_ns; }  // r2
};

struct PwmRange {
  double min = 0;
  double mean = 0;
  double max = 0;
};

struct PwmWindow {
  std::uint64_t from_ns = 0;  // opened
  std::uint64_t to_ns = 0;    // closed: the closing cycle's r2, or the stuck time
  bool closed_by_stuck = false;
  std::uint64_t cycles = 0;
  std::uint64_t high_sum_ns = 0;  // Σhigh, Σperiod: what a replay sums
  std::uint64_t period_sum_ns = 0;
  PwmRange high_us;
  PwmRange period_us;
  PwmRange duty;
  PwmRange frequency_hz;
  std::optional<PwmRange> value;  // mean null, or no cycle with a value: null
};

struct PwmStuck {
  bool high = false;            // the level it sits at
  std::uint64_t ts_ns = 0;      // when it became stuck: last edge + timeout
  std::uint64_t silent_ns = 0;  // ts - last edge before the outage (timeout at first)
};

struct PwmUpdate {
  bool stuck = false;   // a stuck report: stuck()
  bool cycle = false;   // a new cycle: last_cycle()
  bool signal = false;  // a cycle ended an outage: outage_ns()
  bool window = false;  // a window closed: last_window()
  bool any() const noexcept { return stuck || cycle || signal || window; }
};

class PwmDecoder {
 public:
  // Throws std::invalid_argument for a window or timeout of 0, a trim over 60 s, a scale
  // that is zero or not finite, or an offset that is not finite (the config refuses these
  // first, with the place in the file).
  explicit PwmDecoder(const PwmDecoderSettings& s);

  // (Re)start watching at now_ns (the device's start, and after its line was requested
  // again): phase, seqno history and the open window are forgotten, the silence is measured
  // from now_ns, the state is no_signal. Counters and the last figures are kept.
  void start(std::uint64_t now_ns) noexcept;

  // One edge of the line: its kernel timestamp, its type (true = rising) and line seqno.
  PwmUpdate on_edge(std::uint64_t ts_ns, bool rising, std::uint32_t line_seqno) noexcept;

  // Edges were lost before the next edge (a GAP record): drops the partial cycle.
  void on_gap() noexcept;

  // The loop's timer: reports a stuck line due at now_ns. read_level() -> bool, the line's
  // logical level now; called only when no edge came since start().
  template <typename ReadLevel>
  PwmUpdate on_time(std::uint64_t now_ns,
                    ReadLevel&& read_level) noexcept(noexcept(static_cast<bool>(read_level()))) {
    PwmUpdate u;
    if (!silent_for_timeout(now_ns)) return u;
    expire(have_edge_ ? last_level_ : static_cast<bool>(read_level()), u);
    return u;
  }

  // Control `reset`: cycles, invalid, out_of_range, losses, the last cycle and window back
  // to none; the partial cycle and the open window are dropped (the next window opens at
  // the next cycle start). The stuck state and the silence are kept (the line did not
  // change).
  void reset() noexcept;

  PwmState state() const noexcept { return state_; }
  std::uint64_t cycles() const noexcept { return cycles_; }
  std::uint64_t invalid() const noexcept { return invalid_; }
  std::uint64_t out_of_range() const noexcept { return out_of_range_; }
  std::uint64_t losses() const noexcept { return losses_; }
  const std::optional<PwmCycle>& last_cycle() const noexcept { return last_cycle_; }
  const std::optional<PwmWindow>& last_window() const noexcept { return last_window_; }
  const PwmStuck& stuck() const noexcept { return stuck_; }              // the last stuck report
  std::uint64_t outage_ns() const noexcept { return outage_ns_; }        // the last `signal`'s
  std::uint64_t last_edge_ns() const noexcept { return last_edge_ts_; }  // or start()
  const PwmDecoderSettings& settings() const noexcept { return settings_; }

 private:
  enum class Phase : std::uint8_t { none, high, low };  // waiting for r1 / have r1 / have f

  // The open window's running figures (integers summed, extremes per cycle).
  struct Accumulator {
    bool open = false;
    std::uint64_t from_ns = 0;
    std::uint64_t n = 0;
    std::uint64_t high_sum = 0;
    std::uint64_t period_sum = 0;
    std::uint64_t high_min = 0, high_max = 0;
    std::uint64_t period_min = 0, period_max = 0;
    double duty_min = 0, duty_max = 0;
    std::uint64_t valued = 0;  // cycles with an x
    double x_min = 0, x_max = 0;
    std::uint64_t last_end = 0;  // r2 of the last cycle added
  };

  bool silent_for_timeout(std::uint64_t t) const noexcept;
  void expire(bool level, PwmUpdate& u) noexcept;
  void drop_phase() noexcept;
  void complete_cycle(std::uint64_t r1, std::uint64_t f, std::uint64_t r2, PwmUpdate& u) noexcept;
  void close_window(std::uint64_t to_ns, bool by_stuck, PwmUpdate& u) noexcept;
  // x for n cycles summing to high_sum/period_sum; nullopt when out of range.
  std::optional<double> measure_x(std::uint64_t high_sum, std::uint64_t period_sum,
                                  std::uint64_t n) const noexcept;
  double value_of(double x) const noexcept { return settings_.offset + settings_.scale * x; }

  PwmDecoderSettings settings_;
  std::uint64_t window_ns_;
  std::uint64_t timeout_ns_;
  std::uint64_t high_trim_ns_;
  std::uint64_t period_trim_ns_;

  // edge history
  bool have_edge_ = false;          // an edge since start()
  bool last_level_ = false;         // level after the last edge
  std::uint64_t last_edge_ts_ = 0;  // last edge, or start() while there is none
  bool seqno_known_ = false;        // last_seqno_ is the edge before the next one
  std::uint32_t last_seqno_ = 0;

  // phase
  Phase phase_ = Phase::none;
  std::uint64_t r1_ = 0;
  std::uint64_t f_ = 0;

  // outage
  PwmState state_ = PwmState::no_signal;
  bool stuck_now_ = false;           // in an outage (reported)
  bool active_since_stuck_ = false;  // edges came since the last silence of the outage
  std::uint64_t outage_from_ = 0;    // last edge before the outage
  std::uint64_t outage_to_ = 0;      // first edge of the activity since
  PwmStuck stuck_;
  std::uint64_t outage_ns_ = 0;

  Accumulator acc_;
  std::optional<PwmCycle> last_cycle_;
  std::optional<PwmWindow> last_window_;

  std::uint64_t cycles_ = 0;
  std::uint64_t invalid_ = 0;
  std::uint64_t out_of_range_ = 0;
  std::uint64_t losses_ = 0;
};

}  // namespace gpioirq::kinds
