// Totals that survive restarts (#13): with [daemon] state_dir a counter's total and an
// encoder's position are saved in <state_dir>/state.json and restored at the next start,
// which the event log records (RESTORE: what, and how long nothing was watched). SIGTERM
// saves after the last drain, so the count continues exactly; SIGKILL loses at most what
// came after the last periodic save. `gpioirqctl set` gives a counter its meter's reading.
// A corrupt state file is set aside and said; the daemon starts from zero.

#include <catch2/catch_test_macros.hpp>

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

constexpr double kRateHz = 500;  // sim pulses per second
constexpr double kScale = 0.5;   // litres per pulse

std::string config(int save_interval_ms = 200, std::string_view counter_extra = "") {
  return daemon_section("state_dir = \"state\"\nstate_save_interval_ms = " +
                        std::to_string(save_interval_ms) + "\n") +
         sim_chip_section() + R"(

[[counter]]
name = "water"
chip = "sim0"
line = 4
scale = 0.5
unit = "l"
sim_rate_hz = 500
)" + std::string(counter_extra) +
         R"(

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
min = 0
max = 1000000
)";
}

Json water(const Daemon& d) {
  return d.ok("counters").at("counters").at(0);
}
std::uint64_t count(const Daemon& d) {
  return water(d).at("count").get<std::uint64_t>();
}

Json state_file(const TempDir& dir) {
  return Json::parse(read_file(dir.file("state/state.json")));
}

std::vector<LogRecord> markers(const Daemon& d, const std::string& type) {
  std::vector<LogRecord> out;
  for (const LogRecord& r : read_event_log(d.event_log()))
    if (r.type == type) out.push_back(r);
  return out;
}

// The log is written in batches: wait until `n` markers of `type` are in the file.
std::vector<LogRecord> wait_markers(const Daemon& d, const std::string& type, std::size_t n) {
  std::vector<LogRecord> found;
  wait_until(
      [&] {
        found = markers(d, type);
        return found.size() >= n;
      },
      5s);
  return found;
}

// "water: total 617 l (1234 pulses) restored; not watched for 3 s (saved 2026-...Z)"
struct Restored {
  std::uint64_t pulses = 0;
  long unwatched_s = -1;
};
Restored parse_restore(const std::string& info) {
  static const std::regex re(
      R"(^water: total [0-9.e+]+ l \(([0-9]+) pulses\) restored; not watched for ([0-9]+) s \(saved [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\)$)");
  std::smatch m;
  INFO("RESTORE info: " << info);
  REQUIRE(std::regex_match(info, m, re));
  return {std::stoull(m[1]), std::stol(m[2])};
}

}  // namespace

