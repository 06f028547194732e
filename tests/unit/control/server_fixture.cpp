#include "server_fixture.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace gpioirq::control::test {

nlohmann::json FakeHandler::handle(std::string_view cmd, const nlohmann::json& request,
                                   const PeerCredentials& peer) {
  calls.emplace_back(cmd);
  last_peer = peer;
  if (const auto names = request.find("names"); names != request.end())
    for (const auto& name : *names) {
      if (name == "nosuch") throw CommandError("unknown stream 'nosuch'");
      // A handler with a bug: what it throws must not leave the server's loop.
      if (name == "throw-std") throw std::out_of_range("vector index 9 out of range");
      if (name == "throw-other") throw 42;
    }
  if (cmd == "status")
    return {{"version", "test"},
            {"uptime_s", 1.5},
            {"lines",
             {{{"name", "knob_a"}, {"edges", 10}, {"lost", 0}},
              {{"name", "button"}, {"edges", 3}, {"lost", 1}}}}};
  if (cmd == "latency")
    return {{"streams",
             {{{"name", "knob"},
               {"p50", 12},
               {"p99", 40},
               {"unit", "us"},
               {"buckets", {{0, 10, 5}, {10, 20, 50}, {20, 40, 2}, {40, 80, 0}}}}}}};
  if (cmd == "devices")
    return {{"devices",
             {{"encoder",
               {{{"name", "knob"},
                 {"down", false},
                 {"lost", 2},
                 {"summary", "pos 5  vel 0/s"},
                 {"position", 5}}}},
              {"pwm_in",
               {{{"name", "fan"},
                 {"down", true},
                 {"down_reason", "chip 'sim9' not found"},
                 {"lost", 0},
                 {"summary", "-"},
                 {"duty", 0.5}}}}}}};
  return {{"handled", std::string(cmd)}};
}

ServerFixture::ServerFixture(ServerOptions options) {
  socket_path_ = (dir_.path() / "run" / "control.sock").string();
  options.socket_path = socket_path_;
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, options = std::move(options), &started]() mutable {
    run(std::move(options), started);
  });
  try {
    ready.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

ServerFixture::~ServerFixture() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.set();
  thread_.join();
}

void ServerFixture::run(ServerOptions options, std::promise<void>& started) {
  std::optional<loop::EventLoop> loop;
  std::optional<ControlServer> server;
  try {
    loop.emplace();
    server.emplace(*loop, handler_, std::move(options));
    server->start();
  } catch (...) {
    started.set_exception(std::current_exception());
    return;
  }
  server_ = &*server;
  loop::FlagWaiter waiter(*loop, wake_, [this] {
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard lock(mutex_);
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  });
  waiter.start();
  started.set_value();
  for (;;) {
    loop->run_once(-1);
    std::lock_guard lock(mutex_);
    snapshot_ = server->stats();
    rounds_.notify_all();
    if (quit_) break;
  }
  server.reset();
}

bool ServerFixture::wait_stats(const std::function<bool(const ServerStats&)>& pred,
                               std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return rounds_.wait_for(lock, timeout, [&] { return pred(snapshot_); });
}

ServerStats ServerFixture::stats() {
  return call([this] { return server_->stats(); });
}

TestClient::TestClient(const std::string& path) {
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw std::system_error(errno, std::generic_category(), "connect " + path);
}

void TestClient::send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "send");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<std::string> TestClient::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, left.count() > 0 ? static_cast<int>(left.count()) : 0) == 0)
      throw std::runtime_error("no line from the server within " + std::to_string(timeout.count()) +
                               " ms");
    char chunk[65536];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || errno == ECONNRESET) {
      if (buffer_.empty()) return std::nullopt;
      std::string rest = std::move(buffer_);
      buffer_.clear();
      return rest;
    }
    throw std::system_error(errno, std::generic_category(), "recv");
  }
}

nlohmann::json TestClient::read_json(std::chrono::milliseconds timeout) {
  auto line = read_line(timeout);
  if (!line) throw std::runtime_error("end of stream instead of a reply");
  return nlohmann::json::parse(*line);
}

nlohmann::json TestClient::ask(std::string_view line) {
  send(line);
  return read_json();
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

bool raise_fd_limit(rlim_t want) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur >= want) return true;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) return false;
  lim.rlim_cur = want;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

}  // namespace gpioirq::control::test
