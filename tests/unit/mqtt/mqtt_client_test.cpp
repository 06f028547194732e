// MqttClient against real mosquitto brokers that the test starts on a free loopback port
// with its own configuration; a libmosquitto client in the test (pumped between loop
// rounds) or mosquitto_sub is the consumer.

#include "mqtt/mqtt_client.hpp"

#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop/event_loop.hpp"
#include "support/mosquitto_broker.hpp"
#include "support/temp_dir.hpp"

using gpioirq::loop::EventLoop;
using gpioirq::mqtt::MqttClient;
using gpioirq::mqtt::MqttClientConfig;
using gpioirq_test::Broker;
using gpioirq_test::free_port;
using gpioirq_test::retained;
using gpioirq_test::run_until;
using gpioirq_test::Subscriber;

namespace {

MqttClientConfig config_for(int port) {
  MqttClientConfig c;
  c.url = "mqtt://127.0.0.1:" + std::to_string(port);
  c.client_id = "gpioirq-test";
  c.keepalive_s = 5;
  c.reconnect_min_ms = 50;
  c.reconnect_max_ms = 400;
  return c;
}

}  // namespace

TEST_CASE("mqtt client: retained online, the last will on a lost connection, offline on stop",
          "[mqtt][broker]") {
  gpioirq_test::TempDir dir;
  Broker broker(dir);
  EventLoop loop;
  auto cfg = config_for(broker.port());
  cfg.status_topic = "gpioirq/test/status";
  MqttClient client(loop, cfg);
  int connected_calls = 0;
  int disconnected_calls = 0;
  client.on_connected = [&] { ++connected_calls; };
  client.on_disconnected = [&] { ++disconnected_calls; };
  CHECK(client.state() == MqttClient::State::disconnected);
  client.start();
  REQUIRE(run_until(
      loop, [&] { return client.state() == MqttClient::State::connected; }, 5000));
  CHECK(connected_calls == 1);
  REQUIRE(run_until(
      loop, [&] { return client.counters().acknowledged == 1; }, 5000));
  CHECK(retained(broker.port(), cfg.status_topic) == "online");

  Subscriber sub(broker.port(), cfg.status_topic);
  REQUIRE(run_until(
      loop, [&] { return !sub.messages.empty(); }, 5000, [&] { sub.pump(); }));
  CHECK(sub.messages[0].second == "online");  // the retained one

  // The connection cut without a DISCONNECT: the broker sends the will, the client comes back.
  REQUIRE(client.socket_fd() >= 0);
  ::shutdown(client.socket_fd(), SHUT_RDWR);
  REQUIRE(run_until(
      loop, [&] { return sub.messages.size() >= 3; }, 10000, [&] { sub.pump(); }));
  CHECK(sub.messages[1].second == "offline");
  CHECK(sub.messages[2].second == "online");
  CHECK(client.state() == MqttClient::State::connected);
  CHECK(client.counters().connects == 2);
  CHECK(client.counters().disconnects == 1);
  CHECK(connected_calls == 2);
  CHECK(disconnected_calls == 1);
  // The second online's PUBACK may still be on its way (the subscriber can have the message
  // first); a stop() before it arrives would leave it in flight for good.
  REQUIRE(run_until(
      loop, [&] { return client.counters().in_flight() == 0; }, 5000));

  client.stop();
  REQUIRE(run_until(
      loop, [&] { return client.state() == MqttClient::State::disconnected; }, 5000));
  CHECK(retained(broker.port(), cfg.status_topic) == "offline");
  CHECK(disconnected_calls == 2);
  // online twice and offline once, all acknowledged; nothing of the client left in the loop.
  CHECK(client.counters().published == 3);
  CHECK(client.counters().in_flight() == 0);
  run_until(
      loop, [&] { return loop.in_flight() == 0; }, 2000);
  CHECK(loop.in_flight() == 0);
}