TEST_CASE("SIGTERM and a restart: the count continues from the saved total, RESTORE in the log",
          "[host][state]") {
  TempDir dir;
  std::uint64_t saved = 0;
  {
    Daemon d(dir, config());
    // No state file yet at the first start: nothing restored, nothing said in the log.
    REQUIRE(wait_until([&] { return count(d) > 300; }, 10s));
    CHECK(d.ok("status").at("state").at("path") == dir.file("state/state.json"));
    REQUIRE(d.stop(SIGTERM) == 0);
    CHECK(markers(d, "RESTORE").empty());  // the whole log, flushed at the stop
    // The stop saved every pulse it read: the last count row says the same total.
    saved = state_file(dir).at("devices").at("water").at("state").at("pulses").get<std::uint64_t>();
    std::int64_t last_count_row = -1;
    for (const LogRecord& r : read_event_log(d.event_log()))
      if (r.type == "EVENT" && r.device == "water" && r.kind == "count")
        last_count_row = r.int_value().value_or(-1);
    CHECK(saved > 300);
    CHECK(last_count_row == static_cast<std::int64_t>(saved));
    const Json entry = state_file(dir).at("devices").at("water");
    CHECK(entry.at("kind") == "counter");
    CHECK(state_file(dir).at("version") == 1);
    CHECK(state_file(dir).at("saved_boot_id").get<std::string>().size() == 36);
  }
  {
    Daemon d(dir, config());
    const std::uint64_t first = count(d);
    CHECK(first >= saved);  // never back to 0
    CHECK(first < saved + 5 * static_cast<std::uint64_t>(kRateHz));
    REQUIRE(wait_until([&] { return count(d) > saved + 100; }, 10s));
    CHECK(d.ok("status").at("state").at("restored") == 2);  // water and knob
    const auto restores = wait_markers(d, "RESTORE", 2);
    REQUIRE(restores.size() == 2);
    bool seen_water = false;
    for (const LogRecord& r : restores) {
      if (!r.info.starts_with("water:")) {
        CHECK(r.info.starts_with("knob: position 0 restored; not watched for "));
        continue;
      }
      seen_water = true;
      const Restored w = parse_restore(r.info);
      CHECK(w.pulses == saved);
      CHECK(w.unwatched_s >= 0);
      CHECK(w.unwatched_s <= 5);
    }
    CHECK(seen_water);
    // The RESTORE markers follow this run's START.
    const auto log = read_event_log(d.event_log());
    std::size_t last_start = 0, first_restore = 0;
    for (std::size_t i = 0; i < log.size(); ++i) {
      if (log[i].type == "START") last_start = i;
      if (log[i].type == "RESTORE" && first_restore == 0) first_restore = i;
    }
    CHECK(first_restore > last_start);
    REQUIRE(d.stop(SIGTERM) == 0);
  }
}

TEST_CASE("SIGKILL: the restart continues from the last periodic save", "[host][state]") {
  TempDir dir;
  constexpr int kIntervalMs = 300;
  std::uint64_t before_kill = 0;
  {
    Daemon d(dir, config(kIntervalMs));
    REQUIRE(wait_until([&] { return d.ok("status").at("state").at("saves") >= 3; }, 10s));
    before_kill = count(d);
    REQUIRE(d.stop(SIGKILL) == -SIGKILL);
  }
  const std::uint64_t saved =
      state_file(dir).at("devices").at("water").at("state").at("pulses").get<std::uint64_t>();
  CHECK(saved > 0);
  // What came after the last save is lost: at most one interval of pulses (and the time
  // between the count query and the kill), never more.
  CHECK(saved <= before_kill + static_cast<std::uint64_t>(kRateHz));
  CHECK(saved + static_cast<std::uint64_t>(kRateHz * kIntervalMs / 1000) + 50 >= before_kill);
  Daemon d(dir, config(kIntervalMs));
  CHECK(count(d) >= saved);
  const auto restores = wait_markers(d, "RESTORE", 2);
  REQUIRE_FALSE(restores.empty());
  bool seen = false;
  for (const LogRecord& r : restores) {
    if (!r.info.starts_with("water:")) continue;
    seen = true;
    CHECK(parse_restore(r.info).pulses == saved);
  }
  CHECK(seen);
  CHECK(d.ok("status").at("previous_run_unstopped") == true);
  REQUIRE(d.stop(SIGTERM) == 0);
}

