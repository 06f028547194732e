// Every control command against a running gpioirqd on the sim backend, as a user (or a
// script) would check it: through the real socket and through gpioirqctl.

#include <catch2/catch_test_macros.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

constexpr double kKnobRate = 2000;  // edges/s
constexpr double kFlowRate = 200;   // pulses/s

std::string config() {
  return daemon_section("rt_priority = 10\nloop_priority = 5\nloop_spin_us = 20\nring_capacity = 4096") + sim_chip_section(16) + R"(

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 2000

[[button]]
name = "start"
chip = "sim0"
line = 2
debounce_ms = 20
long_press_ms = 800
double_click_ms = 300
sim_rate_hz = 10

[[counter]]
name = "flow"
chip = "sim0"
line = 4
edge = "rising"
window_ms = 200
scale = 0.5
unit = "L"
sim_rate_hz = 200

[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "data-ready"
chip = "sim0"
data_ready = 5
rate_hz = 200
format = "extended"

[[imu]]
name = "imu1"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 100
format = "seed"

[[poll]]
name = "entropy"
path = "/proc/sys/kernel/random/entropy_avail"
interval_ms = 100
unit = "bits"
)";
}

// The lines the sim drives, as (device, role).
const std::vector<std::pair<std::string, std::string>> kDrivenLines = {
    {"knob", "a"}, {"knob", "b"}, {"start", "line"}, {"flow", "line"}, {"imu0", "data_ready"}};

std::uint64_t line_edges(const Json& status, const std::string& device, const std::string& role) {
  const Json l = status_line(status, device, role);
  return l.is_null() ? 0 : l.value("edges", std::uint64_t{0});
}

void wait_for_edges_everywhere(const Daemon& d) {
  Json status;
  const bool flowing = wait_until(
      [&] {
        status = d.ok("status");
        for (const auto& [dev, role] : kDrivenLines)
          if (line_edges(status, dev, role) == 0) return false;
        return true;
      },
      10s);
  INFO("last status: " << status.dump(2));
  REQUIRE(flowing);
}

Json find_named(const Json& array, const std::string& name) {
  for (const auto& j : array)
    if (j.value("name", "") == name) return j;
  return Json();
}

}  // namespace

