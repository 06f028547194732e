#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/csv_parse.hpp"
#include "loop_helpers.hpp"
#include "sinks/event_log.hpp"
#include "sinks/rotation.hpp"
#include "temp_dir.hpp"

using namespace gpioirq;
using namespace gpioirq::sinks;
using sinks_test::read_file;
using sinks_test::run_until;

namespace {

EventLogOptions options_for(const sinks_test::TempDir& dir, config::LogFormat format) {
  EventLogOptions o;
  o.format = format;
  o.path = dir.file(format == config::LogFormat::csv ? "events.csv" : "events.jsonl");
  o.version = "0.1.0";
  o.time_sync_interval_ms = 0;
  return o;
}

EdgeEntry edge(std::uint64_t seqno) {
  EdgeEntry e;
  e.ts_ns = 1000 + seqno;
  e.device = "knob";
  e.line = "a";
  e.chip = "sim0";
  e.offset = 3;
  e.edge = seqno % 2 ? EdgeDirection::falling : EdgeDirection::rising;
  e.line_seqno = static_cast<std::uint32_t>(seqno);
  e.seqno = seqno;
  return e;
}

std::vector<nlohmann::json> parse_jsonl(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

void write_sample(EventLog& log) {
  REQUIRE(log.marker(MarkerType::start, "config demo.toml"));
  REQUIRE(log.edge(edge(1)));
  REQUIRE(log.edge(edge(2)));
  REQUIRE(log.event(EventEntry{1002, "knob, \"front\"", "position", EventValue::integer(2),
                               EventValue::real(1.5), "counts"}));
  GapEntry g;
  g.ts_ns = 1003;
  g.reason = GapReason::ring_full;
  g.device = "knob";
  g.lost = 4;
  g.unit = GapUnit::seqno;
  g.from = 2;
  g.to = 7;
  REQUIRE(log.gap(g));
  REQUIRE(log.marker(MarkerType::stop));
}

}  // namespace

TEST_CASE("EventLog CSV parses back: header, markers, TIME pairs, records", "[eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const EventLogOptions o = options_for(dir, config::LogFormat::csv);
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  write_sample(log);
  REQUIRE(log.close() == 0);

  const auto rows = gpioirq_test::parse_csv(read_file(o.path));
  REQUIRE(rows.size() == 9);
  for (const auto& r : rows) REQUIRE(r.size() == kCsvColumns.size());
  CHECK(rows[0][0] == "type");
  CHECK(rows[1][0] == "START");
  CHECK(rows[1][17] == "0.1.0");
  CHECK(rows[1][18] == "config demo.toml");
  CHECK(rows[2][0] == "TIME");
  CHECK(rows[2][1] == rows[1][1]);  // the marker and its TIME pair share the reading
  CHECK(std::stoll(rows[2][2]) > 1'600'000'000'000'000'000);
  CHECK(rows[3] == gpioirq_test::CsvRow{"EDGE", "1001", "", "knob", "a", "sim0", "3", "falling", "1", "1",
                                   "", "", "", "", "", "", "", "", ""});
  CHECK(rows[5][3] == "knob, \"front\"");
  CHECK(rows[5][10] == "position");
  CHECK(rows[5][11] == "2");
  CHECK(rows[5][12] == "1.5");
  CHECK(rows[6][0] == "GAP");
  CHECK(rows[6][10] == "ring_full");
  CHECK(rows[6][14] == "4");
  CHECK(rows[7][0] == "STOP");
  CHECK(rows[8][0] == "TIME");
  const auto s = log.status();
  CHECK(s.edges == 2);
  CHECK(s.events == 1);
  CHECK(s.gaps == 1);
  CHECK(s.markers == 2);
  CHECK(s.times == 2);
  CHECK(s.lost == 0);
}

TEST_CASE("EventLog JSONL parses back with nlohmann-json", "[eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const EventLogOptions o = options_for(dir, config::LogFormat::jsonl);
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  write_sample(log);
  REQUIRE(log.close() == 0);

  const auto lines = parse_jsonl(read_file(o.path));
  REQUIRE(lines.size() == 8);  // no header line
  CHECK(lines[0]["type"] == "START");
  CHECK(lines[0]["version"] == "0.1.0");
  CHECK(lines[1]["type"] == "TIME");
  CHECK(lines[2]["type"] == "EDGE");
  CHECK(lines[2]["seqno"] == 1);
  CHECK(lines[2]["edge"] == "falling");
  CHECK(lines[4]["device"] == "knob, \"front\"");
  CHECK(lines[4]["value"] == 2);
  CHECK(lines[4]["value2"] == 1.5);
  CHECK(lines[5]["kind"] == "ring_full");
  CHECK(lines[5]["from"] == 2);
  CHECK(lines[5]["to"] == 7);
  CHECK(lines[6]["type"] == "STOP");
}

TEST_CASE("Records refused by a full EventLog come back as one log_full GAP", "[eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  EventLogOptions o = options_for(dir, config::LogFormat::csv);
  o.buffer_bytes = 4096;
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);

