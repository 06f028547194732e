#pragma once
// EventFanout: where every device's events go. A device emits each event once
// (sinks::EventOut); the fan-out writes its row to the event log and gives the live line
// ({ts_ns, name, event} + the event's fields) to each live sink that wants the device:
// monitor clients through MonitorSink now, the MQTT sink of #13 later. Raw edges take the
// same way (edge(): the EDGE row when log_edges is on, the live edge line).
//
// Loop thread only.

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sinks/device_event.hpp"
#include "sinks/log_records.hpp"

namespace gpioirq::control {
class ControlServer;
}
namespace gpioirq::sinks {
class EventLog;
}

namespace gpioirq::app {

class EventFanout final : public sinks::EventOut {
 public:
  using sinks::EventOut::emit;

  // log_edges: whether edge() writes EDGE rows ([daemon] log_edges).
  EventFanout(sinks::EventLog& log, bool log_edges) : log_(log), log_edges_(log_edges) {}
  EventFanout(const EventFanout&) = delete;
  EventFanout& operator=(const EventFanout&) = delete;

  // A live sink; it must outlive the fan-out or never be given an event after its end.
  void add(sinks::EventSink& sink) { sinks_.push_back(&sink); }

  bool live(std::string_view device) const noexcept override;
  bool wants_fields(const sinks::DeviceEvent& ev) const noexcept override;
  void emit(const sinks::DeviceEvent& ev, const nlohmann::json* fields) override;

  // A raw edge of a device's line: its EDGE row (when log_edges), then the live line
  // {ts_ns, name, line, event: rising|falling, seqno: line seqno} to each sink that wants
  // the device.
  void edge(const sinks::EdgeEntry& e);

 private:
  sinks::EventLog& log_;
  const bool log_edges_;
  std::vector<sinks::EventSink*> sinks_;
};

// The monitor clients of the control socket as a live sink: ControlServer::publish sends
// each line to the clients whose filter names the device.
class MonitorSink final : public sinks::EventSink {
 public:
  explicit MonitorSink(control::ControlServer& server) : server_(server) {}
  bool wants(std::string_view device) const noexcept override;
  void on_event(const sinks::DeviceEvent& ev, const nlohmann::json& line) override;
  void on_edge(std::string_view device, const nlohmann::json& line) override;

 private:
  control::ControlServer& server_;
};

}  // namespace gpioirq::app
