#include "kinds/counter/counter_device.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace gpioirq::kinds {
namespace {

// "250", "12.5", "0.25": three significant digits or more, never an exponent.
std::string hz_text(double hz) {
  if (hz >= 100) return fmt::format("{:.0f}", hz);
  if (hz >= 10) return fmt::format("{:.1f}", hz);
  return fmt::format("{:.2f}", hz);
}

}  // namespace

bool CounterRt::on_edge(std::uint16_t, bool level, const gpio::RawEdge& edge,
                        std::int64_t& value) noexcept {
  std::uint64_t n = rt_pulses.load(std::memory_order_relaxed);
  if (min_pulse_ns == 0) {
    if (devices::PulseCounter::is_pulse(counted, level))
      rt_pulses.store(++n, std::memory_order_relaxed);
  } else if (level == (counted == config::EdgeKind::rising)) {
    // The active level begins (again: an edge in between was lost, so the later start is
    // the one known).
    in_pulse = true;
    pulse_start_ns = edge.timestamp_ns;
  } else if (in_pulse) {
    in_pulse = false;
    // A clock stepped back (realtime) says nothing about the width: counted.
    const bool long_enough =
        edge.timestamp_ns < pulse_start_ns || edge.timestamp_ns - pulse_start_ns >= min_pulse_ns;
    if (long_enough)
      rt_pulses.store(++n, std::memory_order_relaxed);
    else
      rt_bounces.store(rt_bounces.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  value = static_cast<std::int64_t>(n);
  return true;
}

CounterDevice::CounterDevice(const Kind& device_kind, config::DeviceConfig cfg,
                             DeviceContext& context)
    : Device(device_kind, std::move(cfg), context),
      settings_(config::settings_cast<config::CounterConfig>(config())),
      rt_(settings_.edge, std::uint64_t{settings_.min_pulse_us} * 1000),
      counter_(settings_) {}

std::optional<LineRequest> CounterDevice::line_request() {
  LineRequest req;
  req.lines = {{&settings_.line, "line"}};
  req.settings = settings_.settings;
  // The debounce times each pulse from its start to its end: both edges.
  req.edge = settings_.min_pulse_us > 0 ? config::EdgeKind::both : settings_.edge;
  req.hook = &rt_;
  return req;
}

void CounterDevice::simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) {
  constexpr std::uint64_t kBounceNs = 20'000;
  const std::uint64_t period =
      settings_.sim_rate_hz > 0 ? static_cast<std::uint64_t>(1e9 / settings_.sim_rate_hz) : 0;
  if (settings_.min_pulse_us == 0 || period < 8 * kBounceNs) {
    sim.add_pulses(offsets[0], settings_.sim_rate_hz);
    return;
  }
  // With a debounce: a reed switch. Each pulse begins with two 20 us bounces and ends with
  // one, and is held twice min_pulse_us (at most half of what the period leaves), so that
  // each cycle is one pulse and three bounces of either level: for edge = "rising" the
  // high pulses, for "falling" the low ones (the rest of the period is the long low).
  const std::uint64_t held = std::min<std::uint64_t>(
      2 * std::uint64_t{settings_.min_pulse_us} * 1000, (period - 6 * kBounceNs) / 2);
  const std::uint64_t rest = period - 6 * kBounceNs - held;
  sim.add_cycle(offsets.first(1), {{rest, 0},
                                   {kBounceNs, 0},
                                   {kBounceNs, 0},
                                   {kBounceNs, 0},
                                   {kBounceNs, 0},
                                   {held, 0},
                                   {kBounceNs, 0},
                                   {kBounceNs, 0}});
}

std::uint64_t CounterDevice::count_at(std::int64_t rt_value) const noexcept {
  // A record read before a reset or set may carry an RT count below its base: 0 then.
  const std::int64_t since = rt_value - static_cast<std::int64_t>(reset_base_);
  return since < 0 ? pulse_offset_ : pulse_offset_ + static_cast<std::uint64_t>(since);
}

void CounterDevice::on_edge(const gpio::EdgeRecord& r, std::size_t /*line_index*/) {
  // r.value: the RT thread's pulse count including this edge. Live only: the count's rows
  // are written per flush interval (on_flush).
  bool counted = false;
  if (rt_.min_pulse_ns == 0) {
    counted = counter_.on_edge(r.level != 0, r.timestamp_ns);
  } else {
    // Debounced: a pulse is known at its end, when the RT count moved; the frequency
    // estimate takes it at that edge's time.
    const auto rt_pulses = static_cast<std::uint64_t>(r.value);
    if (rt_pulses != last_rt_pulses_) {
      last_rt_pulses_ = rt_pulses;
      counted = counter_.on_edge(settings_.edge == config::EdgeKind::rising, r.timestamp_ns);
    }
  }
  if (counted && out().live(name())) {
    sinks::DeviceEvent ev;
    ev.ts_ns = r.timestamp_ns;
    ev.device = name();
    ev.kind = kind().name();
    ev.event = "count";
    ev.row = sinks::DeviceEvent::Row::none;
    const std::uint64_t pulses = count_at(r.value);
    ev.value = sinks::EventValue::integer(static_cast<std::int64_t>(pulses));
    ev.unit = settings_.unit;
    out().emit(ev, [&](nlohmann::json& f) { f["value"] = pulses; });
  }
}

void CounterDevice::on_flush(std::uint64_t now_mono) {
  // Pulse counters are logged as a count and a frequency per flush interval while pulses
  // come (their edges are in the log too when log_edges is on). Rows only: monitor clients
  // get the count per pulse (on_edge).
  const std::uint64_t pulses = count();
  if (pulses == count_logged_) return;
  count_logged_ = pulses;
  sinks::DeviceEvent ev;
  ev.ts_ns = now_mono;
  ev.device = name();
  ev.kind = kind().name();
  ev.unit = settings_.unit;
  ev.live = false;
  ev.event = "count";
  ev.value = sinks::EventValue::integer(static_cast<std::int64_t>(pulses));
  ev.value2 = sinks::EventValue::real(value_of(pulses));
  out().emit(ev, nullptr);
  ev.event = "frequency";
  ev.value = sinks::EventValue::real(counter_.frequency(now_mono));
  ev.value2 = sinks::EventValue::real(counter_.rate(now_mono));
  out().emit(ev, nullptr);
}

nlohmann::json CounterDevice::status(std::uint64_t now) const {
  const std::uint64_t pulses = count();
  nlohmann::json s = {{"name", name()},
                      {"count", pulses},
                      {"frequency_hz", counter_.frequency(now)},
                      {"value", value_of(pulses)},
                      {"rate", counter_.rate(now)},
                      {"unit", settings_.unit},
                      {"lost", state.gaps_kernel + state.gaps_ring}};
  if (settings_.min_pulse_us > 0) s["bounces"] = bounces();  // only with a debounce
  return s;
}

void CounterDevice::metrics(MetricsOut& samples, std::uint64_t now) const {
  // Families (Kind::metric_families()): 0 gpioirq_counter_total,
  // 1 gpioirq_counter_frequency_hz.
  samples.sample(0, "", static_cast<double>(count()));
  samples.sample(1, "", counter_.frequency(now));
}

std::string CounterDevice::summary(std::uint64_t now) const {
  // "12034 l  250 Hz": the value in its unit (the unit cut to fit 32 characters).
  const std::string number = fmt::format("{:.10g}", value());
  const std::string hz = "  " + hz_text(counter_.frequency(now)) + " Hz";
  const std::size_t room = number.size() + 1 + hz.size() < kSummaryBytes
                               ? kSummaryBytes - number.size() - 1 - hz.size()
                               : 0;
  const std::string unit = cut_utf8(settings_.unit, room);  // "m³" is not cut inside a character
  return cut_utf8(number + (unit.empty() ? "" : " " + unit) + hz);
}

nlohmann::json CounterDevice::published_state(std::uint64_t now) const {
  const std::uint64_t pulses = count();
  return {{"value", value_of(pulses)},
          {"count", pulses},
          {"frequency_hz", counter_.frequency(now)},
          {"unit", settings_.unit}};
}

std::vector<sinks::HaEntity> CounterDevice::ha_entities() const {
  // The total only grows (a reset or a set reading starts a new cycle, which HA's
  // total_increasing takes as a meter change); the unit passes through ("L", "m³", "kWh").
  sinks::HaEntity total;
  total.component = "sensor";
  total.object_id = "total";
  total.name = "total";
  total.state_member = "value";
  total.unit = settings_.unit;
  total.device_class = settings_.device_class;
  total.state_class = "total_increasing";
  sinks::HaEntity frequency;
  frequency.component = "sensor";
  frequency.object_id = "frequency";
  frequency.name = "frequency";
  frequency.state_member = "frequency_hz";
  frequency.unit = "Hz";
  frequency.device_class = "frequency";
  frequency.state_class = "measurement";
  return {total, frequency};
}

void CounterDevice::reset() {
  reset_base_ = rt_.rt_pulses.load(std::memory_order_relaxed);
  pulse_offset_ = 0;
  value_offset_ = 0;
  counter_.reset();
  state.latency.reset();
}

nlohmann::json CounterDevice::save_state() const {
  // value and unit for the reader of the file; a restore uses pulses and value_offset.
  const std::uint64_t pulses = count();
  return {{"pulses", pulses},
          {"value_offset", value_offset_},
          {"value", value_of(pulses)},
          {"unit", settings_.unit}};
}

std::string CounterDevice::restore_state(const nlohmann::json& saved) {
  const auto pulses = saved.find("pulses");
  if (!saved.is_object() || pulses == saved.end() || !pulses->is_number_unsigned())
    throw std::invalid_argument("no pulse count (\"pulses\": a non-negative integer)");
  double offset = 0;
  if (const auto o = saved.find("value_offset"); o != saved.end()) {
    if (!o->is_number() || !std::isfinite(o->get<double>()))
      throw std::invalid_argument("\"value_offset\" is not a finite number");
    offset = o->get<double>();
  }
  reset_base_ = rt_.rt_pulses.load(std::memory_order_relaxed);
  pulse_offset_ = pulses->get<std::uint64_t>();
  value_offset_ = offset;
  return fmt::format("total {:.10g}{}{} ({} pulses)", value(), settings_.unit.empty() ? "" : " ",
                     settings_.unit, pulse_offset_);
}

void CounterDevice::set_value(double v) {
  if (!std::isfinite(v) || v < 0)
    throw std::invalid_argument(
        fmt::format("a counter's value must be a finite number >= 0, found {}", v));
  if (settings_.scale < 0)
    throw std::invalid_argument("counter '" + name() +
                                "' has a negative scale: its value cannot be set");
  // v = pulses * scale + the rest (less than one pulse), so that value() reads v exactly
  // and every later pulse adds its scale.
  const double whole = std::floor(v / settings_.scale);
  constexpr double kMaxPulses = 9.0e15;  // exact in a double, far within a uint64
  if (whole > kMaxPulses)
    throw std::invalid_argument(
        fmt::format("{} is more than {} pulses of {}", v, kMaxPulses, settings_.scale));
  reset_base_ = rt_.rt_pulses.load(std::memory_order_relaxed);
  pulse_offset_ = static_cast<std::uint64_t>(whole);
  value_offset_ = std::max(0.0, v - whole * settings_.scale);
}

std::unique_ptr<Device> make_counter_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx) {
  return std::make_unique<CounterDevice>(kind, cfg, ctx);
}

}  // namespace gpioirq::kinds
