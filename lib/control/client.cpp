#include "control/client.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/protocol.hpp"

namespace gpioirq::control {
namespace {

using Clock = std::chrono::steady_clock;

// Replies can be large (metrics of many streams), but not unbounded.
constexpr std::size_t kMaxReplyLine = 64 * 1024 * 1024;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

std::string seconds_text(std::chrono::milliseconds ms) {
  const double s = static_cast<double>(ms.count()) / 1000.0;
  std::string text = std::to_string(s);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text + " s";
}

}  // namespace

std::string group_advice(const std::string& socket_path) {
  struct stat st {};
  if (::stat(socket_path.c_str(), &st) != 0 || st.st_gid == 0) return "";
  if (const group* gr = ::getgrgid(st.st_gid))
    return " (add yourself to group '" + std::string(gr->gr_name) + "')";
  return " (add yourself to group " + std::to_string(st.st_gid) + ")";
}

ControlClient::ControlClient(const std::string& socket_path, std::chrono::milliseconds timeout)
    : path_(socket_path), timeout_(timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof addr.sun_path)
    throw ClientError(ExitCode::usage, "invalid socket path '" + path_ + "'");
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw ClientError(ExitCode::protocol, std::string("socket(): ") + std::strerror(errno));
  // A blocking connect waits (up to SO_SNDTIMEO) while the daemon's backlog is full.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc;
  do {
    rc = ::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    switch (err) {
      case ENOENT:
        throw ClientError(ExitCode::not_running,
                          "gpioirqd is not running (no socket at " + path_ + ")");
      case ECONNREFUSED:
        throw ClientError(ExitCode::not_running,
                          "gpioirqd is not running (nobody listening on " + path_ + ")");
      case ENOTDIR:
        throw ClientError(ExitCode::not_running,
                          "gpioirqd is not running (no socket at " + path_ + ")");
      case EACCES:
      case EPERM:
        throw ClientError(ExitCode::permission, "permission denied on " + path_ + ": " +
                                                    std::strerror(err) + group_advice(path_));
      case EAGAIN:
        // The daemon's accept backlog stayed full for the whole timeout.
        throw ClientError(ExitCode::protocol, "gpioirqd did not accept the connection on " + path_ +
                                                  " within " + seconds_text(timeout_));
      default:
        throw ClientError(ExitCode::protocol,
                          "cannot connect to " + path_ + ": " + std::strerror(err));
    }
  }
  // From here on every wait is a poll() with its own deadline.
  const int flags = ::fcntl(fd_.get(), F_GETFL);
  ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
}

void ControlClient::send_line(std::string_view line) {
  std::string data(line);
  if (data.empty() || data.back() != '\n') data += '\n';
  const auto deadline = Clock::now() + timeout_;
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd_.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd_.get(), POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) == 0)
        throw ClientError(ExitCode::protocol,
                          "timed out sending to gpioirqd after " + seconds_text(timeout_));
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET)
      throw ClientError(ExitCode::not_running, "gpioirqd closed the connection");
    throw ClientError(ExitCode::protocol, std::string("send: ") + std::strerror(errno));
  }
}

std::optional<std::string> ControlClient::read_line(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    if (const auto nl = buffer_.find('\n', start_); nl != std::string::npos) {
      std::string line = buffer_.substr(start_, nl - start_);
      start_ = nl + 1;
      if (start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
      }
      return line;
    }
    if (start_ > 0) {
      buffer_.erase(0, start_);
      start_ = 0;
    }
    if (buffer_.size() > kMaxReplyLine)
      throw ClientError(ExitCode::protocol, "reply line from gpioirqd exceeds 64 MiB");
    pollfd p{fd_.get(), POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms < 0 ? -1 : remaining_ms(deadline));
    if (r < 0) {
      // A signal (top's Ctrl-C handler) only cuts the wait short; the caller checks its flag.
      if (errno == EINTR) continue;
      throw ClientError(ExitCode::protocol, std::string("poll: ") + std::strerror(errno));
    }
    if (r == 0)
      throw ClientError(
          ExitCode::protocol,
          "no reply from gpioirqd within " + seconds_text(std::chrono::milliseconds(timeout_ms)));
    char chunk[16384];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && errno != ECONNRESET)
      throw ClientError(ExitCode::protocol, std::string("recv: ") + std::strerror(errno));
    // End of stream (or reset after the daemon closed with our data unread): a final
    // unterminated line still counts.
    if (!buffer_.empty()) {
      std::string line = std::move(buffer_);
      buffer_.clear();
      return line;
    }
    return std::nullopt;
  }
}

std::optional<nlohmann::json> ControlClient::read_json(int timeout_ms, std::string* raw) {
  auto line = read_line(timeout_ms);
  if (!line) return std::nullopt;
  nlohmann::json parsed = nlohmann::json::parse(*line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object())
    throw ClientError(ExitCode::protocol, "malformed reply from gpioirqd: " + line->substr(0, 200));
  if (raw) *raw = std::move(*line);
  return parsed;
}

nlohmann::json ControlClient::request(std::string_view cmd, const nlohmann::json& args,
                                      std::string* raw) {
  send_line(request_line(cmd, args));
  auto reply = read_json(static_cast<int>(timeout_.count()), raw);
  if (!reply)
    throw ClientError(ExitCode::not_running, "gpioirqd closed the connection without replying");
  const auto v = reply->find("v");
  if (v == reply->end() || *v != kProtocolVersion)
    throw ClientError(ExitCode::protocol,
                      "gpioirqd replied with protocol version " +
                          (v == reply->end() ? std::string("(none)") : v->dump()) +
                          "; this gpioirqctl speaks v 1");
  if (!reply->contains("ok") || !(*reply)["ok"].is_boolean())
    throw ClientError(ExitCode::protocol, "reply from gpioirqd lacks \"ok\"");
  return *reply;
}

}  // namespace gpioirq::control
