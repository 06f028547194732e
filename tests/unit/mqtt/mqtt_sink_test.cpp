// MqttSink against real mosquitto brokers started by the test on free loopback ports, with
// a real EventLoop, a real spool directory, and a fake SinkSource standing in for the
// daemon; events are fed through on_event/on_mark the way the daemon's fan-out does.

#include "mqtt/mqtt_sink.hpp"

#include "mqtt/ha_discovery.hpp"

#include <mosquitto.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop/event_loop.hpp"
#include "loop/timer.hpp"
#include "support/mosquitto_broker.hpp"
#include "support/temp_dir.hpp"

using gpioirq::loop::EventLoop;
using gpioirq::mqtt::MqttSink;
using gpioirq::mqtt::SinkSource;
using gpioirq::sinks::DeviceEvent;
using gpioirq::sinks::EventClass;
using gpioirq_test::Broker;
using gpioirq_test::retained;
using gpioirq_test::run_until;
using gpioirq_test::TempDir;
using nlohmann::json;

namespace {

// The daemon as the sink sees it: devices, their state, health, and the GAP rows it asks for.
struct FakeSource : SinkSource {
  std::vector<PublishedDevice> devices{{"enc", "encoder", {}}, {"btn", "button", {}}};
  std::map<std::string, json, std::less<>> state{{"enc", {{"position", 0}}}};
  std::map<std::string, std::uint64_t, std::less<>> spool_drops;  // spool_dropped() calls, summed
  int spool_drop_calls = 0;
  int state_reads = 0;

  std::vector<PublishedDevice> published_devices() const override { return devices; }
  json published_state(std::string_view device, std::uint64_t) const override {
    ++const_cast<FakeSource*>(this)->state_reads;
    const auto it = state.find(device);
    return it == state.end() ? json() : it->second;
  }
  json health() const override { return {{"uptime_s", 7}, {"devices_down", 0}}; }
  void spool_dropped(std::string_view device, std::uint64_t lost) override {
    spool_drops[std::string(device)] += lost;
    ++spool_drop_calls;
  }
};

gpioirq::config::MqttConfig sink_config(int port) {
  gpioirq::config::MqttConfig c;
  c.url = "mqtt://127.0.0.1:" + std::to_string(port);
  c.topic_prefix = "t/host";
  c.keepalive_s = 5;
  return c;
}

// An occurrence as the fan-out hands it over: the live line and the event.
void feed_event(MqttSink& sink, std::string_view device, std::string_view kind,
                std::string_view event, json fields = json::object()) {
  DeviceEvent ev;
  ev.ts_ns = gpioirq::loop::Timer::now_ns();
  ev.device = device;
  ev.kind = kind;
  ev.event = event;
  ev.cls = EventClass::occurrence;
  json line = {{"ts_ns", ev.ts_ns}, {"name", device}, {"event", event}};
  for (const auto& [k, v] : fields.items()) line[k] = v;
  sink.on_event(ev, line);
}

void feed_mark(MqttSink& sink, std::string_view device, std::string_view kind) {
  DeviceEvent ev;
  ev.ts_ns = gpioirq::loop::Timer::now_ns();
  ev.device = device;
  ev.kind = kind;
  ev.event = "position";
  ev.cls = EventClass::state;
  sink.on_mark(ev);
}

// Brokers for the consumers below: no per-client queue limit (mosquitto's default of 1000
// would drop QoS 1 messages for a consumer that lags behind a replay).
const std::string kBrokerConf = "allow_anonymous true\nmax_queued_messages 0\n";

// A consumer that survives a broker restart: a persistent session (clean_session false) at
// QoS 1, so the broker keeps what arrives for it while it is away, and a reconnect.
class Consumer {
 public:
  Consumer(int port, std::string topic, std::string id) : port_(port), topic_(std::move(topic)) {
    mosquitto_lib_init();
    m_ = mosquitto_new(id.c_str(), false, this);
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      static_cast<Consumer*>(self)->messages.emplace_back(
          msg->topic, std::string(static_cast<const char*>(msg->payload),
                                  static_cast<std::size_t>(msg->payloadlen)));
    });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* self, int, int, const int*) {
      static_cast<Consumer*>(self)->subscribed = true;
    });
    connect();
  }
  ~Consumer() {
    mosquitto_disconnect(m_);
    mosquitto_destroy(m_);
  }
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void connect() {
    subscribed = false;
    REQUIRE(mosquitto_connect(m_, "127.0.0.1", port_, 60) == MOSQ_ERR_SUCCESS);
    REQUIRE(mosquitto_subscribe(m_, nullptr, topic_.c_str(), 1) == MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 500 && !subscribed; ++i) pump(10);
    REQUIRE(subscribed);
  }
  void reconnect() {
    mosquitto_disconnect(m_);
    connect();
  }
  // libmosquitto reads about one packet per mosquitto_loop() call when little is queued:
  // many calls, so that the consumer keeps up with the sink.
  void pump(int timeout_ms = 0) {
    mosquitto_loop(m_, timeout_ms, 1);
    for (int i = 0; i < 200; ++i) mosquitto_loop(m_, 0, 1);
  }
  // Payloads (as JSON) of one topic, in arrival order.
  std::vector<json> on(const std::string& topic) const {
    std::vector<json> out;
    for (const auto& [t, p] : messages)
      if (t == topic) out.push_back(p.empty() ? json() : json::parse(p));
    return out;
  }

  std::vector<std::pair<std::string, std::string>> messages;
  bool subscribed = false;

 private:
  int port_;
  std::string topic_;
  mosquitto* m_ = nullptr;
};

