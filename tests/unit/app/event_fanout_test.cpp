// EventFanout: each event a device emits becomes its event log row, written as the daemon
// wrote it before (EVENT, GAP or none), and one live line for each live sink that wants the
// device; MonitorSink sends that line to monitor clients byte for byte as the daemon's own
// publish() calls did.
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/event_fanout.hpp"
#include "loop/event_loop.hpp"
#include "sinks/device_event.hpp"
#include "sinks/event_log.hpp"
#include "support/temp_dir.hpp"
#include "unit/control/server_fixture.hpp"

using namespace gpioirq;
using sinks::DeviceEvent;
using sinks::EventClass;
using sinks::EventValue;

namespace {

// A live sink for one device that keeps what it is given.
class RecordingSink final : public sinks::EventSink {
 public:
  explicit RecordingSink(std::string device) : device_(std::move(device)) {}
  bool wants(std::string_view device) const noexcept override { return device == device_; }
  void on_event(const DeviceEvent& ev, const nlohmann::json& line) override {
    events.emplace_back(std::string(ev.kind), line);
  }
  void on_edge(std::string_view device, const nlohmann::json& line) override {
    edges.emplace_back(std::string(device), line);
  }
  std::vector<std::pair<std::string, nlohmann::json>> events;  // kind, line
  std::vector<std::pair<std::string, nlohmann::json>> edges;   // device, line

 private:
  std::string device_;
};

// The event log as JSON Lines, its records only (the START/STOP markers and TIME pairs
// that open() and close() add left out).
class LogUnderTest {
 public:
  LogUnderTest() : loop_(256), log_(loop_, options()) { REQUIRE(log_.open() == 0); }
  sinks::EventLog& log() { return log_; }

  std::vector<nlohmann::json> records() {
    REQUIRE(log_.close() == 0);
    std::vector<nlohmann::json> out;
    std::istringstream in(read(log_.options().path));
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line);
      const std::string type = j.at("type");
      if (type == "EDGE" || type == "EVENT" || type == "GAP") out.push_back(std::move(j));
    }
    return out;
  }

 private:
  sinks::EventLogOptions options() const {
    sinks::EventLogOptions o;
    o.format = config::LogFormat::jsonl;
    o.path = dir_.file("events.jsonl");
    o.version = "0.1.0";
    o.time_sync_interval_ms = 0;
    return o;
  }
  static std::string read(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  gpioirq_test::TempDir dir_;
  loop::EventLoop loop_;
  sinks::EventLog log_;
};

DeviceEvent position(std::uint64_t ts, std::int64_t value) {
  DeviceEvent ev;
  ev.ts_ns = ts;
  ev.device = "knob";
  ev.kind = "encoder";
  ev.event = "position";
  ev.cls = EventClass::state;
  ev.value = EventValue::integer(value);
  ev.value2 = EventValue::real(-2.5);
  return ev;
}

sinks::EdgeEntry rising_edge(std::string_view device) {
  sinks::EdgeEntry e;
  e.ts_ns = 4000;
  e.device = device;
  e.line = "a";
  e.chip = "sim0";
  e.offset = 3;
  e.edge = sinks::EdgeDirection::rising;
  e.line_seqno = 17;
  e.seqno = 40;
  return e;
}

}  // namespace

TEST_CASE("each event's row is the EVENT or GAP row the daemon wrote, or none", "[app][fanout]") {
  LogUnderTest under;
  app::EventFanout fanout(under.log(), false);
  CHECK_FALSE(fanout.live("knob"));

  DeviceEvent count = position(1000, 0);
  count.device = "flow";
  count.kind = "counter";
  count.event = "count";
  count.value = EventValue::integer(12);
  count.value2 = EventValue::real(0.25);
  count.unit = "l";
  count.live = false;
  fanout.emit(count, nullptr);

  sinks::GapEntry gap;
  gap.ts_ns = 2000;
  gap.reason = sinks::GapReason::imu_overrun;
  gap.device = "imu0";
  gap.lost = 3;
  gap.unit = sinks::GapUnit::frame;
  gap.from = 9;
  gap.to = 13;
  DeviceEvent frames_lost;
  frames_lost.ts_ns = 2000;
  frames_lost.device = "imu0";
  frames_lost.kind = "imu";
  frames_lost.event = "gap";
  frames_lost.cls = EventClass::loss;
  frames_lost.row = DeviceEvent::Row::gap;
  frames_lost.gap = &gap;
  fanout.emit(frames_lost, nullptr);

  DeviceEvent live_only = position(3000, 5);
  live_only.event = "count";
  live_only.row = DeviceEvent::Row::none;
  fanout.emit(live_only, nullptr);

  fanout.edge(rising_edge("knob"));  // log_edges off: no EDGE row

  const auto rows = under.records();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("type") == "EVENT");
  CHECK(rows[0].at("ts_ns") == 1000);
  CHECK(rows[0].at("device") == "flow");
  CHECK(rows[0].at("kind") == "count");
  CHECK(rows[0].at("value") == 12);
  CHECK(rows[0].at("value2") == 0.25);
  CHECK(rows[0].at("unit") == "l");
  CHECK(rows[1].at("type") == "GAP");
  CHECK(rows[1].at("ts_ns") == 2000);
  CHECK(rows[1].at("device") == "imu0");
  CHECK(rows[1].at("kind") == "imu_overrun");
  CHECK(rows[1].at("lost") == 3);
  CHECK(rows[1].at("unit") == "frame");
  CHECK(rows[1].at("from") == 9);
  CHECK(rows[1].at("to") == 13);
}