TEST_CASE("status: version, config, rt, per-line edge counts and the ring", "[host][commands]") {
  TempDir dir;
  Daemon d(dir, config());
  wait_for_edges_everywhere(d);
  const Json s = d.ok("status");
  INFO(s.dump(2));

  const RunResult version = run({gpioirqd_path(), "--version"});
  CHECK(s.at("version") == version.out.substr(0, version.out.find('\n')));
  CHECK(s.at("config") == d.config_path());
  CHECK(s.at("socket") == d.socket());
  CHECK(s.at("log_dir") == d.log_dir());
  CHECK(s.at("pid") == d.process().pid());
  CHECK(s.at("uptime_s").get<double>() > 0);
  CHECK(exists(s.at("event_log").get<std::string>()));

  // What the kernel granted: as root priority 10 is granted, otherwise it is refused and
  // the refusal says why; either way the fields are there.
  // The loop's spin before sleeping: as configured, except on one CPU (where it is off).
  const Json& loop = s.at("loop");
  CHECK(loop.at("spin_us") == (::sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 20 : 0));
  CHECK(loop.at("kernel_entries").get<std::uint64_t>() > 0);

  const Json& rt = s.at("rt");
  REQUIRE(rt.contains("priority"));
  REQUIRE(rt.contains("cpu"));
  REQUIRE(rt.contains("mlocked"));
  REQUIRE(rt.contains("refused"));
  if (::geteuid() == 0) {
    CHECK(rt.at("priority") == 10);
    CHECK(rt.at("loop_priority") == 5);
    // The loop thread (the main thread, tid = pid) really runs at SCHED_FIFO 5.
    std::ifstream stat("/proc/" + std::to_string(d.process().pid()) + "/stat");
    std::string text;
    std::getline(stat, text);
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
    REQUIRE(f.size() > 38);
    CHECK(f[37] == "5");  // rt_priority, field 40 of /proc/PID/stat
    CHECK(f[38] == "1");  // policy, field 41: SCHED_FIFO
  } else {
    CHECK((rt.at("priority") == 10 || !rt.at("refused").get<std::string>().empty()));
  }
  CHECK(rt.at("mlocked") == false);  // mlock = false in the config
  CHECK(rt.at("cpu") == -1);

  // Every configured line is listed, with its chip, offset and loss figures.
  const std::set<std::pair<std::string, std::string>> expected = {
      {"knob", "a"}, {"knob", "b"}, {"start", "line"}, {"flow", "line"}, {"imu0", "data_ready"}};
  std::set<std::pair<std::string, std::string>> listed;
  for (const auto& l : s.at("lines")) {
    listed.emplace(l.at("device"), l.at("role"));
    CHECK(l.at("chip") == "sim0");
    CHECK(l.contains("offset"));
    CHECK(l.at("kernel_lost") == 0);
    CHECK(l.at("ring_dropped") == 0);
  }
  CHECK(listed == expected);
  for (const auto& [dev, role] : kDrivenLines) CHECK(line_edges(s, dev, role) > 0);
  CHECK(status_line(s, "knob", "a").at("offset") == 0);
  CHECK(status_line(s, "flow", "line").at("offset") == 4);

  const Json& ring = s.at("ring");
  CHECK(ring.at("capacity") == 4096);
  CHECK(ring.at("high_water").get<std::uint64_t>() > 0);
  CHECK(ring.at("high_water").get<std::uint64_t>() <= 4096);
  CHECK(ring.at("records").get<std::uint64_t>() > 0);
  CHECK(s.at("reloads") == 0);
  CHECK(s.at("control").at("requests").get<std::uint64_t>() >= 1);

  // The event log: rows of each type counted, nothing lost, the two base buffers held,
  // io workers not moved (the RT thread is not pinned).
  CHECK_FALSE(rt.at("io_workers_off_rt_cpu").get<bool>());
  const Json& log = s.at("log");
  CHECK(log.at("edges").get<std::uint64_t>() > 0);
  CHECK(log.at("events").get<std::uint64_t>() > 0);
  CHECK(log.at("lost") == 0);
  CHECK(log.at("write_errors") == 0);
  CHECK(log.at("healthy") == true);
  CHECK(log.at("buffer_memory").get<std::uint64_t>() >= 2 * 512 * 1024);
  CHECK(log.at("buffer_grows") == 0);

  // gpioirqctl shows the same thing for people and for scripts.
  const RunResult human = ctl(d.socket(), {"status"});
  CHECK(human.exit_code == 0);
  CHECK(human.out.find("knob") != std::string::npos);
  CHECK(human.out.find(d.config_path()) != std::string::npos);
  const RunResult script = ctl(d.socket(), {"--json", "status"});
  REQUIRE(script.exit_code == 0);
  const Json parsed = Json::parse(script.out);
  CHECK(parsed.at("ok") == true);
  CHECK(parsed.at("config") == d.config_path());
}

