// IMU accounting under faults: every frame number a sample took is either in the IMU's
// file or inside exactly one frame GAP row of the event log, and the totals the daemon
// logs at the stop (EVENT `frames`: sampled, lost) agree. Faults: the log directory on a
// small tmpfs filled up (the file refuses frames; freed again, or full until the stop so
// that the last buffered frames never reach the file), and the daemon stopped (SIGSTOP)
// for a while, so that a timer IMU misses ticks and a data-ready IMU's burst of queued
// edges overruns its ring.

#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

// Mounts undone (lazily) in reverse order, also when a check fails.
class Mounts {
 public:
  ~Mounts() {
    for (auto it = targets_.rbegin(); it != targets_.rend(); ++it)
      ::umount2(it->c_str(), MNT_DETACH);
  }
  // 0 or errno.
  int tmpfs(const std::string& target, std::size_t bytes) {
    std::filesystem::create_directories(target);
    const std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
    if (::mount("tmpfs", target.c_str(), "tmpfs", 0, options.c_str()) != 0) return errno;
    targets_.push_back(target);
    return 0;
  }
  int bind(const std::string& source, const std::string& target) {
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) return errno;
    targets_.push_back(target);
    return 0;
  }

 private:
  std::vector<std::string> targets_;
};

// Writes into `path` until the file system is full; returns the bytes written.
std::size_t fill(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::vector<char> chunk(64 * 1024, 'x');
  std::size_t total = 0;
  for (std::size_t size : {std::size_t{64 * 1024}, std::size_t{4096}, std::size_t{1}}) {
    for (;;) {
      const ssize_t n = ::write(fd, chunk.data(), size);
      if (n <= 0) break;
      total += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return total;
}

Json imu_named(const Json& reply, const std::string& name) {
  for (const auto& m : reply.at("imu"))
    if (m.at("name") == name) return m;
  return Json();
}

// The frame counters in an IMU file, in file order, as `gpioirqctl decode` gives them
// (extended frames: a 32-bit counter, not wrapped in these short runs).
std::vector<std::uint64_t> file_counters(const Daemon& d, const std::string& name) {
  const RunResult r = ctl(d.socket(), {"decode", d.log_dir() + "/" + name + ".imu"});
  INFO("decode " << name << " stderr: " << r.err);
  REQUIRE((r.exit_code == 0 || r.exit_code == 6));
  std::vector<std::uint64_t> counters;
  std::istringstream in(r.out);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) {
      CHECK(line.find("skipped") == std::string::npos);  // no garbage in the file
      continue;
    }
    if (header) {
      header = false;
      continue;
    }
    counters.push_back(std::stoull(line.substr(0, line.find(','))));
  }
  return counters;
}

struct Account {
  std::uint64_t sampled = 0, lost = 0;  // from the EVENT `frames` row
  std::uint64_t in_file = 0;
  std::uint64_t gap_lost[2] = {0, 0};  // imu_overrun, log_full
  std::size_t gap_rows[2] = {0, 0};
};

