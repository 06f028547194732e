// [mqtt] end to end: the real gpioirqd on sim devices publishing to a real mosquitto broker
// started by the test (its own configuration, a free loopback port, persistence in the
// test's directory), consumed by a libmosquitto client of the test with a persistent
// session (QoS 1), so that what the daemon publishes while the consumer is cut off by a
// broker restart is kept for it. docs/MQTT.md says what the topics and payloads are.
//
// The sim button's gesture cycle (click, double click, a long press held 1.5 s) lasts about
// 2 s, so a stream of thousands of events-topic messages takes hundreds of buttons; the
// counter's pulses are state (its retained state topic), checked by their total.

#include <mosquitto.h>
#include <signal.h>

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "support/mosquitto_broker.hpp"

namespace {
using namespace host;

// A consumer with a persistent session (clean_session false, QoS 1): after a broker
// restart (the broker persists sessions) it gets what was published meanwhile.
class Consumer {
 public:
  Consumer(int port, std::string topic, std::string client_id)
      : port_(port), topic_(std::move(topic)) {
    mosquitto_lib_init();
    m_ = mosquitto_new(client_id.c_str(), false, this);
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      static_cast<Consumer*>(self)->messages.emplace_back(
          msg->topic, std::string(static_cast<const char*>(msg->payload),
                                  static_cast<std::size_t>(msg->payloadlen)));
    });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* self, int, int, const int*) {
      static_cast<Consumer*>(self)->subscribed_ = true;
    });
    connect();
  }
  ~Consumer() {
    mosquitto_disconnect(m_);
    mosquitto_destroy(m_);
  }
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // (Re)connects and subscribes (the broker may have kept the session; subscribing
  // again is harmless).
  void connect() {
    subscribed_ = false;
    REQUIRE(wait_until(
        [&] { return mosquitto_connect(m_, "127.0.0.1", port_, 60) == MOSQ_ERR_SUCCESS; }, 10s,
        100ms));
    REQUIRE(mosquitto_subscribe(m_, nullptr, topic_.c_str(), 1) == MOSQ_ERR_SUCCESS);
    REQUIRE(wait_until(
        [&] {
          pump(10);
          return subscribed_;
        },
        10s, 1ms));
  }
  void pump(int timeout_ms = 0) {
    for (int i = 0; i < 100; ++i) {
      const std::size_t before = messages.size();
      mosquitto_loop(m_, timeout_ms, 100);
      if (messages.size() == before) break;
      timeout_ms = 0;
    }
  }
  // Pumps until `done` or the timeout.
  bool pump_until(const std::function<bool()>& done, Clock::duration timeout) {
    return wait_until(
        [&] {
          pump(20);
          return done();
        },
        timeout, 1ms);
  }

  std::vector<std::pair<std::string, std::string>> messages;

 private:
  int port_;
  std::string topic_;
  mosquitto* m_ = nullptr;
  bool subscribed_ = false;
};

// A prefix of its own per test, so that tests never read each other's messages.
std::string test_prefix(std::string_view test) {
  return "gpioirq-test/" + std::to_string(::getpid()) + "/" + std::string(test);
}

std::string broker_conf(const TempDir& dir) {
  // Sessions and their queued messages survive a broker restart; no queue limit.
  return "allow_anonymous true\npersistence true\npersistence_location " + dir.path().string() +
         "/\nmax_queued_messages 0\n";
}

std::string mqtt_section(int port, const std::string& prefix, std::string_view extra = "") {
  return "[mqtt]\nurl = \"mqtt://127.0.0.1:" + std::to_string(port) + "\"\ntopic_prefix = \"" +
         prefix + "\"\n" + std::string(extra);
}

std::string buttons(int n, int first_line, double rate_hz) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "[[button]]\nname = \"b" + std::to_string(i) +
         "\"\nchip = \"sim0\"\nline = " + std::to_string(first_line + i) +
         "\nsim_rate_hz = " + std::to_string(rate_hz) + "\n";
  return s;
}

