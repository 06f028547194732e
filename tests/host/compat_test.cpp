// The compatibility pin of issue #12 (docs/TESTING.md, "Golden files"): what a user's
// scripts, dashboards and log readers see of every device kind — `--check-config`, the
// replies of status, encoders, buttons, counters, imu, latency, reset and metrics, the
// monitor lines and the event log — compared with golden files under tests/host/golden/
// written by the code before the device-kind refactor. A refactor that keeps behaviour
// keeps these files byte for byte; a change on purpose rewrites them
// (GPIOIRQ_UPDATE_GOLDEN=1) and shows in the diff. The `devices` reply, new with the
// refactor, is pinned the same way from its first version on (devices.txt; `kinds`, its
// order of the kinds, by value).
//
// One daemon, one config with every kind on the sim backend: a moving encoder (knob) and
// one that never moves (idle, sim_rate_hz = 0), a button and a switch, a pulse counter, an
// IMU on a data-ready line and one on a timer, and a poll of a file the test writes.
//
// What the sim makes deterministic and what it does not (lib/gpio/sim_source.cpp): each
// generator's cycle of steps is fixed and its edges' timestamps are their due times, so the
// SEQUENCE of edges on every line, and therefore every decoded gesture, is the same in every
// run; but the cycles start at the daemon's start-up time, and the moment a reply is taken,
// rates, latencies, counts of anything that moves, pids, uptimes and the temporary
// directory differ from run to run. So:
//
// PINNED exactly
// - JSON replies: every member's path and JSON type (an integer stays an integer, a float a
//   float), in order; elements of device lists in their order (named by `name`, status
//   `lines` by device/role, `files` by path); the values of names, roles, chips, offsets,
//   kinds, units, configured rates and capacities, paths (temporary directory shown as
//   $DIR), the version ($VERSION), error texts, health and open flags, the error and
//   write-error counters, reloads, loop timers, the poll's value (the test writes the file);
//   and every value of the idle encoder (all zero, buckets empty).
// - metrics: every line in order, HELP/TYPE lines whole, sample lines with their names and
//   label sets; values only for the idle encoder, the others shown as N.
// - monitor: the set of (device, event, line, sorted member names) of all lines seen.
// - event log: the CSV header, the set of (type, device, line, chip, offset, edge, kind,
//   unit, the columns that are non-empty) over all rows, and the files in the log directory.
// - `--check-config`: its output line (path shown as $CONFIG) and exit code; the daemon's
//   start-up line from "running:" on (what the journal shows).
//
// NOT pinned (types only): timestamps, counts and positions of moving devices, rates,
// velocities, frequencies, latencies and bucket lists, pid, uptime, buffer sizes, ring
// figures, fd/client limits (the machine's), rt.refused (root or not), spin_us (CPU count),
// lost/dropped figures (they depend on load). GAP rows and monitor `gap` lines are left
// out, and so are `position_uncertain` rows and lines, which follow an encoder's loss: whether
// a loss happens depends on load; their shapes are pinned by loss_test and imu_loss_test.
//
// The test waits (polling, no sleeps) until each kind has produced every event it can:
// the button's click, double click and long press (first press 250 ms in, long press at
// about 1.5 s), the switch's open and close, IMU frames written, a poll read. Then it stops
// the daemon so the rows written at stop (counter count/frequency, IMU frames, STOP) are in.

#include <catch2/catch_test_macros.hpp>

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;
using Lines = std::vector<std::string>;

std::string config() {
  return daemon_section("flush_interval_ms = 200") + sim_chip_section(16) + R"(
[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 2000

[[encoder]]
name = "idle"
chip = "sim0"
a = 2
b = 3
counts_per_period = 2
div = 2

[[button]]
name = "start"
chip = "sim0"
line = 4
debounce_ms = 20
long_press_ms = 300
double_click_ms = 200
sim_rate_hz = 4

[[button]]
name = "door"
chip = "sim0"
line = 5
kind = "switch"
debounce_ms = 20
sim_rate_hz = 4

[[counter]]
name = "flow"
chip = "sim0"
line = 6
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
data_ready = 7
rate_hz = 200
format = "extended"

[[imu]]
name = "imu1"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 100
format = "seed"

[[poll]]
name = "level"
path = "level.txt"
interval_ms = 50
scale = 0.5
offset = 1
unit = "mm"
)";
}

// ----- normalising ----------------------------------------------------------------

