// Reload (SIGHUP and `gpioirqctl reload`): a stream whose settings did not change keeps
// running without losing an edge or its position; a changed one is rebuilt with its new
// settings; a bad file is refused with its error and the old configuration runs on.

#include <catch2/catch_test_macros.hpp>

#include <signal.h>

#include <algorithm>
#include <string>

#include "harness.hpp"

namespace {

using namespace host;

std::string config(const std::string& counter_extra) {
  return daemon_section() + sim_chip_section() + R"(

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 3000

[[counter]]
name = "flow"
chip = "sim0"
line = 4
edge = "rising"
sim_rate_hz = 200
)" + counter_extra + "\n";
}

Json knob(const Daemon& d) { return d.ok("encoders").at("encoders").at(0); }
Json flow(const Daemon& d) { return d.ok("counters").at("counters").at(0); }
std::uint64_t knob_edges(const Daemon& d) {
  const Json s = d.ok("status");
  return status_line(s, "knob", "a").value("edges", std::uint64_t{0}) +
         status_line(s, "knob", "b").value("edges", std::uint64_t{0});
}

// The counter's value follows its scale: value == count * scale.
void check_scale(const Daemon& d, double scale) {
  const Json f = flow(d);
  INFO("flow: " << f.dump() << ", scale " << scale);
  CHECK(f.at("value").get<double>() == f.at("count").get<double>() * scale);
}

}  // namespace