bool connected(const MqttSink& sink) {
  return sink.status()["state"] == "connected";
}

// Every message of topic has seq 1..n exactly once after duplicates are removed, the first
// arrival of each in increasing order; returns n. Payload member "i" (the test's own
// counter) must be seq + i_offset.
std::size_t check_contiguous(const std::vector<json>& got, std::uint64_t first_seq,
                             std::int64_t i_offset) {
  std::set<std::uint64_t> seen;
  std::uint64_t expect = first_seq;
  for (const json& m : got) {
    const auto seq = m.at("seq").get<std::uint64_t>();
    if (seen.contains(seq)) continue;  // a QoS 1 duplicate
    seen.insert(seq);
    CHECK(seq == expect);
    if (m.contains("i"))
      CHECK(m["i"].get<std::int64_t>() == static_cast<std::int64_t>(seq) + i_offset);
    expect = seq + 1;
  }
  return seen.size();
}

}  // namespace

TEST_CASE("mqtt sink: topics and payloads, retained state and health, status", "[mqtt][sink]") {
  TempDir dir;
  Broker broker(dir, kBrokerConf);
  EventLoop loop;
  FakeSource source;
  Consumer consumer(broker.port(), "t/host/#", "consumer-topics");
  MqttSink sink(loop, sink_config(broker.port()), dir.file("state"), "host", source);
  CHECK(std::filesystem::is_directory(dir.path() / "state" / "mqtt"));
  CHECK((std::filesystem::status(dir.path() / "state" / "mqtt").permissions() &
         std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
         std::filesystem::perms::group_exec));
  sink.start();
  REQUIRE(run_until(
      loop, [&] { return connected(sink); }, 5000));
  const auto pump = [&] { consumer.pump(); };

  // At the connect: online, every device's state (btn has none), health.
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/health").size() == 1; }, 5000, pump));
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/enc/state").size() == 1; }, 5000, pump));
  CHECK(consumer.on("t/host/btn/state").empty());
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  json state = consumer.on("t/host/enc/state")[0];
  CHECK(state["position"] == 0);
  CHECK(state["seq"] == 1);
  CHECK(state["ts_ns"].is_number_unsigned());
  CHECK(std::regex_match(state["time"].get<std::string>(), rfc3339));
  json health = consumer.on("t/host/health")[0];
  CHECK(health["uptime_s"] == 7);
  CHECK(health["seq"] == 1);
  CHECK(std::regex_match(health["time"].get<std::string>(), rfc3339));

  // An occurrence: the live line + kind, time, seq.
  feed_event(sink, "btn", "button", "click", {{"count", 1}});
  feed_event(sink, "btn", "button", "long_press", {{"held_ms", 900}});
  feed_event(sink, "enc", "encoder", "detent", {{"step", 1}});
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/btn/events").size() == 2; }, 5000, pump));
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/enc/events").size() == 1; }, 5000, pump));
  const auto btn = consumer.on("t/host/btn/events");
  CHECK(btn[0]["name"] == "btn");
  CHECK(btn[0]["event"] == "click");
  CHECK(btn[0]["count"] == 1);
  CHECK(btn[0]["kind"] == "button");
  CHECK(btn[0]["seq"] == 1);
  CHECK(btn[0]["ts_ns"].is_number_unsigned());
  CHECK(std::regex_match(btn[0]["time"].get<std::string>(), rfc3339));
  CHECK(btn[1]["event"] == "long_press");
  CHECK(btn[1]["seq"] == 2);
  CHECK(consumer.on("t/host/enc/events")[0]["seq"] == 1);  // per topic

  // A state mark: the state topic, retained.
  source.state["enc"] = {{"position", 42}, {"velocity", 1.5}};
  feed_mark(sink, "enc", "encoder");
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/enc/state").size() == 2; }, 5000, pump));
  state = consumer.on("t/host/enc/state")[1];
  CHECK(state["position"] == 42);
  CHECK(state["seq"] == 2);
  const json kept = json::parse(retained(broker.port(), "t/host/enc/state"));
  CHECK(kept["position"] == 42);
  CHECK(kept["velocity"] == 1.5);
  CHECK(json::parse(retained(broker.port(), "t/host/health"))["uptime_s"] == 7);
  CHECK(retained(broker.port(), "t/host/status") == "online");
  CHECK(retained(broker.port(), "t/host/btn/events").empty());  // events are not retained

  // Status: exact figures. Messages: online, enc state, health, 3 events, enc state.
  REQUIRE(run_until(
      loop, [&] { return sink.status()["in_flight"] == 0; }, 5000, pump));
  const json st = sink.status();
  CHECK(st["broker"] == "mqtt://127.0.0.1:" + std::to_string(broker.port()));
  CHECK(st["last_error"] == "");
  CHECK(st["published"] == 7);
  CHECK(st["acknowledged"] == 7);
  CHECK(st["dropped"] == 0);
  CHECK(st["events"] == 3);
  CHECK(st["events_sent"] == 3);
  CHECK(st["events_acknowledged"] == 3);
  CHECK(st["states"] == 2);
  CHECK(st["spooled"] == 0);
  CHECK(st["spool_bytes"] == 0);
  CHECK(st["spool_dropped"] == 0);
  CHECK(st["connects"] == 1);
  CHECK(st["disconnects"] == 0);

  sink.stop();
  REQUIRE(run_until(
      loop, [&] { return sink.status()["state"] == "disconnected"; }, 5000, pump));
  CHECK(retained(broker.port(), "t/host/status") == "offline");
}

