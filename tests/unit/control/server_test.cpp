// ControlServer against real sockets: every command, every kind of bad input, the limits
// (64 KiB lines, idle clients, 1000 clients at once, slow and vanishing monitor clients),
// privilege, and the socket file itself.

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "control/listen_socket.hpp"
#include "control/protocol.hpp"
#include "server_fixture.hpp"

using namespace gpioirq::control;
using namespace gpioirq::control::test;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using namespace std::chrono_literals;

namespace {

std::string error_of(const nlohmann::json& reply) {
  REQUIRE(reply.at("v") == 1);
  REQUIRE(reply.at("ok") == false);
  return reply.at("error").get<std::string>();
}

// A monitor event of about `size` bytes.
nlohmann::json event_of(std::size_t seq, std::size_t size) {
  return {{"t", seq}, {"event", "rising"}, {"value", 1}, {"pad", std::string(size, 'x')}};
}

}  // namespace

TEST_CASE("every command reaches the handler and is answered with v 1", "[control][server]") {
  ServerFixture fx;
  TestClient client(fx.socket_path());
  for (const auto& spec : commands()) {
    const nlohmann::json reply = client.ask(request_line(spec.name));
    INFO(spec.name << ": " << reply.dump());
    CHECK(reply.at("v") == 1);
    CHECK(reply.at("ok") == true);
    if (spec.name == "metrics") {
      const auto text = reply.at("text").get<std::string>();
      CHECK_THAT(text, ContainsSubstring("gpioirqd_test_up 1"));
      CHECK_THAT(text, ContainsSubstring("gpioirqd_control_clients 1"));
      CHECK_THAT(text, ContainsSubstring("gpioirqd_control_closed_total{reason=\"too_slow\"} 0"));
    } else if (spec.name == "monitor") {
      CHECK(reply.at("monitor") == true);
    }
  }
  const auto calls = fx.call([&] { return fx.handler().calls; });
  // metrics goes to metrics_text(), everything else to handle().
  CHECK(calls == std::vector<std::string>{"status", "encoders", "buttons", "counters", "imu",
                                          "devices", "latency", "monitor", "reset", "set", "reload",
                                          "reopen"});
  const auto peer = fx.call([&] { return fx.handler().last_peer; });
  CHECK(peer.pid == ::getpid());
  CHECK(peer.uid == ::getuid());
  CHECK(peer.privileged == (::getuid() == 0));

  SECTION("an id is echoed, names reach the handler, a handler's CommandError is the reply") {
    const auto reply = client.ask(R"({"v":1,"cmd":"encoders","id":7,"names":["knob"]})"
                                  "\n");
    CHECK(reply.at("id") == 7);
    CHECK(reply.at("handled") == "encoders");
    const auto refused = client.ask(R"({"v":1,"cmd":"status","id":"x","names":["nosuch"]})"
                                    "\n");
    CHECK(refused.at("id") == "x");
    CHECK(error_of(refused) == "unknown stream 'nosuch'");
  }
  SECTION("pipelined requests are answered in order") {
    client.send(request_line("status") + request_line("nope") + request_line("reload"));
    CHECK(client.read_json().at("version") == "test");
    CHECK_THAT(error_of(client.read_json()), StartsWith("unknown command"));
    CHECK(client.read_json().at("handled") == "reload");
  }
}

TEST_CASE("protocol version missing or wrong is refused", "[control][server]") {
  ServerFixture fx;
  TestClient client(fx.socket_path());
  CHECK(error_of(client.ask(R"({"cmd":"status"})"
                            "\n")) == "missing protocol version \"v\" (this daemon speaks v 1)");
  CHECK(error_of(client.ask(R"({"v":2,"cmd":"status"})"
                            "\n")) == "unsupported protocol version 2 (this daemon speaks v 1)");
  CHECK(error_of(client.ask(R"({"v":"1","cmd":"status"})"
                            "\n")) ==
        "unsupported protocol version \"1\" (this daemon speaks v 1)");
  CHECK(error_of(client.ask(R"({"v":1.5,"cmd":"status"})"
                            "\n")) == "unsupported protocol version 1.5 (this daemon speaks v 1)");
  // The connection stays usable after errors.
  CHECK(client.ask(request_line("status")).at("ok") == true);
  CHECK(fx.call([&] { return fx.handler().calls.size(); }) == 1);
}