TEST_CASE("reload keeps an unchanged encoder counting without a lost edge, rebuilds the changed counter",
          "[host][reload]") {
  TempDir dir;
  Daemon d(dir, config("scale = 1.0"));
  REQUIRE(wait_until([&] { return knob(d).at("transitions").get<std::uint64_t>() > 300 && flow(d).at("count") > 10; },
                     10s));
  check_scale(d, 1.0);

  // 1. SIGHUP after changing only the counter.
  const auto transitions_before = knob(d).at("transitions").get<std::uint64_t>();
  d.write_config(config("scale = 2.0"));
  d.process().signal(SIGHUP);
  REQUIRE(wait_until([&] { return d.ok("status").at("reloads") == 1; }, 10s));
  {
    // The encoder was not rebuilt: its running total of steps carried on.
    const auto t = knob(d).at("transitions").get<std::uint64_t>();
    CHECK(t >= transitions_before);
    CHECK(wait_until([&] { return knob(d).at("transitions").get<std::uint64_t>() > t + 100; }, 10s));
  }
  CHECK(wait_until([&] { return flow(d).at("count") > 0; }, 10s));
  check_scale(d, 2.0);

  // 2. gpioirqctl reload, another change of the counter only.
  d.write_config(config("scale = 3.0"));
  {
    const RunResult r = ctl(d.socket(), {"reload"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
  }
  CHECK(d.ok("status").at("reloads") == 2);
  CHECK(wait_until([&] { return flow(d).at("count") > 0; }, 10s));
  check_scale(d, 3.0);

  // 3. A bad file is refused with its error; the old configuration runs on.
  d.write_config(config("scal = 4.0"));
  const std::string written = read_file(d.config_path());
  const auto scal_line = 1 + std::count(written.begin(), written.begin() + static_cast<long>(written.find("scal =")), '\n');
  const std::string error = d.config_path() + ":" + std::to_string(scal_line) +
                            ":1: counter 'flow': key 'scal' is unknown; did you mean 'scale'?";
  {
    const RunResult r = ctl(d.socket(), {"reload"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(error) != std::string::npos);
  }
  {
    const Json s = d.ok("status");
    INFO(s.dump());
    CHECK(s.at("reloads") == 2);
    CHECK(s.at("reload_failures") == 1);
    CHECK(s.at("last_reload_error").get<std::string>().find(error) != std::string::npos);
  }
  const auto edges = knob_edges(d);
  CHECK(wait_until([&] { return knob_edges(d) > edges + 100; }, 10s));
  check_scale(d, 3.0);

  // 4. The same bad file on SIGHUP: refused too, the daemon runs on.
  d.process().signal(SIGHUP);
  REQUIRE(wait_until([&] { return d.ok("status").at("reload_failures") == 2; }, 10s));
  CHECK_FALSE(d.process().exited());
  const auto edges2 = knob_edges(d);
  CHECK(wait_until([&] { return knob_edges(d) > edges2 + 100; }, 10s));
  CHECK(d.ok("status").at("reloads") == 2);
  check_scale(d, 3.0);

  const Json last_knob = knob(d);
  REQUIRE(d.stop() == 0);

  // The log: two RELOAD markers; the encoder's lines contiguous from start to end with
  // no GAP (no edge lost across either reload); the counter restarted (a new line
  // request, seqno 1) right after each RELOAD; positions never jumped back to 0.
  const auto log = read_event_log(d.event_log());
  std::vector<std::size_t> reloads;
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i].type == "RELOAD") reloads.push_back(i);
  REQUIRE(reloads.size() == 2);
  for (std::size_t i : reloads) {
    INFO("RELOAD info: " << log[i].info);
    CHECK(log[i].info.find("1 unchanged") != std::string::npos);  // the encoder
    CHECK(log[i].info.find("1 changed") != std::string::npos);    // the counter
  }

  const auto lines = account_lines(log);
  for (const char* role : {"a", "b"}) {
    INFO("knob/" << role);
    const LineAccount& a = lines.at({"knob", role});
    for (std::size_t i = 0; i < a.problems.size() && i < 5; ++i) UNSCOPED_INFO(a.problems[i]);
    CHECK(a.problems.empty());
    CHECK(a.segment_starts.size() == 1);
    CHECK(a.ring_lost + a.kernel_lost + a.other_lost == 0);
    CHECK(a.last_seqno == a.edges);
  }
  {
    const LineAccount& a = lines.at({"flow", "line"});
    for (std::size_t i = 0; i < a.problems.size() && i < 5; ++i) UNSCOPED_INFO(a.problems[i]);
    CHECK(a.problems.empty());
    REQUIRE(a.segment_starts.size() == 3);
    for (int k = 0; k < 2; ++k) {
      // The first counter edge after the k-th RELOAD starts the new request.
      std::size_t first_after = 0;
      for (std::size_t i = reloads[k]; i < log.size(); ++i)
        if (log[i].type == "EDGE" && log[i].device == "flow") {
          first_after = i;
          break;
        }
      CHECK(first_after == a.segment_starts[k + 1]);
    }
  }

  // Replaying the encoder's edges gives every position it logged, across both reloads.
  ReplayEncoder replay({});
  std::int64_t expected = 0;
  int mismatches = 0, events = 0;
  for (const auto& r : log) {
    if (r.device != "knob") continue;
    if (r.type == "EDGE") {
      replay.edge(r.line, r.edge == "rising");
      expected = replay.position();
    } else if (r.type == "EVENT" && r.kind == "position") {
      ++events;
      if (r.int_value() != expected && mismatches++ < 5)
        UNSCOPED_INFO("position " << r.value << " logged where the edges give " << expected);
    }
  }
  CHECK(events > 100);
  CHECK(mismatches == 0);
  CHECK(last_knob.at("invalid") == 0);
}

TEST_CASE("reloads that rebuild timed streams do not pile up loop timers", "[host][reload]") {
  // A polled file and a button each own a loop timer (poll interval, button deadlines).
  // Every reload below changes both, so both are rebuilt: the old timers must go, and the
  // daemon's count of live timers must stay where the first configuration put it.
  auto config_with = [](int interval_ms, int long_press_ms) {
    return daemon_section() + sim_chip_section() + R"(

[[button]]
name = "btn"
chip = "sim0"
line = 2
sim_rate_hz = 20
long_press_ms = )" + std::to_string(long_press_ms) + R"(

[[poll]]
name = "entropy"
path = "/proc/sys/kernel/random/entropy_avail"
interval_ms = )" + std::to_string(interval_ms) + "\n";
  };
  TempDir dir;
  Daemon d(dir, config_with(100, 500));
  // The button's timer is made on its first edge.
  REQUIRE(wait_until([&] { return d.ok("status").at("timers") == 2; }, 10s));
  for (int i = 1; i <= 10; ++i) {
    d.write_config(config_with(100 + i, 500 + i));
    const RunResult r = ctl(d.socket(), {"reload"});
    INFO("reload " << i << ": " << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(d.ok("status").at("reloads") == i);
    // The rebuilt button gets its timer back at its next edge; never more than two.
    REQUIRE(wait_until([&] { return d.ok("status").at("timers") == 2; }, 10s));
  }
  CHECK(d.ok("status").at("timers") == 2);
  // The rebuilt poll still runs.
  const auto polls_before = d.ok("status").at("log").at("events").get<std::uint64_t>();
  REQUIRE(wait_until([&] { return d.ok("status").at("log").at("events").get<std::uint64_t>() > polls_before; }, 10s));
}
