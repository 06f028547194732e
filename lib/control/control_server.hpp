#pragma once
// ControlServer: the control socket, served entirely by the io_uring EventLoop (accept,
// recv and send completions; no threads). Protocol v1 (control/protocol.hpp,
// docs/PROTOCOL.md): one JSON request per line, one JSON reply line per request, in order.
//
// The server enforces the protocol (version, command, argument types, line length),
// privilege for state-changing commands, and the limits that keep one client from
// hurting the others: idle clients are closed, a client beyond max_clients is told so and
// closed, a monitor client that falls behind its bounded send queue is dropped, a client
// that vanishes mid-reply is closed. Each of those is counted (stats()). The daemon's
// state stays with the CommandHandler.
//
// Loop thread only: construct, start(), publish(), stats() and destroy on the thread that
// runs the EventLoop. The loop must outlive the server.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/command_handler.hpp"
#include "control/fd_limit.hpp"
#include "control/listen_socket.hpp"
#include "control/peer_credentials.hpp"
#include "control/protocol.hpp"
#include "control/server_stats.hpp"
#include "loop/completion.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer.hpp"

namespace gpioirq::control {

struct ServerOptions {
  std::string socket_path = std::string(kDefaultSocketPath);
  std::string socket_group;  // empty: only uid 0 may reset/reload; else chown'd to it
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_clients = 1024;
  std::size_t max_line_bytes = kMaxLineBytes;
  // Per client: monitor events beyond this many unsent bytes drop the client; replies
  // beyond it pause reading that client's further requests until it catches up.
  std::size_t send_queue_bytes = 256 * 1024;
  // Who counts as privileged; empty: default_privilege(group of socket_group).
  PrivilegePredicate privilege;
  // At start(), raise the process's soft RLIMIT_NOFILE to what max_clients needs on top
  // of the fds open then (fd_limit.hpp). When it cannot, fewer clients are served (see
  // client_limit()). Off for servers that share a process they should not change.
  bool raise_fd_limit = false;
  // Fds kept free for the daemon's own later needs (a reload's new lines and files, a
  // log being reopened) when the client limit has to be cut to fit the fd limit.
  std::size_t fd_headroom = 32;
};

class ControlServer {
 public:
  ControlServer(loop::EventLoop& loop, CommandHandler& handler, ServerOptions options);
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ~ControlServer();

  // Creates the socket (see ListenSocket) and starts accepting. Throws std::runtime_error
  // with an operator-facing message (unknown group, socket in use, ...).
  void start();
  // Stops accepting and closes every client (counted as shutdown); unlinks the socket.
  void stop() noexcept;

  // Whether any client is in monitor mode: callers may skip building events otherwise.
  bool has_monitors() const noexcept { return !monitors_.empty(); }
  // Whether a monitor client wants events of `name`.
  bool wants(std::string_view name) const noexcept;

  // Sends an event to every monitor client whose filter matches `name` (an empty filter
  // matches all). The line sent is {"v":1,"name":name, ...event's members} (the event's
  // own "v" and "name", if any, are left out; a non-object event goes under "event").
  // Costs one branch when nobody monitors.
  void publish(std::string_view name, const nlohmann::json& event);
  // Same, for a line the caller serialized itself: a complete JSON object with "v":1 and
  // "name", without the trailing newline.
  void publish_line(std::string_view name, std::string_view line);

  ServerStats stats() const noexcept;
  // Clients served at once: max_clients, or fewer when the fd limit could not be raised
  // far enough (then fd_limit() says what was wanted and what was got).
  std::size_t client_limit() const noexcept { return client_limit_; }
  const FdLimit& fd_limit() const noexcept { return fd_limit_; }
  const std::string& socket_path() const noexcept { return options_.socket_path; }
  const ServerOptions& options() const noexcept { return options_; }

 private:
  class Session;
  friend class Session;
  class AcceptOp final : public loop::Completion {
   public:
    explicit AcceptOp(ControlServer& server) : server_(server) {}
    ~AcceptOp() override { abandon(); }

   private:
    void complete(int res, std::uint32_t flags) override;
    ControlServer& server_;
  };
  // Entry points hold a Guard: sessions closed meanwhile are destroyed when the outermost
  // guard goes, never under a callback of their own that is still on the stack.
  class Guard {
   public:
    explicit Guard(ControlServer& server) : server_(server) { ++server_.depth_; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard();

   private:
    ControlServer& server_;
  };

  void arm_accept() noexcept;
  void on_accept(int res);
  void on_sweep();
  void reject(int fd) noexcept;

  void on_recv(Session& s, int res);
  void on_send(Session& s, int res);
  void process_lines(Session& s);
  void handle_line(Session& s, std::string_view line) noexcept;
  void serve_line(Session& s, std::string_view line);
  void reply(Session& s, const std::string& line);
  void flush(Session& s);
  void maybe_resume(Session& s);
  void finish(Session& s, CloseReason reason, const std::string& final_line);
  void close_now(Session& s, CloseReason reason);
  void count_close(Session& s, CloseReason reason);
  void unmonitor(Session& s);
  void queue_event(std::string_view name, std::string_view line_without_newline);

  std::string permission_error(std::string_view cmd) const;

  loop::EventLoop& loop_;
  CommandHandler& handler_;
  ServerOptions options_;
  std::optional<ListenSocket> listener_;
  AcceptOp accept_op_{*this};
  loop::Timer sweep_timer_;
  loop::Timer accept_retry_timer_;
  std::list<std::unique_ptr<Session>> sessions_;
  std::vector<Session*> monitors_;
  std::vector<std::unique_ptr<Session>> zombies_;  // closed, destroyed at guard exit
  std::string event_scratch_;                      // publish()'s line, reused
  // Held so that a client can still be accepted and told "too many clients" when the
  // process has run out of fds: given up for that accept, then opened again.
  core::UniqueFd spare_fd_;
  std::size_t client_limit_ = 0;
  FdLimit fd_limit_;
  ServerStats stats_;
  int depth_ = 0;
  bool accepting_ = false;
};

}  // namespace gpioirq::control