TEST_CASE("encoders, buttons, counters and imu report every stream", "[host][commands]") {
  TempDir dir;
  Daemon d(dir, config());
  wait_for_edges_everywhere(d);

  // The first button press is debounced 20 ms after it (sim: ~100 ms in); frames are
  // written in blocks; the poll runs every 100 ms.
  Json buttons, counters, imu;
  const bool ready = wait_until(
      [&] {
        buttons = d.ok("buttons");
        counters = d.ok("counters");
        imu = d.ok("imu");
        const Json b = find_named(buttons.at("buttons"), "start");
        const Json i0 = find_named(imu.at("imu"), "imu0"), i1 = find_named(imu.at("imu"), "imu1");
        const Json p = find_named(counters.at("counters"), "entropy");
        return !b.is_null() && b.value("press", 0) > 0 && !i0.is_null() && i0.value("written", 0) > 0 &&
               !i1.is_null() && i1.value("written", 0) > 0 && !p.is_null() && p.value("reads", 0) > 0;
      },
      10s);
  INFO("buttons: " << buttons.dump() << "\ncounters: " << counters.dump() << "\nimu: " << imu.dump());
  REQUIRE(ready);

  const Json encoders = d.ok("encoders");
  INFO("encoders: " << encoders.dump());
  REQUIRE(encoders.at("encoders").size() == 1);
  const Json knob = encoders.at("encoders").at(0);
  CHECK(knob.at("name") == "knob");
  CHECK(knob.at("transitions").get<std::uint64_t>() > 0);
  CHECK(knob.at("invalid") == 0);  // the sim never skips a state
  CHECK(knob.at("lost") == 0);
  CHECK(knob.at("position").is_number_integer());
  CHECK(knob.at("counts").is_number_integer());
  CHECK(knob.at("velocity").is_number());

  const Json start = find_named(buttons.at("buttons"), "start");
  CHECK(start.at("kind") == "button");
  CHECK(start.at("press").get<int>() >= 1);
  CHECK(start.at("lost") == 0);
  for (const char* k : {"release", "long_press", "click", "double_click", "level", "glitches"})
    CHECK(start.contains(k));

  const Json flow = find_named(counters.at("counters"), "flow");
  REQUIRE_FALSE(flow.is_null());
  CHECK(flow.at("count").get<std::uint64_t>() > 0);
  CHECK(flow.at("unit") == "L");
  CHECK(flow.at("lost") == 0);
  CHECK(flow.at("value").get<double>() == flow.at("count").get<double>() * 0.5);  // scale = 0.5
  const Json entropy = find_named(counters.at("counters"), "entropy");
  CHECK(entropy.at("unit") == "bits");
  CHECK(entropy.at("errors") == 0);

  for (const char* name : {"imu0", "imu1"}) {
    const Json m = find_named(imu.at("imu"), name);
    INFO(name);
    CHECK(m.at("frames").get<std::uint64_t>() >= m.at("written").get<std::uint64_t>());
    CHECK(m.at("i2c_errors") == 0);
    CHECK(m.at("degraded") == false);
    CHECK(m.at("file") == d.log_dir() + "/" + name + ".imu");
    CHECK(exists(m.at("file").get<std::string>()));
  }
  CHECK(find_named(imu.at("imu"), "imu0").at("rate_hz") == 200);

  // A frequency figure needs a full window (200 ms) of pulses at 200/s.
  Json freq;
  CHECK(wait_until(
      [&] {
        freq = find_named(d.ok("counters").at("counters"), "flow");
        return std::abs(freq.at("frequency_hz").get<double>() - kFlowRate) < kFlowRate * 0.2;
      },
      5s));
  INFO("flow: " << freq.dump());

  for (const char* cmd : {"encoders", "buttons", "counters", "imu"}) {
    const RunResult r = ctl(d.socket(), {cmd});
    INFO(cmd << ": " << r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(r.out.empty());
  }
}

TEST_CASE("latency has per-stream histograms with buckets; metrics is Prometheus text", "[host][commands]") {
  TempDir dir;
  Daemon d(dir, config());
  wait_for_edges_everywhere(d);

  const Json lat = d.ok("latency");
  INFO(lat.dump());
  const Json knob = find_named(lat.at("latency"), "knob");
  REQUIRE_FALSE(knob.is_null());
  CHECK(knob.at("count").get<std::uint64_t>() > 0);
  const Json& buckets = knob.at("buckets");
  REQUIRE(buckets.is_array());
  REQUIRE_FALSE(buckets.empty());
  std::uint64_t in_buckets = 0;
  for (const auto& b : buckets) {
    REQUIRE(b.size() == 3);  // [lower, upper, count]
    CHECK(b[0].get<std::uint64_t>() <= b[1].get<std::uint64_t>());
    in_buckets += b[2].get<std::uint64_t>();
  }
  CHECK(in_buckets == knob.at("count").get<std::uint64_t>());
  CHECK(knob.at("p50_ns").get<std::uint64_t>() <= knob.at("p99_ns").get<std::uint64_t>());
  CHECK(knob.at("p99_ns").get<std::uint64_t>() <= knob.at("max_ns").get<std::uint64_t>());
  CHECK(lat.at("all").at("count").get<std::uint64_t>() >= knob.at("count").get<std::uint64_t>());
  CHECK_FALSE(find_named(lat.at("latency"), "flow").is_null());
  CHECK_FALSE(find_named(lat.at("latency"), "start").is_null());

  const RunResult hist = ctl(d.socket(), {"latency"});
  CHECK(hist.exit_code == 0);
  CHECK(hist.out.find("knob") != std::string::npos);

  const RunResult m = ctl(d.socket(), {"metrics"});
  INFO(m.out << m.err);
  REQUIRE(m.exit_code == 0);
  // Prometheus text: every non-comment line is `name{labels} value` or `name value`.
  std::istringstream in(m.out);
  std::string line;
  int edge_lines = 0;
  bool has_type = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.starts_with("#")) {
      has_type |= line.starts_with("# TYPE gpioirq_edges_total counter");
      continue;
    }
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    const std::string value = line.substr(space + 1);
    char* end = nullptr;
    (void)std::strtod(value.c_str(), &end);
    CHECK(*end == '\0');
    if (line.starts_with("gpioirq_edges_total{")) {
      ++edge_lines;
      if (line.find("device=\"knob\",line=\"a\"") != std::string::npos) CHECK(std::stod(value) > 0);
    }
  }
  CHECK(has_type);
  CHECK(edge_lines == 5);  // one per line
  CHECK(m.out.find("gpioirq_lost_total{device=\"knob\",line=\"a\",reason=\"ring_full\"} ") != std::string::npos);
  CHECK(m.out.find("gpioirqd_control_requests_total") != std::string::npos);
}

