#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "support/csv_parse.hpp"
#include "sinks/record_format.hpp"

using namespace gpioirq;
using namespace gpioirq::sinks;

namespace {

std::string csv(const auto& entry) {
  FormatBuffer b;
  format_record(config::LogFormat::csv, entry, b);
  return fmt::to_string(b);
}

nlohmann::json jsonl(const auto& entry) {
  FormatBuffer b;
  format_record(config::LogFormat::jsonl, entry, b);
  std::string s = fmt::to_string(b);
  REQUIRE(s.size() > 1);
  REQUIRE(s.back() == '\n');
  REQUIRE(s.find('\n') == s.size() - 1);  // one line, whatever the names contain
  return nlohmann::json::parse(s);
}

EdgeEntry sample_edge() {
  EdgeEntry e;
  e.ts_ns = 1234567890123;
  e.device = "knob";
  e.line = "a";
  e.chip = "gpiochip0";
  e.offset = 17;
  e.edge = EdgeDirection::falling;
  e.line_seqno = 5;
  e.seqno = 100;
  return e;
}

}  // namespace

TEST_CASE("CSV header names every column once", "[format]") {
  CHECK(csv_header() ==
        "type,ts_ns,realtime_ns,device,line,chip,offset,edge,line_seqno,seqno,kind,value,value2,"
        "unit,lost,from,to,version,info\n");
}

TEST_CASE("CSV rows have exact, documented layouts", "[format]") {
  CHECK(csv(sample_edge()) == "EDGE,1234567890123,,knob,a,gpiochip0,17,falling,5,100,,,,,,,,,\n");

  EventEntry ev{42, "knob", "position", EventValue::integer(-7), EventValue::real(12.5), "counts"};
  CHECK(csv(ev) == "EVENT,42,,knob,,,,,,,position,-7,12.5,counts,,,,,\n");

  GapEntry g;
  g.ts_ns = 9;
  g.reason = GapReason::kernel_fifo;
  g.device = "knob";
  g.line = "b";
  g.chip = "gpiochip0";
  g.offset = 18;
  g.lost = 3;
  g.unit = GapUnit::line_seqno;
  g.from = 10;
  g.to = 14;
  CHECK(csv(g) == "GAP,9,,knob,b,gpiochip0,18,,,,kernel_fifo,,,line_seqno,3,10,14,,\n");

  CHECK(csv(TimeEntry{5, 1700000000000000000}) == "TIME,5,1700000000000000000,,,,,,,,,,,,,,,,\n");

  MarkerEntry m{MarkerType::reload, 6, 7, "0.1.0", "config /etc/gpioirqd.toml"};
  CHECK(csv(m) == "RELOAD,6,7,,,,,,,,,,,,,,,0.1.0,config /etc/gpioirqd.toml\n");
}

TEST_CASE("CSV quotes names that need it and parses back", "[format]") {
  EdgeEntry e = sample_edge();
  e.device = "front door, \"main\"";
  e.line = " padded ";
  e.chip = "multi\nline";
  const std::string row = csv(e);
  CHECK(row.find("\"front door, \"\"main\"\"\"") != std::string::npos);

  const auto rows = gpioirq_test::parse_csv(std::string(csv_header()) + row);
  REQUIRE(rows.size() == 2);
  REQUIRE(rows[1].size() == kCsvColumns.size());
  CHECK(rows[1][0] == "EDGE");
  CHECK(rows[1][3] == "front door, \"main\"");
  CHECK(rows[1][4] == " padded ");
  CHECK(rows[1][5] == "multi\nline");
  CHECK(rows[1][6] == "17");
}

TEST_CASE("CSV quotes a field for a comma, a quote or a line break alone, and each parses back",
          "[format]") {
  // One character at a time, so that each reason to quote is tested on its own (a field
  // holding several of them is quoted if any one rule works).
  for (const std::string name :
       {"door, front", "say \"hi\"", "two\nlines", "cr\rhere", "a,b,c,d"}) {
    INFO("device name: " << name);
    EventEntry ev{42, name, "close", EventValue(), EventValue(), ""};
    const std::string row = csv(ev);
    const auto rows = gpioirq_test::parse_csv(std::string(csv_header()) + row);
    REQUIRE(rows.size() == 2);
    REQUIRE(rows[1].size() == kCsvColumns.size());
    CHECK(rows[1][0] == "EVENT");
    CHECK(rows[1][3] == name);
    CHECK(rows[1][10] == "close");

    MarkerEntry m{MarkerType::reload, 6, 7, "0.1.0", name};
    const auto marker_rows = gpioirq_test::parse_csv(std::string(csv_header()) + csv(m));
    REQUIRE(marker_rows.size() == 2);
    REQUIRE(marker_rows[1].size() == kCsvColumns.size());
    CHECK(marker_rows[1][0] == "RELOAD");
    CHECK(marker_rows[1][18] == name);
  }
}

