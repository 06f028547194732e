#include "kinds/pwm_in/pwm_in_device.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace gpioirq::kinds {

namespace {

constexpr std::uint64_t kNsPerMs = 1'000'000;
// The timeout check runs this often at least (a quarter of the timeout, at most 100 times a
// second): a stuck row's figures do not depend on when it runs, only how soon it comes.
constexpr std::uint64_t kMinCheckNs = 10 * kNsPerMs;
constexpr std::size_t kSummaryMax = 32;

std::uint64_t clock_now(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

nlohmann::json range_json(const PwmRange& r) {
  return {{"min", r.min}, {"mean", r.mean}, {"max", r.max}};
}

nlohmann::json optional_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

sinks::EventValue optional_value(const std::optional<double>& v) {
  return v ? sinks::EventValue::real(*v) : sinks::EventValue{};
}

std::int64_t whole_ms(std::uint64_t ns) {
  return static_cast<std::int64_t>(ns / kNsPerMs);
}

// "25.00 kHz", "50 Hz", "0.996 Hz".
std::string frequency_text(double hz) {
  if (hz >= 1e6) return fmt::format("{:.2f} MHz", hz / 1e6);
  if (hz >= 1e3) return fmt::format("{:.2f} kHz", hz / 1e3);
  return fmt::format("{:.4g} Hz", hz);
}

}  // namespace

PwmInDevice::PwmInDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context)
    : Device(device_kind, std::move(cfg), context),
      settings_(config::settings_cast<PwmInConfig>(config())),
      decoder_(settings_.decoder_settings()) {}

std::optional<LineRequest> PwmInDevice::line_request() {
  LineRequest req;
  req.lines.emplace_back(&settings_.line, "line");
  req.settings = settings_.settings;
  req.edge = config::EdgeKind::both;  // a cycle needs both edges' timestamps
  return req;
}

void PwmInDevice::simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) {
  if (settings_.sim_rate_hz <= 0 || offsets.empty()) return;
  // Whole nanoseconds: the due times are the timestamps, so what the decoder measures is
  // exactly these two numbers (1000 Hz at 0.25: 1000000 and 250000 ns).
  const auto period = static_cast<std::uint64_t>(std::llround(1e9 / settings_.sim_rate_hz));
  auto high =
      static_cast<std::uint64_t>(std::llround(settings_.sim_duty * static_cast<double>(period)));
  high = std::clamp<std::uint64_t>(high, 1, period - 1);  // a duty of 0 or 1 has no edges
  // From the idle (logically low) level: low for period - high, then high for high.
  sim.add_cycle(offsets.first(1), {{period - high, 0}, {high, 0}});
}

void PwmInDevice::attached() {
  // A new line request: its seqnos start again at 1 and the level is unknown; the silence
  // is measured from now.
  decoder_.start(line_now());
}

void PwmInDevice::start() {
  loop::Timer& timer = ctx.add_timer(*this, [this] { check_timeout(); });
  const std::uint64_t timeout_ns = std::uint64_t{settings_.timeout_ms} * kNsPerMs;
  timer.start_periodic(std::max(timeout_ns / 4, kMinCheckNs));
}

void PwmInDevice::check_timeout() {
  // Edges the RT thread has read came before now: decoded first, a silence they end is
  // not reported (and would be reported with the same figures by the edge anyway).
  ctx.drain_pending();
  if (state.down || state.source == nullptr) return;  // down: its outage is reported as such
  gpio::LineSource& source = *state.source;
  const std::uint32_t offset =
      !state.offsets.empty() ? state.offsets.front() : source.offsets().front();
  // Read only when no edge came since the line was requested: the level after the last
  // edge is known otherwise. A read error (-errno) counts as low: the source's failure
  // takes the device down on its own.
  const PwmUpdate u =
      decoder_.on_time(line_now(), [&]() noexcept { return source.read_level(offset) > 0; });
  if (u.any()) emit(u);
}

void PwmInDevice::on_edge(const gpio::EdgeRecord& r, std::size_t /*line_index*/) {
  const PwmUpdate u = decoder_.on_edge(r.timestamp_ns, r.level != 0, r.line_seqno);
  if (u.any()) emit(u);
}

void PwmInDevice::on_gap(const gpio::EdgeRecord& /*r*/, std::size_t /*line_index*/) {
  decoder_.on_gap();  // no cycle spans a loss
}