TEST_CASE("mqtt sink: state coalesced to the interval, content changes without marks",
          "[mqtt][sink]") {
  TempDir dir;
  Broker broker(dir, kBrokerConf);
  EventLoop loop;
  FakeSource source;
  Consumer consumer(broker.port(), "t/host/enc/state", "consumer-state");
  auto cfg = sink_config(broker.port());
  cfg.state_interval_ms = 1000;
  MqttSink sink(loop, cfg, dir.file("state"), "host", source);
  sink.start();
  const auto pump = [&] { consumer.pump(); };
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/enc/state").size() == 1; }, 5000, pump));
  // Past the interval since the connect's state message.
  run_until(
      loop, [] { return false; }, 1100, pump);
  const int reads_before = source.state_reads;

  // 100 marks in 50 ms: one message at once, one more at the interval's end with the last.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= 100; ++i) {
    source.state["enc"] = {{"position", i}};
    feed_mark(sink, "enc", "encoder");
    if (i % 10 == 0)
      run_until(
          loop, [] { return false; }, 5, pump);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(200));
  run_until(
      loop, [] { return false; }, 1500, pump);
  const auto got = consumer.on("t/host/enc/state");
  REQUIRE(got.size() >= 2);
  const std::size_t coalesced = got.size() - 1;
  CHECK(coalesced >= 1);
  CHECK(coalesced <= 2);
  CHECK(got.back()["position"] == 100);
  CHECK(source.state_reads - reads_before <= 4);  // not one read per mark
  CHECK(json::parse(retained(broker.port(), "t/host/enc/state"))["position"] == 100);

  // A change nobody marked (a rate decaying) goes out within the interval; no change: nothing.
  source.state["enc"] = {{"position", 100}, {"velocity", 0}};
  const std::size_t before = consumer.on("t/host/enc/state").size();
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/enc/state").size() == before + 1; }, 2500, pump));
  run_until(
      loop, [] { return false; }, 2200, pump);
  CHECK(consumer.on("t/host/enc/state").size() == before + 1);
}

