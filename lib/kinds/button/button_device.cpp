#include "kinds/button/button_device.hpp"

#include <time.h>

#include <utility>

#include <fmt/format.h>

namespace gpioirq::kinds {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// "3s", "12m", "5h", "41d": how long ago, in at most 3 digits ("999d+" beyond).
std::string ago(std::uint64_t ns) {
  const std::uint64_t s = ns / 1'000'000'000ull;
  if (s < 100) return fmt::format("{}s", s);
  if (s < 100 * 60) return fmt::format("{}m", s / 60);
  if (s < 100 * 3600) return fmt::format("{}h", s / 3600);
  if (s < 1000 * 86400) return fmt::format("{}d", s / 86400);
  return "999d+";
}

}  // namespace

const char* button_event_name(devices::ButtonEventKind k) {
  switch (k) {
    case devices::ButtonEventKind::press:
      return "press";
    case devices::ButtonEventKind::release:
      return "release";
    case devices::ButtonEventKind::long_press:
      return "long_press";
    case devices::ButtonEventKind::click:
      return "click";
    case devices::ButtonEventKind::double_click:
      return "double_click";
    case devices::ButtonEventKind::open:
      return "open";
    case devices::ButtonEventKind::close:
      return "close";
  }
  return "?";
}

ButtonDevice::ButtonDevice(const Kind& device_kind, config::DeviceConfig cfg,
                           DeviceContext& context)
    : Device(device_kind, std::move(cfg), context),
      settings_(config::settings_cast<config::ButtonConfig>(config())),
      button_(settings_, false) {}

std::optional<LineRequest> ButtonDevice::line_request() {
  LineRequest req;
  req.lines = {{&settings_.line, "line"}};
  req.settings = settings_.settings;
  req.edge = config::EdgeKind::both;
  req.kernel_debounce_us = settings_.kernel_debounce_us;
  return req;  // no RT hook: records only
}

void ButtonDevice::simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) {
  sim.add_button(offsets[0], settings_.sim_rate_hz);
}

void ButtonDevice::attached() {
  // The button's state is the line's level when requested; after an outage whatever
  // changed meanwhile is reported by a resync (a release, say), gestures cleared.
  const int level = state.source->read_level(state.offsets[0]);
  if (!attached_before_)
    button_ = devices::Button(settings_, level == 1);
  else if (level >= 0)
    log_events(button_.resync(level == 1, clock_now()));
  attached_before_ = true;
  // Back after an outage (or first attached after start): its deadlines run again.
  if (started_) arm_timer();
}

void ButtonDevice::start() {
  started_ = true;
  arm_timer();
}

void ButtonDevice::on_edge(const gpio::EdgeRecord& r, std::size_t /*line_index*/) {
  log_events(button_.on_edge(r.level != 0, r.timestamp_ns));
  arm_timer();
}

void ButtonDevice::on_gap(const gpio::EdgeRecord& r, std::size_t line_index) {
  // Edges were lost: the line's level now is the truth, whatever the lost edges did.
  const int level = state.source ? state.source->read_level(state.offsets[line_index]) : -1;
  if (level >= 0) log_events(button_.resync(level == 1, r.timestamp_ns));
  arm_timer();
}

void ButtonDevice::finish(Finish why) {
  // At the stop, gestures still waiting for a deadline (a click waiting out the
  // double-click time, a press not yet long) are decided as if every deadline had passed.
  // A device a reload removes ends without them, as before.
  if (why == Finish::stop) log_events(button_.on_time(~std::uint64_t{0} / 2));
}

std::uint64_t ButtonDevice::clock_now() const noexcept {
  return clock_ns(settings_.settings.clock == config::EventClock::realtime ? CLOCK_REALTIME
                                                                           : CLOCK_MONOTONIC);
}

void ButtonDevice::arm_timer() {
  // One loop timer per button, made on first use; re-armed for the FSM's next deadline.
  if (timer_ == nullptr) timer_ = &ctx.add_timer(*this, [this] { on_timer(); });
  const auto deadline = button_.next_deadline();
  if (!deadline) {
    timer_->cancel();
    return;
  }
  const std::uint64_t now = clock_now();
  timer_->start_once(*deadline > now ? *deadline - now : 0);
}

void ButtonDevice::on_timer() {
  // Edges the RT thread already read but the loop has not dispatched happened before now:
  // dispatch them first, so that a release just before a long-press (or click) deadline
  // is not taken for a long press because its timer completion came first in this round.
  ctx.drain_pending();
  log_events(button_.on_time(clock_now()));
  arm_timer();
}