TEST_CASE("unknown commands and malformed requests are refused", "[control][server]") {
  ServerFixture fx;
  TestClient client(fx.socket_path());
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"shutdown"})"
                            "\n")) ==
        "unknown command \"shutdown\" (known: status, encoders, buttons, counters, imu, devices, "
        "latency, monitor, reset, set, reload, reopen, metrics)");
  CHECK(error_of(client.ask(R"({"v":1})"
                            "\n")) == "missing \"cmd\"");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":5})"
                            "\n")) == "\"cmd\" must be a string, not 5");
  CHECK(error_of(client.ask(R"([1,2,3])"
                            "\n")) == "a request must be a JSON object");
  CHECK_THAT(error_of(client.ask("{\"v\":1,\"cmd\":\n")), StartsWith("malformed JSON: "));
  CHECK_THAT(error_of(client.ask("not json at all\n")),
             StartsWith("malformed JSON: parse error at line 1"));
  CHECK_THAT(error_of(client.ask("{\"v\":1,\"cmd\":\"st\xff\"}\n")),
             StartsWith("malformed JSON: "));
  CHECK(client.ask(request_line("status")).at("ok") == true);
  CHECK(fx.call([&] { return fx.handler().calls.size(); }) == 1);
  const auto stats = fx.stats();
  CHECK(stats.requests == 8);
  CHECK(stats.error_replies == 7);
}

TEST_CASE("malformed lines of every kind get an error reply and the connection stays usable",
          "[control][server]") {
  ServerFixture fx;
  TestClient client(fx.socket_path());
  const std::vector<std::pair<std::string, std::string>> lines = {
      {R"({"v":1,"cmd":"status","names":[1e999]})", "malformed JSON: number overflow"},
      {R"({"v":1,"cmd":"status","id":7,"x":-1e400})", "malformed JSON: number overflow"},
      {std::string(5000, '[') + std::string(5000, ']'), "malformed JSON: nested deeper"},
      {"{\"v\":1,\"cmd\":\"st\xc3\x28\"}", "malformed JSON: "},
      {std::string("{\"v\":1,\0\"cmd\":\"status\"}", 23), "malformed JSON: "},
      {R"({"v":1,"cmd":"monitor","names":[{"a":1}]})",
       "argument 'names' of 'monitor' must be an array of strings"},
      {R"({"v":1,"cmd":"status","id":{"a":1}})", "\"id\" must be a string or an integer"},
  };
  for (const auto& [line, error] : lines) {
    INFO(line.substr(0, 60));
    CHECK_THAT(error_of(client.ask(line + "\n")), StartsWith(error));
  }
  CHECK(client.ask(request_line("status")).at("ok") == true);
  CHECK(fx.call([&] { return fx.handler().calls.size(); }) == 1);
}

TEST_CASE("a monitor filter of one name repeated to 64 KiB costs events no more than one name",
          "[control][server]") {
  ServerFixture fx;
  TestClient monitor(fx.socket_path());
  std::string names = "\"knob\"";
  while (names.size() < kMaxLineBytes - 100) names += ",\"knob\"";
  CHECK(monitor.ask(R"({"v":1,"cmd":"monitor","names":[)" + names + "]}\n").at("monitor") == true);
  // Events of other streams are matched against the filter and dropped: with the 9000
  // copies kept, 500 000 of them were 4.5e9 string comparisons (3.5 s here) on the loop.
  const auto start = std::chrono::steady_clock::now();
  const nlohmann::json event = {{"event", "rising"}};
  fx.call([&] {
    for (int i = 0; i < 500'000; ++i) fx.server().publish("other", event);
  });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < 1s);
  fx.call([&] { fx.server().publish("knob", {{"event", "position"}}); });
  CHECK(monitor.read_json().at("event") == "position");
}