TEST_CASE("mqtt sink: 5000 events across a broker outage arrive in order, seq contiguous",
          "[mqtt][sink]") {
  TempDir dir;
  Broker broker(
      dir, kBrokerConf + "persistence true\npersistence_location " + dir.path().string() + "/\n");
  EventLoop loop;
  FakeSource source;
  auto consumer = std::make_unique<Consumer>(broker.port(), "t/host/btn/events", "consumer-outage");
  MqttSink sink(loop, sink_config(broker.port()), dir.file("state"), "host", source);
  sink.start();
  const auto pump = [&] { consumer->pump(); };
  REQUIRE(run_until(
      loop, [&] { return connected(sink); }, 5000, pump));

  int i = 0;
  // Half of them at a pace the broker can take, some in flight when it goes.
  for (; i < 2500; ++i) {
    feed_event(sink, "btn", "button", "click", {{"i", i}});
    if (i % 50 == 0) loop.run_once(0);
  }
  loop.run_once(0);
  broker.stop();
  run_until(
      loop, [&] { return !connected(sink); }, 5000);
  CHECK_FALSE(connected(sink));
  // The rest while it is down: spooled.
  for (; i < 5000; ++i) {
    feed_event(sink, "btn", "button", "click", {{"i", i}});
    if (i % 500 == 0)
      run_until(
          loop, [] { return false; }, 500);
  }
  run_until(
      loop, [] { return false; }, 1000);
  CHECK(sink.status()["spooled"].get<std::uint64_t>() >= 2500);
  broker.start();
  consumer->reconnect();
  REQUIRE(run_until(
      loop,
      [&] {
        std::set<std::uint64_t> seqs;
        for (const json& m : consumer->on("t/host/btn/events"))
          seqs.insert(m["seq"].get<std::uint64_t>());
        return seqs.size() == 5000;
      },
      30000, pump));
  CHECK(check_contiguous(consumer->on("t/host/btn/events"), 1, -1) == 5000);
  REQUIRE(run_until(
      loop, [&] { return sink.status()["spooled"] == 0; }, 5000, pump));
  const json st = sink.status();
  CHECK(st["events"] == 5000);
  // Each handed to the library once: those in flight at the outage were sent again by
  // libmosquitto, not by the sink (their duplicates above came from there).
  CHECK(st["events_sent"] == 5000);
  CHECK(st["events_acknowledged"] == 5000);
  CHECK(st["spool_dropped"] == 0);
  CHECK(st["connects"] == 2);
  CHECK(st["disconnects"] == 1);
}