void ButtonDevice::log_events(const devices::ButtonEvents& events) {
  for (const auto& e : events) {
    ++events_[static_cast<std::size_t>(e.kind)];
    last_event_ = e;
    sinks::DeviceEvent ev;
    ev.ts_ns = e.ts_ns;
    ev.device = name();
    ev.kind = kind().name();
    ev.event = button_event_name(e.kind);
    // Levels are state; gestures happen.
    const bool gesture = e.kind == devices::ButtonEventKind::long_press ||
                         e.kind == devices::ButtonEventKind::click ||
                         e.kind == devices::ButtonEventKind::double_click;
    ev.cls = gesture ? sinks::EventClass::occurrence : sinks::EventClass::state;
    if (e.kind == devices::ButtonEventKind::long_press ||
        e.kind == devices::ButtonEventKind::release)
      ev.value =
          sinks::EventValue::integer(static_cast<std::int64_t>((e.ts_ns - e.start_ns) / kMs));
    ev.unit = ev.value.kind() == sinks::EventValue::Kind::none ? "" : "ms";
    // The live line is {ts_ns, name, event}, no more.
    out().emit(ev, [](nlohmann::json&) {});
  }
}

nlohmann::json ButtonDevice::status(std::uint64_t /*now*/) const {
  nlohmann::json j = {{"name", name()},
                      {"kind", settings_.kind == config::ButtonKind::button ? "button" : "switch"},
                      {"level", button_.level()},
                      {"glitches", button_.glitches()},
                      {"lost", state.gaps_kernel + state.gaps_ring}};
  for (std::size_t k = 0; k < kEventKinds; ++k)
    j[button_event_name(static_cast<devices::ButtonEventKind>(k))] = events_[k];
  return j;
}

std::string ButtonDevice::summary(std::uint64_t now) const {
  const bool is_switch = settings_.kind == config::ButtonKind::switch_;
  if (button_.level()) return is_switch ? "closed" : "pressed";
  std::string s = is_switch ? "open" : "released";
  if (last_event_) {
    // The gesture's timestamps are on the line's clock; `now` is monotonic.
    const std::uint64_t t =
        settings_.settings.clock == config::EventClock::realtime ? clock_now() : now;
    s += fmt::format("  last {} {}", button_event_name(last_event_->kind),
                     ago(t > last_event_->ts_ns ? t - last_event_->ts_ns : 0));
  }
  return cut_utf8(std::move(s));
}

nlohmann::json ButtonDevice::published_state(std::uint64_t /*now*/) const {
  const bool is_switch = settings_.kind == config::ButtonKind::switch_;
  nlohmann::json j = {{is_switch ? "on" : "pressed", button_.level()}};
  if (last_event_) j["last_event"] = button_event_name(last_event_->kind);
  return j;
}

std::vector<sinks::HaEntity> ButtonDevice::ha_entities() const {
  const bool is_switch = settings_.kind == config::ButtonKind::switch_;
  sinks::HaEntity level;
  level.component = "binary_sensor";
  level.object_id = is_switch ? "on" : "pressed";
  level.name = level.object_id;
  level.state_member = level.object_id;
  // The member's JSON text (discovery's value_template renders it with to_json).
  level.payload_on = "true";
  level.payload_off = "false";
  std::vector<sinks::HaEntity> entities = {level};
  if (is_switch) return entities;
  // Gestures fire on the events topic, matched on its `event` member. HA wants type and
  // subtype unique per HA device, and all of a daemon's buttons share one: the subtype is
  // the button's name.
  const auto trigger = [&](devices::ButtonEventKind k, const char* ha_type) {
    sinks::HaEntity t;
    t.component = "device_automation";
    t.object_id = button_event_name(k);
    t.name = t.object_id;
    t.trigger_event = t.object_id;
    t.trigger_type = ha_type;
    t.trigger_subtype = name();
    entities.push_back(std::move(t));
  };
  trigger(devices::ButtonEventKind::click, "button_short_press");
  if (settings_.double_click_ms > 0)
    trigger(devices::ButtonEventKind::double_click, "button_double_press");
  trigger(devices::ButtonEventKind::long_press, "button_long_press");
  return entities;
}

void ButtonDevice::reset() {
  events_.fill(0);
  state.latency.reset();
}

std::unique_ptr<Device> make_button_device(const Kind& kind, const config::DeviceConfig& cfg,
                                           DeviceContext& ctx) {
  return std::make_unique<ButtonDevice>(kind, cfg, ctx);
}

}  // namespace gpioirq::kinds
