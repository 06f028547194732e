#include "control/server_stats.hpp"

namespace gpioirq::control {

std::string_view to_string(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::eof:
      return "eof";
    case CloseReason::idle:
      return "idle";
    case CloseReason::line_too_long:
      return "line_too_long";
    case CloseReason::peer_gone:
      return "peer_gone";
    case CloseReason::too_slow:
      return "too_slow";
    case CloseReason::over_capacity:
      return "over_capacity";
    case CloseReason::error:
      return "error";
    case CloseReason::shutdown:
      return "shutdown";
  }
  return "unknown";
}

nlohmann::json ServerStats::to_json() const {
  nlohmann::json closed_json = nlohmann::json::object();
  for (std::size_t i = 0; i < kCloseReasonCount; ++i)
    closed_json[std::string(to_string(static_cast<CloseReason>(i)))] = closed[i];
  return {{"clients", clients},
          {"monitors", monitors},
          {"accepted", accepted},
          {"accept_errors", accept_errors},
          {"requests", requests},
          {"error_replies", error_replies},
          {"events_published", events_published},
          {"event_lines_queued", event_lines_queued},
          {"monitor_drops", monitor_drops()},
          {"bytes_received", bytes_received},
          {"bytes_sent", bytes_sent},
          {"closed", std::move(closed_json)}};
}

std::string ServerStats::metrics_text() const {
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type, std::string_view help,
                       std::uint64_t value) {
    out += "# HELP gpioirqd_control_";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE gpioirqd_control_";
    out += name;
    out += ' ';
    out += type;
    out += "\ngpioirqd_control_";
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  metric("clients", "gauge", "Control socket clients connected now.", clients);
  metric("monitors", "gauge", "Control socket clients in monitor mode now.", monitors);
  metric("accepted_total", "counter", "Control socket connections accepted.", accepted);
  metric("accept_errors_total", "counter", "Failed accepts on the control socket.", accept_errors);
  metric("requests_total", "counter", "Request lines received.", requests);
  metric("error_replies_total", "counter", "Requests answered with ok=false.", error_replies);
  metric("events_published_total", "counter", "Monitor events sent to at least one client.",
         events_published);
  metric("received_bytes_total", "counter", "Bytes received from clients.", bytes_received);
  metric("sent_bytes_total", "counter", "Bytes sent to clients.", bytes_sent);
  out += "# HELP gpioirqd_control_closed_total Control connections closed, by reason.\n";
  out += "# TYPE gpioirqd_control_closed_total counter\n";
  for (std::size_t i = 0; i < kCloseReasonCount; ++i) {
    out += "gpioirqd_control_closed_total{reason=\"";
    out += to_string(static_cast<CloseReason>(i));
    out += "\"} ";
    out += std::to_string(closed[i]);
    out += '\n';
  }
  return out;
}

}  // namespace gpioirq::control