TEST_CASE("a refused request still gets its id back", "[control][server]") {
  ServerFixture fx;
  TestClient client(fx.socket_path());
  const auto unknown = client.ask(R"({"v":1,"cmd":"nope","id":"a1"})"
                                  "\n");
  CHECK(unknown.at("id") == "a1");
  CHECK_THAT(error_of(unknown), StartsWith("unknown command"));
  const auto bad_arg = client.ask(R"({"v":1,"cmd":"status","id":5,"names":"knob"})"
                                  "\n");
  CHECK(bad_arg.at("id") == 5);
  const auto bad_version = client.ask(R"({"v":3,"cmd":"status","id":6})"
                                      "\n");
  CHECK(bad_version.at("id") == 6);
  // Not parsed at all: there is no id to give back.
  const auto overflow = client.ask(R"({"v":1,"cmd":"status","id":8,"names":[1e999]})"
                                   "\n");
  CHECK_FALSE(overflow.contains("id"));
}

TEST_CASE("a handler that throws anything gives an error reply, not the end of the loop",
          "[control][server]") {
  ServerFixture fx;
  TestClient client(fx.socket_path());
  const auto std_error = client.ask(R"({"v":1,"cmd":"status","id":1,"names":["throw-std"]})"
                                    "\n");
  CHECK(std_error.at("id") == 1);
  CHECK(error_of(std_error) == "internal error: vector index 9 out of range");
  const auto other = client.ask(R"({"v":1,"cmd":"monitor","id":2,"names":["throw-other"]})"
                                "\n");
  CHECK(other.at("id") == 2);
  CHECK(error_of(other) == "internal error: an exception of unknown type");
  CHECK(client.ask(request_line("imu")).at("handled") == "imu");
  TestClient fresh(fx.socket_path());
  CHECK(fresh.ask(request_line("status")).at("ok") == true);
  const auto stats = fx.stats();
  CHECK(stats.error_replies == 2);
  CHECK(stats.monitors == 0);  // the failed monitor request did not subscribe
}

TEST_CASE("wrong argument types are refused before the handler", "[control][server]") {
  ServerFixture fx;
  TestClient client(fx.socket_path());
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"status","names":"knob"})"
                            "\n")) ==
        "argument 'names' of 'status' must be an array of strings, not \"knob\"");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"monitor","names":["knob",3]})"
                            "\n")) ==
        "argument 'names' of 'monitor' must be an array of strings, not [\"knob\",3]");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"reset","names":{"a":1}})"
                            "\n")) ==
        "argument 'names' of 'reset' must be an array of strings, not {\"a\":1}");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"reload","names":[]})"
                            "\n")) ==
        "unknown argument \"names\" for 'reload' (it takes no arguments)");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"latency","stream":"knob"})"
                            "\n")) ==
        "unknown argument \"stream\" for 'latency' (accepted: names, buckets)");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"status","id":[1]})"
                            "\n")) == "\"id\" must be a string or an integer");
  // A long bad value is quoted cut short, not echoed whole.
  const std::string long_name(1000, 'n');
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"status","names":")" + long_name + "\"}\n")).size() <
        200);
  CHECK(fx.call([&] { return fx.handler().calls.size(); }) == 0);
}

TEST_CASE("a 70 KiB request line gets an error and the connection is closed", "[control][server]") {
  static_assert(kMaxLineBytes == 64 * 1024);
  ServerFixture fx;
  TestClient other(fx.socket_path());
  TestClient client(fx.socket_path());
  const std::string huge =
      R"({"v":1,"cmd":"status","names":[")" + std::string(70 * 1024, 'a') + "\"]}\n";
  client.send(huge);
  CHECK(error_of(client.read_json()) == "request line over 65536 bytes; closing");
  CHECK_FALSE(client.read_line().has_value());  // closed
  CHECK(fx.wait_stats(
      [](const ServerStats& s) { return s.closed_by(CloseReason::line_too_long) == 1; }));
  // Everyone else is still served, and a line just under the limit is fine.
  CHECK(other.ask(request_line("status")).at("ok") == true);
  const std::string pad(kMaxLineBytes - 200, ' ');
  CHECK(other.ask(R"({"v":1,"cmd":"buttons")" + pad + "}\n").at("handled") == "buttons");
  CHECK(fx.call([&] { return fx.handler().calls.size(); }) == 2);
}