TEST_CASE("edge() writes EDGE rows only when log_edges is on", "[app][fanout]") {
  LogUnderTest under;
  app::EventFanout fanout(under.log(), true);
  fanout.edge(rising_edge("knob"));
  const auto rows = under.records();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].at("type") == "EDGE");
  CHECK(rows[0].at("ts_ns") == 4000);
  CHECK(rows[0].at("device") == "knob");
  CHECK(rows[0].at("line") == "a");
  CHECK(rows[0].at("chip") == "sim0");
  CHECK(rows[0].at("offset") == 3);
  CHECK(rows[0].at("edge") == "rising");
  CHECK(rows[0].at("line_seqno") == 17);
  CHECK(rows[0].at("seqno") == 40);
}

TEST_CASE("a live sink gets {ts_ns, name, event} + fields of the devices it wants",
          "[app][fanout]") {
  LogUnderTest under;
  app::EventFanout fanout(under.log(), false);
  RecordingSink knob("knob");
  RecordingSink other("start");
  fanout.add(knob);
  fanout.add(other);
  CHECK(fanout.live("knob"));
  CHECK(fanout.live("start"));
  CHECK_FALSE(fanout.live("flow"));

  int built = 0;
  fanout.emit(position(1000, -3), [&](nlohmann::json& f) {
    ++built;
    f["value"] = std::int64_t{-3};
  });
  DeviceEvent press;
  press.ts_ns = 1500;
  press.device = "start";
  press.kind = "button";
  press.event = "press";
  press.cls = EventClass::occurrence;
  fanout.emit(press, nullptr);  // no fields: the line is {ts_ns, name, event}
  DeviceEvent quiet = position(2000, 7);
  quiet.live = false;  // the row only
  fanout.emit(quiet, nullptr);
  DeviceEvent unwatched = position(2500, 1);
  unwatched.device = "flow";
  fanout.emit(unwatched, [&](nlohmann::json& f) {
    ++built;
    f["value"] = 1;
  });
  fanout.edge(rising_edge("knob"));
  fanout.edge(rising_edge("flow"));

  CHECK(built == 1);  // fields only for the device someone listens to
  REQUIRE(knob.events.size() == 1);
  CHECK(knob.events[0].first == "encoder");
  CHECK(knob.events[0].second ==
        nlohmann::json{{"ts_ns", 1000}, {"name", "knob"}, {"event", "position"}, {"value", -3}});
  REQUIRE(other.events.size() == 1);
  CHECK(other.events[0].second ==
        nlohmann::json{{"ts_ns", 1500}, {"name", "start"}, {"event", "press"}});
  REQUIRE(knob.edges.size() == 1);
  CHECK(knob.edges[0].first == "knob");
  CHECK(knob.edges[0].second ==
        nlohmann::json{
            {"ts_ns", 4000}, {"name", "knob"}, {"line", "a"}, {"event", "rising"}, {"seqno", 17}});
  CHECK(other.edges.empty());
  // Every EVENT row was written, whoever listened.
  CHECK(under.records().size() == 4);
}

TEST_CASE("monitor clients get the lines the daemon published before, byte for byte",
          "[app][fanout]") {
  using namespace gpioirq::control::test;
  ServerFixture fx;
  TestClient client(fx.socket_path());
  CHECK(client
            .ask(R"({"v":1,"cmd":"monitor","names":["knob"]})"
                 "\n")
            .at("ok") == true);

  // The fan-out writes no row here (Row::none, log_edges off): its log is never touched
  // from the server's thread.
  LogUnderTest under;
  app::EventFanout fanout(under.log(), false);
  std::optional<app::MonitorSink> sink;
  fx.call([&] {
    sink.emplace(fx.server());  // server(): on the loop thread only
    fanout.add(*sink);
    DeviceEvent pos = position(1000, -3);
    pos.row = DeviceEvent::Row::none;
    fanout.emit(pos, [](nlohmann::json& f) { f["value"] = std::int64_t{-3}; });
    // What daemon.cpp published for the same position before the fan-out existed.
    fx.server().publish("knob", {{"ts_ns", std::uint64_t{1000}},
                                 {"name", "knob"},
                                 {"event", "position"},
                                 {"value", std::int64_t{-3}}});
    fanout.edge(rising_edge("knob"));
    fx.server().publish("knob", {{"ts_ns", std::uint64_t{4000}},
                                 {"name", "knob"},
                                 {"line", "a"},
                                 {"event", "rising"},
                                 {"seqno", std::uint32_t{17}}});
    DeviceEvent press = position(1500, 0);
    press.event = "press";
    press.row = DeviceEvent::Row::none;
    fanout.emit(press, nullptr);
    fx.server().publish("knob",
                        {{"ts_ns", std::uint64_t{1500}}, {"name", "knob"}, {"event", "press"}});
    DeviceEvent elsewhere = press;
    elsewhere.device = "flow";  // not in the client's filter
    fanout.emit(elsewhere, nullptr);
    return 0;
  });
  const auto via_fanout = client.read_line();
  const auto direct = client.read_line();
  REQUIRE(via_fanout);
  CHECK(*via_fanout == R"({"v":1,"name":"knob","event":"position","ts_ns":1000,"value":-3})");
  CHECK(via_fanout == direct);
  const auto edge_via_fanout = client.read_line();
  REQUIRE(edge_via_fanout);
  CHECK(*edge_via_fanout ==
        R"({"v":1,"name":"knob","event":"rising","line":"a","seqno":17,"ts_ns":4000})");
  CHECK(edge_via_fanout == client.read_line());
  const auto press_via_fanout = client.read_line();
  REQUIRE(press_via_fanout);
  CHECK(*press_via_fanout == R"({"v":1,"name":"knob","event":"press","ts_ns":1500})");
  CHECK(press_via_fanout == client.read_line());
  // Nothing for "flow".
  CHECK_THROWS(client.read_line(std::chrono::milliseconds(200)));
}
