// The daemon's log files against the outside world: an unsafe log_dir and links planted at
// log names refuse the start (exit 78, a clear message, nothing written through a link);
// logrotate's ways of rotating (move + SIGUSR1 or `gpioirqctl reopen`, copytruncate) and
// a deleted file lose nothing beyond what the user removed, and show in status.

#include <catch2/catch_test_macros.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include "harness.hpp"
#include "support/csv_parse.hpp"

namespace {

using namespace host;
namespace fs = std::filesystem;

// An encoder logging every edge, and a timer IMU with 32-bit frame counters.
std::string config() {
  return daemon_section("flush_interval_ms = 100\ntime_sync_interval_ms = 1000") +
         sim_chip_section() + R"(

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 400

[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 200
format = "extended"
)";
}

std::uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

std::uint64_t knob_edges(const Daemon& d) {
  const Json s = d.ok("status");
  return status_line(s, "knob", "a").value("edges", std::uint64_t{0}) +
         status_line(s, "knob", "b").value("edges", std::uint64_t{0});
}

Json file_status(const Json& status, const std::string& path) {
  for (const auto& f : status.at("files"))
    if (f.at("path") == path) return f;
  return Json();
}

// gpioirqctl decode FILE: the frame counters in file order (exit code checked by caller).
struct Decoded {
  int exit_code = -1;
  std::vector<std::uint64_t> counters;
  std::string err;
};
Decoded decode(const std::string& file) {
  const RunResult r = run({gpioirqctl_path(), "decode", file});
  Decoded d{r.exit_code, {}, r.err};
  for (const auto& row : gpioirq_test::parse_csv(r.out)) {
    if (row.empty() || row[0].empty() || row[0][0] == '#' || row[0] == "counter") continue;
    d.counters.push_back(std::stoull(row[0]));
  }
  return d;
}

// Runs gpioirqd on `config_text` in `dir` expecting it to refuse to start.
RunResult start_refused(const TempDir& dir, const std::string& config_text) {
  write_file(dir.file("gpioirqd.toml"), config_text);
  return run({gpioirqd_path(), "-c", dir.file("gpioirqd.toml"), "--run-seconds", "3"});
}

// The records of a reopen test: every edge of the knob from its first (line_seqno 1) to
// its last, across the moved-away file and the new one, with no hole nor GAP; the IMU's
// frame counters continuous from the old file into the new one.
void check_nothing_lost(const Daemon& d, const std::string& moved_log, const std::string& moved_imu,
                        const std::string& reason) {
  const std::vector<LogRecord> old_log = read_event_log(moved_log);
  const std::vector<LogRecord> new_log = read_event_log(d.event_log());
  REQUIRE_FALSE(old_log.empty());
  REQUIRE_FALSE(new_log.empty());
  // The old file ends where the reopen was asked for: no REOPEN and no STOP in it.
  for (const auto& r : old_log) CHECK(r.type != "REOPEN");
  CHECK(old_log.front().type == "START");
  const auto reopen = std::find_if(new_log.begin(), new_log.end(),
                                   [](const LogRecord& r) { return r.type == "REOPEN"; });
  REQUIRE(reopen != new_log.end());
  CHECK(new_log.front().type == "TIME");  // a file begun by a reopen can be read on its own
  CHECK(reopen->info == "reopened " + d.event_log() + " (" + reason + ")");
  const auto is_stop = [](const LogRecord& r) { return r.type == "STOP"; };
  CHECK(std::count_if(new_log.begin(), new_log.end(), is_stop) == 1);  // STOP, then its TIME
  CHECK(std::none_of(old_log.begin(), old_log.end(), is_stop));

  std::vector<LogRecord> all = old_log;
  all.insert(all.end(), new_log.begin(), new_log.end());
  const auto lines = account_lines(all);
  std::int64_t old_edges = 0, new_edges = 0;
  for (const auto& r : old_log) old_edges += r.type == "EDGE";
  for (const auto& r : new_log) new_edges += r.type == "EDGE";
  INFO("edges in the old file " << old_edges << ", in the new one " << new_edges);
  CHECK(old_edges > 0);
  CHECK(new_edges > 0);
  for (const char* role : {"a", "b"}) {
    const LineAccount& a = lines.at({"knob", role});
    INFO("knob/" << role);
    for (const auto& p : a.problems) FAIL_CHECK(p);
    CHECK(a.segment_starts.size() == 1);  // one run from seqno 1, through both files
    CHECK(a.edges == a.last_seqno);       // every seqno once: nothing lost, nothing doubled
    CHECK(a.ring_lost + a.kernel_lost + a.other_lost == 0);
  }

  // The IMU file: the new one begins with its own header and carries the counter on.
  const Decoded old_frames = decode(moved_imu);
  const Decoded new_frames = decode(d.log_dir() + "/imu0.imu");
  INFO("decode old: " << old_frames.err << "decode new: " << new_frames.err);
  REQUIRE_FALSE(old_frames.counters.empty());
  REQUIRE_FALSE(new_frames.counters.empty());
  // On a loaded machine the timer IMU may miss ticks: its counter then jumps (decode exits
  // 6), and each jump must be exactly an imu_overrun GAP row's span. Nothing else may.
  std::set<std::pair<std::int64_t, std::int64_t>> frame_gaps;
  for (const auto* log : {&old_log, &new_log})
    for (const auto& r : *log)
      if (r.type == "GAP" && r.device == "imu0" && r.unit == "frame") frame_gaps.emplace(r.from, r.to);
  // The first file starts at frame 0, or, when the first frames were lost before any
  // reached it (the loop behind at the start on a slow machine), at the frame after a GAP
  // from frame 0 on (empty `from`, -1 here).
  const auto first = static_cast<std::int64_t>(old_frames.counters.front());
  INFO("the old file starts at frame " << first);
  CHECK((first == 0 || frame_gaps.erase({-1, first}) == 1));
  std::vector<std::uint64_t> counters = old_frames.counters;
  counters.insert(counters.end(), new_frames.counters.begin(), new_frames.counters.end());
  std::size_t jumps = 0;
  for (std::size_t i = 1; i < counters.size(); ++i) {
    if (counters[i] == counters[i - 1] + 1) continue;
    ++jumps;
    INFO("frame counter jumps from " << counters[i - 1] << " to " << counters[i]);
    CHECK(frame_gaps.count({static_cast<std::int64_t>(counters[i - 1]), static_cast<std::int64_t>(counters[i])}) == 1);
  }
  CHECK(jumps == frame_gaps.size());
  CHECK((old_frames.exit_code == 0 || (old_frames.exit_code == 6 && jumps > 0)));
  CHECK((new_frames.exit_code == 0 || (new_frames.exit_code == 6 && jumps > 0)));
  bool imu_marker = false;
  for (const auto& r : new_log)
    imu_marker |=
        r.type == "REOPEN" && r.info == "reopened " + d.log_dir() + "/imu0.imu (" + reason + ")";
  CHECK(imu_marker);
}

// Moves both files away as logrotate does, asks for the reopen with `ask`, waits for rows
// in the new files, stops the daemon and checks that nothing was lost.
template <typename Ask>
void move_and_reopen(const std::string& reason, Ask ask, int expect_found_moved = 0) {
  TempDir dir;
  Daemon d(dir, config());
  const std::string log = d.log_dir() + "/events.csv", imu = d.log_dir() + "/imu0.imu";
  REQUIRE(wait_until([&] { return knob_edges(d) > 100 && file_size(imu) > 128 + 10 * 32; }, 10s));

  fs::rename(log, log + ".1");
  fs::rename(imu, imu + ".1");
  // Asked for at once: the daemon's own check gives a moved file 1 s before it reopens it.
  CHECK_FALSE(fs::exists(log));
  ask(d);
  REQUIRE(wait_until([&] { return file_size(log) > 2000 && file_size(imu) > 128 + 20 * 32; }, 10s));
  const Json status = d.ok("status");
  CHECK(file_status(status, log).at("reopens") == 1);
  CHECK(file_status(status, imu).at("reopens") == 1);
  CHECK(status.at("files_found_moved") == expect_found_moved);  // 0: asked for, not found
  REQUIRE(d.stop() == 0);
  check_nothing_lost(d, log + ".1", imu + ".1", reason);
}

}  // namespace