TEST_CASE("monitor streams edges and positions of the named device only", "[host][commands]") {
  TempDir dir;
  Daemon d(dir, config());
  wait_for_edges_everywhere(d);

  Connection c(d.socket());
  c.send(make_request("monitor", {{"names", {"knob"}}}));
  const auto first = c.read_line(5s);
  REQUIRE(first);
  const Json ack = Json::parse(*first);
  INFO(*first);
  CHECK(ack.at("ok") == true);
  CHECK(ack.at("monitor") == true);

  int edges = 0, positions = 0, events = 0;
  std::set<std::string> names;
  const auto deadline = Clock::now() + 10s;
  while ((edges < 50 || positions < 10) && Clock::now() < deadline) {
    const auto line = c.read_line(5s);
    REQUIRE(line);
    const Json ev = Json::parse(*line);
    INFO(*line);
    CHECK(ev.at("v") == 1);
    names.insert(ev.value("name", "?"));
    ++events;
    // An edge names its line and says rising or falling (in "event", or "edge").
    if (ev.contains("line")) {
      ++edges;
      CHECK((ev.at("line") == "a" || ev.at("line") == "b"));
      const std::string kind = ev.value("edge", ev.value("event", ""));
      CHECK((kind == "rising" || kind == "falling"));
    }
    if (ev.value("event", "") == "position") ++positions;
  }
  CHECK(edges >= 50);
  CHECK(positions >= 10);
  CHECK(names == std::set<std::string>{"knob"});

  // gpioirqctl monitor: a name filter and -n.
  const RunResult r = ctl(d.socket(), {"--json", "monitor", "flow", "-n", "5"}, 10s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  std::istringstream in(r.out);
  std::string line;
  int flow_events = 0;
  while (std::getline(in, line)) {
    const Json ev = Json::parse(line);
    if (ev.contains("monitor")) continue;  // the acknowledgement, if printed
    CHECK(ev.at("name") == "flow");
    ++flow_events;
  }
  CHECK(flow_events == 5);
}

TEST_CASE("reset puts the encoder back to its start and the counter to 0", "[host][commands]") {
  TempDir dir;
  Daemon d(dir, config());
  Json before;
  REQUIRE(wait_until(
      [&] {
        before = d.ok("encoders").at("encoders").at(0);
        const Json flow = find_named(d.ok("counters").at("counters"), "flow");
        return before.at("position").get<std::int64_t>() >= 100 && flow.at("count").get<std::uint64_t>() >= 50;
      },
      10s));

  // Pipelined on one connection: the replies come in order, right after the reset.
  Connection c(d.socket());
  const auto t0 = Clock::now();
  c.send_raw(make_request("reset").dump() + "\n" + make_request("encoders").dump() + "\n" +
             make_request("counters").dump() + "\n");
  std::vector<Json> replies;
  for (int i = 0; i < 3; ++i) {
    const auto line = c.read_line(5s);
    REQUIRE(line);
    replies.push_back(Json::parse(*line));
  }
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  INFO("before: " << before.dump() << "\nreplies: " << replies[0].dump() << "\n" << replies[1].dump() << "\n"
                  << replies[2].dump() << "\nround trip " << dt << " s");
  CHECK(replies[0].at("ok") == true);
  // Edges keep coming, so allow what can arrive during the round trip (one count per
  // edge at x4, plus the sim's bounce), far below the position before the reset.
  const auto position = replies[1].at("encoders").at(0).at("position").get<std::int64_t>();
  const auto flow_count = find_named(replies[2].at("counters"), "flow").at("count").get<std::int64_t>();
  CHECK(std::llabs(position) <= static_cast<std::int64_t>(kKnobRate * dt * 1.5) + 4);
  CHECK(flow_count <= static_cast<std::int64_t>(kFlowRate * dt * 1.5) + 2);

  // And through gpioirqctl (root may reset).
  const RunResult r = ctl(d.socket(), {"reset"});
  CHECK(r.exit_code == 0);
}

TEST_CASE("error replies: unknown command, bad version, bad input, unknown name", "[host][commands]") {
  TempDir dir;
  Daemon d(dir, config());
  Connection c(d.socket());
  auto expect_error = [&](const std::string& raw_line, const std::string& starts_with) {
    c.send_raw(raw_line + "\n");
    const auto line = c.read_line(5s);
    REQUIRE(line);
    const Json reply = Json::parse(*line);
    INFO("request: " << raw_line << "\nreply: " << *line);
    CHECK(reply.at("v") == 1);
    CHECK(reply.at("ok") == false);
    CHECK(reply.at("error").get<std::string>().starts_with(starts_with));
  };
  expect_error(R"({"v":1,"cmd":"frobnicate"})", "unknown command");
  expect_error(R"({"v":2,"cmd":"status"})", "unsupported protocol version 2 (this daemon speaks v 1)");
  expect_error(R"({"cmd":"status"})", "missing protocol version \"v\" (this daemon speaks v 1)");
  expect_error(R"({"v":1,"cmd":"status"  oops)", "malformed JSON");
  expect_error(R"([1,2])", "a request must be a JSON object");
  expect_error(R"({"v":1,"cmd":"status","names":"knob"})",
               "argument 'names' of 'status' must be an array of strings, not \"knob\"");
  // A name the daemon does not know is an error (docs/PROTOCOL.md), for every command
  // that takes names.
  for (const char* cmd : {"status", "encoders", "buttons", "counters", "imu", "latency", "reset"}) {
    c.send(make_request(cmd, {{"names", {"nosuch"}}}));
    const auto line = c.read_line(5s);
    REQUIRE(line);
    INFO("unknown name for " << cmd << ": " << *line);
    const Json reply = Json::parse(*line);
    CHECK(reply.at("ok") == false);
    CHECK(reply.value("error", "").find("nosuch") != std::string::npos);
  }
  // The connection is still good after all of that.
  const Json ok = c.request(make_request("status"));
  CHECK(ok.at("ok") == true);
}

TEST_CASE("gpioirqctl exit codes: not running 3, success 0, daemon error 1, usage 2", "[host][commands]") {
  TempDir dir;
  {
    // No socket at all.
    const RunResult r = ctl(dir.file("nosuch.sock"), {"status"});
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("not running") != std::string::npos);
  }
  {
    // A socket file nobody listens on (a daemon that died).
    const std::string stale = dir.file("stale.sock");
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, stale.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
    const RunResult r = ctl(stale, {"status"});
    INFO(r.err);
    CHECK(r.exit_code == 3);
  }

  Daemon d(dir, config());
  CHECK(ctl(d.socket(), {"status"}).exit_code == 0);
  CHECK(ctl(d.socket(), {"--json", "encoders"}).exit_code == 0);
  CHECK(ctl(d.socket(), {"encoders", "knob"}).exit_code == 0);
  {
    const RunResult r = ctl(d.socket(), {"encoders", "nosuch"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);  // the daemon answered with an error
    CHECK(r.err.find("nosuch") != std::string::npos);
  }
  CHECK(ctl(d.socket(), {"no-such-command"}).exit_code == 2);

  REQUIRE(d.stop() == 0);
  // The daemon removed its socket on the way out; gpioirqctl says it is not running.
  CHECK_FALSE(exists(d.socket()));
  const RunResult after = ctl(d.socket(), {"status"});
  CHECK(after.exit_code == 3);
}