bool is_gesture(std::string_view event) {
  return event == "click" || event == "double_click" || event == "long_press";
}

// The events-topic messages of each device, parsed, in arrival order.
std::map<std::string, std::vector<Json>> events_by_device(
    const std::vector<std::pair<std::string, std::string>>& messages, const std::string& prefix) {
  std::map<std::string, std::vector<Json>> out;
  for (const auto& [topic, payload] : messages) {
    if (!topic.starts_with(prefix + "/") || !topic.ends_with("/events")) continue;
    const std::string device =
        topic.substr(prefix.size() + 1, topic.size() - prefix.size() - 1 - 7);
    out[device].push_back(Json::parse(payload));
  }
  return out;
}

// QoS 1 duplicates (the same seq again) removed; the rest must come in seq order, each
// seq once: returns the messages kept, and the problems found.
std::vector<Json> without_duplicates(const std::vector<Json>& received,
                                     std::vector<std::string>& problems, std::string_view what) {
  std::vector<Json> kept;
  std::set<std::int64_t> seen;
  std::int64_t last = 0;
  for (const Json& m : received) {
    const std::int64_t seq = m.at("seq").get<std::int64_t>();
    if (seen.contains(seq)) continue;  // a duplicate of one received before
    if (!kept.empty() && seq != last + 1)
      problems.push_back(std::string(what) + ": seq " + std::to_string(seq) + " after " +
                         std::to_string(last));
    seen.insert(seq);
    kept.push_back(m);
    last = seq;
  }
  return kept;
}

// (ts_ns, event) of each gesture row of `device` in the event log.
std::vector<std::pair<std::int64_t, std::string>> gesture_rows(const std::vector<LogRecord>& log,
                                                               const std::string& device) {
  std::vector<std::pair<std::int64_t, std::string>> rows;
  for (const LogRecord& r : log)
    if (r.type == "EVENT" && r.device == device && is_gesture(r.kind))
      rows.emplace_back(r.ts_ns, r.kind);
  return rows;
}

std::string last_payload(const std::vector<std::pair<std::string, std::string>>& messages,
                         const std::string& topic) {
  std::string last;
  for (const auto& [t, payload] : messages)
    if (t == topic) last = payload;
  return last;
}

}  // namespace

