#pragma once
// ControlServer's own figures, for `status` and `metrics`.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gpioirq::control {

// Why a client connection ended. Counted once per connection, when the server decides.
enum class CloseReason : std::uint8_t {
  eof,            // the client closed its end (normal)
  idle,           // said nothing for the idle timeout
  line_too_long,  // a request line over the limit
  peer_gone,      // EPIPE / ECONNRESET while replying: the client vanished mid-reply
  too_slow,       // a monitor client fell behind its bounded send queue
  over_capacity,  // accepted beyond max_clients, told so and closed
  error,          // any other socket error
  shutdown,       // the server stopped
};
inline constexpr std::size_t kCloseReasonCount = 8;

std::string_view to_string(CloseReason reason) noexcept;

struct ServerStats {
  std::size_t clients = 0;   // connected now (including those being closed)
  std::size_t monitors = 0;  // of which in monitor mode
  std::uint64_t accepted = 0;
  std::uint64_t accept_errors = 0;
  std::uint64_t requests = 0;            // request lines received
  std::uint64_t error_replies = 0;       // {"ok":false} replies sent
  std::uint64_t events_published = 0;    // publish() calls that reached at least one monitor
  std::uint64_t event_lines_queued = 0;  // event lines queued, summed over monitors
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  std::array<std::uint64_t, kCloseReasonCount> closed{};  // indexed by CloseReason

  std::uint64_t closed_by(CloseReason reason) const noexcept {
    return closed[static_cast<std::size_t>(reason)];
  }
  std::uint64_t monitor_drops() const noexcept { return closed_by(CloseReason::too_slow); }

  // {"clients":..,"monitors":..,...,"closed":{"eof":..,"idle":..,...}}
  nlohmann::json to_json() const;
  // Prometheus text: gpioirqd_control_clients, gpioirqd_control_closed_total{reason=...}, ...
  std::string metrics_text() const;
};

}  // namespace gpioirq::control
