// gpioirqctl (the real executable) against a test server.

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "control/client.hpp"
#include "control/protocol.hpp"
#include "server_fixture.hpp"

extern char** environ;

using namespace gpioirq::control;
using namespace gpioirq::control::test;
using Catch::Matchers::ContainsSubstring;

namespace {

struct Result {
  int status = -1;
  std::string out, err;
};

// Runs gpioirqctl with args; its stdout/stderr are pipes (not a terminal).
class Ctl {
 public:
  explicit Ctl(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    int out[2], err[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    // GPIOIRQ_TEST_GPIOIRQCTL: where the build's path is not (the arm64 VM runs this).
    const char* ctl = std::getenv("GPIOIRQ_TEST_GPIOIRQCTL");
    if (ctl == nullptr || *ctl == '\0') ctl = GPIOIRQCTL_PATH;
    std::vector<std::string> argv_s{ctl};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "GPIOIRQ_SOCKET=", 15) != 0) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, ctl, &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    out_.reset(out[0]);
    err_.reset(err[0]);
    REQUIRE(rc == 0);
  }

  // Collects output until both pipes close, then reaps the process (30 s limit).
  Result wait() {
    Result r;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (out_ || err_) {
      pollfd p[2] = {{out_ ? out_.get() : -1, POLLIN, 0}, {err_ ? err_.get() : -1, POLLIN, 0}};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || ::poll(p, 2, static_cast<int>(left.count())) == 0) {
        ::kill(pid_, SIGKILL);
        FAIL("gpioirqctl did not finish within 30 s");
      }
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n > 0)
          (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
        else
          (i == 0 ? out_ : err_).reset();
      }
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
  }

 private:
  pid_t pid_ = -1;
  gpioirq::core::UniqueFd out_, err_;
};

Result run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  return Ctl(args, env).wait();
}

}  // namespace

TEST_CASE("gpioirqctl status --json prints the daemon's reply line", "[control][client]") {
  ServerFixture fx;
  const auto r = run({"--socket", fx.socket_path(), "status", "--json"});
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  const auto reply = nlohmann::json::parse(r.out);
  CHECK(reply.at("v") == 1);
  CHECK(reply.at("ok") == true);
  CHECK(reply.at("version") == "test");
  CHECK(r.out.back() == '\n');
  CHECK(r.out.find('\n') == r.out.size() - 1);  // one line
}

TEST_CASE("gpioirqctl renders tables and histograms; GPIOIRQ_SOCKET is honoured",
          "[control][client]") {
  ServerFixture fx;
  const auto status = run({"status"}, {"GPIOIRQ_SOCKET=" + fx.socket_path()});
  CHECK(status.status == 0);
  CHECK(status.out ==
        "uptime_s: 1.5\n"
        "version: test\n"
        "lines:\n"
        "  name    edges  lost\n"
        "  knob_a     10     0\n"
        "  button      3     1\n");
  const auto latency = run({"-s", fx.socket_path(), "latency"});
  CHECK(latency.status == 0);
  CHECK_THAT(latency.out, ContainsSubstring("histogram knob:"));
  CHECK_THAT(latency.out, ContainsSubstring("10 .. 20 us  50  87.72% |" + std::string(40, '#')));
  const auto reload = run({"-s", fx.socket_path(), "reload"});
  CHECK(reload.status == 0);
  CHECK(reload.out == "handled: reload\n");
  const auto metrics = run({"-s", fx.socket_path(), "metrics"});
  CHECK(metrics.status == 0);
  CHECK_THAT(metrics.out, ContainsSubstring("gpioirqd_test_up 1\n"));
  const auto top = run({"-s", fx.socket_path(), "top"});  // not a terminal: one frame
  CHECK(top.status == 0);
  CHECK(top.out.starts_with("gpioirqd test  up 1s\nlosses  kernel 0  ring 0  log 0  frames 0 "));
  CHECK_THAT(top.out,
             ContainsSubstring("\nNAME         KIND    ST    EDGES/s   LOST  P99  VALUES\n"));
  CHECK(top.out.find('\x1b') == std::string::npos);
}