struct Normaliser {
  std::string dir;      // the TempDir, shown as $DIR
  std::string version;  // gpioirqd --version, shown as $VERSION

  std::string text(std::string s) const {
    if (s == version) return "$VERSION";
    for (std::size_t at; (at = s.find(dir)) != std::string::npos;)
      s.replace(at, dir.size(), "$DIR");
    return s;
  }
};

// Members whose values are the same in every run (see the header comment).
// clang-format off
const std::set<std::string> kPinnedKeys = {
    "name", "device", "role", "chip", "offset", "kind", "unit", "rate_hz", "capacity",
    "version", "config", "log_dir", "event_log", "socket", "path", "file",
    "error", "file_error", "last_error", "last_reload_error", "reason",
    "healthy", "file_healthy", "degraded", "mlocked", "cpu", "priority", "loop_priority",
    "io_workers_off_rt_cpu", "previous_run_unstopped", "files_found_moved", "device_outages",
    "write_errors", "sync_errors", "file_write_errors", "truncations", "cut_bytes", "reopens",
    "i2c_errors", "errors", "consecutive_failures",
    "reloads", "reload_failures", "timers", "reset", "ok", "monitor", "v", "kinds"};
// clang-format on
// Whole subtrees pinned: the encoder that never moves.
const std::vector<std::string> kPinnedDevices = {"[idle]", "[idle/"};
// Single members pinned: the poll's reading of the file the test wrote (42 * 0.5 + 1).
const std::set<std::string> kPinnedPaths = {"counters[level].value"};

std::string type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "int";
    case Json::value_t::number_float:
      return "float";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "?";
  }
}

// A device list element's label: its name, a status line's device/role, a file's path.
std::optional<std::string> element_label(const Json& e, const Normaliser& n) {
  if (!e.is_object()) return std::nullopt;
  if (e.contains("device") && e.contains("role"))
    return e.at("device").get<std::string>() + "/" + e.at("role").get<std::string>();
  if (e.contains("name") && e.at("name").is_string()) return e.at("name").get<std::string>();
  if (e.contains("path") && e.at("path").is_string())
    return n.text(e.at("path").get<std::string>());
  return std::nullopt;
}

bool pinned(const std::string& path, const std::string& key) {
  // A log file's `open` flag, not a switch's count of `open` events.
  if (key == "open") return path.starts_with("files[");
  if (kPinnedKeys.count(key) || kPinnedPaths.count(path)) return true;
  return std::any_of(kPinnedDevices.begin(), kPinnedDevices.end(),
                     [&](const std::string& d) { return path.find(d) != std::string::npos; });
}

// One line per member: `path = value` when pinned, `path : type` otherwise. Arrays of
// unlabelled elements (histogram buckets) give the union of their elements' shapes under
// path[*], so their length is not pinned.
void flatten(const Json& j, const std::string& path, const std::string& key, const Normaliser& n,
             Lines& out) {
  if (j.is_object()) {
    if (j.empty()) out.push_back(path + " = {}");
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), it.key(), n, out);
    return;
  }
  if (j.is_array()) {
    if (j.empty()) {
      out.push_back(path + " = []");
      return;
    }
    if (pinned(path, key) && !j.front().is_structured()) {
      out.push_back(path + " = " + j.dump());
      return;
    }
    Lines shapes;
    for (const auto& e : j) {
      if (const auto label = element_label(e, n)) {
        flatten(e, path + "[" + *label + "]", key, n, out);
        continue;
      }
      Lines one;
      flatten(e, path + "[*]", key, n, one);
      for (auto& l : one)
        if (std::find(shapes.begin(), shapes.end(), l) == shapes.end())
          shapes.push_back(std::move(l));
    }
    out.insert(out.end(), shapes.begin(), shapes.end());
    return;
  }
  if (!pinned(path, key)) {
    out.push_back(path + " : " + type_name(j));
    return;
  }
  out.push_back(path + " = " +
                (j.is_string() ? Json(n.text(j.get<std::string>())).dump() : j.dump()));
}

Lines shape(const Json& reply, const Normaliser& n) {
  Lines out;
  flatten(reply, "", "", n, out);
  return out;
}