  // The loop does not run: the buffers fill and later edges are refused.
  std::uint64_t seq = 0;
  std::uint64_t last_ok = 0;
  std::uint64_t refused = 0;
  while (refused < 50) {
    ++seq;
    if (log.edge(edge(seq))) {
      REQUIRE(refused == 0);
      last_ok = seq;
    } else {
      ++refused;
    }
  }
  CHECK(log.status().lost == 50);
  CHECK(log.status().lost_pending == 50);

  log.flush();
  REQUIRE(run_until(*loop, [&] { return log.status().file.buffered_bytes == 0; }));
  REQUIRE(log.edge(edge(++seq)));
  CHECK(log.status().lost_pending == 0);
  REQUIRE(log.close() == 0);

  const auto rows = gpioirq_test::parse_csv(read_file(o.path));
  REQUIRE(rows.size() == 1 + last_ok + 2);  // header, accepted edges, GAP, the last edge
  const auto& gap = rows[rows.size() - 2];
  CHECK(gap[0] == "GAP");
  CHECK(gap[10] == "log_full");
  CHECK(gap[13] == "ts_ns");
  CHECK(gap[14] == "50");
  CHECK(gap[15] == std::to_string(edge(last_ok).ts_ns));
  CHECK(gap[16] == std::to_string(edge(seq).ts_ns));
  CHECK(rows.back()[9] == std::to_string(seq));
}

TEST_CASE("A loss still pending at close() gets its GAP record", "[eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  EventLogOptions o = options_for(dir, config::LogFormat::jsonl);
  o.buffer_bytes = 2048;
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  std::uint64_t seq = 0;
  while (log.status().lost < 3) log.edge(edge(++seq));
  REQUIRE(log.close() == 0);
  const auto lines = parse_jsonl(read_file(o.path));
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back()["type"] == "GAP");
  CHECK(lines.back()["kind"] == "log_full");
  CHECK(lines.back()["lost"] == 3);
}

TEST_CASE("Reopening cuts a partial last line and continues the file", "[eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const EventLogOptions o = options_for(dir, config::LogFormat::csv);
  const std::string good = std::string(csv_header()) + "EDGE,1,,,,,,rising,1,1,,,,,,,,,\n";
  sinks_test::write_file(o.path, good + "EDGE,2,,,,");  // a crash mid-line
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.cut_bytes == 10);
  REQUIRE(log.edge(edge(5)));
  REQUIRE(log.close() == 0);
  const auto rows = gpioirq_test::parse_csv(read_file(o.path));
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][1] == "1");
  CHECK(rows[2][9] == "5");
}

TEST_CASE("Reopening cuts a partial last record inside a quoted line break", "[eventlog]") {
  // Found by tests/fuzz/fuzz_event_log: the cut was at the last '\n' even when it was
  // inside a quoted field, leaving an open quote that swallowed every record after it.
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const EventLogOptions o = options_for(dir, config::LogFormat::csv);
  const std::string good = std::string(csv_header()) +
                           "START,100,1700000000000000000,,,,,,,,,,,,,,,0.1.0,\"/etc/a, b.toml\"\n";
  const std::string partial = "START,200,1700000000000000001,,,,,,,,,,,,,,,0.1.0,\"/etc/a\nb";
  sinks_test::write_file(o.path, good + partial);  // a crash inside a config path with '\n'
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.cut_bytes == partial.size());
  REQUIRE(log.edge(edge(5)));
  REQUIRE(log.close() == 0);
  const auto rows = gpioirq_test::parse_csv(read_file(o.path));
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][18] == "/etc/a, b.toml");
  CHECK(rows[2][0] == "EDGE");
  CHECK(rows[2][9] == "5");
}