TEST_CASE("MQTT: status, a button's gestures, a counter's state and health as documented",
          "[host][mqtt]") {
  TempDir dir;
  gpioirq_test::Broker broker(dir, broker_conf(dir));
  const std::string prefix = test_prefix("topics");
  Consumer consumer(broker.port(), prefix + "/#", "topics-consumer");
  const std::string config =
      daemon_section("state_dir = \"state\"\n") + sim_chip_section() +
      "[[button]]\nname = \"door\"\nchip = \"sim0\"\nline = 1\nsim_rate_hz = 20\n"
      "[[counter]]\nname = \"water\"\nchip = \"sim0\"\nline = 2\nsim_rate_hz = 200\n" +
      mqtt_section(broker.port(), prefix, "state_interval_ms = 100\nhealth_interval_ms = 1000\n");
  Daemon d(dir, config);

  auto count_on = [&](const std::string& topic) {
    return std::count_if(consumer.messages.begin(), consumer.messages.end(),
                         [&](const auto& m) { return m.first == topic; });
  };
  REQUIRE(consumer.pump_until(
      [&] {
        return count_on(prefix + "/door/events") >= 3 && count_on(prefix + "/water/state") >= 2 &&
               count_on(prefix + "/health") >= 1 && count_on(prefix + "/status") >= 1;
      },
      20s));
  CHECK(last_payload(consumer.messages, prefix + "/status") == "online");

  // The daemon says how it goes: status (and gpioirqctl's rendering of it) and metrics.
  const Json mqtt = d.ok("status").at("mqtt");
  CHECK(mqtt.at("state") == "connected");
  CHECK(mqtt.at("broker") == "mqtt://127.0.0.1:" + std::to_string(broker.port()));
  CHECK(mqtt.at("published").get<std::int64_t>() >= 6);
  CHECK(mqtt.at("spool_dropped") == 0);
  const RunResult shown = ctl(d.socket(), {"status"});
  CHECK(shown.exit_code == 0);
  CHECK(shown.out.find("mqtt:") != std::string::npos);
  CHECK(shown.out.find("connected") != std::string::npos);
  const std::string metrics = d.ok("metrics").at("text").get<std::string>();
  CHECK(metrics.find("# HELP gpioirq_mqtt_connected ") != std::string::npos);
  CHECK(metrics.find("\ngpioirq_mqtt_connected 1\n") != std::string::npos);
  CHECK(metrics.find("\ngpioirq_mqtt_spool_dropped_total 0\n") != std::string::npos);

  // A reload that changes [mqtt] keeps the running connection and says so.
  const std::string changed = config + "qos = 0\n";
  d.write_config(changed);
  CHECK(d.ok("reload").at("reloads") == 1);
  CHECK(d.stderr_text().find("reload: [mqtt] settings changed; they take effect at the next "
                             "restart") != std::string::npos);
  CHECK(d.ok("status").at("mqtt").at("state") == "connected");

  REQUIRE(d.stop() == 0);
  REQUIRE(consumer.pump_until(
      [&] { return last_payload(consumer.messages, prefix + "/status") == "offline"; }, 10s));
  consumer.pump(200);

  const std::vector<LogRecord> log = read_event_log(d.event_log());
  // The door's gestures: each one the event log has, once, in order, with its kernel
  // timestamp, a wall-clock time and a contiguous seq.
  std::vector<std::string> problems;
  const auto received =
      without_duplicates(events_by_device(consumer.messages, prefix)["door"], problems, "door");
  CHECK(problems.empty());
  const auto rows = gesture_rows(log, "door");
  REQUIRE(received.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO(received[i].dump());
    CHECK(received[i].at("ts_ns").get<std::int64_t>() == rows[i].first);
    CHECK(received[i].at("event") == rows[i].second);
    const std::string time = received[i].at("time").get<std::string>();
    CHECK(time.size() >= 20);
    CHECK(time.back() == 'Z');
  }
  // The counter's last state: its count is every pulse the event log has (an EDGE row per
  // rising edge, the counter's default).
  std::int64_t pulses = 0;
  for (const LogRecord& r : log)
    if (r.type == "EDGE" && r.device == "water" && r.edge == "rising") ++pulses;
  const Json state = Json::parse(last_payload(consumer.messages, prefix + "/water/state"));
  INFO(state.dump());
  CHECK(state.at("count").get<double>() == static_cast<double>(pulses));
  CHECK(state.contains("ts_ns"));
  CHECK(state.contains("time"));
  const Json health = Json::parse(last_payload(consumer.messages, prefix + "/health"));
  INFO(health.dump());
  CHECK(health.at("devices") == 2);
  CHECK(health.at("edges_lost") == 0);
  CHECK(health.contains("uptime_s"));
}

namespace {

// Buttons b0..b<n-1> on lines 0..n-1 and the counter "water" on line n, publishing to
// `port` under `prefix`.
std::string many_buttons_config(int n, int port, const std::string& prefix,
                                std::string_view mqtt_extra) {
  return daemon_section("state_dir = \"state\"\n") + sim_chip_section(n + 1) + buttons(n, 0, 10) +
         "[[counter]]\nname = \"water\"\nchip = \"sim0\"\nline = " + std::to_string(n) +
         "\nsim_rate_hz = 400\n" +
         mqtt_section(port, prefix,
                      "state_interval_ms = 5000\nhealth_interval_ms = 5000\n" +
                          std::string(mqtt_extra) + "[mqtt.rate_limit_ms]\nwater = 200\n");
}

Json mqtt_status(const Daemon& d) {
  return d.ok("status").at("mqtt");
}

// After the daemon stopped: waits until its `offline` came and nothing more arrives.
void drain_consumer(Consumer& consumer, const std::string& prefix) {
  REQUIRE(consumer.pump_until(
      [&] { return last_payload(consumer.messages, prefix + "/status") == "offline"; }, 15s));
  std::size_t seen = 0;
  do {
    seen = consumer.messages.size();
    consumer.pump(300);
  } while (consumer.messages.size() != seen);
}

}  // namespace

