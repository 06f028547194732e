#include "control/control_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <utility>

namespace gpioirq::control {
namespace {

constexpr std::size_t kRecvChunk = 4096;
// A buffer that grew past this for one big line or reply is given back once empty.
constexpr std::size_t kKeepCapacity = 64 * 1024;
// How long a closing client gets to take its last line before it is cut off.
constexpr std::chrono::milliseconds kMaxFinalFlush{5'000};
constexpr std::uint64_t kAcceptRetryNs = 100'000'000;

core::UniqueFd open_spare_fd() noexcept {
  return core::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

std::uint64_t ns(std::chrono::milliseconds ms) {
  return static_cast<std::uint64_t>(std::chrono::nanoseconds(ms).count());
}

}  // namespace

class ControlServer::Session {
 public:
  Session(ControlServer& server, core::UniqueFd fd, const PeerCredentials& peer)
      : server_(server), fd_(std::move(fd)), peer_(peer) {}
  ~Session() {
    // The kernel must let go of rbuf_/sending_ before they are destroyed.
    recv_op_.abandon();
    send_op_.abandon();
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::size_t queued() const noexcept { return out_.size() + sending_.size() - sent_; }
  bool matches(std::string_view name) const noexcept {
    if (names_.empty()) return true;
    return std::find(names_.begin(), names_.end(), name) != names_.end();
  }

  template <void (ControlServer::*Handler)(Session&, int)>
  class Op final : public loop::Completion {
   public:
    explicit Op(Session& s) : s_(s) {}
    ~Op() override { abandon(); }

   private:
    void complete(int res, std::uint32_t /*flags*/) override { (s_.server_.*Handler)(s_, res); }
    Session& s_;
  };

  ControlServer& server_;
  core::UniqueFd fd_;
  PeerCredentials peer_;
  std::list<std::unique_ptr<Session>>::iterator self_;

  std::array<char, kRecvChunk> rbuf_{};
  std::string inbuf_;
  std::size_t consumed_ = 0;  // inbuf_ bytes already handled
  std::size_t scanned_ = 0;   // inbuf_ bytes known to hold no '\n'
  std::string out_;           // queued, not yet handed to the kernel
  std::string sending_;       // handed to the kernel from sent_ on
  std::size_t sent_ = 0;

  std::vector<std::string> names_;  // monitor filter; empty = all
  bool monitor_ = false;
  bool closing_ = false;  // send what is queued, then close; no more requests
  bool dead_ = false;     // closed; destroyed at the outermost guard's exit
  bool counted_ = false;  // close reason counted
  bool paused_ = false;   // not reading: replies queued beyond send_queue_bytes
  std::uint64_t last_activity_ns_ = 0;
  std::uint64_t close_deadline_ns_ = 0;

  Op<&ControlServer::on_recv> recv_op_{*this};
  Op<&ControlServer::on_send> send_op_{*this};
};

ControlServer::Guard::~Guard() {
  if (--server_.depth_ == 0 && !server_.zombies_.empty()) {
    // Moved out first: a session's destruction must not see the vector mid-clear.
    auto dead = std::move(server_.zombies_);
    server_.zombies_.clear();
    dead.clear();
  }
}

ControlServer::ControlServer(loop::EventLoop& loop, CommandHandler& handler, ServerOptions options)
    : loop_(loop),
      handler_(handler),
      options_(std::move(options)),
      sweep_timer_(loop, [this] { on_sweep(); }),
      accept_retry_timer_(loop, [this] { arm_accept(); }) {}

ControlServer::~ControlServer() {
  stop();
}

void ControlServer::start() {
  listener_.emplace(ListenSocketOptions{options_.socket_path, options_.socket_group});
  if (!options_.privilege) options_.privilege = default_privilege(listener_->group());
  spare_fd_ = open_spare_fd();
  client_limit_ = options_.max_clients;
  if (options_.raise_fd_limit) {
    const std::size_t in_use = count_open_fds();
    fd_limit_ = raise_open_file_limit(in_use + options_.fd_headroom + options_.max_clients);
    if (!fd_limit_.enough()) {
      const std::uint64_t kept = in_use + options_.fd_headroom;
      const std::uint64_t room = fd_limit_.got > kept ? fd_limit_.got - kept : 0;
      // At least one client, so that `status` can still tell an operator why.
      client_limit_ =
          static_cast<std::size_t>(std::clamp<std::uint64_t>(room, 1, options_.max_clients));
    }
  }
  accepting_ = true;
  arm_accept();
}

void ControlServer::stop() noexcept {
  Guard guard(*this);
  accepting_ = false;
  accept_op_.abandon();
  accept_retry_timer_.cancel();
  sweep_timer_.cancel();
  while (!sessions_.empty()) close_now(*sessions_.front(), CloseReason::shutdown);
  listener_.reset();
  spare_fd_.reset();
}

void ControlServer::arm_accept() noexcept {
  if (!accepting_ || !listener_ || accept_op_.in_flight()) return;
  if (loop_.accept(listener_->fd(), accept_op_) < 0) {
    ++stats_.accept_errors;
    accept_retry_timer_.start_once(kAcceptRetryNs);
  }
}

void ControlServer::AcceptOp::complete(int res, std::uint32_t /*flags*/) {
  server_.on_accept(res);
}

void ControlServer::on_accept(int res) {
  Guard guard(*this);
  if (!accepting_) {
    if (res >= 0) ::close(res);
    return;
  }
  if (res < 0) {
    if (res != -ECANCELED) ++stats_.accept_errors;
    if ((res == -EMFILE || res == -ENFILE) && spare_fd_) {
      // Out of fds: the spare makes room for the waiting client, which is then told
      // "too many clients" instead of waiting in the backlog for nothing.
      spare_fd_.reset();
      arm_accept();
      return;
    }
    if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
      // Retrying at once would spin; existing clients keep being served.
      accept_retry_timer_.start_once(kAcceptRetryNs);
      return;
    }
    arm_accept();
    return;
  }
  core::UniqueFd fd(res);
  ++stats_.accepted;
  // Without its spare the server cannot take one more fd: this client may have the last.
  if (!spare_fd_) spare_fd_ = open_spare_fd();
  if (!spare_fd_ || sessions_.size() >= client_limit_) {
    reject(fd.get());
    fd.reset();
    ++stats_.closed[static_cast<std::size_t>(CloseReason::over_capacity)];
    if (!spare_fd_) spare_fd_ = open_spare_fd();
    arm_accept();
    return;
  }
  arm_accept();
  PeerCredentials peer;
  if (read_peer_credentials(fd.get(), peer) < 0) {
    ++stats_.closed[static_cast<std::size_t>(CloseReason::error)];
    return;
  }
  peer.privileged = options_.privilege ? options_.privilege(peer) : peer.uid == 0;
  sessions_.push_back(std::make_unique<Session>(*this, std::move(fd), peer));
  Session& s = *sessions_.back();
  s.self_ = std::prev(sessions_.end());
  s.last_activity_ns_ = loop::Timer::now_ns();
  if (loop_.recv(s.fd_.get(), s.rbuf_.data(), s.rbuf_.size(), s.recv_op_) < 0) {
    close_now(s, CloseReason::error);
    return;
  }
  if (!sweep_timer_.active()) {
    const auto period = std::clamp(options_.idle_timeout / 4, std::chrono::milliseconds(10),
                                   std::chrono::milliseconds(1000));
    sweep_timer_.start_periodic(ns(period));
  }
}

void ControlServer::reject(int fd) noexcept {
  // A fresh socket's send buffer is empty, so this short line cannot block or be cut.
  const std::string line =
      error_line("too many clients (" + std::to_string(client_limit_) + "); try again later");
  [[maybe_unused]] const auto n = ::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void ControlServer::on_sweep() {
  Guard guard(*this);
  const std::uint64_t now = loop::Timer::now_ns();
  const std::uint64_t idle = ns(options_.idle_timeout);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = **it++;  // close_now() erases s from the list
    if (s.dead_) continue;
    if (s.closing_) {
      if (now >= s.close_deadline_ns_) close_now(s, CloseReason::error);
    } else if (!s.monitor_ && now - s.last_activity_ns_ >= idle) {
      if (s.queued() == 0 && !s.send_op_.in_flight()) {
        finish(s, CloseReason::idle,
               error_line("idle for " + std::to_string(options_.idle_timeout.count()) +
                          " ms; closing"));
      } else {
        close_now(s, CloseReason::idle);  // not reading its replies either
      }
    }
  }
  if (sessions_.empty()) sweep_timer_.cancel();
}

void ControlServer::on_recv(Session& s, int res) {
  Guard guard(*this);
  if (s.dead_ || res == -ECANCELED) return;
  if (res < 0) {
    close_now(s, res == -ECONNRESET || res == -EPIPE ? CloseReason::peer_gone : CloseReason::error);
    return;
  }
  if (res == 0) {
    if (s.closing_) {
      if (s.queued() == 0 && !s.send_op_.in_flight()) close_now(s, CloseReason::eof);
      return;  // on_send closes once the last line is out
    }
    if (!s.monitor_ && s.inbuf_.size() > s.consumed_) {
      // A last request without its newline (`printf ... | socat`): answer it anyway.
      s.inbuf_ += '\n';
      process_lines(s);
      if (s.dead_ || s.closing_) return;
    }
    count_close(s, CloseReason::eof);
    s.closing_ = true;
    s.close_deadline_ns_ = loop::Timer::now_ns() + ns(options_.idle_timeout);
    unmonitor(s);
    flush(s);
    return;
  }
  stats_.bytes_received += static_cast<std::uint64_t>(res);
  s.last_activity_ns_ = loop::Timer::now_ns();
  if (!s.closing_) {
    s.inbuf_.append(s.rbuf_.data(), static_cast<std::size_t>(res));
    process_lines(s);
  }
  // Closing clients are still read (and ignored) so that their close is seen and so that
  // unread data does not turn our close into their ECONNRESET before the last line.
  if (!s.dead_ && !s.paused_ &&
      loop_.recv(s.fd_.get(), s.rbuf_.data(), s.rbuf_.size(), s.recv_op_) < 0)
    close_now(s, CloseReason::error);
}

void ControlServer::process_lines(Session& s) {
  const std::size_t max = options_.max_line_bytes;
  while (!s.dead_ && !s.closing_) {
    if (s.queued() >= options_.send_queue_bytes) {
      s.paused_ = true;  // on_send resumes when the client has caught up
      break;
    }
    const std::size_t nl = s.inbuf_.find('\n', std::max(s.consumed_, s.scanned_));
    if (nl == std::string::npos) {
      s.scanned_ = s.inbuf_.size();
      if (s.inbuf_.size() - s.consumed_ > max) {
        ++stats_.error_replies;
        finish(s, CloseReason::line_too_long,
               error_line("request line over " + std::to_string(max) + " bytes; closing"));
      }
      break;
    }
    std::string_view line(s.inbuf_.data() + s.consumed_, nl - s.consumed_);
    s.consumed_ = nl + 1;
    if (line.size() > max) {
      ++stats_.error_replies;
      finish(s, CloseReason::line_too_long,
             error_line("request line over " + std::to_string(max) + " bytes; closing"));
      break;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    handle_line(s, line);
  }
  if (s.consumed_ > 0) {
    s.inbuf_.erase(0, s.consumed_);
    s.scanned_ = s.scanned_ > s.consumed_ ? s.scanned_ - s.consumed_ : 0;
    s.consumed_ = 0;
  }
  if (s.inbuf_.empty() && s.inbuf_.capacity() > kKeepCapacity) std::string().swap(s.inbuf_);
}

std::string ControlServer::permission_error(std::string_view cmd) const {
  std::string msg = "permission denied: '" + std::string(cmd) + "' needs uid 0";
  if (const uid_t me = ::geteuid(); me != 0)
    msg += ", the daemon's user (uid " + std::to_string(me) + ")";
  if (!options_.socket_group.empty()) msg += " or group '" + options_.socket_group + "'";
  return msg;
}

void ControlServer::handle_line(Session& s, std::string_view line) noexcept {
  // No request may end the daemon: whatever a line makes throw (the handler's own bugs,
  // bad_alloc) is this client's error reply, and the next line is read as usual.
  try {
    serve_line(s, line);
  } catch (const std::exception& e) {
    ++stats_.error_replies;
    try {
      reply(s, error_line(std::string("internal error: ") + e.what()));
    } catch (...) {
      close_now(s, CloseReason::error);  // not even an error line could be made
    }
  } catch (...) {
    ++stats_.error_replies;
    try {
      reply(s, error_line("internal error"));
    } catch (...) {
      close_now(s, CloseReason::error);
    }
  }
}

void ControlServer::serve_line(Session& s, std::string_view line) {
  ++stats_.requests;
  nlohmann::json request;
  const Validation valid = parse_and_validate(line, request);
  const nlohmann::json* id = request_id(request);
  if (!valid.spec) {
    ++stats_.error_replies;
    reply(s, error_line(valid.error, id));
    return;
  }
  const std::string_view cmd = valid.spec->name;
  if (valid.spec->privileged && !s.peer_.privileged) {
    ++stats_.error_replies;
    reply(s, error_line(permission_error(cmd), id));
    return;
  }
  std::string line_out;
  try {
    if (cmd == "metrics") {
      line_out = ok_line({{"text", handler_.metrics_text() + stats().metrics_text()}}, id);
    } else {
      nlohmann::json body = handler_.handle(cmd, request, s.peer_);
      if (cmd == "monitor") {
        if (!body.is_object()) body = nlohmann::json::object();
        body["monitor"] = true;
      }
      line_out = ok_line(std::move(body), id);
    }
  } catch (const CommandError& e) {
    ++stats_.error_replies;
    reply(s, error_line(e.what(), id));
    return;
  } catch (const std::exception& e) {
    ++stats_.error_replies;
    reply(s, error_line(std::string("internal error: ") + e.what(), id));
    return;
  } catch (...) {
    ++stats_.error_replies;
    reply(s, error_line("internal error: an exception of unknown type", id));
    return;
  }
  if (s.dead_ || s.closing_) return;  // the handler's publish() may have dropped this client
  // The reply is queued before the client joins the monitors: it precedes every event.
  reply(s, line_out);
  if (cmd == "monitor" && !s.dead_ && !s.closing_) {
    s.names_.clear();
    // validate_request() has checked that `names` is an array of strings.
    if (const auto names = request.find("names"); names != request.end())
      for (const auto& name : *names) s.names_.push_back(name.get_ref<const std::string&>());
    // Each event is matched against the filter: a 64 KiB line repeating one name 9000
    // times must not make every event of the daemon cost 9000 comparisons.
    std::sort(s.names_.begin(), s.names_.end());
    s.names_.erase(std::unique(s.names_.begin(), s.names_.end()), s.names_.end());
    if (!s.monitor_) {
      s.monitor_ = true;
      monitors_.push_back(&s);
    }
  }
}

void ControlServer::reply(Session& s, const std::string& line) {
  if (s.dead_ || s.closing_) return;
  s.out_ += line;
  flush(s);
}

void ControlServer::flush(Session& s) {
  if (s.dead_ || s.send_op_.in_flight()) return;
  if (s.sent_ >= s.sending_.size()) {
    s.sending_.clear();
    s.sent_ = 0;
    if (s.sending_.capacity() > kKeepCapacity) std::string().swap(s.sending_);
    if (s.out_.empty()) {
      if (s.closing_) close_now(s, CloseReason::eof);  // reason counted when closing began
      return;
    }
    std::swap(s.out_, s.sending_);
  }
  const std::size_t left = s.sending_.size() - s.sent_;
  const auto len = static_cast<unsigned>(std::min<std::size_t>(left, 1u << 30));
  if (loop_.send(s.fd_.get(), s.sending_.data() + s.sent_, len, s.send_op_) < 0)
    close_now(s, CloseReason::error);
}

void ControlServer::on_send(Session& s, int res) {
  Guard guard(*this);
  if (s.dead_ || res == -ECANCELED) return;
  if (res < 0) {
    close_now(s, res == -EPIPE || res == -ECONNRESET ? CloseReason::peer_gone : CloseReason::error);
    return;
  }
  stats_.bytes_sent += static_cast<std::uint64_t>(res);
  s.sent_ += static_cast<std::size_t>(res);
  s.last_activity_ns_ = loop::Timer::now_ns();
  flush(s);
  maybe_resume(s);
}

void ControlServer::maybe_resume(Session& s) {
  if (s.dead_ || s.closing_ || !s.paused_ || s.queued() >= options_.send_queue_bytes) return;
  s.paused_ = false;
  process_lines(s);
  if (!s.dead_ && !s.paused_ && !s.recv_op_.in_flight() &&
      loop_.recv(s.fd_.get(), s.rbuf_.data(), s.rbuf_.size(), s.recv_op_) < 0)
    close_now(s, CloseReason::error);
}

void ControlServer::finish(Session& s, CloseReason reason, const std::string& final_line) {
  if (s.dead_ || s.closing_) return;
  count_close(s, reason);
  unmonitor(s);
  s.closing_ = true;
  s.paused_ = false;
  s.close_deadline_ns_ =
      loop::Timer::now_ns() + ns(std::min(options_.idle_timeout, kMaxFinalFlush));
  // Events not yet handed to the kernel are dropped; a partly sent line is completed
  // first, so the final line starts on a line of its own.
  if (reason == CloseReason::too_slow) s.out_.clear();
  s.out_ += final_line;
  if (!s.recv_op_.in_flight() &&
      loop_.recv(s.fd_.get(), s.rbuf_.data(), s.rbuf_.size(), s.recv_op_) < 0) {
    close_now(s, reason);
    return;
  }
  flush(s);
}

void ControlServer::count_close(Session& s, CloseReason reason) {
  if (s.counted_) return;
  s.counted_ = true;
  ++stats_.closed[static_cast<std::size_t>(reason)];
}

void ControlServer::close_now(Session& s, CloseReason reason) {
  if (s.dead_) return;
  count_close(s, reason);
  unmonitor(s);
  s.dead_ = true;
  // Ops in flight are withdrawn and the fd closed when the zombie is destroyed.
  zombies_.push_back(std::move(*s.self_));
  sessions_.erase(s.self_);
}

void ControlServer::unmonitor(Session& s) {
  if (!s.monitor_) return;
  s.monitor_ = false;
  const auto it = std::find(monitors_.begin(), monitors_.end(), &s);
  if (it != monitors_.end()) {
    *it = monitors_.back();
    monitors_.pop_back();
  }
}

bool ControlServer::wants(std::string_view name) const noexcept {
  for (const Session* s : monitors_)
    if (s->matches(name)) return true;
  return false;
}

void ControlServer::publish(std::string_view name, const nlohmann::json& event) {
  if (monitors_.empty() || !wants(name)) return;
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  std::string& line = event_scratch_;
  line.assign(R"({"v":1,"name":)");
  line += nlohmann::json(name).dump(-1, ' ', false, kReplace);
  if (event.is_object()) {
    // Member by member: an event that carries its own "v" or "name" must not give the
    // line duplicate keys.
    for (const auto& [key, value] : event.items()) {
      if (key == "v" || key == "name") continue;
      line += ',';
      line += nlohmann::json(key).dump(-1, ' ', false, kReplace);
      line += ':';
      line += value.dump(-1, ' ', false, kReplace);
    }
  } else {
    line += R"(,"event":)";
    line += event.dump(-1, ' ', false, kReplace);
  }
  line += '}';
  queue_event(name, line);
}

void ControlServer::publish_line(std::string_view name, std::string_view line) {
  if (monitors_.empty()) return;
  queue_event(name, line);
}

void ControlServer::queue_event(std::string_view name, std::string_view line) {
  Guard guard(*this);
  bool any = false;
  for (std::size_t i = 0; i < monitors_.size();) {
    Session* s = monitors_[i];
    if (!s->matches(name)) {
      ++i;
      continue;
    }
    any = true;
    if (s->queued() + line.size() + 1 > options_.send_queue_bytes) {
      finish(*s, CloseReason::too_slow, error_line("dropped: too slow"));
    } else {
      s->out_.append(line);
      s->out_ += '\n';
      ++stats_.event_lines_queued;
      flush(*s);
    }
    // finish()/flush() may have taken s out of monitors_ (swap-remove): then i is next.
    if (i < monitors_.size() && monitors_[i] == s) ++i;
  }
  if (any) ++stats_.events_published;
}

ServerStats ControlServer::stats() const noexcept {
  ServerStats out = stats_;
  out.clients = sessions_.size();
  out.monitors = monitors_.size();
  return out;
}

}  // namespace gpioirq::control