TEST_CASE("A file in the other format is rotated away, not appended to", "[eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const EventLogOptions o = options_for(dir, config::LogFormat::csv);
  sinks_test::write_file(o.path, "{\"type\":\"EDGE\"}\n");
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.rotated_away_at_open);
  REQUIRE(log.close() == 0);
  CHECK(read_file(rotated_path(o.path, 1)) == "{\"type\":\"EDGE\"}\n");
  CHECK(read_file(o.path) == csv_header());
}

TEST_CASE("EventLog rotation: every file starts with header and TIME; no edge lost or doubled",
          "[eventlog][rotate]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  EventLogOptions o = options_for(dir, config::LogFormat::csv);
  o.buffer_bytes = 1024;
  o.rotate_size_bytes = 4096;
  o.rotate_keep = 10;  // enough to keep everything written here
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  const std::uint64_t total = 500;
  for (std::uint64_t seq = 1; seq <= total; ++seq) {
    REQUIRE(log.edge(edge(seq)));
    if (seq % 10 == 0) {  // about 500 bytes: drain before the 1 KiB buffer could fill
      log.flush();
      REQUIRE(run_until(*loop, [&] { return log.status().file.buffered_bytes == 0; }));
    }
  }
  REQUIRE(log.close() == 0);
  CHECK(log.status().lost == 0);
  CHECK(log.status().file.rotations >= 2);

  std::vector<std::string> files;
  for (std::uint32_t n = 10; n >= 1; --n) {
    if (std::filesystem::exists(rotated_path(o.path, n))) files.push_back(rotated_path(o.path, n));
  }
  files.push_back(o.path);
  REQUIRE(files.size() >= 3);
  CHECK_FALSE(std::filesystem::exists(rotated_path(o.path, 11)));

  std::uint64_t expect = 1;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto rows = gpioirq_test::parse_csv(read_file(files[i]));
    REQUIRE(rows.size() >= 2);
    CHECK(rows[0][0] == "type");
    if (i > 0) CHECK(rows[1][0] == "TIME");
    for (const auto& r : rows) {
      REQUIRE(r.size() == kCsvColumns.size());
      if (r[0] == "EDGE") CHECK(std::stoull(r[9]) == expect++);
    }
  }
  CHECK(expect == total + 1);
}

TEST_CASE("TIME records are written every time_sync_interval_ms", "[eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  EventLogOptions o = options_for(dir, config::LogFormat::jsonl);
  o.time_sync_interval_ms = 10;
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  REQUIRE(run_until(*loop, [&] { return log.status().times >= 3; }));
  REQUIRE(log.close() == 0);
  const auto lines = parse_jsonl(read_file(o.path));
  REQUIRE(lines.size() >= 3);
  std::uint64_t prev = 0;
  for (const auto& j : lines) {
    CHECK(j["type"] == "TIME");
    CHECK(j["ts_ns"].get<std::uint64_t>() > prev);
    prev = j["ts_ns"].get<std::uint64_t>();
  }
}

TEST_CASE("Options follow the daemon config", "[eventlog]") {
  config::DaemonConfig d;
  d.log_dir = "/var/log/x";
  d.event_log_format = config::LogFormat::jsonl;
  d.flush_interval_ms = 250;
  d.rotate_size_bytes = 1 << 20;
  d.rotate_keep = 2;
  d.time_sync_interval_ms = 5000;
  const EventLogOptions o = event_log_options(d, "9.9");
  CHECK(o.path == "/var/log/x/events.jsonl");
  CHECK(o.format == config::LogFormat::jsonl);
  CHECK(o.sync_interval_ms == 250);
  CHECK(o.rotate_size_bytes == 1u << 20);
  CHECK(o.rotate_keep == 2);
  CHECK(o.time_sync_interval_ms == 5000);
  CHECK(o.version == "9.9");
}