TEST_CASE("an idle client is closed after the idle timeout; a monitor is not",
          "[control][server]") {
  ServerOptions options;
  options.idle_timeout = 200ms;
  ServerFixture fx(options);
  TestClient monitor(fx.socket_path());
  CHECK(monitor.ask(request_line("monitor")).at("monitor") == true);
  TestClient idle(fx.socket_path());  // connects and says nothing
  CHECK(error_of(idle.read_json(5s)) == "idle for 200 ms; closing");
  CHECK_FALSE(idle.read_line(5s).has_value());
  CHECK(fx.wait_stats(
      [](const ServerStats& s) { return s.closed_by(CloseReason::idle) == 1 && s.clients == 1; }));
  // The monitor client, silent for longer than the timeout, still gets events.
  fx.call([&] { fx.server().publish("knob", {{"event", "cw"}}); });
  CHECK(monitor.read_json().at("event") == "cw");
  CHECK(fx.stats().closed_by(CloseReason::idle) == 1);
}

TEST_CASE("a monitor client that vanishes mid-stream is closed and counted", "[control][server]") {
  ServerFixture fx;
  TestClient fast(fx.socket_path());
  TestClient vanishing(fx.socket_path());
  CHECK(fast.ask(request_line("monitor")).at("ok") == true);
  CHECK(vanishing.ask(request_line("monitor")).at("ok") == true);
  // A large stream flows; the vanishing client reads none of it and goes away with its
  // receive queue full of unread events, as a killed process does.
  std::size_t published = 0, received = 0;
  auto publish_batch = [&](std::size_t n) {
    fx.call([&] {
      for (std::size_t i = 0; i < n; ++i) fx.server().publish("knob", event_of(published + i, 500));
    });
    published += n;
    for (; received < published; ++received) REQUIRE(fast.read_json().at("t") == received);
  };
  publish_batch(50);
  pollfd p{vanishing.fd(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10'000) == 1);  // events are waiting in its socket
  vanishing.close();
  for (int round = 0; round < 100; ++round) publish_batch(20);
  CHECK(fx.wait_stats([](const ServerStats& s) { return s.clients == 1 && s.monitors == 1; }));
  const auto stats = fx.stats();
  CHECK(stats.closed_by(CloseReason::peer_gone) == 1);
  CHECK(stats.closed_by(CloseReason::too_slow) == 0);
  CHECK(received == 2050);  // the other monitor got every event, in order
}

TEST_CASE("1000 clients at once all get answers; no fd is leaked", "[control][server]") {
  constexpr std::size_t kClients = 1000;
  if (!raise_fd_limit(2 * kClients + 200)) {
    WARN("RLIMIT_NOFILE hard limit too low for 2000 fds");
    std::exit(77);
  }
  ServerFixture fx;
  const std::size_t fds_before = open_fd_count();
  {
    std::vector<std::unique_ptr<TestClient>> clients;
    for (std::size_t i = 0; i < kClients; ++i)
      clients.push_back(std::make_unique<TestClient>(fx.socket_path()));
    for (auto& client : clients) client->send(request_line("status"));
    std::size_t answered = 0;
    for (auto& client : clients) answered += client->read_json().at("ok") == true;
    CHECK(answered == kClients);
    CHECK(fx.stats().clients == kClients);
    CHECK(fx.stats().accepted == kClients);
  }  // all close
  CHECK(fx.wait_stats([](const ServerStats& s) { return s.clients == 0; }));
  const auto stats = fx.stats();
  CHECK(stats.closed_by(CloseReason::eof) == kClients);
  CHECK(stats.requests == kClients);
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("clients beyond max_clients are told so and closed; the rest are served",
          "[control][server]") {
  ServerOptions options;
  options.max_clients = 4;
  ServerFixture fx(options);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<TestClient>(fx.socket_path()));
    CHECK(clients.back()->ask(request_line("status")).at("ok") == true);
  }
  TestClient extra(fx.socket_path());
  CHECK(error_of(extra.read_json()) == "too many clients (4); try again later");
  CHECK_FALSE(extra.read_line().has_value());
  for (auto& client : clients) CHECK(client->ask(request_line("imu")).at("handled") == "imu");
  const auto stats = fx.stats();
  CHECK(stats.closed_by(CloseReason::over_capacity) == 1);
  CHECK(stats.clients == 4);
  clients.pop_back();
  CHECK(fx.wait_stats([](const ServerStats& s) { return s.clients == 3; }));
  TestClient again(fx.socket_path());
  CHECK(again.ask(request_line("status")).at("ok") == true);
}

namespace {

// Sets the soft RLIMIT_NOFILE for one test and puts the old one back.
class SoftFdLimit {
 public:
  explicit SoftFdLimit(rlim_t soft) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    rlimit lim = saved_;
    lim.rlim_cur = soft;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lim) == 0);
  }
  ~SoftFdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  SoftFdLimit(const SoftFdLimit&) = delete;
  SoftFdLimit& operator=(const SoftFdLimit&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace

TEST_CASE("out of fds, the next client is told 'too many clients' instead of waiting",
          "[control][server]") {
  // The server and this test share one fd table: the limit is set before the server
  // starts (io_uring takes it when an accept is submitted), then every free fd is taken.
  SoftFdLimit limit(open_fd_count() + 64);
  ServerOptions options;
  options.max_clients = 100;
  ServerFixture fx(options);
  TestClient first(fx.socket_path());
  CHECK(first.ask(request_line("status")).at("ok") == true);
  // While the table is full this thread makes no Catch2 check: UBSan's vptr check opens a
  // pipe to probe memory, and with no fd free it reports a false "invalid vptr". Results
  // are kept and checked once the fds are back.
  std::vector<gpioirq::core::UniqueFd> filler;
  int fill_errno = 0;
  while (filler.size() < 200) {
    const int fd = ::fcntl(first.fd(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      fill_errno = errno;
      break;
    }
    filler.emplace_back(fd);
  }
  filler.pop_back();  // room for the next client's own socket, and no more
  TestClient late(fx.socket_path());
  const auto refusal = late.read_line();
  const auto after_refusal = late.read_line();
  first.send(request_line("imu"));  // an existing client, served while fds are out
  const auto imu = first.read_line();
  filler.clear();
  const auto stats_out_of_fds = fx.stats();

  REQUIRE(fill_errno == EMFILE);
  REQUIRE(refusal.has_value());
  CHECK(error_of(nlohmann::json::parse(*refusal)) == "too many clients (100); try again later");
  CHECK_FALSE(after_refusal.has_value());
  REQUIRE(imu.has_value());
  CHECK(nlohmann::json::parse(*imu).at("handled") == "imu");
  CHECK(stats_out_of_fds.closed_by(CloseReason::over_capacity) == 1);
  CHECK(stats_out_of_fds.accept_errors <= 2);  // one EMFILE per refused client, no retry loop
  // Fds back: new clients are served again.
  late.close();
  TestClient again(fx.socket_path());
  CHECK(again.ask(request_line("status")).at("ok") == true);
  CHECK(fx.stats().clients == 2);
}

TEST_CASE("a slow monitor client is dropped while a fast one keeps receiving",
          "[control][server]") {
  ServerOptions options;
  options.send_queue_bytes = 256 * 1024;
  ServerFixture fx(options);
  TestClient fast(fx.socket_path());
  TestClient slow(fx.socket_path());
  TestClient other(fx.socket_path());  // monitors another stream only
  CHECK(fast.ask(request_line("monitor", {{"names", {"knob"}}})).at("ok") == true);
  CHECK(slow.ask(request_line("monitor")).at("ok") == true);
  CHECK(other.ask(request_line("monitor", {{"names", {"button"}}})).at("ok") == true);
  // 2000 events of ~512 bytes (1 MB): far more than the slow client's 256 KiB queue plus
  // what the kernel buffers for it. The fast client reads between batches.
  constexpr std::size_t kEvents = 2000, kBatch = 50;
  std::size_t received = 0;
  for (std::size_t sent = 0; sent < kEvents; sent += kBatch) {
    fx.call([&] {
      for (std::size_t i = 0; i < kBatch; ++i) fx.server().publish("knob", event_of(sent + i, 512));
    });
    for (; received < sent + kBatch; ++received) REQUIRE(fast.read_json().at("t") == received);
  }
  const auto stats = fx.stats();
  CHECK(stats.monitor_drops() == 1);
  CHECK(stats.closed_by(CloseReason::too_slow) == 1);
  CHECK(stats.monitors == 2);
  // The slow client finds the events that made it, then the reason, then the end.
  std::size_t slow_events = 0;
  std::string last;
  while (auto line = slow.read_line()) {
    last = *line;
    const auto parsed = nlohmann::json::parse(*line);
    if (parsed.contains("event")) {
      CHECK(parsed.at("t") == slow_events);
      ++slow_events;
    }
  }
  CHECK(last == R"({"error":"dropped: too slow","ok":false,"v":1})");
  CHECK(slow_events > 0);
  CHECK(slow_events < kEvents);
  // Filtered out, so never at risk.
  fx.call([&] { fx.server().publish("button", {{"event", "press"}}); });
  CHECK(other.read_json().at("event") == "press");
  CHECK(fx.wait_stats([](const ServerStats& s) { return s.clients == 2; }));  // fast and other
}

TEST_CASE("publish costs nothing without monitors and builds v1 lines", "[control][server]") {
  ServerFixture fx;
  fx.call([&] {
    CHECK_FALSE(fx.server().has_monitors());
    fx.server().publish("knob", {{"event", "cw"}});
  });
  CHECK(fx.stats().events_published == 0);
  TestClient client(fx.socket_path());
  CHECK(client.ask(request_line("monitor", {{"names", {"knob", "btn"}}})).at("ok") == true);
  fx.call([&] {
    CHECK(fx.server().has_monitors());
    CHECK(fx.server().wants("btn"));
    CHECK_FALSE(fx.server().wants("other"));
    fx.server().publish("other", {{"event", "x"}});
    fx.server().publish("knob",
                        {{"t", 5}, {"event", "cw"}, {"value", 12}, {"name", "knob"}, {"v", 1}});
    fx.server().publish("btn", nlohmann::json::object());
    fx.server().publish("btn", 42);
    fx.server().publish_line("knob", R"({"v":1,"name":"knob","event":"raw"})");
  });
  CHECK(client.read_line() == R"({"v":1,"name":"knob","event":"cw","t":5,"value":12})");
  CHECK(client.read_line() == R"({"v":1,"name":"btn"})");
  CHECK(client.read_line() == R"({"v":1,"name":"btn","event":42})");
  CHECK(client.read_line() == R"({"v":1,"name":"knob","event":"raw"})");
  CHECK(fx.stats().events_published == 4);
}

TEST_CASE("state-changing commands need privilege", "[control][server]") {
  ServerOptions options;
  const group* own_group = ::getgrgid(::getegid());  // chown to it needs no root
  REQUIRE(own_group != nullptr);
  options.socket_group = own_group->gr_name;
  options.privilege = [](const PeerCredentials&) { return false; };  // play an unprivileged peer
  ServerFixture fx(options);
  TestClient client(fx.socket_path());
  const std::string group = own_group->gr_name;
  CHECK(error_of(client.ask(request_line("reset"))) ==
        "permission denied: 'reset' needs uid 0 or group '" + group + "'");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"reload","id":3})"
                            "\n")) ==
        "permission denied: 'reload' needs uid 0 or group '" + group + "'");
  CHECK(error_of(client.ask(R"({"v":1,"cmd":"set","name":"water","value":5})"
                            "\n")) ==
        "permission denied: 'set' needs uid 0 or group '" + group + "'");
  CHECK(client.ask(request_line("status")).at("ok") == true);
  CHECK(client.ask(request_line("metrics")).at("ok") == true);
  CHECK(fx.call([&] { return fx.handler().calls; }) == std::vector<std::string>{"status"});
  CHECK(fx.call([&] { return fx.handler().last_peer.privileged; }) == false);
}

