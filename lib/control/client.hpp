#pragma once
// ControlClient: gpioirqctl's blocking connection to the control socket. Errors are
// ClientError exceptions carrying the exit code gpioirqctl reports (docs/PROTOCOL.md).

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/unique_fd.hpp"

namespace gpioirq::control {

// gpioirqctl's exit codes.
enum class ExitCode : int {
  ok = 0,
  daemon_error = 1,  // the daemon answered {"ok":false,...}
  usage = 2,         // bad command line
  not_running = 3,   // no socket / nobody listening / the daemon went away
  permission = 4,    // the socket (or its directory) is not accessible
  protocol = 5,      // timeout, malformed or unexpected reply
};

class ClientError : public std::runtime_error {
 public:
  ClientError(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

class ControlClient {
 public:
  // Connects within `timeout`. Throws ClientError: not_running ("gpioirqd is not running
  // (no socket at PATH)"), permission ("permission denied on PATH: ... (add yourself to
  // group 'G')"), protocol (timeout).
  ControlClient(const std::string& socket_path, std::chrono::milliseconds timeout);

  // Sends {"v":1,"cmd":cmd,...args} and returns the next reply line, parsed; `raw` (if not
  // null) receives the line as the daemon sent it. The reply may carry ok=false: that is
  // for the caller to judge. Throws ClientError(protocol) on timeout or a malformed reply,
  // ClientError(not_running) if the daemon closes the connection.
  nlohmann::json request(std::string_view cmd,
                         const nlohmann::json& args = nlohmann::json::object(),
                         std::string* raw = nullptr);

  void send_line(std::string_view line);  // '\n' appended if missing
  // The next line without '\n'; nullopt at end of stream. timeout_ms < 0: no limit.
  // Throws ClientError(protocol) on timeout.
  std::optional<std::string> read_line(int timeout_ms);
  // read_line() parsed; throws ClientError(protocol) for a line that is not a JSON object.
  std::optional<nlohmann::json> read_json(int timeout_ms, std::string* raw = nullptr);

  int fd() const noexcept { return fd_.get(); }
  const std::string& socket_path() const noexcept { return path_; }
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }

 private:
  core::UniqueFd fd_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  std::size_t start_ = 0;  // unread part of buffer_
};

// "(add yourself to group 'gpio')" advice for a socket path, from its group owner.
std::string group_advice(const std::string& socket_path);

}  // namespace gpioirq::control