TEST_CASE("gpioirqctl set water 12345.6: the value reads it, pulses add, a restart keeps it",
          "[host][state]") {
  TempDir dir;
  {
    Daemon d(dir, config());
    REQUIRE(wait_until([&] { return count(d) > 10; }, 10s));
    const RunResult r = ctl(d.socket(), {"--json", "set", "water", "12345.6"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    // value = 12345.6 + 0.5 l for every pulse since (24691 whole pulses and 0.1 l), in the
    // reply and in counters after it.
    for (const Json& w : {Json::parse(r.out).at("set"), water(d)}) {
      INFO(w.dump());
      CHECK(w.at("name") == "water");
      const double pulses_since = w.at("count").get<double>() - 24691;
      CHECK(pulses_since >= 0);
      CHECK(pulses_since < kRateHz);
      CHECK(std::abs(w.at("value").get<double>() - (12345.6 + pulses_since * kScale)) < 1e-6);
    }
    CHECK(Json::parse(r.out).at("kind") == "counter");
    // Saved at once.
    CHECK(state_file(dir).at("devices").at("water").at("state").at("pulses") >= 24691);
    const auto sets = wait_markers(d, "SET", 1);
    REQUIRE(sets.size() == 1);
    CHECK(sets[0].info == "water: set to 12345.6 by gpioirqctl set");

    // Refusals: exit 1 with the reason, nothing changed; a non-number is a usage error.
    const RunResult typo = ctl(d.socket(), {"set", "watr", "1"});
    CHECK(typo.exit_code == 1);
    CHECK(typo.err == "gpioirqctl: gpioirqd: unknown device 'watr'; did you mean 'water'?\n");
    const RunResult knob = ctl(d.socket(), {"set", "knob", "1"});
    CHECK(knob.exit_code == 1);
    CHECK(knob.err == "gpioirqctl: gpioirqd: set knob: a device of kind encoder cannot be set\n");
    const RunResult negative = ctl(d.socket(), {"set", "water", "--", "-3"});
    CHECK(negative.exit_code == 1);
    CHECK(negative.err.find("must be a finite number >= 0, found -3") != std::string::npos);
    CHECK(ctl(d.socket(), {"set", "water", "lots"}).exit_code == 2);
    CHECK(ctl(d.socket(), {"set", "water"}).exit_code == 2);
    CHECK(water(d).at("value").get<double>() >= 12345.6);
    REQUIRE(d.stop(SIGTERM) == 0);
  }
  const Json saved = state_file(dir).at("devices").at("water").at("state");
  const double saved_value = saved.at("value").get<double>();
  CHECK(saved_value >= 12345.6);
  Daemon d(dir, config());
  CHECK(water(d).at("value").get<double>() >= saved_value);
  REQUIRE(d.stop(SIGTERM) == 0);
}

TEST_CASE("reset is saved: a restart does not bring the old total back", "[host][state]") {
  TempDir dir;
  {
    Daemon d(dir, config(60'000));  // no periodic save during the test
    REQUIRE(wait_until([&] { return count(d) > 200; }, 10s));
    d.ok("reset", {{"names", {"water"}}});
    CHECK(state_file(dir).at("devices").at("water").at("state").at("pulses") < 200);
    REQUIRE(d.stop(SIGKILL) == -SIGKILL);  // only the save the reset made is there
  }
  Daemon d(dir, config(60'000));
  CHECK(count(d) < 200);
  REQUIRE(d.stop(SIGTERM) == 0);
}

TEST_CASE("a corrupt state file is set aside and said; the devices start from zero",
          "[host][state]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("state"));
  write_file(dir.file("state/state.json"), "{\"version\":1,\"devices\":{\"water\":{\"ki");
  Daemon d(dir, config(60'000));
  CHECK(count(d) < static_cast<std::uint64_t>(kRateHz));
  std::vector<std::string> bad;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("state")))
    if (e.path().filename().string().starts_with("state.json.bad-")) bad.push_back(e.path());
  REQUIRE(bad.size() == 1);
  CHECK(read_file(bad[0]) == "{\"version\":1,\"devices\":{\"water\":{\"ki");
  const auto restores = wait_markers(d, "RESTORE", 1);
  REQUIRE(restores.size() == 1);
  CHECK(restores[0].info == "the state file " + dir.file("state/state.json") +
                                " is not valid JSON; kept as " + bad[0] +
                                ": every device starts from zero");
  CHECK(d.stderr_text().find("is not valid JSON; kept as " + bad[0]) != std::string::npos);
  REQUIRE(d.stop(SIGTERM) == 0);
  // The stop wrote a good file again.
  CHECK(state_file(dir).at("devices").contains("water"));
}

TEST_CASE("a saved entry of another kind, or one its device refuses, starts from zero and says so",
          "[host][state]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("state"));
  write_file(dir.file("state/state.json"), R"({"version":1,"saved_realtime_ns":1,"devices":{
    "water":{"kind":"encoder","state":{"counts":5}},
    "knob":{"kind":"encoder","state":{"counts":"many"}},
    "gone":{"kind":"counter","state":{"pulses":5}}}})");
  Daemon d(dir, config(60'000));
  CHECK(count(d) < static_cast<std::uint64_t>(kRateHz));
  std::vector<std::string> infos;
  for (const LogRecord& r : wait_markers(d, "RESTORE", 2)) infos.push_back(r.info);
  std::sort(infos.begin(), infos.end());  // in the order the devices are made
  CHECK(infos == std::vector<std::string>{
                     "knob: its saved state was not used (no count (\"counts\": an integer)): "
                     "started from zero",
                     "water: saved as a encoder, now a counter: started from zero"});
  REQUIRE(d.stop(SIGTERM) == 0);
  // A device no longer configured is dropped at the next save.
  CHECK_FALSE(state_file(dir).at("devices").contains("gone"));
}

TEST_CASE("without state_dir nothing is saved or restored", "[host][state]") {
  TempDir dir;
  const std::string text = daemon_section() + sim_chip_section() + R"(
[[counter]]
name = "water"
chip = "sim0"
line = 4
sim_rate_hz = 500
)";
  {
    Daemon d(dir, text);
    REQUIRE(wait_until([&] { return count(d) > 100; }, 10s));
    CHECK_FALSE(d.ok("status").contains("state"));
    REQUIRE(d.stop(SIGTERM) == 0);
  }
  Daemon d(dir, text);
  CHECK(count(d) < 100);
  REQUIRE(d.stop(SIGTERM) == 0);
  CHECK(markers(d, "RESTORE").empty());  // the whole log, flushed at the stop
}

TEST_CASE("min_pulse_us on sim: a reed switch's bounces are not counted, its pulses are",
          "[host][state][debounce]") {
  TempDir dir;
  const std::string base = daemon_section() + sim_chip_section() + R"(
[[counter]]
name = "water"
chip = "sim0"
line = 4
sim_rate_hz = 500
)";
  // The sim makes each pulse a reed switch's: two 20 us bounces before it, one after, held
  // twice min_pulse_us (at most half of what the 2 ms period leaves): one pulse and three
  // bounces per cycle, of the high level for "rising", of the low one for "falling".
  for (const std::string extra :
       {"min_pulse_us = 100\n", "edge = \"falling\"\nmin_pulse_us = 500\n"}) {
    INFO(extra);
    TempDir run_dir;  // its own event log
    Daemon d(run_dir, base + extra);
    REQUIRE(wait_until([&] { return count(d) > 200; }, 10s));
    const Json w = water(d);
    const auto pulses = w.at("count").get<std::int64_t>();
    const auto bounces = w.at("bounces").get<std::int64_t>();
    INFO(w.dump());
    // Mid-cycle the bounces run up to three ahead of three per pulse (falling: the long low
    // ends at the next cycle's first rise), or one behind (rising: the release bounce).
    CHECK(bounces >= 3 * pulses - 1);
    CHECK(bounces <= 3 * pulses + 3);
    REQUIRE(d.stop(SIGTERM) == 0);
    // Both edges reach the line: 8 EDGE rows per cycle.
    std::int64_t edges = 0;
    for (const LogRecord& r : read_event_log(d.event_log()))
      if (r.type == "EDGE" && r.device == "water") ++edges;
    CHECK(edges >= 8 * pulses);
  }
  // Without a debounce every 50 us sim pulse counts, as before: no bounces member.
  Daemon d(dir, base);
  REQUIRE(wait_until([&] { return count(d) > 100; }, 10s));
  CHECK_FALSE(water(d).contains("bounces"));
  REQUIRE(d.stop(SIGTERM) == 0);
}

TEST_CASE(
    "reload: a changed counter is made anew from its saved total; a removed device is "
    "dropped from the file",
    "[host][state]") {
  TempDir dir;
  Daemon d(dir, config(60'000));
  REQUIRE(wait_until([&] { return count(d) > 300; }, 10s));
  // scale 0.5 -> 2: the counter is remade (a changed device); the encoder goes.
  const std::string changed =
      daemon_section("state_dir = \"state\"\nstate_save_interval_ms = 60000\n") +
      sim_chip_section() + R"(
[[counter]]
name = "water"
chip = "sim0"
line = 4
scale = 2
unit = "l"
sim_rate_hz = 500
)";
  const std::uint64_t before = count(d);
  d.write_config(changed);
  d.process().signal(SIGHUP);
  REQUIRE(wait_until([&] { return d.ok("status").at("reloads") == 1; }, 10s));
  const Json w = water(d);
  CHECK(w.at("count").get<std::uint64_t>() >= before);  // not back to 0
  CHECK(w.at("value").get<double>() == w.at("count").get<double>() * 2);
  const auto restores = wait_markers(d, "RESTORE", 1);
  REQUIRE(restores.size() == 1);
  const Restored r = parse_restore(restores[0].info);
  CHECK(r.pulses >= before);
  CHECK(r.unwatched_s == 0);
  CHECK(d.ok("status").at("state").at("restored") == 1);
  REQUIRE(d.stop(SIGTERM) == 0);
  const Json devices = state_file(dir).at("devices");
  CHECK(devices.contains("water"));
  CHECK_FALSE(devices.contains("knob"));
}

TEST_CASE("a state_dir other users may write is refused at start: exit 78, no log opened",
          "[host][state]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("state"));
  std::filesystem::permissions(dir.file("state"), std::filesystem::perms::all);
  const std::string path = dir.file("gpioirqd.toml");
  write_file(path, config());
  const RunResult r = run({gpioirqd_path(), "-c", path}, 10s);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("state_dir " + dir.file("state") +
                   " is writable by others (mode 0777): another user could replace the saved "
                   "totals; remove that permission (chmod go-w " +
                   dir.file("state") + ")") != std::string::npos);
  CHECK_FALSE(exists(dir.file("logs/events.csv")));
  CHECK_FALSE(exists(dir.file("logs/.gpioirqd-running")));
}

TEST_CASE("reload: a device added is restored when the file has an entry for it", "[host][state]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("state"));
  write_file(dir.file("state/state.json"), R"({"version":1,"saved_realtime_ns":1,"devices":{
    "rain":{"kind":"counter","state":{"pulses":777,"value_offset":0}}}})");
  // No periodic save before the reload: the file still has rain's entry then.
  Daemon d(dir, config(60'000));
  CHECK(d.ok("counters").at("counters").size() == 1);
  d.write_config(config(60'000, R"(
[[counter]]
name = "rain"
chip = "sim0"
line = 5
)"));
  d.process().signal(SIGHUP);
  REQUIRE(wait_until([&] { return d.ok("status").at("reloads") == 1; }, 10s));
  const Json counters = d.ok("counters");
  INFO(counters.dump());
  Json rain;
  for (const Json& c : counters.at("counters"))
    if (c.at("name") == "rain") rain = c;
  REQUIRE(rain.is_object());
  CHECK(rain.at("count") == 777);
  bool said = false;
  for (const LogRecord& r : wait_markers(d, "RESTORE", 1))
    if (r.info.starts_with("rain: total 777 pulses (777 pulses) restored; not watched for "))
      said = true;
  CHECK(said);
  REQUIRE(d.stop(SIGTERM) == 0);
  CHECK(state_file(dir).at("devices").at("rain").at("state").at("pulses") == 777);
}