TEST_CASE("MQTT: the broker stopped for 10 s; after it returns every event arrives, in order",
          "[host][mqtt]") {
  constexpr int kButtons = 300;
  TempDir dir;
  gpioirq_test::Broker broker(dir, broker_conf(dir));
  const std::string prefix = test_prefix("outage");
  Consumer consumer(broker.port(), prefix + "/#", "outage-consumer");
  Daemon d(dir, many_buttons_config(kButtons, broker.port(), prefix, ""));

  REQUIRE(consumer.pump_until([&] { return consumer.messages.size() > 500; }, 20s));
  consumer.pump_until([] { return false; }, 5s);
  broker.stop();
  const auto stopped = Clock::now();
  // The daemon notices and keeps what it cannot send in its spool.
  REQUIRE(wait_until([&] { return mqtt_status(d).at("state") != "connected"; }, 5s));
  std::this_thread::sleep_until(stopped + 10s);
  const Json during = mqtt_status(d);
  INFO(during.dump());
  CHECK(during.at("spooled").get<std::int64_t>() > 1000);
  broker.start();
  consumer.connect();
  REQUIRE(consumer.pump_until(
      [&] {
        const Json m = mqtt_status(d);
        return m.at("state") == "connected" && m.at("spooled") == 0;
      },
      30s));
  // On until the counter has passed 10 000 pulses (25 s at 400 Hz).
  REQUIRE(consumer.pump_until(
      [&] { return d.ok("counters").at("counters").at(0).at("count").get<std::int64_t>() > 10200; },
      30s));
  REQUIRE(d.stop() == 0);
  drain_consumer(consumer, prefix);

  const std::vector<LogRecord> log = read_event_log(d.event_log());
  const auto by_device = events_by_device(consumer.messages, prefix);
  std::vector<std::string> problems;
  std::size_t total = 0;
  for (int i = 0; i < kButtons; ++i) {
    const std::string name = "b" + std::to_string(i);
    const auto it = by_device.find(name);
    const auto received = it == by_device.end() ? std::vector<Json>{}
                                                : without_duplicates(it->second, problems, name);
    const auto rows = gesture_rows(log, name);
    if (received.size() != rows.size()) {
      problems.push_back(name + ": " + std::to_string(received.size()) + " received, " +
                         std::to_string(rows.size()) + " in the event log");
      continue;
    }
    for (std::size_t k = 0; k < rows.size(); ++k)
      if (received[k].at("ts_ns").get<std::int64_t>() != rows[k].first ||
          received[k].at("event") != rows[k].second)
        problems.push_back(name + ": message " + std::to_string(k) + " is " + received[k].dump());
    total += rows.size();
  }
  INFO((problems.empty() ? std::string() : problems.front()));
  CHECK(problems.size() == 0);
  CHECK(total >= 10000);
  std::int64_t pulses = 0;
  for (const LogRecord& r : log)
    if (r.type == "EDGE" && r.device == "water" && r.edge == "rising") ++pulses;
  CHECK(pulses >= 10000);
  const Json state = Json::parse(last_payload(consumer.messages, prefix + "/water/state"));
  CHECK(state.at("count").get<double>() == static_cast<double>(pulses));
}