TEST_CASE("mqtt client: 1000 QoS 1 messages, all acknowledged and received in order",
          "[mqtt][broker]") {
  gpioirq_test::TempDir dir;
  Broker broker(dir);
  Subscriber sub(broker.port(), "gpioirq/test/seq");
  EventLoop loop;
  MqttClient client(loop, config_for(broker.port()));
  std::vector<int> acked;
  client.on_acknowledged = [&](int mid) { acked.push_back(mid); };
  client.start();
  REQUIRE(run_until(
      loop, [&] { return client.state() == MqttClient::State::connected; }, 5000));
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(client.publish("gpioirq/test/seq", std::to_string(i), 1, false) > 0);
  }
  CHECK(client.counters().published == 1000);
  REQUIRE(run_until(
      loop, [&] { return client.counters().acknowledged == 1000 && sub.messages.size() == 1000; },
      20000, [&] { sub.pump(); }));
  CHECK(client.counters().in_flight() == 0);
  CHECK(client.counters().dropped == 0);
  CHECK(acked.size() == 1000);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(sub.messages[static_cast<std::size_t>(i)].second == std::to_string(i));
  }
}

TEST_CASE("mqtt client: the broker stopped and restarted, the client reconnects",
          "[mqtt][broker]") {
  gpioirq_test::TempDir dir;
  Broker broker(dir);
  EventLoop loop;
  MqttClient client(loop, config_for(broker.port()));
  client.start();
  REQUIRE(run_until(
      loop, [&] { return client.state() == MqttClient::State::connected; }, 5000));
  CHECK(client.publish("gpioirq/test/x", "before", 1, false) > 0);
  REQUIRE(run_until(
      loop, [&] { return client.counters().acknowledged == 1; }, 5000));

  broker.stop();
  REQUIRE(run_until(
      loop, [&] { return client.state() != MqttClient::State::connected; }, 10000));
  CHECK(client.counters().disconnects == 1);
  CHECK_FALSE(client.last_error().empty());
  // Refused while down, and counted: the caller keeps it (the spool).
  CHECK(client.publish("gpioirq/test/x", "while down", 1, false) == 0);
  CHECK(client.counters().dropped == 1);
  // Reconnect attempts go on (refused) while the broker is away.
  run_until(
      loop, [] { return false; }, 1000);
  CHECK(client.state() != MqttClient::State::connected);

  broker.start();
  Subscriber sub(broker.port(), "gpioirq/test/x");
  REQUIRE(run_until(
      loop, [&] { return client.state() == MqttClient::State::connected; }, 10000));
  CHECK(client.counters().connects == 2);
  CHECK(client.publish("gpioirq/test/x", "after", 1, false) > 0);
  REQUIRE(run_until(
      loop, [&] { return client.counters().acknowledged == 2 && !sub.messages.empty(); }, 5000,
      [&] { sub.pump(); }));
  CHECK(sub.messages.back().second == "after");
  CHECK(client.counters().in_flight() == 0);
}

TEST_CASE("mqtt client: TLS to a broker whose certificate a test CA signed",
          "[mqtt][broker][tls]") {
  gpioirq_test::TempDir dir;
  const auto run = [&](const std::string& cmd) {
    REQUIRE(std::system(
                ("cd " + dir.path().string() + " && " + cmd + " >>openssl.log 2>&1").c_str()) == 0);
  };
  for (const std::string ca : {"ca", "other-ca"}) {
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + ca + " -keyout " + ca +
        ".key -out " + ca + ".crt");
  }
  run("openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr");
  run("printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in server.csr -CA "
      "ca.crt "
      "-CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt");
  Broker broker(dir, "allow_anonymous true\ncafile " + dir.file("ca.crt") + "\ncertfile " +
                         dir.file("server.crt") + "\nkeyfile " + dir.file("server.key") + "\n");
  EventLoop loop;
  auto cfg = config_for(broker.port());
  cfg.url = "mqtts://127.0.0.1:" + std::to_string(broker.port());
  cfg.status_topic = "gpioirq/tls/status";

  SECTION("the right CA: connected, messages acknowledged") {
    cfg.ca_file = dir.file("ca.crt");
    MqttClient client(loop, cfg);
    client.start();
    REQUIRE(run_until(
        loop, [&] { return client.state() == MqttClient::State::connected; }, 10000));
    for (int i = 0; i < 10; ++i)
      CHECK(client.publish("gpioirq/tls/x", std::to_string(i), 1, false) > 0);
    REQUIRE(run_until(
        loop, [&] { return client.counters().acknowledged == 11; }, 5000));
    CHECK(retained(broker.port(), cfg.status_topic, "--cafile " + dir.file("ca.crt")) == "online");
  }
  SECTION("another CA: the broker's certificate is refused, never connected") {
    cfg.ca_file = dir.file("other-ca.crt");
    MqttClient client(loop, cfg);
    client.start();
    CHECK_FALSE(run_until(
        loop, [&] { return client.state() == MqttClient::State::connected; }, 2000));
    CHECK(client.counters().connects == 0);
    CHECK_FALSE(client.last_error().empty());
    CHECK(client.counters().connect_attempts >= 2);  // a failed handshake is retried too
  }
}

