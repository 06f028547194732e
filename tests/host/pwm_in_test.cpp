// PWM inputs ([[pwm_in]]) end to end on the sim backend: the real daemon, socket and event
// log. The sim stamps each edge at the time it was due, so the figures are exact: a 1 kHz
// train at duty 0.25 must read duty 0.25 and 1000 Hz to the last bit, and every pwm row
// must equal a replay of the device's EDGE rows written here, from docs/FILE-FORMATS.md
// ("PWM rows replay exactly"), not from the daemon's decoder.
//
//   fan   1000 Hz, duty 0.25, window_ms 200
//   dead  no train (sim_rate_hz 0), timeout_ms 300: the idle line is stuck low
//   held  one rising edge 0.1 s in, then high for 99.9 s (sim_rate_hz 0.01, sim_duty
//         0.999), timeout_ms 300: stuck high
// (An active-low line on sim idles at its inactive level, so it is stuck *low* too: the
// stuck level is the logical one. A line held high is the way to see stuck_high here.)

#include <catch2/catch_test_macros.hpp>

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

Json pwm_in(const Daemon& d, const std::string& name) {
  const Json reply = d.ok("devices");
  for (const Json& dev : reply.at("devices").value("pwm_in", Json::array()))
    if (dev.at("name") == name) return dev;
  return Json();
}

// One row of events.csv, the columns the replay needs (value2 is not in host::LogRecord).
struct Row {
  std::string type, device, edge, kind, value, value2, unit;
  std::uint64_t ts = 0, line_seqno = 0;
};

// One CSV record on one line (RFC 4180 quotes: "a, b" and "" inside quotes).
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

std::vector<Row> read_rows(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  REQUIRE(std::getline(in, line));
  const std::vector<std::string> header = split_csv_line(line);
  auto col = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t c_type = col("type"), c_ts = col("ts_ns"), c_dev = col("device"),
                    c_edge = col("edge"), c_seq = col("line_seqno"), c_kind = col("kind"),
                    c_val = col("value"), c_val2 = col("value2"), c_unit = col("unit");
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f = split_csv_line(line);
    f.resize(header.size());
    Row r;
    r.type = f[c_type];
    r.device = f[c_dev];
    r.edge = f[c_edge];
    r.kind = f[c_kind];
    r.value = f[c_val];
    r.value2 = f[c_val2];
    r.unit = f[c_unit];
    if (!f[c_ts].empty()) r.ts = std::stoull(f[c_ts]);
    if (!f[c_seq].empty()) r.line_seqno = std::stoull(f[c_seq]);
    rows.push_back(std::move(r));
  }
  return rows;
}

// A window as the replay closes it.
struct ReplayWindow {
  std::uint64_t to = 0, n = 0, high_sum = 0, period_sum = 0, high_min = 0, high_max = 0;
};

// The rule of docs/FILE-FORMATS.md, from the rows of one device (file order): a cycle is
// rising, falling, rising with consecutive line_seqnos; a repeated type or a seqno jump or
// a GAP row breaks the phase; the window opens at the first rising edge that starts a
// cycle and is closed by the first cycle ending window_ns or more after it opened.
std::vector<ReplayWindow> replay_windows(const std::vector<Row>& rows, const std::string& device,
                                         std::uint64_t window_ns) {
  std::vector<ReplayWindow> out;
  enum { none, high, low } phase = none;
  bool known = false, last_rising = false, open = false;
  std::uint64_t last_seq = 0, r1 = 0, f = 0, from = 0;
  ReplayWindow w;
  for (const Row& r : rows) {
    if (r.device != device) continue;
    if (r.type == "GAP") {
      phase = none;
      known = false;
      continue;
    }
    if (r.type != "EDGE") continue;
    const bool rising = r.edge == "rising";
    bool usable = true;
    if (known && r.line_seqno != last_seq + 1) {
      phase = none;
    } else if (known && rising == last_rising) {
      phase = none;
      usable = false;
    }
    if (usable) {
      if (phase == none && rising) {
        r1 = r.ts;
        phase = high;
        if (!open) {
          open = true;
          from = r.ts;
        }
      } else if (phase == high && !rising) {
        f = r.ts;
        phase = low;
      } else if (phase == low && rising) {
        const std::uint64_t h = f - r1, p = r.ts - r1;
        w.high_min = w.n == 0 ? h : std::min(w.high_min, h);
        w.high_max = w.n == 0 ? h : std::max(w.high_max, h);
        ++w.n;
        w.high_sum += h;
        w.period_sum += p;
        if (r.ts - from >= window_ns) {
          w.to = r.ts;
          out.push_back(w);
          w = ReplayWindow{};
          from = r.ts;
        }
        r1 = r.ts;
        phase = high;
      }
    }
    known = true;
    last_seq = r.line_seqno;
    last_rising = rising;
  }
  return out;
}

