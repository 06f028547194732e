// The documented client limit (1024, PROTOCOL.md) against the real gpioirqd started with a
// low soft RLIMIT_NOFILE, as a shell or a unit without LimitNOFILE= gives it (issue #10:
// at a soft limit of 1024 fds accept failed first and a new client just timed out).
// The daemon raises its soft limit itself; when the hard limit is too low it serves fewer
// clients, says so in status and in its log, and the client past that gets the
// documented "too many clients" line, not a timeout.

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/resource.h>

#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;
using Catch::Matchers::ContainsSubstring;

constexpr std::size_t kMaxClients = 1024;  // ServerOptions::max_clients, as documented

const char* const kPrlimit = "/usr/bin/prlimit";

std::string config() {
  return daemon_section() + sim_chip_section() + R"(

[[counter]]
name = "flow"
chip = "sim0"
line = 4
edge = "rising"
sim_rate_hz = 50
)";
}

// This test process holds one fd per client too.
bool raise_own_fd_limit(rlim_t want) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur >= want) return true;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) return false;
  lim.rlim_cur = want;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

// Waits until the daemon counts only the status request's own connection.
void wait_for_no_other_clients(const Daemon& d) {
  Json status;
  const bool idle = wait_until(
      [&] {
        status = d.ok("status");
        return status.at("control").at("clients") == 1;
      },
      10s);
  INFO(status.at("control").dump());
  REQUIRE(idle);
}

// Connects `n` clients, each served a request, and keeps them open.
std::vector<std::unique_ptr<Connection>> connect_served(const Daemon& d, std::size_t n) {
  std::vector<std::unique_ptr<Connection>> clients;
  clients.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    INFO("client " << i);
    clients.push_back(std::make_unique<Connection>(d.socket()));
    const Json reply = clients.back()->request(make_request("counters"), 5s);
    REQUIRE(reply.value("ok", false));
  }
  return clients;
}

// One more client: its first line is the documented refusal, then the end of stream.
void check_refused(const Daemon& d, std::size_t limit) {
  Connection extra(d.socket());
  const auto line = extra.read_line(5s);
  REQUIRE(line.has_value());  // a timeout here is the bug: accept failed, nobody answered
  const Json reply = Json::parse(*line);
  CHECK(reply.at("ok") == false);
  CHECK(reply.at("error") == "too many clients (" + std::to_string(limit) + "); try again later");
  CHECK_FALSE(extra.read_line(5s).has_value());
}

}  // namespace

TEST_CASE("soft fd limit 64: the daemon raises it and serves 1024 clients, the 1025th is told",
          "[host][clients]") {
  if (!exists(kPrlimit)) SKIP("prlimit (util-linux) is not installed");
  if (!raise_own_fd_limit(kMaxClients + 200)) SKIP("this process cannot have 1224 fds");
  TempDir dir;
  Daemon d(dir, config(), {}, {kPrlimit, "--nofile=64:4096", "--"});
  const Json control = d.ok("status").at("control");
  INFO(control.dump());
  CHECK(control.at("client_limit") == kMaxClients);
  const Json fds = control.at("fd_limit");
  CHECK(fds.at("got").get<std::uint64_t>() >= fds.at("wanted").get<std::uint64_t>());
  CHECK(fds.at("wanted").get<std::uint64_t>() > kMaxClients);
  CHECK(fds.at("got").get<std::uint64_t>() <= 4096);
  CHECK(fds.at("refused") == "");
  // The limit the kernel holds for the daemon, not only what it says.
  const std::string limits = read_file("/proc/" + std::to_string(d.process().pid()) + "/limits");
  CHECK_THAT(limits, ContainsSubstring(std::to_string(fds.at("got").get<std::uint64_t>())));

  wait_for_no_other_clients(d);
  auto clients = connect_served(d, kMaxClients);
  check_refused(d, kMaxClients);
  // Those connected are still served; one gone makes room for a new one.
  CHECK(clients.front()->request(make_request("status")).value("ok", false));
  CHECK(clients.back()->request(make_request("status")).value("ok", false));
  clients.pop_back();
  Json last;
  CHECK(wait_until(
      [&] {
        try {
          Connection again(d.socket());
          last = again.request(make_request("status"), 5s);
        } catch (const std::exception&) {
          return false;
        }
        return last.value("ok", false);
      },
      10s));
  clients.clear();
  CHECK(d.stop() == 0);
}

TEST_CASE("hard fd limit 96: fewer clients, said in status and the log, the next one is told",
          "[host][clients]") {
  if (!exists(kPrlimit)) SKIP("prlimit (util-linux) is not installed");
  TempDir dir;
  Daemon d(dir, config(), {}, {kPrlimit, "--nofile=96:96", "--"});
  const Json control = d.ok("status").at("control");
  INFO(control.dump());
  const Json fds = control.at("fd_limit");
  CHECK(fds.at("got") == 96);
  CHECK(fds.at("wanted").get<std::uint64_t>() > kMaxClients);
  CHECK_THAT(fds.at("refused").get<std::string>(), ContainsSubstring("hard limit"));
  const auto limit = control.at("client_limit").get<std::size_t>();
  CHECK(limit >= 1);
  CHECK(limit < 96);
  CHECK_THAT(d.stderr_text(),
             ContainsSubstring("serving at most " + std::to_string(limit) + " control clients"));

  wait_for_no_other_clients(d);
  auto clients = connect_served(d, limit);
  check_refused(d, limit);
  check_refused(d, limit);  // and again: the daemon did not stop accepting
  CHECK(clients.front()->request(make_request("status")).value("ok", false));
  clients.clear();
  CHECK(d.ok("status").at("pid") == d.process().pid());
  CHECK(d.stop() == 0);
}