// Metrics: HELP/TYPE lines whole, samples as `name{labels} N` (the idle encoder's value kept).
Lines metrics_shape(const std::string& text) {
  Lines out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.starts_with("#") ||
        line.find("device=\"idle\"") != std::string::npos) {
      out.push_back(line);
      continue;
    }
    const auto space = line.rfind(' ');
    out.push_back(space == std::string::npos ? line : line.substr(0, space) + " N");
  }
  return out;
}

// What only a loss brings (a GAP, an encoder's position_uncertain): left out, as whether a
// loss happens depends on the machine's load.
bool loss_consequence(std::string_view event) {
  return event == "gap" || event == "position_uncertain";
}

// Monitor: the set of (device, event, line, member names), losses left out.
Lines monitor_shape(const Lines& lines) {
  std::set<std::string> seen;
  for (const auto& l : lines) {
    const Json ev = Json::parse(l);
    if (loss_consequence(ev.value("event", ""))) continue;
    std::string s = ev.value("name", "-") + " event=" + ev.value("event", "-");
    if (ev.contains("line")) s += " line=" + ev.at("line").get<std::string>();
    s += " members=";
    for (auto it = ev.begin(); it != ev.end(); ++it) s += (it == ev.begin() ? "" : ",") + it.key();
    seen.insert(s);
  }
  return {seen.begin(), seen.end()};
}

// RFC 4180 rows (quoted fields may hold commas, quotes and line breaks).
std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"')
        field += text[++i];
      else if (c == '"')
        quoted = false;
      else
        field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field += c;
    }
  }
  return rows;
}

// Event log: the header, then the set of row shapes (losses left out).
Lines event_log_shape(const std::string& text) {
  const auto rows = csv_rows(text);
  REQUIRE_FALSE(rows.empty());
  const std::vector<std::string>& header = rows.front();
  Lines out{text.substr(0, text.find('\n'))};
  auto column = [&](std::string_view name) {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<std::size_t>(it - header.begin());
  };
  std::set<std::string> shapes;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    INFO("row " << r);
    REQUIRE(row.size() == header.size());
    if (row[column("type")] == "GAP" || loss_consequence(row[column("kind")])) continue;
    std::string s;
    for (const char* key : {"type", "device", "line", "chip", "offset", "edge", "kind", "unit"})
      s += std::string(key) + "=" + row[column(key)] + " ";
    s += "non-empty=";
    for (std::size_t c = 0; c < header.size(); ++c)
      if (!row[c].empty()) s += header[c] + ",";
    shapes.insert(s);
  }
  out.insert(out.end(), shapes.begin(), shapes.end());
  return out;
}

// ----- golden files ---------------------------------------------------------------

Lines split_lines(const std::string& text) {
  Lines out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Compares `actual` with tests/host/golden/NAME, or rewrites the file when
// GPIOIRQ_UPDATE_GOLDEN=1. A difference fails with the first differing line.
void check_golden(const std::string& name, const Lines& actual) {
  const std::string rel = "tests/host/golden/" + name;
  const std::string path = source_dir() + "/" + rel;
  std::string text;
  for (const auto& l : actual) text += l + "\n";
  const char* update = std::getenv("GPIOIRQ_UPDATE_GOLDEN");
  if (update && std::string_view(update) == "1") {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    write_file(path, text);
    WARN("rewrote " << rel << " (" << actual.size() << " lines)");
    return;
  }
  if (!exists(path)) {
    FAIL_CHECK(rel << " is missing; write it with GPIOIRQ_UPDATE_GOLDEN=1 (docs/TESTING.md)");
    return;
  }
  const Lines expected = split_lines(read_file(path));
  std::size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  if (i == expected.size() && i == actual.size()) {
    SUCCEED(rel << " matches");
    return;
  }
  std::ostringstream m;
  m << rel << " differs at line " << i + 1 << " (" << expected.size() << " lines expected, "
    << actual.size()
    << " got):\n  expected: " << (i < expected.size() ? expected[i] : "(end of file)")
    << "\n  got:      " << (i < actual.size() ? actual[i] : "(end of output)")
    << "\nIf the change is intended, rerun with GPIOIRQ_UPDATE_GOLDEN=1 and review `git diff "
    << rel << "`.";
  FAIL_CHECK(m.str());
}

// A figure of a device list element or status line; 0 while it is not there yet.
std::uint64_t figure(const Json& array, const std::string& name, const char* key) {
  for (const auto& j : array)
    if (j.value("name", "") == name) return j.value(key, std::uint64_t{0});
  return 0;
}

}  // namespace