TEST_CASE("mqtt sink: a restart with a non-empty spool delivers it all, seq continuing",
          "[mqtt][sink]") {
  TempDir dir;
  Broker broker(dir, kBrokerConf);
  EventLoop loop;
  FakeSource source;
  Consumer consumer(broker.port(), "t/host/btn/events", "consumer-restart");
  const auto pump = [&] { consumer.pump(); };
  {
    MqttSink sink(loop, sink_config(broker.port()), dir.file("state"), "host", source);
    sink.start();
    REQUIRE(run_until(
        loop, [&] { return connected(sink); }, 5000, pump));
    for (int i = 0; i < 100; ++i) feed_event(sink, "btn", "button", "click", {{"i", i}});
    REQUIRE(run_until(
        loop, [&] { return consumer.on("t/host/btn/events").size() == 100; }, 5000, pump));
    REQUIRE(run_until(
        loop, [&] { return sink.status()["spooled"] == 0; }, 5000, pump));
    broker.stop();
    REQUIRE(run_until(
        loop, [&] { return !connected(sink); }, 5000));
    for (int i = 100; i < 400; ++i) feed_event(sink, "btn", "button", "click", {{"i", i}});
    run_until(
        loop, [] { return false; }, 100);
    CHECK(sink.status()["spooled"] == 300);
    // The flush tick's fdatasync, through the loop.
    const auto ops = loop.in_flight();
    sink.sync();
    loop.run_once(0);
    REQUIRE(run_until(
        loop, [&] { return loop.in_flight() <= ops; }, 2000));
    CHECK(sink.status()["last_error"].get<std::string>().find("spool") == std::string::npos);
    sink.stop();
  }
  // Another run: same state_dir, seq continues at 101, nothing missing.
  broker.start();
  consumer.reconnect();
  {
    MqttSink sink(loop, sink_config(broker.port()), dir.file("state"), "host", source);
    CHECK(sink.status()["spooled"] == 300);
    sink.start();
    for (int i = 400; i < 450; ++i) feed_event(sink, "btn", "button", "click", {{"i", i}});
    REQUIRE(run_until(
        loop, [&] { return consumer.on("t/host/btn/events").size() >= 450; }, 10000, pump));
    CHECK(check_contiguous(consumer.on("t/host/btn/events"), 1, -1) == 450);
    REQUIRE(run_until(
        loop, [&] { return sink.status()["spooled"] == 0; }, 5000, pump));
    sink.stop();
    run_until(
        loop, [&] { return sink.status()["state"] == "disconnected"; }, 5000, pump);
  }
  // And a third: everything acknowledged and trimmed, the numbers still go on.
  {
    MqttSink sink(loop, sink_config(broker.port()), dir.file("state"), "host", source);
    CHECK(sink.status()["spooled"] == 0);
    sink.start();
    feed_event(sink, "btn", "button", "click", {{"i", 450}});
    REQUIRE(run_until(
        loop, [&] { return consumer.on("t/host/btn/events").size() == 451; }, 5000, pump));
    CHECK(consumer.on("t/host/btn/events").back()["seq"] == 451);
  }
}