TEST_CASE("MQTT: killed with a full spool and started again, nothing is missing", "[host][mqtt]") {
  constexpr int kButtons = 100;
  TempDir dir;
  gpioirq_test::Broker broker(dir, broker_conf(dir));
  const std::string prefix = test_prefix("kill");
  Consumer consumer(broker.port(), prefix + "/#", "kill-consumer");
  broker.stop();  // the consumer's session stays (persisted); the daemon finds no broker
  const std::string config = many_buttons_config(kButtons, broker.port(), prefix, "");
  std::int64_t spooled_at_kill = 0;
  {
    Daemon first(dir, config);
    REQUIRE(wait_until([&] { return mqtt_status(first).at("spooled").get<std::int64_t>() >= 300; },
                       20s));
    spooled_at_kill = mqtt_status(first).at("spooled").get<std::int64_t>();
    first.process().signal(SIGKILL);
    REQUIRE(first.process().wait_for(10s) == -SIGKILL);
  }
  Daemon second(dir, config);
  const Json resumed = mqtt_status(second);
  INFO(resumed.dump());
  CHECK(resumed.at("spooled").get<std::int64_t>() >= spooled_at_kill);
  broker.start();
  consumer.connect();
  REQUIRE(consumer.pump_until(
      [&] {
        const Json m = mqtt_status(second);
        return m.at("state") == "connected" && m.at("spooled") == 0;
      },
      30s));
  REQUIRE(second.stop() == 0);
  drain_consumer(consumer, prefix);

  // Every gesture of both runs the event log has arrived (the killed run's log may lack
  // its last rows; its spool did not), and each button's seq runs on across the restart
  // without a hole.
  const std::vector<LogRecord> log = read_event_log(second.event_log());
  const auto by_device = events_by_device(consumer.messages, prefix);
  std::vector<std::string> problems;
  std::size_t received_total = 0;
  for (int i = 0; i < kButtons; ++i) {
    const std::string name = "b" + std::to_string(i);
    const auto it = by_device.find(name);
    const auto received = it == by_device.end() ? std::vector<Json>{}
                                                : without_duplicates(it->second, problems, name);
    received_total += received.size();
    std::set<std::pair<std::int64_t, std::string>> got;
    for (const Json& m : received)
      got.emplace(m.at("ts_ns").get<std::int64_t>(), m.at("event").get<std::string>());
    for (const auto& row : gesture_rows(log, name))
      if (!got.contains(row))
        problems.push_back(name + ": " + row.second + " at " + std::to_string(row.first) +
                           " never arrived");
  }
  INFO((problems.empty() ? std::string() : problems.front()));
  CHECK(problems.size() == 0);
  CHECK(received_total >= static_cast<std::size_t>(spooled_at_kill));
}

TEST_CASE("MQTT: a spool past its cap drops its oldest messages and says exactly how many",
          "[host][mqtt]") {
  constexpr int kButtons = 600;
  TempDir dir;
  gpioirq_test::Broker broker(dir, broker_conf(dir));
  const std::string prefix = test_prefix("cap");
  Consumer consumer(broker.port(), prefix + "/#", "cap-consumer");
  broker.stop();
  Daemon d(dir, many_buttons_config(kButtons, broker.port(), prefix, "spool_max_mb = 1\n"));
  REQUIRE(wait_until([&] { return mqtt_status(d).at("spool_dropped").get<std::int64_t>() > 100; },
                     40s, 200ms));
  broker.start();
  consumer.connect();
  REQUIRE(consumer.pump_until(
      [&] {
        const Json m = mqtt_status(d);
        return m.at("state") == "connected" && m.at("spooled") == 0;
      },
      30s));
  const std::int64_t dropped = mqtt_status(d).at("spool_dropped").get<std::int64_t>();
  const std::string metrics = d.ok("metrics").at("text").get<std::string>();
  CHECK(metrics.find("\ngpioirq_mqtt_spool_dropped_total " + std::to_string(dropped) + "\n") !=
        std::string::npos);
  REQUIRE(d.stop() == 0);
  drain_consumer(consumer, prefix);

  const std::vector<LogRecord> log = read_event_log(d.event_log());
  std::map<std::string, std::int64_t> gap_rows;  // device -> lost in mqtt_spool_full rows
  std::int64_t gap_rows_total = 0;
  for (const LogRecord& r : log)
    if (r.type == "GAP" && r.kind == "mqtt_spool_full") {
      gap_rows[r.device] += r.lost;
      gap_rows_total += r.lost;
    }
  CHECK(gap_rows_total == dropped);

  const auto by_device = events_by_device(consumer.messages, prefix);
  std::vector<std::string> problems;
  std::int64_t gap_messages_total = 0, received_total = 0, produced_total = 0;
  for (int i = 0; i < kButtons; ++i) {
    const std::string name = "b" + std::to_string(i);
    std::int64_t received = 0, said_lost = 0;
    std::set<std::int64_t> seqs;
    if (const auto it = by_device.find(name); it != by_device.end())
      for (const Json& m : it->second) {
        if (!seqs.insert(m.at("seq").get<std::int64_t>()).second) continue;  // a duplicate
        if (is_gesture(m.at("event").get<std::string>()))
          ++received;
        else if (m.at("event") == "gap" && m.value("reason", "") == "mqtt_spool_full")
          said_lost += m.at("lost").get<std::int64_t>();
      }
    const auto produced = static_cast<std::int64_t>(gesture_rows(log, name).size());
    if (received + gap_rows[name] != produced)
      problems.push_back(name + ": " + std::to_string(received) + " received + " +
                         std::to_string(gap_rows[name]) +
                         " dropped != " + std::to_string(produced) + " produced");
    if (said_lost != gap_rows[name])
      problems.push_back(name + ": the events topic says " + std::to_string(said_lost) +
                         " lost, the event log " + std::to_string(gap_rows[name]));
    gap_messages_total += said_lost;
    received_total += received;
    produced_total += produced;
  }
  INFO((problems.empty() ? std::string() : problems.front()));
  CHECK(problems.size() == 0);
  CHECK(gap_messages_total == dropped);
  CHECK(received_total + dropped == produced_total);
}