TEST_CASE("JSONL records parse back with nlohmann-json", "[format]") {
  const auto j = jsonl(sample_edge());
  CHECK(j == nlohmann::json{{"type", "EDGE"}, {"ts_ns", 1234567890123}, {"device", "knob"},
                            {"line", "a"}, {"chip", "gpiochip0"}, {"offset", 17},
                            {"edge", "falling"}, {"line_seqno", 5}, {"seqno", 100}});

  EventEntry ev{1, "tank \"A\"\\\t\x01 \xc3\xa9", "frequency",
                EventValue::real(std::numeric_limits<double>::quiet_NaN()),
                EventValue::integer(std::numeric_limits<std::int64_t>::min()), "Hz"};
  const auto je = jsonl(ev);
  CHECK(je["device"] == "tank \"A\"\\\t\x01 \xc3\xa9");
  CHECK(je["value"].is_null());
  CHECK(je["value2"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  CHECK(je["unit"] == "Hz");
  CHECK_FALSE(je.contains("line"));

  EventEntry bad{1, "bad \xff utf8", "poll", EventValue::real(0.1), {}, {}};
  const auto jb = jsonl(bad);
  CHECK(jb["device"] == "bad \xef\xbf\xbd utf8");  // U+FFFD
  CHECK(jb["value"].get<double>() == 0.1);
  CHECK_FALSE(jb.contains("value2"));

  GapEntry g;
  g.reason = GapReason::log_full;
  g.unit = GapUnit::ts_ns;
  g.lost = 12;
  g.from = 100;
  g.to = 200;
  const auto jg = jsonl(g);
  CHECK(jg["kind"] == "log_full");
  CHECK(jg["unit"] == "ts_ns");
  CHECK(jg["lost"] == 12);
  CHECK_FALSE(jg.contains("offset"));

  const auto jm = jsonl(MarkerEntry{MarkerType::start, 1, 2, "0.1.0", {}});
  CHECK(jm == nlohmann::json{{"type", "START"}, {"ts_ns", 1}, {"realtime_ns", 2}, {"version", "0.1.0"}});
}

TEST_CASE("Real values use the shortest exact form", "[format]") {
  EventEntry ev{1, "d", "frequency", EventValue::real(1.0 / 3.0), EventValue::real(1e21), {}};
  const auto rows = gpioirq_test::parse_csv(csv(ev));
  REQUIRE(rows.size() == 1);
  CHECK(std::stod(rows[0][11]) == 1.0 / 3.0);
  CHECK(std::stod(rows[0][12]) == 1e21);
}

TEST_CASE("A frame GAP from frame 0 on has no `from`: empty in CSV, absent in JSONL", "[format]") {
  GapEntry g;
  g.ts_ns = 9;
  g.reason = GapReason::log_full;
  g.device = "imu0";
  g.offset.reset();
  g.lost = 100;
  g.unit = GapUnit::frame;
  g.from.reset();
  g.to = 100;
  CHECK(csv(g) == "GAP,9,,imu0,,,,,,,log_full,,,frame,100,,100,,\n");
  const auto j = jsonl(g);
  CHECK_FALSE(j.contains("from"));
  CHECK(j.at("to") == 100);
  g.from = 0;  // frame 0 kept, 1 .. 99 lost
  g.lost = 99;
  CHECK(csv(g) == "GAP,9,,imu0,,,,,,,log_full,,,frame,99,0,100,,\n");
}

TEST_CASE("The MQTT spool's drops: an mqtt_spool_full GAP of the device, no `from`", "[format]") {
  GapEntry g;
  g.ts_ns = 7;
  g.reason = GapReason::mqtt_spool_full;
  g.device = "door";
  g.offset.reset();
  g.lost = 42;
  g.unit = GapUnit::ts_ns;
  g.from.reset();
  g.to = 7;
  CHECK(csv(g) == "GAP,7,,door,,,,,,,mqtt_spool_full,,,ts_ns,42,,7,,\n");
  const auto j = jsonl(g);
  CHECK(j.at("kind") == "mqtt_spool_full");
  CHECK(j.at("lost") == 42);
  CHECK_FALSE(j.contains("from"));
}