TEST_CASE("mqtt sink: a spool past its cap says exactly how many it dropped", "[mqtt][sink]") {
  TempDir dir;
  Broker broker(dir, kBrokerConf);
  EventLoop loop;
  FakeSource source;
  Consumer consumer(broker.port(), "t/host/+/events", "consumer-cap");
  const auto pump = [&] { consumer.pump(); };
  auto cfg = sink_config(broker.port());
  cfg.spool_max_bytes = 16 * 1024;
  MqttSink sink(loop, cfg, dir.file("state"), "host", source);
  sink.start();
  REQUIRE(run_until(
      loop, [&] { return connected(sink); }, 5000, pump));
  broker.stop();
  REQUIRE(run_until(
      loop, [&] { return !connected(sink); }, 5000));

  // ~150 bytes each: far more than 16 KiB while the broker is away.
  for (int i = 0; i < 1000; ++i) {
    feed_event(sink, "btn", "button", "click", {{"i", i}});
    if (i % 7 == 0) feed_event(sink, "enc", "encoder", "detent", {{"i", i}});
    if (i % 100 == 0) loop.run_once(0);
  }
  run_until(
      loop, [] { return false; }, 50);
  const json st = sink.status();
  const auto kept = st["spooled"].get<std::uint64_t>();
  const auto dropped = st["spool_dropped"].get<std::uint64_t>();
  CHECK(kept + dropped == 1000 + 143);
  CHECK(dropped > 500);
  CHECK(source.spool_drops["btn"] + source.spool_drops["enc"] == dropped);
  CHECK(source.spool_drops["enc"] > 0);
  CHECK(st["spool_bytes"].get<std::uint64_t>() <= 16 * 1024);

  broker.start();
  consumer.reconnect();
  REQUIRE(run_until(
      loop, [&] { return sink.status()["spooled"] == 0 && connected(sink); }, 15000, pump));
  run_until(
      loop, [] { return false; }, 300, pump);
  for (const std::string device : {"btn", "enc"}) {
    const auto got = consumer.on("t/host/" + device + "/events");
    REQUIRE(!got.empty());
    // The survivors' seq jumps over exactly the dropped ones, then the gap message says so.
    const json& gap = got.back();
    CHECK(gap["event"] == "gap");
    CHECK(gap["reason"] == "mqtt_spool_full");
    CHECK(gap["name"] == device);
    CHECK(gap["lost"] == source.spool_drops[device]);
    const std::uint64_t total = device == "btn" ? 1000 : 143;
    CHECK(gap["seq"] == total + 1);
    CHECK(got.size() - 1 == total - source.spool_drops[device]);
    CHECK(got.front()["seq"] == source.spool_drops[device] + 1);  // the oldest went
  }
}

TEST_CASE("mqtt sink: Home Assistant discovery at each connect, removals after a reload",
          "[mqtt][sink]") {
  TempDir dir;
  Broker broker(dir, kBrokerConf);
  EventLoop loop;
  FakeSource source;
  gpioirq::sinks::HaEntity position;
  position.component = "sensor";
  position.object_id = "position";
  position.name = "position";
  position.state_member = "position";
  position.state_class = "measurement";
  gpioirq::sinks::HaEntity pressed;
  pressed.component = "binary_sensor";
  pressed.object_id = "pressed";
  pressed.name = "pressed";
  pressed.state_member = "pressed";
  pressed.payload_on = "true";
  pressed.payload_off = "false";
  gpioirq::sinks::HaEntity single;
  single.component = "device_automation";
  single.object_id = "single";
  single.trigger_event = "click";
  single.trigger_type = "button_short_press";
  single.trigger_subtype = "button_1";
  source.devices = {{"enc", "encoder", {position}}, {"btn", "button", {pressed, single}}};
  source.state["btn"] = {{"pressed", false}};
  Consumer consumer(broker.port(), "ha/#", "consumer-ha");
  const auto pump = [&] { consumer.pump(); };
  auto cfg = sink_config(broker.port());
  cfg.homeassistant = true;
  cfg.discovery_prefix = "ha";
  auto sink = std::make_unique<MqttSink>(loop, cfg, dir.file("state"), "my.host", source);
  sink->start();

  gpioirq::mqtt::DiscoveryNode node;
  node.discovery_prefix = "ha";
  node.node_id = "my_host";
  node.node_name = "gpioirqd on my.host";
  node.topic_prefix = "t/host";
  node.status_topic = "t/host/status";
  node.sw_version = "0.1.0";
  const auto expected = gpioirq::mqtt::ha_discovery_messages(node, source.devices);
  REQUIRE(expected.size() == 3);
  REQUIRE(run_until(
      loop, [&] { return consumer.messages.size() == 3; }, 5000, pump));
  for (std::size_t k = 0; k < expected.size(); ++k) {
    CHECK(consumer.messages[k].first == expected[k].topic);
    CHECK(consumer.messages[k].second == expected[k].payload);
  }
  const json sensor = json::parse(consumer.messages[0].second);
  CHECK(sensor["state_topic"] == "t/host/enc/state");
  CHECK(sensor["availability"][0]["topic"] == "t/host/status");
  // Retained, and not through the spool.
  CHECK(retained(broker.port(), expected[1].topic) == expected[1].payload);
  CHECK(sink->status()["spooled"] == 0);
  CHECK(sink->status()["events"] == 0);

  // A reload that removes btn: its discovery and its state topic are cleared, enc's sent again.
  REQUIRE(run_until(
      loop, [&] { return !retained(broker.port(), "t/host/btn/state").empty(); }, 3000, pump));
  source.devices.pop_back();
  sink->devices_changed();
  REQUIRE(run_until(
      loop, [&] { return consumer.messages.size() == 6; }, 5000, pump));
  std::map<std::string, std::string> last;
  for (const auto& [topic, payload] : consumer.messages) last[topic] = payload;
  CHECK(last[expected[1].topic].empty());
  CHECK(last[expected[2].topic].empty());
  CHECK(last[expected[0].topic] == expected[0].payload);
  CHECK(retained(broker.port(), expected[1].topic).empty());
  CHECK(retained(broker.port(), "t/host/btn/state").empty());
  CHECK_FALSE(retained(broker.port(), "t/host/enc/state").empty());

  // Every connect sends discovery again (Home Assistant may have restarted, or the broker).
  sink.reset();
  consumer.messages.clear();
  auto again = std::make_unique<MqttSink>(loop, cfg, dir.file("state"), "my.host", source);
  again->start();
  REQUIRE(run_until(
      loop, [&] { return consumer.messages.size() == 1; }, 5000, pump));
  CHECK(consumer.messages[0].first == expected[0].topic);
}