TEST_CASE("mqtt client: username and password file", "[mqtt][broker]") {
  gpioirq_test::TempDir dir;
  REQUIRE(
      std::system(("mosquitto_passwd -c -b " + dir.file("passwd") + " meter s3cret >/dev/null 2>&1")
                      .c_str()) == 0);
  Broker broker(dir, "allow_anonymous false\npassword_file " + dir.file("passwd") + "\n");
  EventLoop loop;
  auto cfg = config_for(broker.port());
  cfg.username = "meter";
  cfg.password_file = dir.file("password");

  SECTION("the right password (the file's first line): connected") {
    std::ofstream(cfg.password_file) << "s3cret\nnot this line\n";
    MqttClient client(loop, cfg);
    client.start();
    REQUIRE(run_until(
        loop, [&] { return client.state() == MqttClient::State::connected; }, 5000));
    CHECK(client.publish("gpioirq/auth/x", "1", 1, false) > 0);
    REQUIRE(run_until(
        loop, [&] { return client.counters().acknowledged == 1; }, 5000));
  }
  SECTION("a wrong password: refused, and the reason kept") {
    std::ofstream(cfg.password_file) << "wrong\n";
    MqttClient client(loop, cfg);
    client.start();
    CHECK_FALSE(run_until(
        loop, [&] { return client.state() == MqttClient::State::connected; }, 1500));
    CHECK(client.counters().connects == 0);
    CHECK_FALSE(client.last_error().empty());
    CHECK(client.last_error().find("refused: Connection Refused: not authorised") !=
          std::string::npos);
  }
}

TEST_CASE("mqtt client: configuration mistakes are refused before connecting", "[mqtt]") {
  EventLoop loop;
  auto cfg = config_for(1883);
  cfg.url = "mqtts://127.0.0.1";
  CHECK_THROWS_AS(MqttClient(loop, cfg), std::invalid_argument);  // no CA file
  cfg = config_for(1883);
  cfg.ca_file = "/nonexistent/ca.crt";
  CHECK_THROWS_AS(MqttClient(loop, cfg), std::invalid_argument);  // a CA with mqtt://
  cfg = config_for(1883);
  cfg.username = "u";
  cfg.password_file = "/nonexistent/password";
  CHECK_THROWS_AS(MqttClient(loop, cfg), std::runtime_error);
}

