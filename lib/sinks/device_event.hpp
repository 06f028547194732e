#pragma once
// What a device emits, and where it goes. A device hands each decoded event (a position, a
// press, a count, a GAP it found, going down) to an EventOut once; the daemon's EventOut
// writes its row to the event log and fans it out to the live sinks (monitor clients; the
// MQTT sink of #13), so that neither a device nor a sink names the other.

#include <concepts>
#include <cstdint>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "sinks/log_records.hpp"

namespace gpioirq::sinks {

// What a network sink does with an event (MQTT: state topic / events topic / loss /
// availability).
enum class EventClass : std::uint8_t { state, occurrence, loss, lifecycle };

struct DeviceEvent {
  std::uint64_t ts_ns = 0;  // the device's clock; the live line's ts_ns
  std::string_view device;  // its name
  std::string_view kind;    // "encoder": network sinks build topics with it, never branch on it
  std::string_view event;  // "position", "press", "count", "gap", "down": EVENT kind / live `event`
  EventClass cls = EventClass::state;
  // Which event log row it makes; none: live sinks only.
  enum class Row : std::uint8_t { none, event, gap } row = Row::event;
  EventValue value, value2;  // the EVENT row's values
  std::string_view unit;
  const GapEntry* gap = nullptr;  // row == gap: this GAP row (its own ts_ns)
  // false: the row only, no live sink gets it (rows monitor never showed: a counter's
  // periodic count/frequency rows, an IMU's closing `frames` totals).
  bool live = true;
};

// What a device emits into; the daemon's fan-out implements it. A class implementing it
// hides the template emit() below by overriding the virtual one: it says
// `using sinks::EventOut::emit;` to keep both.
class EventOut {
 public:
  virtual ~EventOut() = default;
  // Whether a live sink wants this device's events: one branch when nobody listens.
  virtual bool live(std::string_view device) const noexcept = 0;
  // Whether this event's live fields are wanted: some sink wants the device and its class
  // (the MQTT sink takes state events as marks only, so a counter's pulse builds no JSON
  // for it).
  virtual bool wants_fields(const DeviceEvent& ev) const noexcept { return live(ev.device); }
  // Writes the row, then (unless ev.live is false) gives {ts_ns, name, event} + *fields to
  // each live sink that wants it. fields: null when not live() (or when the event has no
  // fields).
  virtual void emit(const DeviceEvent& ev, const nlohmann::json* fields) = 0;
  // Builds the live fields (add_fields(json&) adds members to an object) only if live.
  // Constrained so that emit(ev, nullptr) and emit(ev, &fields) pick the virtual one.
  template <typename F>
  requires std::invocable<F&, nlohmann::json&>
  void emit(const DeviceEvent& ev, F&& add_fields) {
    if (!wants_fields(ev)) return emit(ev, static_cast<const nlohmann::json*>(nullptr));
    nlohmann::json fields = nlohmann::json::object();
    add_fields(fields);
    emit(ev, &std::as_const(fields));
  }
};

// A live consumer: monitor clients now, MQTT in #13.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual bool wants(std::string_view device) const noexcept = 0;
  // Of a device it wants: whether it wants the live lines of this class of events. When
  // not, it gets on_mark() instead (the MQTT sink: a state event only says that the state
  // changed; it reads the device's published_state at its own rate).
  virtual bool wants_class(EventClass /*cls*/) const noexcept { return true; }
  // Whether it wants raw edges (on_edge); when no sink does, no edge line is built.
  virtual bool wants_edges() const noexcept { return true; }
  // line: {ts_ns, name, event} + the event's fields.
  virtual void on_event(const DeviceEvent& ev, const nlohmann::json& line) = 0;
  // A live event of a device it wants, of a class it does not want lines of.
  virtual void on_mark(const DeviceEvent& /*ev*/) {}
  // A raw edge, {line, event: rising|falling, seqno}; MQTT ignores them.
  virtual void on_edge(std::string_view /*device*/, const nlohmann::json& /*line*/) {}
};

}  // namespace gpioirq::sinks