void PwmInDevice::emit(const PwmUpdate& u) {
  sinks::DeviceEvent ev;
  ev.device = name();
  ev.kind = kind().name();
  if (u.cycle) {
    const PwmCycle& c = *decoder_.last_cycle();
    // Per cycle, for live sinks only: at 25 kHz a row per cycle would double the log that
    // the EDGE rows already make (and they hold the same figures).
    if (out().live(name())) {
      ev.ts_ns = c.end_ns();
      ev.event = "pulse";
      ev.row = sinks::DeviceEvent::Row::none;
      nlohmann::json f = {
          {"high_ns", c.high_ns}, {"period_ns", c.period_ns}, {"value", optional_json(c.value)}};
      out().emit(ev, &f);
    }
    if (u.signal) {
      ev.ts_ns = c.end_ns();
      ev.event = "signal";
      ev.cls = sinks::EventClass::occurrence;
      ev.row = sinks::DeviceEvent::Row::event;
      const std::int64_t ms = whole_ms(decoder_.outage_ns());
      ev.value = sinks::EventValue::integer(ms);
      ev.unit = "ms";
      out().emit(ev, [&](nlohmann::json& f) { f["value"] = ms; });
    }
  }
  if (u.window) {
    const PwmWindow& w = *decoder_.last_window();
    const std::optional<double> value =
        w.value ? std::optional<double>(w.value->mean) : std::nullopt;
    ev = sinks::DeviceEvent{};
    ev.device = name();
    ev.kind = kind().name();
    ev.ts_ns = w.to_ns;
    ev.cls = sinks::EventClass::state;
    ev.event = "pwm";
    ev.value = sinks::EventValue::real(w.duty.mean);
    ev.value2 = sinks::EventValue::real(w.frequency_hz.mean);
    out().emit(ev, [&](nlohmann::json& f) {
      f["value"] = optional_json(value);
      f["duty"] = w.duty.mean;
      f["frequency_hz"] = w.frequency_hz.mean;
      f["cycles"] = w.cycles;
    });
    // The window's other figures are rows only: the `pwm` live event carries what a
    // monitor shows (and `devices` the whole window).
    ev.live = false;
    ev.event = "pwm_high";
    ev.value = sinks::EventValue::real(w.high_us.min);
    ev.value2 = sinks::EventValue::real(w.high_us.max);
    ev.unit = "us";
    out().emit(ev, nullptr);
    ev.event = "pwm_value";
    ev.value = optional_value(value);
    ev.value2 = sinks::EventValue::integer(static_cast<std::int64_t>(w.cycles));
    ev.unit = settings_.unit;
    out().emit(ev, nullptr);
  }
  if (u.stuck) {
    const PwmStuck& s = decoder_.stuck();
    ev = sinks::DeviceEvent{};
    ev.device = name();
    ev.kind = kind().name();
    ev.ts_ns = s.ts_ns;
    ev.event = s.high ? "stuck_high" : "stuck_low";
    ev.cls = sinks::EventClass::occurrence;
    const std::int64_t ms = whole_ms(s.silent_ns);
    ev.value = sinks::EventValue::integer(ms);
    ev.unit = "ms";
    out().emit(ev, [&](nlohmann::json& f) { f["value"] = ms; });
  }
}

nlohmann::json PwmInDevice::status(std::uint64_t /*now*/) const {
  nlohmann::json j = {{"name", name()},
                      {"state", to_string(decoder_.state())},
                      {"measure", to_string(settings_.measure)},
                      {"cycles", decoder_.cycles()},
                      {"invalid", decoder_.invalid()},
                      {"out_of_range", decoder_.out_of_range()},
                      {"lost", lost()},
                      {"unit", settings_.unit}};
  const std::optional<PwmCycle>& c = decoder_.last_cycle();
  j["high_us"] = c ? nlohmann::json(c->high_us) : nlohmann::json(nullptr);
  j["period_us"] = c ? nlohmann::json(c->period_us) : nlohmann::json(nullptr);
  j["duty"] = c ? nlohmann::json(c->duty) : nlohmann::json(nullptr);
  j["frequency_hz"] = c ? nlohmann::json(c->frequency_hz) : nlohmann::json(nullptr);
  j["value"] = c ? optional_json(c->value) : nlohmann::json(nullptr);
  // The last closed window: its figures do not move while it is shown.
  if (const std::optional<PwmWindow>& w = decoder_.last_window()) {
    j["window"] = {{"cycles", w->cycles},
                   {"from_ns", w->from_ns},
                   {"to_ns", w->to_ns},
                   {"high_us", range_json(w->high_us)},
                   {"period_us", range_json(w->period_us)},
                   {"duty", range_json(w->duty)},
                   {"frequency_hz", range_json(w->frequency_hz)},
                   {"value", w->value ? range_json(*w->value) : nlohmann::json(nullptr)}};
  } else {
    j["window"] = nullptr;
  }
  const bool stuck =
      decoder_.state() == PwmState::stuck_high || decoder_.state() == PwmState::stuck_low;
  j["stuck_since_ns"] = stuck ? nlohmann::json(decoder_.stuck().ts_ns) : nlohmann::json(nullptr);
  return j;
}