TEST_CASE(
    "mqtt client: QoS 1 messages in flight at a cut connection are sent again after the reconnect",
    "[mqtt][broker]") {
  gpioirq_test::TempDir dir;
  Broker broker(dir);
  Subscriber sub(broker.port(), "gpioirq/test/cut");
  EventLoop loop;
  MqttClient client(loop, config_for(broker.port()));
  client.start();
  REQUIRE(run_until(
      loop, [&] { return client.state() == MqttClient::State::connected; }, 5000));
  for (int i = 0; i < 500; ++i)
    REQUIRE(client.publish("gpioirq/test/cut", std::to_string(i), 1, false) > 0);
  // Cut before the loop has read a single PUBACK: all 500 are in flight.
  ::shutdown(client.socket_fd(), SHUT_RDWR);
  CHECK(client.counters().in_flight() == 500);
  REQUIRE(run_until(
      loop, [&] { return client.counters().connects == 2 && client.counters().in_flight() == 0; },
      10000, [&] { sub.pump(); }));
  CHECK(client.counters().acknowledged == 500);
  // Every one arrived (some maybe twice: what the broker had before the cut).
  std::vector<bool> seen(500, false);
  std::size_t distinct = 0;
  std::size_t looked_at = 0;
  const auto count_new = [&] {
    for (; looked_at < sub.messages.size(); ++looked_at) {
      const auto i = static_cast<std::size_t>(std::stoi(sub.messages[looked_at].second));
      if (!seen[i]) ++distinct;
      seen[i] = true;
    }
    return distinct == 500;
  };
  CHECK(run_until(loop, count_new, 5000, [&] { sub.pump(); }));
  CHECK(distinct == 500);
}

TEST_CASE("mqtt client: stop() while no broker answers leaves nothing in the loop", "[mqtt]") {
  EventLoop loop;
  MqttClient client(loop, config_for(free_port()));  // nothing listens there
  client.start();
  run_until(
      loop, [] { return false; }, 300);
  CHECK(client.state() != MqttClient::State::connected);
  CHECK(client.counters().connect_attempts >= 2);
  client.stop();
  CHECK(client.state() == MqttClient::State::disconnected);
  const auto attempts = client.counters().connect_attempts;
  run_until(
      loop, [&] { return loop.in_flight() == 0; }, 2000);
  CHECK(loop.in_flight() == 0);
  run_until(
      loop, [] { return false; }, 300);
  CHECK(client.counters().connect_attempts == attempts);  // no reconnect after stop()
}

TEST_CASE("mqtt client: mqtts to a host name checks the certificate against that name",
          "[mqtt][broker][tls]") {
  gpioirq_test::TempDir dir;
  const auto run = [&](const std::string& cmd) {
    REQUIRE(std::system(
                ("cd " + dir.path().string() + " && " + cmd + " >>openssl.log 2>&1").c_str()) == 0);
  };
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key -out ca.crt");
  // Two server certificates from the same CA: one for the name localhost, one for another.
  for (const std::string name : {"localhost", "elsewhere.test"}) {
    run("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + name +
        ".key -out " + name + ".csr");
    run("printf 'subjectAltName=DNS:" + name + "\\n' > " + name + ".ext && openssl x509 -req -in " +
        name + ".csr -CA ca.crt -CAkey ca.key " + "-CAcreateserial -days 2 -extfile " + name +
        ".ext -out " + name + ".crt");
  }
  EventLoop loop;
  const auto broker_with = [&](const std::string& name) {
    return std::make_unique<Broker>(dir, "allow_anonymous true\ncafile " + dir.file("ca.crt") +
                                             "\ncertfile " + dir.file(name + ".crt") +
                                             "\nkeyfile " + dir.file(name + ".key") + "\n");
  };
  const auto connects = [&](const std::string& url) {
    auto cfg = config_for(0);
    cfg.url = url;
    cfg.ca_file = dir.file("ca.crt");
    MqttClient client(loop, cfg);
    client.start();
    const bool ok = run_until(
        loop, [&] { return client.state() == MqttClient::State::connected; }, 3000);
    INFO(client.last_error());
    client.stop();
    run_until(
        loop, [&] { return client.state() == MqttClient::State::disconnected; }, 2000);
    return ok;
  };

  SECTION("a certificate for localhost: mqtts://localhost connects, by address it does not") {
    const auto broker = broker_with("localhost");
    const std::string port = std::to_string(broker->port());
    CHECK(connects("mqtts://localhost:" + port));
    CHECK_FALSE(connects("mqtts://127.0.0.1:" + port));
  }
  SECTION("a certificate for another name: mqtts://localhost is refused") {
    const auto broker = broker_with("elsewhere.test");
    CHECK_FALSE(connects("mqtts://localhost:" + std::to_string(broker->port())));
  }
}
