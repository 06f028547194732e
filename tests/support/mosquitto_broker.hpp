#pragma once
// A real mosquitto broker for tests: started by the test on a free loopback port with its
// own configuration in the test's directory (as the issue asks), a libmosquitto consumer
// pumped by the test, and the retained message of a topic as mosquitto_sub gets it.

#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop/event_loop.hpp"
#include "support/temp_dir.hpp"

namespace gpioirq_test {

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

inline bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// A mosquitto broker with its own configuration in dir, on a fixed port across restarts.
class Broker {
 public:
  // extra_conf: more listener settings; it says allow_anonymous when it wants other than true.
  Broker(const TempDir& dir, std::string extra_conf = "allow_anonymous true\n")
      : dir_(dir), port_(free_port()) {
    conf_ = dir.file("mosquitto.conf");
    std::ofstream(conf_) << "listener " << port_ << " 127.0.0.1\n"
                         << "persistence false\n"
                         // As root, mosquitto would switch to its own user, who may not
                         // read the test's directory: stay who we are.
                         << "user " << ::getpwuid(::geteuid())->pw_name << "\n"
                         << extra_conf;
    start();
  }
  ~Broker() { stop(); }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  void start() {
    const std::string log = dir_.file("mosquitto.log");
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execlp("mosquitto", "mosquitto", "-c", conf_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100 && !port_open(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!port_open(port_)) {
      stop();  // a REQUIRE in the constructor would skip the destructor
      FAIL("mosquitto did not listen on port " << port_ << " (see " << log << ")");
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }

 private:
  const TempDir& dir_;
  std::string conf_;
  int port_;
  pid_t pid_ = -1;
};

// Runs loop rounds (and `also` between them) until done() or the time is up.
inline bool run_until(gpioirq::loop::EventLoop& loop, const std::function<bool()>& done,
                      int timeout_ms, const std::function<void()>& also = {}) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    loop.run_once(10);
    if (also) also();
  }
  return true;
}

// A consumer on its own libmosquitto connection, pumped with mosquitto_loop(timeout 0).
class Subscriber {
 public:
  Subscriber(int port, const std::string& topic) {
    mosquitto_lib_init();
    m_ = mosquitto_new(nullptr, true, this);
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      static_cast<Subscriber*>(self)->messages.emplace_back(
          msg->topic, std::string(static_cast<const char*>(msg->payload),
                                  static_cast<std::size_t>(msg->payloadlen)));
    });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* self, int, int, const int*) {
      static_cast<Subscriber*>(self)->subscribed = true;
    });
    REQUIRE(mosquitto_connect(m_, "127.0.0.1", port, 60) == MOSQ_ERR_SUCCESS);
    REQUIRE(mosquitto_subscribe(m_, nullptr, topic.c_str(), 1) == MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 500 && !subscribed; ++i) pump(10);
    REQUIRE(subscribed);
  }
  ~Subscriber() {
    mosquitto_disconnect(m_);
    mosquitto_destroy(m_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  void pump(int timeout_ms = 0) { mosquitto_loop(m_, timeout_ms, 1); }

  std::vector<std::pair<std::string, std::string>> messages;
  bool subscribed = false;

 private:
  mosquitto* m_ = nullptr;
};

// The retained message of topic, as a new consumer gets it (mosquitto_sub), or "" if none.
inline std::string retained(int port, const std::string& topic, const std::string& tls_args = {}) {
  const std::string cmd = "mosquitto_sub -h 127.0.0.1 -p " + std::to_string(port) + " " + tls_args +
                          " -t '" + topic + "' -C 1 -W 3 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace gpioirq_test