TEST_CASE(
    "compat: replies, metrics, monitor lines and event log of every kind keep their golden shape",
    "[host][compat]") {
  TempDir dir;
  write_file(dir.file("level.txt"), "42\n");
  Daemon d(dir, config());

  // Everything the daemon publishes from now on, read on its own thread so that the socket
  // never fills (knob: 2000 edges/s); until EOF when the daemon stops.
  Connection monitor(d.socket());
  monitor.send(make_request("monitor"));
  const auto ack = monitor.read_line(5s);
  REQUIRE(ack);
  Lines monitor_lines;
  std::thread reader([&] {
    while (const auto l = monitor.read_line(20s)) monitor_lines.push_back(*l);
  });
  // On a failed REQUIRE: stop the daemon, so that the reader sees EOF and ends.
  struct Join {
    Daemon& daemon;
    std::thread& worker;
    ~Join() {
      if (!worker.joinable()) return;
      daemon.process().signal(SIGTERM);
      worker.join();
    }
  } join{d, reader};

  // Every kind has done everything it does (see the header comment).
  {  // (the INFO below is for this wait only)
    Json buttons, imu, counters, status;
    const bool ready = wait_until(
        [&] {
          status = d.ok("status");
          buttons = d.ok("buttons");
          imu = d.ok("imu");
          counters = d.ok("counters");
          for (const auto& [dev, role] : std::vector<std::pair<std::string, std::string>>{
                   {"knob", "a"}, {"knob", "b"}, {"flow", "line"}, {"imu0", "data_ready"}}) {
            const Json line = status_line(status, dev, role);
            if (line.is_null() || line.value("edges", 0) == 0) return false;
          }
          const Json& b = buttons.at("buttons");
          return figure(b, "start", "click") > 0 && figure(b, "start", "double_click") > 0 &&
                 figure(b, "start", "long_press") > 0 && figure(b, "door", "open") > 0 &&
                 figure(b, "door", "close") > 0 && figure(imu.at("imu"), "imu0", "written") > 0 &&
                 figure(imu.at("imu"), "imu1", "written") > 0 &&
                 figure(counters.at("counters"), "level", "reads") > 0;
        },
        10s);
    INFO("status: " << status.dump() << "\nbuttons: " << buttons.dump() << "\nimu: " << imu.dump()
                    << "\ncounters: " << counters.dump());
    REQUIRE(ready);
  }

  const RunResult version = run({gpioirqd_path(), "--version"});
  const Normaliser n{dir.path().string(), version.out.substr(0, version.out.find('\n'))};

  const RunResult check = run({gpioirqd_path(), "--check-config", d.config_path()});
  Lines check_lines = split_lines(check.out + check.err);
  for (auto& l : check_lines)
    for (std::size_t at; (at = l.find(d.config_path())) != std::string::npos;)
      l.replace(at, d.config_path().size(), "$CONFIG");
  check_lines.push_back("exit " + std::to_string(check.exit_code));
  check_golden("check_config.txt", check_lines);
  // The start-up line (the journal's, under systemd), from "running:" on.
  Lines startup;
  for (const auto& l : split_lines(d.stderr_text()))
    if (const auto at = l.find(" running: "); at != std::string::npos)
      startup.push_back(n.text(l.substr(at + 1)));
  check_golden("startup.txt", startup);

  check_golden("status.txt", shape(d.ok("status"), n));
  for (const char* cmd : {"encoders", "buttons", "counters", "imu", "latency", "devices"})
    check_golden(std::string(cmd) + ".txt", shape(d.ok(cmd), n));
  const Json metrics = d.ok("metrics");
  check_golden("metrics.txt", metrics_shape(metrics.at("text").get<std::string>()));
  check_golden("reset.txt",
               shape(d.ok("reset", {{"names", {"idle", "knob", "start", "door", "flow"}}}), n));

  const std::string log_path = d.event_log();
  REQUIRE(d.stop() == 0);
  reader.join();
  Lines monitor_out = shape(Json::parse(*ack), n);
  for (auto& l : monitor_shape(monitor_lines)) monitor_out.push_back(std::move(l));
  check_golden("monitor.txt", monitor_out);
  check_golden("event_log.txt", event_log_shape(read_file(log_path)));
  Lines files;
  for (const auto& e : std::filesystem::directory_iterator(d.log_dir()))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  check_golden("log_files.txt", files);
}