void PwmInDevice::metrics(MetricsOut& out, std::uint64_t /*now*/) const {
  if (const std::optional<PwmWindow>& w = decoder_.last_window()) {
    out.sample(kPwmDutyRatio, "", w->duty.mean);
    out.sample(kPwmFrequencyHz, "", w->frequency_hz.mean);
    if (w->value) out.sample(kPwmValue, "", w->value->mean);
  }
  out.sample(kPwmCyclesTotal, "", static_cast<double>(decoder_.cycles()));
  const bool stuck =
      decoder_.state() == PwmState::stuck_high || decoder_.state() == PwmState::stuck_low;
  out.sample(kPwmStuck, "", stuck ? 1.0 : 0.0);
}

std::string PwmInDevice::summary(std::uint64_t now) const {
  std::string s;
  switch (decoder_.state()) {
    case PwmState::no_signal:
      s = "no signal";
      break;
    case PwmState::stuck_high:
    case PwmState::stuck_low: {
      const std::uint64_t t = line_now(now);
      const std::uint64_t last = decoder_.last_edge_ns();
      const double silent_s = t > last ? static_cast<double>(t - last) / 1e9 : 0.0;
      s = fmt::format("STUCK {} {:.1f}s", decoder_.state() == PwmState::stuck_high ? "HIGH" : "LOW",
                      silent_s);
      break;
    }
    case PwmState::ok: {
      // The last closed window, or the last cycle until a window has closed.
      double duty = 0, hz = 0;
      std::optional<double> value;
      if (const std::optional<PwmWindow>& w = decoder_.last_window()) {
        duty = w->duty.mean;
        hz = w->frequency_hz.mean;
        if (w->value) value = w->value->mean;
      } else if (const std::optional<PwmCycle>& c = decoder_.last_cycle()) {
        duty = c->duty;
        hz = c->frequency_hz;
        value = c->value;
      }
      s = fmt::format("duty {:.1f}%  {}", duty * 100, frequency_text(hz));
      // The value only when it says something the duty does not.
      const bool plain = settings_.measure == PwmMeasure::duty && settings_.scale == 1.0 &&
                         settings_.offset == 0.0 && settings_.unit.empty();
      if (value && !plain)
        s += fmt::format("  {:.4g}{}{}", *value, settings_.unit.empty() ? "" : " ", settings_.unit);
      break;
    }
  }
  if (s.size() > kSummaryMax) s.resize(kSummaryMax);
  return s;
}

nlohmann::json PwmInDevice::published_state(std::uint64_t /*now*/) const {
  const std::optional<PwmCycle>& c = decoder_.last_cycle();
  return {{"duty", c ? nlohmann::json(c->duty) : nlohmann::json(nullptr)},
          {"frequency_hz", c ? nlohmann::json(c->frequency_hz) : nlohmann::json(nullptr)},
          {"value", c ? optional_json(c->value) : nlohmann::json(nullptr)},
          {"unit", settings_.unit},
          {"signal", to_string(decoder_.state())}};
}

std::vector<sinks::HaEntity> PwmInDevice::ha_entities() const {
  const auto sensor = [](const char* id, const char* member, std::string unit,
                         const char* device_class) {
    sinks::HaEntity e;
    e.component = "sensor";
    e.object_id = id;
    e.name = id;
    e.state_member = member;
    e.unit = std::move(unit);
    e.device_class = device_class;
    e.state_class = "measurement";
    return e;
  };
  // duty is a fraction (0..1), not a percentage: no unit.
  return {sensor("value", "value", settings_.unit, ""), sensor("duty", "duty", "", ""),
          sensor("frequency", "frequency_hz", "Hz", "frequency")};
}

void PwmInDevice::reset() {
  decoder_.reset();
  state.latency.reset();
}

std::uint64_t PwmInDevice::line_now(std::uint64_t monotonic_now) const noexcept {
  return settings_.settings.clock == config::EventClock::realtime ? clock_now(CLOCK_REALTIME)
                                                                  : monotonic_now;
}

std::uint64_t PwmInDevice::line_now() const noexcept {
  // hte timestamps are taken on the monotonic timeline as well (as the button's deadlines).
  return clock_now(settings_.settings.clock == config::EventClock::realtime ? CLOCK_REALTIME
                                                                            : CLOCK_MONOTONIC);
}

std::unique_ptr<Device> make_pwm_in_device(const Kind& kind, const config::DeviceConfig& cfg,
                                           DeviceContext& ctx) {
  return std::make_unique<PwmInDevice>(kind, cfg, ctx);
}

}  // namespace gpioirq::kinds