TEST_CASE("the default privilege rule: uid 0, the group, or a supplementary group",
          "[control][server]") {
  const auto rule = default_privilege(gid_t{4242});
  CHECK(rule({.pid = 0, .uid = 0, .gid = 100, .privileged = false}));
  CHECK(rule({.pid = 0, .uid = 1000, .gid = 4242, .privileged = false}));
  CHECK_FALSE(rule({.pid = 0, .uid = 65534, .gid = 65534, .privileged = false}));
  CHECK_FALSE(
      default_privilege(std::nullopt)({.pid = 0, .uid = 1000, .gid = 1000, .privileged = false}));
  // The daemon's own user (a service running as user gpioirqd: `systemctl reload`, and
  // gpioirqctl run as that user) without being in the group.
  const auto as_service = default_privilege(gid_t{4242}, uid_t{999});
  CHECK(as_service({.pid = 0, .uid = 999, .gid = 999, .privileged = false}));
  CHECK(as_service({.pid = 0, .uid = 0, .gid = 0, .privileged = false}));
  CHECK_FALSE(as_service({.pid = 0, .uid = 1000, .gid = 1000, .privileged = false}));
  // Supplementary groups come from /proc/<pid>/status: this process's own groups.
  std::vector<gid_t> groups(static_cast<std::size_t>(::getgroups(0, nullptr)));
  groups.resize(
      static_cast<std::size_t>(::getgroups(static_cast<int>(groups.size()), groups.data())));
  for (const gid_t g : groups) CHECK(proc_has_group(::getpid(), g) == true);
  if (std::find(groups.begin(), groups.end(), gid_t{4242}) == groups.end())
    CHECK(proc_has_group(::getpid(), 4242) == false);
  CHECK_FALSE(proc_has_group(-1, 0).has_value());
}