TEST_CASE("mqtt sink: QoS 0 is published directly while connected, spooled only while not",
          "[mqtt][sink]") {
  TempDir dir;
  Broker broker(dir, kBrokerConf);
  EventLoop loop;
  FakeSource source;
  Consumer consumer(broker.port(), "t/host/btn/events", "consumer-qos0");
  const auto pump = [&] { consumer.pump(); };
  auto cfg = sink_config(broker.port());
  cfg.qos = 0;
  MqttSink sink(loop, cfg, dir.file("state"), "host", source);
  sink.start();
  REQUIRE(run_until(
      loop, [&] { return connected(sink); }, 5000, pump));
  const auto spool_file = dir.path() / "state" / "mqtt" / "spool.dat";
  const auto empty_size = std::filesystem::file_size(spool_file);
  for (int i = 0; i < 200; ++i) feed_event(sink, "btn", "button", "click", {{"i", i}});
  CHECK(sink.status()["spooled"] == 0);
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/btn/events").size() == 200; }, 5000, pump));
  CHECK(std::filesystem::file_size(spool_file) == empty_size);  // nothing went to disk

  broker.stop();
  REQUIRE(run_until(
      loop, [&] { return !connected(sink); }, 5000));
  for (int i = 200; i < 400; ++i) feed_event(sink, "btn", "button", "click", {{"i", i}});
  run_until(
      loop, [] { return false; }, 50);
  CHECK(sink.status()["spooled"] == 200);
  broker.start();
  consumer.reconnect();
  REQUIRE(run_until(
      loop, [&] { return sink.status()["spooled"] == 0 && connected(sink); }, 10000, pump));
  REQUIRE(run_until(
      loop, [&] { return consumer.on("t/host/btn/events").size() >= 400; }, 5000, pump));
  CHECK(check_contiguous(consumer.on("t/host/btn/events"), 1, -1) == 400);
  CHECK(sink.status()["events"] == 400);
}