std::vector<Row> rows_of(const std::vector<Row>& rows, const std::string& device,
                         const std::string& kind) {
  std::vector<Row> out;
  for (const Row& r : rows)
    if (r.type == "EVENT" && r.device == device && r.kind == kind) out.push_back(r);
  return out;
}

// Each pwm / pwm_high / pwm_value row of `device` against the replay (duty measure, no trims,
// scale 1: the value is the duty). Returns the number of windows compared.
std::size_t check_rows_equal_replay(const std::vector<Row>& rows, const std::string& device,
                                    std::uint64_t window_ns) {
  const std::vector<ReplayWindow> want = replay_windows(rows, device, window_ns);
  const std::vector<Row> pwm = rows_of(rows, device, "pwm"),
                         high = rows_of(rows, device, "pwm_high"),
                         value = rows_of(rows, device, "pwm_value");
  REQUIRE(pwm.size() == want.size());
  REQUIRE(high.size() == want.size());
  REQUIRE(value.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const ReplayWindow& w = want[i];
    INFO("window " << i << " closed at " << w.to << " with " << w.n << " cycles");
    const double duty = static_cast<double>(w.high_sum) / static_cast<double>(w.period_sum);
    const double hz = static_cast<double>(w.n) * 1e9 / static_cast<double>(w.period_sum);
    CHECK(pwm[i].ts == w.to);
    CHECK(std::stod(pwm[i].value) == duty);
    CHECK(std::stod(pwm[i].value2) == hz);
    CHECK(std::stod(high[i].value) == static_cast<double>(w.high_min) / 1000.0);
    CHECK(std::stod(high[i].value2) == static_cast<double>(w.high_max) / 1000.0);
    CHECK(high[i].unit == "us");
    CHECK(std::stod(value[i].value) == duty);
    CHECK(std::stoull(value[i].value2) == w.n);
  }
  return want.size();
}

std::string fan_config(std::string_view fan_extra = "", std::string_view daemon_extra = "") {
  return daemon_section(daemon_extra) + sim_chip_section() + R"(
[[pwm_in]]
name = "fan"
chip = "sim0"
line = 1
window_ms = 200
sim_rate_hz = 1000
sim_duty = 0.25
)" + std::string(fan_extra) +
         R"(
[[pwm_in]]
name = "dead"
chip = "sim0"
line = 2
timeout_ms = 300

[[pwm_in]]
name = "held"
chip = "sim0"
line = 3
timeout_ms = 300
sim_rate_hz = 0.01
sim_duty = 0.999
)";
}

}  // namespace