TEST_CASE("A log_dir writable by others is refused at start: exit 78, and why", "[host][files]") {
  TempDir dir;
  fs::create_directory(dir.file("logs"));
  REQUIRE(::chmod(dir.file("logs").c_str(), 0777) == 0);
  const RunResult r = start_refused(dir, config());
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("log_dir " + dir.file("logs") + " is writable by others (mode 0777)") !=
        std::string::npos);
  CHECK(r.err.find("chmod go-w") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.file("logs/events.csv")));
}

TEST_CASE("A symbolic link at the event log's name: start refused, nothing written through it",
          "[host][files]") {
  TempDir dir;
  fs::create_directory(dir.file("logs"));
  write_file(dir.file("precious"), "precious\n");
  fs::create_symlink(dir.file("precious"), dir.file("logs/events.csv"));
  const RunResult r = start_refused(dir, config());
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("opening the event log " + dir.file("logs/events.csv") +
                   ": it is a symbolic link") != std::string::npos);
  CHECK(read_file(dir.file("precious")) == "precious\n");
}

TEST_CASE("A symbolic link at an IMU file's name: start refused, nothing written through it",
          "[host][files]") {
  TempDir dir;
  fs::create_directory(dir.file("logs"));
  write_file(dir.file("precious"), "precious\n");
  fs::create_symlink(dir.file("precious"), dir.file("logs/imu0.imu"));
  const RunResult r = start_refused(dir, config());
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("opening the IMU file " + dir.file("logs/imu0.imu") +
                   ": it is a symbolic link") != std::string::npos);
  CHECK(read_file(dir.file("precious")) == "precious\n");
}