// The invariant a user checks: the file's counters and the frame GAP rows' spans cover
// 0 .. sampled-1, each number once; sampled = in the file + lost.
Account check_account(const Daemon& d, const std::vector<LogRecord>& log, const std::string& name) {
  INFO("IMU " << name);
  Account a;
  int totals = 0;
  for (const auto& r : log)
    if (r.type == "EVENT" && r.device == name && r.kind == "frames") {
      ++totals;
      a.sampled = std::stoull(r.value);
    }
  REQUIRE(totals == 1);
  REQUIRE(a.sampled > 0);
  std::vector<std::uint8_t> seen(a.sampled, 0);
  std::uint64_t twice = 0, outside = 0;
  auto mark = [&](std::uint64_t n) {
    if (n >= a.sampled)
      ++outside;
    else if (seen[n]++)
      ++twice;
  };
  const std::vector<std::uint64_t> counters = file_counters(d, name);
  for (std::size_t i = 0; i < counters.size(); ++i) {
    if (i > 0) CHECK(counters[i] > counters[i - 1]);
    mark(counters[i]);
  }
  a.in_file = counters.size();
  for (const auto& r : log) {
    if (r.type != "GAP" || r.device != name) continue;
    INFO("GAP " << r.kind << " lost " << r.lost << " from " << r.from << " to " << r.to);
    REQUIRE(r.unit == "frame");
    REQUIRE((r.kind == "imu_overrun" || r.kind == "log_full"));
    CHECK(r.from < r.to);
    CHECK(r.lost == r.to - r.from - 1);  // exclusive bounds
    CHECK(r.lost > 0);
    const int k = r.kind == "imu_overrun" ? 0 : 1;
    a.gap_lost[k] += static_cast<std::uint64_t>(r.lost);
    ++a.gap_rows[k];
    for (std::int64_t n = r.from + 1; n < r.to; ++n) mark(static_cast<std::uint64_t>(n));
  }
  a.lost = a.gap_lost[0] + a.gap_lost[1];
  std::uint64_t missing = 0;
  for (auto s : seen) missing += s == 0;
  INFO("sampled " << a.sampled << ", in the file " << a.in_file << ", lost " << a.gap_lost[0]
                  << " (imu_overrun) + " << a.gap_lost[1] << " (log_full)");
  CHECK(twice == 0);
  CHECK(outside == 0);
  CHECK(missing == 0);
  CHECK(a.in_file + a.lost == a.sampled);
  return a;
}

std::string imu_config(std::string_view daemon_extra, std::string_view imu0_extra,
                       std::string_view imu1_extra) {
  return daemon_section(daemon_extra) + sim_chip_section() + R"(
[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "data-ready"
chip = "sim0"
data_ready = 5
rate_hz = 1000
format = "extended"
)" + std::string(imu0_extra) +
         R"(

[[imu]]
name = "imu1"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 2000
format = "extended"
)" + std::string(imu1_extra) +
         "\n";
}

// The `frames` totals row's value2 (lost), which LogRecord does not carry: from the CSV.
std::uint64_t totals_lost(const Daemon& d, const std::string& name) {
  std::istringstream in(read_file(d.event_log()));
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("EVENT,") && line.find("," + name + ",") != std::string::npos &&
        line.find(",frames,") != std::string::npos) {
      // ...,kind,value,value2,...
      const auto k = line.find(",frames,");
      const auto v = line.find(',', k + 8);
      const auto v2 = line.find(',', v + 1);
      return std::stoull(line.substr(v + 1, v2 - v - 1));
    }
  FAIL("no frames row for " << name);
  return 0;
}

}  // namespace

