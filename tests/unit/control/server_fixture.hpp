#pragma once
// A real ControlServer on a real socket in a temp dir, served by a real EventLoop on its
// own thread. The test thread talks to it through plain blocking sockets (TestClient) and
// runs code on the loop thread with call() (the server is single-threaded).

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/command_handler.hpp"
#include "control/control_server.hpp"
#include "core/thread_safe_flag.hpp"
#include "core/unique_fd.hpp"
#include "loop/event_loop.hpp"
#include "loop/flag_waiter.hpp"
#include "support/temp_dir.hpp"

namespace gpioirq::control::test {

using TempDir = gpioirq_test::TempDir;

// Records every call; answers with canned bodies.
class FakeHandler final : public CommandHandler {
 public:
  nlohmann::json handle(std::string_view cmd, const nlohmann::json& request,
                        const PeerCredentials& peer) override;
  std::string metrics_text() override {
    return "# TYPE gpioirqd_test_up gauge\ngpioirqd_test_up 1\n";
  }

  std::vector<std::string> calls;  // loop thread only: read through call()
  PeerCredentials last_peer;
};

class ServerFixture {
 public:
  explicit ServerFixture(ServerOptions options = {});
  ~ServerFixture();
  ServerFixture(const ServerFixture&) = delete;
  ServerFixture& operator=(const ServerFixture&) = delete;

  const std::string& socket_path() const { return socket_path_; }
  const TempDir& dir() const { return dir_; }

  // Runs fn on the loop thread and returns its result (10 s limit).
  template <typename F>
  auto call(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
    auto result = task->get_future();
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back([task] { (*task)(); });
    }
    wake_.set();
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      throw std::runtime_error("loop thread did not run the task within 10 s");
    return result.get();
  }

  ControlServer& server() { return *server_; }  // loop thread only
  FakeHandler& handler() { return handler_; }   // loop thread only

  // Waits (on the loop thread's notification after each round) until pred(stats) holds.
  bool wait_stats(const std::function<bool(const ServerStats&)>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ServerStats stats();

 private:
  void run(ServerOptions options, std::promise<void>& started);

  TempDir dir_;
  std::string socket_path_;
  FakeHandler handler_;
  core::ThreadSafeFlag wake_;
  std::mutex mutex_;
  std::condition_variable rounds_;
  std::deque<std::function<void()>> tasks_;
  ServerStats snapshot_;
  bool quit_ = false;
  ControlServer* server_ = nullptr;
  std::thread thread_;
};

// A plain blocking client socket with poll()-bounded reads.
class TestClient {
 public:
  explicit TestClient(const std::string& path);
  void send(std::string_view data);  // all of it, blocking
  // Next line (without '\n'); nullopt at end of stream; throws on timeout.
  std::optional<std::string> read_line(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  nlohmann::json read_json(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next reply to `line`, parsed.
  nlohmann::json ask(std::string_view line);
  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

 private:
  core::UniqueFd fd_;
  std::string buffer_;
};

// Entries in /proc/self/fd.
std::size_t open_fd_count();
// Raises RLIMIT_NOFILE's soft limit to at least `want`; false if the hard limit is lower.
bool raise_fd_limit(rlim_t want);

}  // namespace gpioirq::control::test
