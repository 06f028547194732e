// [[poll]] sources that would block: a FIFO without a writer (open(2) waits for one) and
// a FIFO whose writer never writes (read(2) waits for data). The daemon must go on
// answering, logging its other streams and acting on SIGTERM; the source's trouble shows
// in status and once (per state change) in the event log; values are read once a writer
// writes.

#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

Json poll_named(const Json& status, const std::string& name) {
  for (const auto& p : status.at("polls"))
    if (p.at("name") == name) return p;
  return Json();
}

std::uint64_t counter_count(const Daemon& d) {
  return d.ok("counters", {{"names", {"pulses"}}})
      .at("counters")
      .at(0)
      .at("count")
      .get<std::uint64_t>();
}

// An fd that closes itself.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

TEST_CASE("poll: FIFOs without a writer or without data never block the daemon", "[host][poll]") {
  TempDir dir;
  const std::string nowriter = dir.file("nowriter.fifo"), silent = dir.file("silent.fifo");
  REQUIRE(::mkfifo(nowriter.c_str(), 0600) == 0);
  REQUIRE(::mkfifo(silent.c_str(), 0600) == 0);
  write_file(dir.file("plain"), "1234\n");
  // A writer that never writes (O_RDWR: opening a FIFO so never waits).
  Fd silent_writer(::open(silent.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(silent_writer.fd >= 0);

  const std::string config = daemon_section("flush_interval_ms = 200") + sim_chip_section() + R"(
[[counter]]
name = "pulses"
chip = "sim0"
line = 2
sim_rate_hz = 200

[[poll]]
name = "nowriter"
path = ")" + nowriter + R"("
interval_ms = 100

[[poll]]
name = "silent"
path = ")" + silent + R"("
interval_ms = 100

[[poll]]
name = "plain"
path = ")" + dir.file("plain") +
                             R"("
interval_ms = 100
)";
  Daemon d(dir, config);

  // Every status request answered within a second, for 5 s.
  const std::uint64_t count_before = counter_count(d);
  const auto until = Clock::now() + 5s;
  int answered = 0;
  Json status;
  while (Clock::now() < until) {
    const auto asked = Clock::now();
    Connection c(d.socket());
    REQUIRE_NOTHROW(status = c.request(make_request("status"), 1s));
    REQUIRE(status.value("ok", false));
    CHECK(Clock::now() - asked < 1s);
    ++answered;
    std::this_thread::sleep_for(200ms);
  }
  CHECK(answered >= 15);
  // The other streams went on.
  CHECK(counter_count(d) >= count_before + 500);

  INFO("status polls: " << status.at("polls").dump());
  const Json nw = poll_named(status, "nowriter"), si = poll_named(status, "silent"),
             pl = poll_named(status, "plain");
  REQUIRE(nw.is_object());
  REQUIRE(si.is_object());
  CHECK(nw.at("error").get<std::string>().find("end of file") != std::string::npos);
  CHECK(nw.at("consecutive_failures").get<int>() >= 20);
  CHECK(nw.at("last_ok_ns").get<std::uint64_t>() == 0);
  CHECK(si.at("error").get<std::string>().find("no data") != std::string::npos);
  CHECK(si.at("consecutive_failures").get<int>() >= 20);
  CHECK(si.at("last_ok_ns").get<std::uint64_t>() == 0);
  CHECK(pl.at("error") == "");
  CHECK(pl.at("consecutive_failures") == 0);
  CHECK(pl.at("last_ok_ns").get<std::uint64_t>() > 0);
  CHECK(pl.at("reads").get<int>() >= 20);

  // Writers appear and write: the values are read.
  Fd late_writer(::open(nowriter.c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(late_writer.fd >= 0);
  REQUIRE(::write(late_writer.fd, "7\n", 2) == 2);
  REQUIRE(::write(silent_writer.fd, "42\n", 3) == 3);
  CHECK(wait_until(
      [&] {
        const Json s = d.ok("status");
        // Read, and failing again after (no more data).
        for (const char* name : {"nowriter", "silent"}) {
          const Json p = poll_named(s, name);
          if (p.at("last_ok_ns").get<std::uint64_t>() == 0 ||
              p.at("consecutive_failures").get<int>() == 0)
            return false;
        }
        return true;
      },
      5s));

  // SIGTERM acted on within a second, exit 0.
  const auto stopping = Clock::now();
  CHECK(d.stop(SIGTERM, 5s) == 0);
  CHECK(Clock::now() - stopping < 1s);

  const auto log = read_event_log(d.event_log());
  auto values = [&](const std::string& device) {
    std::vector<std::string> v;
    for (const auto& r : log)
      if (r.type == "EVENT" && r.device == device && r.kind == "poll") v.push_back(r.value);
    return v;
  };
  auto errors = [&](const std::string& device) {
    std::vector<std::string> v;
    for (const auto& r : log)
      if (r.type == "EVENT" && r.device == device && r.kind == "poll_error") v.push_back(r.unit);
    return v;
  };
  CHECK(values("nowriter") == std::vector<std::string>{"7"});
  CHECK(values("silent") == std::vector<std::string>{"42"});
  CHECK(values("plain").size() >= 20);
  CHECK(errors("plain").empty());
  // One poll_error row per state change, not one per failed interval: nowriter went
  // end-of-file -> 7 -> no data (the test still holds a writer: the read waits and is
  // cancelled at its deadline); silent went no data -> 42 -> no data.
  for (const std::string name : {"nowriter", "silent"}) {
    INFO(name);
    const auto e = errors(name);
    REQUIRE(e.size() == 2);
    CHECK(e[1].find("no data") != std::string::npos);
  }
  CHECK(errors("nowriter")[0].find("end of file") != std::string::npos);
}
