// Shutdown on SIGTERM: exit 0, the STOP marker is the event log's last record (only its
// TIME pair follows), the socket is gone, and every IMU file decodes with
// `gpioirqctl decode` to frames whose counters run on from 0 without a break, at least as
// many as the daemon had reported just before it was stopped.

#include <catch2/catch_test_macros.hpp>

#include <signal.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

std::string config() {
  return daemon_section("flush_interval_ms = 200") + sim_chip_section() + R"(

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 1000

[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "data-ready"
chip = "sim0"
data_ready = 5
rate_hz = 1000
format = "extended"

[[imu]]
name = "imu1"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 250
format = "seed"
)";
}

struct Decoded {
  std::vector<std::string> comments;
  std::string columns;
  std::vector<std::vector<std::string>> rows;
};

Decoded parse_decode(const std::string& text) {
  Decoded d;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) {
      d.comments.push_back(line);
    } else if (d.columns.empty()) {
      d.columns = line;
    } else {
      std::vector<std::string> fields;
      std::string f;
      std::istringstream row(line);
      while (std::getline(row, f, ',')) fields.push_back(f);
      if (line.ends_with(',')) fields.emplace_back();
      d.rows.push_back(std::move(fields));
    }
  }
  return d;
}

Json imu_named(const Json& reply, const std::string& name) {
  for (const auto& m : reply.at("imu"))
    if (m.at("name") == name) return m;
  return Json();
}

std::int64_t overrun_gap_lost(const std::vector<LogRecord>& log, const std::string& device) {
  std::int64_t lost = 0;
  for (const auto& r : log)
    if (r.type == "GAP" && r.device == device && r.kind == "imu_overrun") lost += r.lost;
  return lost;
}

}  // namespace

TEST_CASE("SIGTERM: exit 0, STOP last in the log, IMU files decode with continuous counters", "[host][shutdown]") {
  TempDir dir;
  Daemon d(dir, config());
  Json imu;
  REQUIRE(wait_until(
      [&] {
        imu = d.ok("imu");
        return imu_named(imu, "imu0").at("written").get<std::uint64_t>() >= 300 &&
               imu_named(imu, "imu1").at("written").get<std::uint64_t>() >= 50;
      },
      10s));
  imu = d.ok("imu");  // the figures just before the stop
  INFO("imu before stop: " << imu.dump());

  REQUIRE(d.stop(SIGTERM) == 0);
  CHECK_FALSE(exists(d.socket()));

  const auto log = read_event_log(d.event_log());
  REQUIRE(log.size() >= 3);
  CHECK(log.front().type == "START");
  std::size_t stops = 0, stop_at = 0;
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i].type == "STOP") ++stops, stop_at = i;
  REQUIRE(stops == 1);
  for (std::size_t i = stop_at + 1; i < log.size(); ++i) {
    INFO("record " << i << " after STOP: " << log[i].type);
    CHECK(log[i].type == "TIME");  // a marker is followed by its time pair, nothing else
  }

  for (const std::string name : {"imu0", "imu1"}) {
    INFO("IMU " << name);
    const Json before = imu_named(imu, name);
    const RunResult r = ctl(d.socket(), {"decode", d.log_dir() + "/" + name + ".imu"});
    INFO("decode stderr: " << r.err);
    // 0: decoded whole; 6: decoded, but frames were missing (the CSV says where).
    REQUIRE((r.exit_code == 0 || r.exit_code == 6));
    const Decoded dec = parse_decode(r.out);
    const bool extended = name == "imu0";
    CHECK(dec.columns == (extended ? "counter,ts_ns,ax,ay,az,temp,gx,gy,gz" : "counter,ts_ns,ax,ay,az"));
    REQUIRE_FALSE(dec.comments.empty());
    CHECK(dec.comments[0].find("device=" + name) != std::string::npos);

    // Frame counters: from 0, +1 each (seed: modulo 2^14); a break only where the log
    // has an imu_overrun GAP of exactly that size (missed timer ticks take counter
    // values too).
    std::int64_t missing = 0;
    for (const auto& c : dec.comments) {
      INFO(c);
      CHECK(c.find("skipped") == std::string::npos);
      CHECK(c.find("trailing") == std::string::npos);
    }
    const std::uint64_t modulo = extended ? (1ull << 32) : (1ull << 14);
    std::optional<std::uint64_t> prev_counter;
    std::uint64_t prev_ts = 0;
    int bad_rows = 0;
    for (std::size_t i = 0; i < dec.rows.size(); ++i) {
      const auto& row = dec.rows[i];
      if (row.size() != (extended ? 9u : 5u)) {
        ++bad_rows;
        continue;
      }
      const std::uint64_t counter = std::stoull(row[0]);
      std::uint64_t step = 1;  // counter values since the previous frame
      if (prev_counter) {
        step = (counter + modulo - *prev_counter) % modulo;
        missing += static_cast<std::int64_t>(step) - 1;
      }
      prev_counter = counter;
      if (extended) {
        const std::uint64_t ts = std::stoull(row[1]);
        // One frame per data-ready edge, 1 ms apart on the sim chip.
        if (i > 0 && ts - prev_ts != step * 1'000'000 && bad_rows++ < 5)
          UNSCOPED_INFO("ts step " << ts - prev_ts << " ns over " << step << " frames at row " << i);
        prev_ts = ts;
        // The sim IMU writes its frame index into gx.
        if (std::stoll(row[6]) != static_cast<std::int64_t>(counter & 0x7fff) && bad_rows++ < 5)
          UNSCOPED_INFO("gx " << row[6] << " for counter " << counter);
      } else {
        CHECK(row[1].empty());
      }
    }
    CHECK(bad_rows == 0);
    REQUIRE_FALSE(dec.rows.empty());
    // The file starts at frame 0, unless the first frames were lost before any reached it
    // (a slow machine: the loop fell behind at the start). Those are in the event log's
    // GAPs like every other loss; the file cannot show them as a jump.
    const std::int64_t lost_before_first = std::stoll(dec.rows.front()[0]);
    const std::int64_t gap_lost = overrun_gap_lost(log, name);
    INFO("missing frames " << missing << " between frames, " << lost_before_first
                           << " before the first; imu_overrun GAP lost " << gap_lost);
    CHECK(missing + lost_before_first == gap_lost);
    std::size_t discontinuities = 0;
    for (const auto& c : dec.comments) discontinuities += c.find("discontinuity") != std::string::npos;
    CHECK((discontinuities == 0) == (missing == 0));
    CHECK(r.exit_code == (missing == 0 ? 0 : 6));
    // Everything the daemon had taken before the stop is in the file.
    CHECK(dec.rows.size() >= before.at("frames").get<std::uint64_t>());
    CHECK(dec.rows.size() >= before.at("written").get<std::uint64_t>());
  }
}