TEST_CASE("MQTT over TLS to a broker whose certificate a CA made by the test signed",
          "[host][mqtt]") {
  TempDir dir;
  const auto run_openssl = [&](const std::string& cmd) {
    REQUIRE(std::system(
                ("cd " + dir.path().string() + " && " + cmd + " >>openssl.log 2>&1").c_str()) == 0);
  };
  run_openssl(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key -out "
      "ca.crt");
  run_openssl(
      "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr");
  run_openssl(
      "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in server.csr -CA "
      "ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt");
  gpioirq_test::Broker broker(dir, "allow_anonymous true\ncafile " + dir.file("ca.crt") +
                                       "\ncertfile " + dir.file("server.crt") + "\nkeyfile " +
                                       dir.file("server.key") + "\n");
  const std::string prefix = test_prefix("tls");
  // A CA file that is not there stops the start, as a configuration error (exit 78).
  write_file(dir.file("no-ca.toml"),
             daemon_section("state_dir = \"state\"\n") + "[mqtt]\nurl = \"mqtts://127.0.0.1:" +
                 std::to_string(broker.port()) + "\"\nca_file = \"missing-ca.crt\"\n");
  const RunResult refused = run({gpioirqd_path(), "-c", dir.file("no-ca.toml")});
  CHECK(refused.exit_code == 78);
  INFO(refused.err);
  CHECK(refused.err.find(dir.file("missing-ca.crt")) != std::string::npos);
  Daemon d(dir, daemon_section("state_dir = \"state\"\n") + sim_chip_section() +
                    "[[button]]\nname = \"door\"\nchip = \"sim0\"\nline = 1\nsim_rate_hz = 20\n"
                    "[mqtt]\nurl = \"mqtts://127.0.0.1:" +
                    std::to_string(broker.port()) + "\"\nca_file = \"ca.crt\"\ntopic_prefix = \"" +
                    prefix + "\"\n");
  REQUIRE(wait_until(
      [&] {
        const Json m = mqtt_status(d);
        return m.at("state") == "connected" && m.at("acknowledged").get<std::int64_t>() >= 3;
      },
      20s));
  CHECK(gpioirq_test::retained(broker.port(), prefix + "/status",
                               "--cafile " + dir.file("ca.crt")) == "online");
  REQUIRE(d.stop() == 0);
  CHECK(gpioirq_test::retained(broker.port(), prefix + "/status",
                               "--cafile " + dir.file("ca.crt")) == "offline");
}
