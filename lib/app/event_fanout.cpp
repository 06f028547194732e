#include "app/event_fanout.hpp"

#include "control/control_server.hpp"
#include "sinks/event_log.hpp"

namespace gpioirq::app {

bool EventFanout::live(std::string_view device) const noexcept {
  for (const sinks::EventSink* sink : sinks_)
    if (sink->wants(device)) return true;
  return false;
}

bool EventFanout::wants_fields(const sinks::DeviceEvent& ev) const noexcept {
  for (const sinks::EventSink* sink : sinks_)
    if (sink->wants(ev.device) && sink->wants_class(ev.cls)) return true;
  return false;
}

void EventFanout::emit(const sinks::DeviceEvent& ev, const nlohmann::json* fields) {
  switch (ev.row) {
    case sinks::DeviceEvent::Row::event: {
      sinks::EventEntry entry;
      entry.ts_ns = ev.ts_ns;
      entry.device = ev.device;
      entry.kind = ev.event;
      entry.value = ev.value;
      entry.value2 = ev.value2;
      entry.unit = ev.unit;
      log_.event(entry);
      break;
    }
    case sinks::DeviceEvent::Row::gap:
      if (ev.gap != nullptr) log_.gap(*ev.gap);
      break;
    case sinks::DeviceEvent::Row::none:
      break;
  }
  if (!ev.live) return;
  // The line is built once, for the first sink that wants it (none: no cost but the
  // wants() calls).
  nlohmann::json line;
  for (sinks::EventSink* sink : sinks_) {
    if (!sink->wants(ev.device)) continue;
    if (!sink->wants_class(ev.cls)) {
      sink->on_mark(ev);
      continue;
    }
    if (line.is_null()) {
      line = {{"ts_ns", ev.ts_ns}, {"name", ev.device}, {"event", ev.event}};
      if (fields != nullptr && fields->is_object())
        for (const auto& [key, value] : fields->items()) line[key] = value;
    }
    sink->on_event(ev, line);
  }
}

void EventFanout::edge(const sinks::EdgeEntry& e) {
  if (log_edges_) log_.edge(e);
  nlohmann::json line;
  for (sinks::EventSink* sink : sinks_) {
    if (!sink->wants_edges() || !sink->wants(e.device)) continue;
    if (line.is_null())
      line = {{"ts_ns", e.ts_ns},
              {"name", e.device},
              {"line", e.line},
              {"event", e.edge == sinks::EdgeDirection::rising ? "rising" : "falling"},
              {"seqno", e.line_seqno}};
    sink->on_edge(e.device, line);
  }
}

bool MonitorSink::wants(std::string_view device) const noexcept {
  return server_.wants(device);
}

void MonitorSink::on_event(const sinks::DeviceEvent& ev, const nlohmann::json& line) {
  server_.publish(ev.device, line);
}

void MonitorSink::on_edge(std::string_view device, const nlohmann::json& line) {
  server_.publish(device, line);
}

}  // namespace gpioirq::app
