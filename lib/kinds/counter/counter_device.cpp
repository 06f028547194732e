#include "kinds/counter/counter_device.hpp"

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

bool CounterRt::on_edge(std::uint16_t, bool level, const gpio::RawEdge&,
                        std::int64_t& value) noexcept {
  const bool pulse = devices::PulseCounter::is_pulse(counted, level);
  const std::uint64_t n = rt_pulses.load(std::memory_order_relaxed) + (pulse ? 1 : 0);
  if (pulse) rt_pulses.store(n, std::memory_order_relaxed);
  value = static_cast<std::int64_t>(n);
  return true;
}

CounterDevice::CounterDevice(const Kind& device_kind, config::DeviceConfig cfg,
                             DeviceContext& context)
    : Device(device_kind, std::move(cfg), context),
      settings_(config::settings_cast<config::CounterConfig>(config())),
      rt_(settings_.edge),
      counter_(settings_) {}

std::optional<LineRequest> CounterDevice::line_request() {
  LineRequest req;
  req.lines = {{&settings_.line, "line"}};
  req.settings = settings_.settings;
  req.edge = settings_.edge;
  req.hook = &rt_;
  return req;
}

void CounterDevice::simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) {
  sim.add_pulses(offsets[0], settings_.sim_rate_hz);
}

void CounterDevice::on_edge(const gpio::EdgeRecord& r, std::size_t /*line_index*/) {
  // r.value: the RT thread's pulse count including this edge. Live only: the count's rows
  // are written per flush interval (on_flush).
  if (counter_.on_edge(r.level != 0, r.timestamp_ns) && out().live(name())) {
    sinks::DeviceEvent ev;
    ev.ts_ns = r.timestamp_ns;
    ev.device = name();
    ev.kind = kind().name();
    ev.event = "count";
    ev.row = sinks::DeviceEvent::Row::none;
    const std::uint64_t pulses = static_cast<std::uint64_t>(r.value) - reset_base_;
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
  ev.value2 = sinks::EventValue::real(static_cast<double>(pulses) * settings_.scale);
  out().emit(ev, nullptr);
  ev.event = "frequency";
  ev.value = sinks::EventValue::real(counter_.frequency(now_mono));
  ev.value2 = sinks::EventValue::real(counter_.rate(now_mono));
  out().emit(ev, nullptr);
}

nlohmann::json CounterDevice::status(std::uint64_t now) const {
  return {{"name", name()},
          {"count", count()},
          {"frequency_hz", counter_.frequency(now)},
          {"value", value()},
          {"rate", counter_.rate(now)},
          {"unit", settings_.unit},
          {"lost", state.gaps_kernel + state.gaps_ring}};
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
  return {{"value", value()},
          {"count", count()},
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
  counter_.reset();
  state.latency.reset();
}

std::unique_ptr<Device> make_counter_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx) {
  return std::make_unique<CounterDevice>(kind, cfg, ctx);
}

}  // namespace gpioirq::kinds