TEST_CASE("the socket file: directory, mode, group, stale and live sockets", "[control][server]") {
  TempDir dir;
  const std::string path = (dir.path() / "a" / "b" / "control.sock").string();
  const group* own_group = ::getgrgid(::getegid());  // chown to it needs no root
  REQUIRE(own_group != nullptr);

  SECTION("unknown group: a clear error and nothing created") {
    try {
      ListenSocket socket({path, "no-such-group-gpioirq"});
      FAIL("no error");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) ==
            "control socket: unknown group 'no-such-group-gpioirq' (daemon.socket_group); create "
            "it or fix "
            "the configuration");
    }
    CHECK_FALSE(std::filesystem::exists(dir.path() / "a"));
  }
  SECTION("created with its parents (0755), mode 0660, the group; a live one is not replaced") {
    {
      ListenSocket socket({path, own_group->gr_name});
      struct stat st {};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      CHECK(S_ISSOCK(st.st_mode));
      CHECK((st.st_mode & 07777) == 0660);
      CHECK(st.st_gid == ::getegid());
      REQUIRE(::stat((dir.path() / "a" / "b").c_str(), &st) == 0);
      CHECK((st.st_mode & 07777) == 0755);
      try {
        ListenSocket second({path, ""});
        FAIL("no error");
      } catch (const std::runtime_error& e) {
        CHECK_THAT(e.what(), ContainsSubstring("another process is listening on '" + path + "'"));
      }
      CHECK(std::filesystem::exists(path));  // still the first one's
    }
    CHECK_FALSE(std::filesystem::exists(path));  // removed on destruction
  }
  SECTION("a stale socket file is replaced; a non-socket is not") {
    std::filesystem::create_directories(dir.path() / "a" / "b");
    {
      // Bound, never listening: like a daemon that died without cleaning up.
      gpioirq::core::UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, path.data(), path.size());
      REQUIRE(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    }
    CHECK(std::filesystem::exists(path));
    { ListenSocket socket({path, ""}); }
    { std::ofstream(path) << "not a socket"; }
    try {
      ListenSocket socket({path, ""});
      FAIL("no error");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) ==
            "control socket: '" + path + "' exists and is not a socket; not replacing it");
    }
  }
}