TEST_CASE("IMU: a full disk loses frames only with GAP rows, for a data-ready and a timer IMU",
          "[host][imu]") {
  TempDir dir;
  Mounts mounts;
  if (const int err = mounts.tmpfs(dir.file("logs"), 4u << 20); err != 0)
    SKIP("cannot mount a tmpfs for the log directory (" << std::strerror(err)
                                                        << "): needs root / CAP_SYS_ADMIN");

  Daemon d(dir, imu_config("flush_interval_ms = 200", "", ""));
  REQUIRE(wait_until(
      [&] { return imu_named(d.ok("imu"), "imu1").at("written").get<std::uint64_t>() >= 500; },
      10s));

  // Disk full: the files take what still fits in their buffers, then refuse frames.
  const std::string filler = d.log_dir() + "/filler";
  const auto full_since = Clock::now();
  fill(filler);
  Json imu;
  const bool refused = wait_until(
      [&] {
        imu = d.ok("imu");
        return imu_named(imu, "imu0").value("frames_lost_file", 0) > 500 &&
               imu_named(imu, "imu1").value("frames_lost_file", 0) > 500;
      },
      20s, 200ms);
  INFO("imu while full: " << imu.dump());
  CHECK(refused);
  CHECK_FALSE(imu_named(imu, "imu0").value("file_healthy", true));

  // Space again: the files catch up with what they hold, and take new frames.
  std::filesystem::remove(filler);
  std::uint64_t written_after = 0;
  CHECK(wait_until(
      [&] {
        imu = d.ok("imu");
        const Json m = imu_named(imu, "imu1");
        written_after = m.at("written").get<std::uint64_t>();
        return m.at("file_healthy").get<bool>() && m.at("unwritten").get<std::uint64_t>() < 2000;
      },
      10s));
  REQUIRE(wait_until(
      [&] {
        return imu_named(d.ok("imu"), "imu1").at("written").get<std::uint64_t>() >=
               written_after + 1000;
      },
      10s));
  const Json before_stop = d.ok("imu");
  const double full_s = std::chrono::duration<double>(Clock::now() - full_since).count();

  REQUIRE(d.stop(SIGTERM) == 0);
  const auto log = read_event_log(d.event_log());
  for (const std::string name : {"imu0", "imu1"}) {
    const Account a = check_account(d, log, name);
    INFO("IMU " << name);
    CHECK(a.gap_lost[1] > 500);  // the full disk cost frames, each in a log_full row
    CHECK(totals_lost(d, name) == a.lost);
    // Coalesced: a log_full row per stretch of refusals, ended by a flush tick (every
    // 200 ms), the file taking frames again, or another loss (an overrun) in between;
    // not one per refused block.
    INFO("log_full rows " << a.gap_rows[1] << ", imu_overrun rows " << a.gap_rows[0]
                          << ", full for " << full_s << " s");
    CHECK(a.gap_rows[1] <= a.gap_rows[0] + static_cast<std::size_t>(full_s / 0.2) + 2);
    CHECK(a.sampled >= imu_named(before_stop, name).at("sampled").get<std::uint64_t>());
  }
}

TEST_CASE("IMU: frames buffered for a disk still full at the stop are GAP rows, not vanished",
          "[host][imu]") {
  TempDir dir;
  Mounts mounts;
  // The IMU files on a small tmpfs; the event log bound in from the roomy temp dir, so
  // that its GAP rows can still be written when the IMU files cannot.
  if (const int err = mounts.tmpfs(dir.file("logs"), 4u << 20); err != 0)
    SKIP("cannot mount a tmpfs for the log directory (" << std::strerror(err)
                                                        << "): needs root / CAP_SYS_ADMIN");
  write_file(dir.file("events.csv"), "");
  write_file(dir.file("logs/events.csv"), "");
  REQUIRE(mounts.bind(dir.file("events.csv"), dir.file("logs/events.csv")) == 0);

  Daemon d(dir, imu_config("flush_interval_ms = 200", "", ""));
  REQUIRE(wait_until(
      [&] { return imu_named(d.ok("imu"), "imu1").at("written").get<std::uint64_t>() >= 500; },
      10s));
  fill(d.log_dir() + "/filler");
  Json imu;
  CHECK(wait_until(
      [&] {
        imu = d.ok("imu");
        return imu_named(imu, "imu0").value("frames_lost_file", 0) > 200 &&
               imu_named(imu, "imu1").value("frames_lost_file", 0) > 200;
      },
      20s, 200ms));
  INFO("imu before stop: " << imu.dump());
  const std::uint64_t unwritten = imu_named(imu, "imu1").value("unwritten", 0);
  CHECK(unwritten > 0);

  REQUIRE(d.stop(SIGTERM) == 0);
  const auto log = read_event_log(d.event_log());
  for (const std::string name : {"imu0", "imu1"}) {
    const Account a = check_account(d, log, name);
    INFO("IMU " << name);
    CHECK(totals_lost(d, name) == a.lost);
    CHECK(a.gap_lost[1] > 200);
  }
}

