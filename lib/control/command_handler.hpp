#pragma once
// The daemon's side of the control protocol. ControlServer checks version, command,
// argument types and privilege, then calls the handler, which owns the daemon's state.
// Called on the loop thread only; a handler must not block.

#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "control/peer_credentials.hpp"

namespace gpioirq::control {

// Thrown by a handler to refuse a request; the client gets {"v":1,"ok":false,"error":what()}.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CommandHandler {
 public:
  virtual ~CommandHandler() = default;

  // The reply body (an object; "v", "ok" and "id" are added by the server) for a
  // validated request. cmd is one of control::commands() other than "metrics"; for
  // "monitor" the body is merged into {"monitor":true} and may refuse unknown names.
  // Throw CommandError to refuse. Any other exception becomes "internal error: ...".
  virtual nlohmann::json handle(std::string_view cmd, const nlohmann::json& request,
                                const PeerCredentials& peer) = 0;

  // Prometheus text exposition for "metrics" (reply {"ok":true,"text":...}). The server
  // appends its own gpioirqd_control_* figures.
  virtual std::string metrics_text() = 0;
};

}  // namespace gpioirq::control