TEST_CASE(
    "pwm_in on sim: exact figures, stuck lines, rows equal to the EDGE replay, monitor, metrics, "
    "reload, reset",
    "[host][pwm_in]") {
  TempDir dir;
  Daemon d(dir, fan_config());
  {
    const RunResult check = run({gpioirqd_path(), "--check-config", d.config_path()});
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
    CHECK(check.out.find("3 PWM inputs)") != std::string::npos);
  }

  REQUIRE(wait_until(
      [&] {
        return pwm_in(d, "fan").value("window", Json()).is_object() &&
               pwm_in(d, "dead").value("state", "") == "stuck_low" &&
               pwm_in(d, "held").value("state", "") == "stuck_high";
      },
      10s));
  const Json fan = pwm_in(d, "fan");
  INFO(fan.dump());
  CHECK(fan.at("state") == "ok");
  CHECK(fan.at("duty") == 0.25);
  CHECK(fan.at("frequency_hz") == 1000.0);
  CHECK(fan.at("high_us") == 250.0);
  CHECK(fan.at("period_us") == 1000.0);
  CHECK(fan.at("lost") == 0);
  CHECK(fan.at("invalid") == 0);
  const Json& w = fan.at("window");
  CHECK(w.at("cycles") == 200);  // 200 ms of 1 ms cycles, closed by the 200th
  CHECK(w.at("to_ns").get<std::uint64_t>() - w.at("from_ns").get<std::uint64_t>() == 200'000'000);
  CHECK(w.at("duty") == Json{{"min", 0.25}, {"mean", 0.25}, {"max", 0.25}});
  CHECK(w.at("frequency_hz") == Json{{"min", 1000.0}, {"mean", 1000.0}, {"max", 1000.0}});
  CHECK(w.at("period_us") == Json{{"min", 1000.0}, {"mean", 1000.0}, {"max", 1000.0}});
  CHECK(w.at("high_us") == Json{{"min", 250.0}, {"mean", 250.0}, {"max", 250.0}});
  CHECK(fan.at("summary") == "duty 25.0%  1.00 kHz");
  const Json dead = pwm_in(d, "dead"), held = pwm_in(d, "held");
  CHECK(dead.at("cycles") == 0);
  CHECK(dead.at("window").is_null());
  CHECK(dead.at("summary").get<std::string>().starts_with("STUCK LOW "));
  CHECK(held.at("summary").get<std::string>().starts_with("STUCK HIGH "));
  CHECK(held.at("stuck_since_ns").is_number_unsigned());

  SECTION("monitor: pulses and windows of the named device only") {
    Connection c(d.socket());
    c.send(make_request("monitor", {{"names", {"fan"}}}));
    const auto ack = c.read_line(5s);
    REQUIRE(ack);
    int pulses = 0, windows = 0;
    std::set<std::string> names;
    const auto deadline = Clock::now() + 10s;
    while ((pulses < 50 || windows < 1) && Clock::now() < deadline) {
      const auto line = c.read_line(5s);
      REQUIRE(line);
      const Json ev = Json::parse(*line);
      INFO(*line);
      names.insert(ev.value("name", "?"));
      if (ev.value("event", "") == "pulse") {
        ++pulses;
        CHECK(ev.at("high_ns") == 250'000);
        CHECK(ev.at("period_ns") == 1'000'000);
        CHECK(ev.at("value") == 0.25);
      }
      if (ev.value("event", "") == "pwm") {
        ++windows;
        CHECK(ev.at("duty") == 0.25);
        CHECK(ev.at("frequency_hz") == 1000.0);
        CHECK(ev.at("cycles") == 200);
      }
    }
    CHECK(pulses >= 50);
    CHECK(windows >= 1);
    CHECK(names == std::set<std::string>{"fan"});
  }

  SECTION("metrics") {
    const std::string text = d.ok("metrics").at("text");
    CHECK(text.find("# TYPE gpioirq_pwm_duty_ratio gauge\n") != std::string::npos);
    CHECK(text.find("# TYPE gpioirq_pwm_frequency_hz gauge\n") != std::string::npos);
    CHECK(text.find("# TYPE gpioirq_pwm_value gauge\n") != std::string::npos);
    CHECK(text.find("# TYPE gpioirq_pwm_cycles_total counter\n") != std::string::npos);
    CHECK(text.find("# TYPE gpioirq_pwm_stuck gauge\n") != std::string::npos);
    CHECK(text.find("gpioirq_pwm_duty_ratio{device=\"fan\"} 0.25\n") != std::string::npos);
    CHECK(text.find("gpioirq_pwm_frequency_hz{device=\"fan\"} 1000\n") != std::string::npos);
    CHECK(text.find("gpioirq_pwm_stuck{device=\"fan\"} 0\n") != std::string::npos);
    CHECK(text.find("gpioirq_pwm_stuck{device=\"dead\"} 1\n") != std::string::npos);
    CHECK(text.find("gpioirq_pwm_stuck{device=\"held\"} 1\n") != std::string::npos);
    CHECK(text.find("gpioirq_pwm_duty_ratio{device=\"dead\"}") ==
          std::string::npos);  // no window, no figure
  }

  SECTION("reload keeps an unchanged one, rebuilds a changed one; reset restarts the counts") {
    // 1. Unchanged (a comment added): the same device goes on counting.
    REQUIRE(wait_until([&] { return pwm_in(d, "fan").at("cycles").get<std::uint64_t>() >= 1000; },
                       10s));
    const std::uint64_t before = pwm_in(d, "fan").at("cycles");
    d.write_config(fan_config() + "# touched\n");
    d.ok("reload");
    CHECK(pwm_in(d, "fan").at("cycles").get<std::uint64_t>() >= before);
    REQUIRE(wait_until(
        [&] { return pwm_in(d, "fan").at("cycles").get<std::uint64_t>() >= before + 300; }, 10s));

    // 2. sim_duty changed: rebuilt, counting from 0 at the new duty.
    const std::uint64_t kept = pwm_in(d, "fan").at("cycles");
    d.write_config(
        fan_config().replace(fan_config().find("sim_duty = 0.25"), 15, "sim_duty = 0.5"));
    d.ok("reload");
    CHECK(pwm_in(d, "fan").at("cycles").get<std::uint64_t>() < kept);
    REQUIRE(wait_until(
        [&] {
          const Json f = pwm_in(d, "fan");
          return f.at("window").is_object() && f.at("window").at("duty").at("mean") == 0.5;
        },
        10s));
    CHECK(pwm_in(d, "fan").at("window").at("duty") ==
          Json{{"min", 0.5}, {"mean", 0.5}, {"max", 0.5}});
    CHECK(pwm_in(d, "dead").at("state") == "stuck_low");  // unchanged, kept

    // 3. reset: the counts start again (at 1 kHz, 3000 cycles are 3 s: the reply to the
    // next request comes long before the count could climb back).
    REQUIRE(wait_until([&] { return pwm_in(d, "fan").at("cycles").get<std::uint64_t>() >= 3000; },
                       10s));
    d.ok("reset", {{"names", {"fan"}}});
    CHECK(pwm_in(d, "fan").at("cycles").get<std::uint64_t>() < 1500);
    REQUIRE(wait_until([&] { return pwm_in(d, "fan").at("window").is_object(); }, 10s));
    CHECK(pwm_in(d, "fan").at("window").at("duty").at("mean") == 0.5);
  }

  REQUIRE(d.stop() == 0);
  const std::vector<Row> rows = read_rows(dir.file("logs/events.csv"));
  // The rows up to the first rebuild (a RELOAD row that changed fan) or the stop replay
  // exactly; an unchanged reload does not interrupt the device.
  std::vector<Row> first_run;
  int reloads = 0;
  for (const Row& r : rows) {
    if (r.type == "RELOAD" && ++reloads == 2) break;
    first_run.push_back(r);
  }
  CHECK(check_rows_equal_replay(first_run, "fan", 200'000'000) >= 1);
  CHECK(rows_of(rows, "dead", "stuck_low").size() == 1);
  CHECK(rows_of(rows, "dead", "stuck_low").at(0).value == "300");
  CHECK(rows_of(rows, "dead", "stuck_low").at(0).unit == "ms");
  CHECK(rows_of(rows, "held", "stuck_high").size() == 1);
  CHECK(rows_of(rows, "held", "stuck_low").empty());
  CHECK(rows_of(rows, "fan", "stuck_low").empty());
  CHECK(rows_of(rows, "fan", "stuck_high").empty());
  CHECK(rows_of(rows, "fan", "pulse").empty());  // live only
}

TEST_CASE("pwm_in: cycles a loss cut are dropped, every reported window still equals the replay",
          "[host][pwm_in]") {
  TempDir dir;
  // 20 kHz: 40000 edges/s into a ring of 1024; stopping the daemon for a moment makes the
  // RT thread find far more than that on resume (as tests/host/loss_test.cpp does).
  const std::string config = daemon_section("ring_capacity = 1024") + sim_chip_section() + R"(
[[pwm_in]]
name = "fast"
chip = "sim0"
line = 4
window_ms = 50
sim_rate_hz = 20000
sim_duty = 0.25
)";
  Daemon d(dir, config);
  REQUIRE(wait_until([&] { return pwm_in(d, "fast").value("window", Json()).is_object(); }, 10s));
  std::uint64_t lost = 0;
  for (int attempt = 0; attempt < 5 && lost == 0; ++attempt) {
    ::kill(d.process().pid(), SIGSTOP);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(100 * (attempt + 1)));  // the sim keeps time meanwhile
    ::kill(d.process().pid(), SIGCONT);
    // Calm again: the backlog drained and a few windows measured after it.
    const std::uint64_t resumed = pwm_in(d, "fast").at("cycles");
    REQUIRE(wait_until(
        [&] { return pwm_in(d, "fast").at("cycles").get<std::uint64_t>() >= resumed + 5000; },
        10s));
    lost = pwm_in(d, "fast").at("lost");
  }
  REQUIRE(lost > 0);
  const Json fast = pwm_in(d, "fast");
  INFO(fast.dump());
  CHECK(fast.at("state") == "ok");
  REQUIRE(d.stop() == 0);

  const std::vector<Row> rows = read_rows(dir.file("logs/events.csv"));
  std::size_t gaps = 0;
  for (const Row& r : rows)
    if (r.type == "GAP" && r.device == "fast") ++gaps;
  CHECK(gaps >= 1);
  // Windows that spanned a loss hold only the cycles around it: still the replay's.
  CHECK(check_rows_equal_replay(rows, "fast", 50'000'000) >= 5);
}