TEST_CASE(
    "Moved away + SIGUSR1: new files at the paths, the old ones end at the reopen, nothing lost",
    "[host][files][reopen]") {
  move_and_reopen("SIGUSR1", [](Daemon& d) { d.process().signal(SIGUSR1); });
}

TEST_CASE("Moved away + gpioirqctl reopen: the same, and the reply lists what was reopened",
          "[host][files][reopen]") {
  move_and_reopen("gpioirqctl reopen", [](Daemon& d) {
    const RunResult r = ctl(d.socket(), {"--json", "reopen"});
    INFO("stdout: " << r.out << "stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    const Json reply = Json::parse(r.out);
    CHECK(reply.at("reopened") ==
          Json::array({d.log_dir() + "/events.csv", d.log_dir() + "/imu0.imu"}));
    CHECK(reply.at("failed").empty());
    // Asked again with nothing moved: nothing to do.
    const RunResult again = ctl(d.socket(), {"--json", "reopen"});
    REQUIRE(again.exit_code == 0);
    CHECK(Json::parse(again.out).at("reopened").empty());
    CHECK(Json::parse(again.out).at("unchanged").size() == 2);
  });
}

TEST_CASE("Moved away without a request: found by the daemon's check after its 1 s grace",
          "[host][files][reopen]") {
  move_and_reopen(
      "found moved or deleted", [](Daemon&) {}, 2);
}

TEST_CASE("Deleted log files are found within the check interval, opened anew, and counted",
          "[host][files][reopen]") {
  TempDir dir;
  Daemon d(dir, config());
  const std::string log = d.log_dir() + "/events.csv", imu = d.log_dir() + "/imu0.imu";
  REQUIRE(wait_until([&] { return knob_edges(d) > 50 && file_size(imu) > 128; }, 10s));

  REQUIRE(::unlink(log.c_str()) == 0);
  REQUIRE(::unlink(imu.c_str()) == 0);
  const auto removed = Clock::now();
  // flush_interval_ms = 100 is the check interval; allow a loaded machine some slack.
  REQUIRE(wait_until([&] { return fs::exists(log) && fs::exists(imu); }, 5s, 5ms));
  const auto found_after = Clock::now() - removed;
  CHECK(found_after < 2s);
  const Json status = d.ok("status");
  CHECK(status.at("files_found_moved") == 2);
  CHECK(file_status(status, log).at("reopens") == 1);
  CHECK(file_status(status, imu).at("reopens") == 1);
  CHECK(file_status(status, log).at("healthy") == true);
  // New rows keep coming into the new files.
  REQUIRE(wait_until([&] { return file_size(log) > 2000 && file_size(imu) > 128 + 10 * 32; }, 10s));
  REQUIRE(d.stop() == 0);

  const std::string err = d.stderr_text();
  CHECK(err.find("log file " + log + " was moved or deleted; opening it anew") !=
        std::string::npos);
  CHECK(err.find("log file " + imu + " was moved or deleted; opening it anew") !=
        std::string::npos);
  const auto records = read_event_log(log);
  REQUIRE_FALSE(records.empty());
  CHECK(records.front().type == "TIME");
  std::vector<std::string> reopens;
  for (const auto& r : records)
    if (r.type == "REOPEN") reopens.push_back(r.info);
  CHECK(reopens == std::vector<std::string>{"reopened " + log + " (found moved or deleted)",
                                            "reopened " + imu + " (found moved or deleted)"});
  CHECK(std::count_if(records.begin(), records.end(),
                      [](const LogRecord& r) { return r.type == "EDGE"; }) > 0);
  const Decoded frames = decode(imu);
  CHECK(frames.exit_code == 0);
  CHECK(frames.counters.size() >= 10);
}

TEST_CASE("copytruncate: a log truncated underneath carries on at its start, without NUL bytes",
          "[host][files][truncate]") {
  TempDir dir;
  Daemon d(dir, config());
  const std::string log = d.log_dir() + "/events.csv", imu = d.log_dir() + "/imu0.imu";
  REQUIRE(
      wait_until([&] { return file_size(log) > 20000 && file_size(imu) > 128 + 100 * 32; }, 20s));

  // What logrotate's copytruncate does: copy, then truncate the live file to 0.
  for (const std::string& path : {log, imu}) {
    fs::copy_file(path, path + ".1");
    REQUIRE(::truncate(path.c_str(), 0) == 0);
  }
  REQUIRE(wait_until([&] { return file_size(log) > 5000 && file_size(imu) > 128 + 50 * 32; }, 10s));
  const Json status = d.ok("status");
  REQUIRE(d.stop() == 0);

  const std::string text = read_file(log);
  CHECK(text.size() < 20000 + 5000);  // not the old length plus the new rows
  CHECK(text.find('\0') == std::string::npos);
  CHECK(text.starts_with("type,ts_ns,"));  // readable on its own: header, then a TIME
  const auto records = read_event_log(log);
  REQUIRE(records.size() > 10);
  CHECK(records.front().type == "TIME");
  CHECK(file_status(status, log).at("truncations") == 1);
  CHECK(file_status(status, imu).at("truncations") == 1);

  const std::string frames_text = read_file(imu);
  CHECK(frames_text.starts_with(std::string("GIRQIMU\n", 8)));
  const Decoded frames = decode(imu);
  INFO("decode: " << frames.err);
  // No zero-filled stretch, no counter jump inside the file: except frames the daemon
  // itself lost (an overrun, on a loaded machine), each said by a GAP row of imu0.
  if (frames.exit_code == 6) {
    for (std::size_t i = 1; i < frames.counters.size(); ++i) {
      if (frames.counters[i] == frames.counters[i - 1] + 1) continue;
      const auto first = static_cast<std::int64_t>(frames.counters[i - 1] + 1);
      const auto last = static_cast<std::int64_t>(frames.counters[i] - 1);
      INFO("frames " << first << ".." << last << " missing");
      CHECK(std::any_of(records.begin(), records.end(), [&](const LogRecord& r) {
        return r.type == "GAP" && r.device == "imu0" && r.from <= first && r.to >= last;
      }));
    }
  } else {
    CHECK(frames.exit_code == 0);
  }
  CHECK(frames.counters.size() >= 50);
  CHECK(frames.counters.front() > 0);  // the counter carries on from the copied part
}