TEST_CASE("run-seconds: the daemon stops by itself, exit 0, STOP last", "[host][shutdown]") {
  TempDir dir;
  const auto started = Clock::now();
  Daemon d(dir, config(), {"--run-seconds", "0.7"});
  const auto code = d.process().wait_for(15s);
  INFO("gpioirqd stderr:\n" << d.stderr_text());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(Clock::now() - started >= 700ms);
  CHECK_FALSE(exists(d.socket()));
  const auto log = read_event_log(d.event_log());
  REQUIRE(log.size() >= 2);
  CHECK(log.front().type == "START");
  std::size_t last_not_time = log.size() - 1;
  while (last_not_time > 0 && log[last_not_time].type == "TIME") --last_not_time;
  CHECK(log[last_not_time].type == "STOP");
}

TEST_CASE("kill -9: the next run says the previous one ended without a STOP", "[host][shutdown]") {
  // A run killed with SIGKILL cannot write what it still held; the next START row and
  // status say so (the loss cannot be counted, but it is not silent). A clean stop after
  // that is not reported the next time.
  TempDir dir;
  const std::string cfg = daemon_section() + sim_chip_section() +
                          "[[counter]]\nname = \"flow\"\nchip = \"sim0\"\nline = 1\nsim_rate_hz = 500\n";
  std::string events;
  {
    Daemon d(dir, cfg);
    CHECK(d.ok("status").at("previous_run_unstopped") == false);
    REQUIRE(wait_until([&] { return d.ok("counters").at("counters").at(0).at("count").get<int>() > 100; }, 10s));
    events = d.event_log();
    CHECK(d.stop(SIGKILL) == -SIGKILL);
  }
  {
    Daemon d(dir, cfg);
    CHECK(d.ok("status").at("previous_run_unstopped") == true);
    CHECK(d.stop() == 0);
    CHECK(d.stderr_text().find("the previous run ended without a STOP record") != std::string::npos);
  }
  {
    Daemon d(dir, cfg);
    CHECK(d.ok("status").at("previous_run_unstopped") == false);
    CHECK(d.stop() == 0);
  }
  std::vector<std::string> starts;
  for (const auto& r : read_event_log(events))
    if (r.type == "START") starts.push_back(r.info);
  // The killed run's own START may never have reached the file (it was killed within a
  // second of starting): the next two runs' START rows are the last two.
  REQUIRE(starts.size() >= 2);
  CHECK(starts[starts.size() - 2].find("the previous run ended without a STOP record (killed or crashed)") !=
        std::string::npos);
  CHECK(starts.back().find("previous run") == std::string::npos);
}