TEST_CASE("gpioirqctl devices: one table per kind; top: one row per device", "[control][client]") {
  ServerFixture fx;
  const auto devices = run({"-s", fx.socket_path(), "devices"});
  CHECK(devices.status == 0);
  CHECK(devices.out ==
        "encoder:\n"
        "  name  down  lost  position\n"
        "  knob  no       2         5\n"
        "pwm_in:\n"
        "  name  down  down_reason            lost  duty\n"
        "  fan   yes   chip 'sim9' not found     0   0.5\n");
  const auto json = run({"-s", fx.socket_path(), "devices", "--json", "knob"});
  CHECK(json.status == 0);
  CHECK(nlohmann::json::parse(json.out).at("devices").at("pwm_in").at(0).at("duty") == 0.5);
  CHECK(fx.call([&] { return fx.handler().calls.back(); }) == "devices");
  const auto top = run({"-s", fx.socket_path(), "top"});  // not a terminal: one frame
  CHECK(top.status == 0);
  CHECK_THAT(
      top.out,
      ContainsSubstring("\nknob         encoder up          -     2!    -  pos 5  vel 0/s\n"
                        "fan          pwm_in  DOWN        -      0    -  chip 'sim9' not found\n"));
  CHECK(top.out.find('\x1b') == std::string::npos);
}

TEST_CASE("gpioirqctl monitor prints one formatted line per event", "[control][client]") {
  ServerFixture fx;
  Ctl ctl({"-s", fx.socket_path(), "monitor", "knob", "-n", "2", "--format", "%n %e %v @%t"});
  REQUIRE(fx.wait_stats([](const ServerStats& s) { return s.monitors == 1; }));
  fx.call([&] {
    fx.server().publish("other", {{"event", "x"}});
    fx.server().publish("knob", {{"t", 1}, {"event", "cw"}, {"value", 5}});
    fx.server().publish("knob", {{"t", 2}, {"event", "ccw"}, {"value", 4}});
    fx.server().publish("knob", {{"t", 3}, {"event", "cw"}, {"value", 5}});
  });
  const auto r = ctl.wait();
  CHECK(r.status == 0);
  CHECK(r.out == "knob cw 5 @1\nknob ccw 4 @2\n");
}

TEST_CASE("gpioirqctl: not running, daemon errors, usage", "[control][client]") {
  TempDir dir;
  const std::string missing = (dir.path() / "control.sock").string();
  const auto r = run({"--socket", missing, "status"});
  CHECK(r.status == static_cast<int>(ExitCode::not_running));
  CHECK(r.err == "gpioirqctl: gpioirqd is not running (no socket at " + missing + ")\n");
  CHECK(r.out.empty());

  ServerOptions options;
  options.privilege = [](const PeerCredentials&) { return false; };
  ServerFixture fx(options);
  const auto denied = run({"-s", fx.socket_path(), "reset", "knob"});
  CHECK(denied.status == static_cast<int>(ExitCode::daemon_error));
  CHECK(denied.err == "gpioirqctl: gpioirqd: permission denied: 'reset' needs uid 0\n");
  const auto denied_json = run({"-s", fx.socket_path(), "--json", "reset"});
  CHECK(denied_json.status == static_cast<int>(ExitCode::daemon_error));
  CHECK(nlohmann::json::parse(denied_json.out).at("ok") == false);
  const auto unknown = run({"-s", fx.socket_path(), "status", "nosuch"});
  CHECK(unknown.status == static_cast<int>(ExitCode::daemon_error));
  CHECK(unknown.err == "gpioirqctl: gpioirqd: unknown stream 'nosuch'\n");

  CHECK(run({"frobnicate"}).status == static_cast<int>(ExitCode::usage));
  CHECK(run({}).status == static_cast<int>(ExitCode::usage));
  const auto help = run({"--help"});
  CHECK(help.status == 0);
  CHECK_THAT(help.out, ContainsSubstring("3  gpioirqd is not running"));
  CHECK_THAT(help.out, ContainsSubstring("GPIOIRQ_SOCKET"));
}

TEST_CASE("ControlClient: permission and refused connections", "[control][client]") {
  TempDir dir;
  const std::string path = (dir.path() / "stale.sock").string();
  {
    gpioirq::core::UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    REQUIRE(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  }
  try {
    ControlClient client(path, std::chrono::seconds(1));
    FAIL("connected");
  } catch (const ClientError& e) {
    CHECK(e.code() == ExitCode::not_running);
    CHECK(std::string(e.what()) == "gpioirqd is not running (nobody listening on " + path + ")");
  }
  if (::geteuid() == 0) return;  // root is never refused by file modes
  ::chmod(path.c_str(), 0);
  try {
    ControlClient client(path, std::chrono::seconds(1));
    FAIL("connected");
  } catch (const ClientError& e) {
    CHECK(e.code() == ExitCode::permission);
    CHECK_THAT(e.what(), ContainsSubstring("permission denied on " + path));
  }
}