TEST_CASE("IMU: missed timer ticks and ring overruns advance the frame counter (SIGSTOP)",
          "[host][imu]") {
  TempDir dir;
  // imu0: a 25-frame ring, so the burst of data-ready edges queued while stopped
  // overruns it; imu1: a 2 kHz timer that misses its ticks while stopped.
  Daemon d(dir, imu_config("flush_interval_ms = 200", "buffer_ms = 20\nblock_records = 5", ""));
  REQUIRE(wait_until(
      [&] { return imu_named(d.ok("imu"), "imu1").at("written").get<std::uint64_t>() >= 1000; },
      10s));
  d.process().signal(SIGSTOP);
  std::this_thread::sleep_for(1500ms);  // the fault's length, not a synchronisation
  d.process().signal(SIGCONT);
  const std::uint64_t resumed = imu_named(d.ok("imu"), "imu1").at("written").get<std::uint64_t>();
  REQUIRE(wait_until(
      [&] {
        return imu_named(d.ok("imu"), "imu1").at("written").get<std::uint64_t>() >= resumed + 1000;
      },
      10s));
  const Json status = d.ok("imu");
  INFO("imu: " << status.dump());
  CHECK(imu_named(status, "imu1").at("missed_ticks").get<std::uint64_t>() >= 2000);
  REQUIRE(d.stop(SIGTERM) == 0);

  const auto log = read_event_log(d.event_log());
  const Account ready = check_account(d, log, "imu0");
  const Account timer = check_account(d, log, "imu1");
  // 1.5 s stopped: about 1500 data-ready edges came in one burst into a 25-frame ring
  // (most of them overrun it; how many the loop saved depends on the machine), and about
  // 3000 timer ticks were missed; each shows as a counter jump in the file covered by
  // imu_overrun rows.
  CHECK(ready.gap_lost[0] >= 500);
  CHECK(timer.gap_lost[0] >= 2000);
  CHECK(ready.gap_lost[1] == 0);
  CHECK(timer.gap_lost[1] == 0);
  CHECK(totals_lost(d, "imu0") == ready.lost);
  CHECK(totals_lost(d, "imu1") == timer.lost);
}

TEST_CASE("The event log's disk still full at the stop: the journal says how much of it was lost",
          "[host][imu]") {
  // The event log is where losses are written down; records it cannot write at the stop
  // have no other place than the journal (stderr here), which must say so and how much.
  TempDir dir;
  Mounts mounts;
  if (const int err = mounts.tmpfs(dir.file("logs"), 1u << 20); err != 0)
    SKIP("cannot mount a tmpfs for the log directory (" << std::strerror(err)
                                                        << "): needs root / CAP_SYS_ADMIN");
  Daemon d(dir, daemon_section("log_edges = true\nflush_interval_ms = 200") + sim_chip_section() +
                    "[[counter]]\nname = \"flow\"\nchip = \"sim0\"\nline = 1\nsim_rate_hz = 2000\n");
  fill(d.log_dir() + "/filler");
  // Edges keep coming: their rows pile up in the log's buffer, which the disk refuses.
  REQUIRE(wait_until([&] { return !d.ok("status").at("log").at("healthy").get<bool>(); }, 10s, 100ms));
  const auto edges_then = d.ok("counters").at("counters").at(0).at("count").get<std::uint64_t>();
  REQUIRE(wait_until(
      [&] { return d.ok("counters").at("counters").at(0).at("count").get<std::uint64_t>() > edges_then + 200; },
      10s));
  CHECK(d.stop() == 0);
  const std::string err = d.stderr_text();
  INFO(err);
  const auto at = err.find("could not be written at the stop: ");
  REQUIRE(at != std::string::npos);
  const std::uint64_t bytes = std::stoull(err.substr(at + std::string("could not be written at the stop: ").size()));
  CHECK(bytes > 0);
}
