// [mqtt]: every key read into MqttConfig, its defaults, and one exact message per bad value
// (the messages are the user interface, as in bad_config_test.cpp).

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <string_view>

#include "config/loader.hpp"
#include "kinds/kind.hpp"

namespace {

using namespace gpioirq::config;

// Lines 1..11: a sim chip, a button 'door' and a counter 'water'; [mqtt] starts on line 12.
#define DEVICES                                                                        \
  "[[chip]]\nname = \"sim0\"\nbackend = \"sim\"\n[[button]]\nname = \"door\"\nchip = " \
  "\"sim0\"\nline = 1\n[[counter]]\nname = \"water\"\nchip = \"sim0\"\nline = 2\n"

std::string error_of(std::string_view text) {
  try {
    (void)gpioirq::kinds::parse_config(text, "/etc/gpioirqd/x.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("no [mqtt]: no MQTT", "[config][mqtt]") {
  const Config c = gpioirq::kinds::parse_config(DEVICES, "x.toml");
  CHECK_FALSE(c.mqtt.has_value());
}

TEST_CASE("[mqtt] with only a url takes every default", "[config][mqtt]") {
  const Config c =
      gpioirq::kinds::parse_config("[mqtt]\nurl = \"mqtt://192.168.1.10\"\n", "x.toml");
  REQUIRE(c.mqtt.has_value());
  const MqttConfig& m = *c.mqtt;
  CHECK(m.url == "mqtt://192.168.1.10");
  CHECK(m.ca_file.empty());
  CHECK(m.client_id.empty());     // the sink makes "gpioirqd-<hostname>"
  CHECK(m.topic_prefix.empty());  // the sink makes "gpioirq/<hostname>"
  CHECK(m.qos == 1);
  CHECK(m.keepalive_s == 60);
  CHECK(m.state_interval_ms == 1000);
  CHECK(m.rate_limit_ms.empty());
  CHECK(m.health_interval_ms == 10000);
  CHECK(m.spool_max_bytes == 64ull << 20);
  CHECK(m.max_in_flight == 1000);
  CHECK_FALSE(m.homeassistant);
  CHECK(m.discovery_prefix == "homeassistant");
  CHECK(m.place.line == 1);
}

TEST_CASE("[mqtt] reads every key; paths resolved against the file's directory", "[config][mqtt]") {
  const Config c = gpioirq::kinds::parse_config(DEVICES R"(
[mqtt]
url = "mqtts://broker.lan:8883"
ca_file = "tls/ca.pem"
cert_file = "/etc/ssl/client.pem"
key_file = "tls/client.key"
client_id = "pump-house"
username = "gpioirq"
password_file = "mqtt.password"
topic_prefix = "site/pump-house"
qos = 2
keepalive_s = 30
state_interval_ms = 250
health_interval_ms = 60000
spool_max_mb = 8
max_in_flight = 20
homeassistant = true
discovery_prefix = "ha"

[mqtt.rate_limit_ms]
water = 5000
door = 10
)",
                                                "/etc/gpioirqd/gpioirqd.toml");
  REQUIRE(c.mqtt.has_value());
  const MqttConfig& m = *c.mqtt;
  CHECK(m.url == "mqtts://broker.lan:8883");
  CHECK(m.ca_file == "/etc/gpioirqd/tls/ca.pem");
  CHECK(m.cert_file == "/etc/ssl/client.pem");
  CHECK(m.key_file == "/etc/gpioirqd/tls/client.key");
  CHECK(m.client_id == "pump-house");
  CHECK(m.username == "gpioirq");
  CHECK(m.password_file == "/etc/gpioirqd/mqtt.password");
  CHECK(m.topic_prefix == "site/pump-house");
  CHECK(m.qos == 2);
  CHECK(m.keepalive_s == 30);
  CHECK(m.state_interval_ms == 250);
  CHECK(m.health_interval_ms == 60000);
  CHECK(m.spool_max_bytes == 8ull << 20);
  CHECK(m.max_in_flight == 20);
  CHECK(m.homeassistant);
  CHECK(m.discovery_prefix == "ha");
  CHECK(m.rate_limit_ms == std::map<std::string, std::uint32_t>{{"door", 10}, {"water", 5000}});
}

TEST_CASE("broker URLs: names, IPv4, IPv6 in brackets, ports", "[config][mqtt]") {
  for (const char* url :
       {"mqtt://localhost", "mqtt://10.0.0.1:1884", "mqtt://[::1]", "mqtt://[fe80::1]:1883",
        "mqtt://broker.example.org/", "mqtt://a-b.c:65535"}) {
    INFO(url);
    CHECK(error_of(std::string("[mqtt]\nurl = \"") + url + "\"\n") == "(accepted)");
  }
}

namespace {

struct BadMqtt {
  const char* what;
  const char* text;
  const char* message;
};

// clang-format off
const BadMqtt bad_mqtt[] = {
    {"no url", "[mqtt]\nqos = 1\n",
     "/etc/gpioirqd/x.toml:1:1: mqtt: missing required key 'url' (the broker, such as \"mqtt://192.168.1.10\")"},
    {"mqtt is an array", "[[mqtt]]\nurl = \"mqtt://x\"\n",
     "/etc/gpioirqd/x.toml:1:1: mqtt: expected a table ([mqtt]), found an array"},
    {"misspelt key", "[mqtt]\nurl = \"mqtt://x\"\ntopic_prefx = \"a\"\n",
     "/etc/gpioirqd/x.toml:3:1: mqtt: key 'topic_prefx' is unknown; did you mean 'topic_prefix'?"},
    {"misspelt table", "[mqt]\nurl = \"mqtt://x\"\n",
     "/etc/gpioirqd/x.toml:1:2: key 'mqt' is unknown; did you mean 'mqtt'?"},
    {"http url", "[mqtt]\nurl = \"http://broker\"\n",
     "/etc/gpioirqd/x.toml:2:7: mqtt.url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (HOST a name, an IPv4 address or an IPv6 address in brackets), found \"http://broker\""},
    {"no host", "[mqtt]\nurl = \"mqtt://:1883\"\n",
     "/etc/gpioirqd/x.toml:2:7: mqtt.url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (HOST a name, an IPv4 address or an IPv6 address in brackets), found \"mqtt://:1883\""},
    {"user in the url", "[mqtt]\nurl = \"mqtt://me@broker\"\n",
     "/etc/gpioirqd/x.toml:2:7: mqtt.url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (HOST a name, an IPv4 address or an IPv6 address in brackets), found \"mqtt://me@broker\""},
    {"IPv6 without brackets' end", "[mqtt]\nurl = \"mqtt://[::1\"\n",
     "/etc/gpioirqd/x.toml:2:7: mqtt.url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (HOST a name, an IPv4 address or an IPv6 address in brackets), found \"mqtt://[::1\""},
    {"port out of range", "[mqtt]\nurl = \"mqtt://broker:65536\"\n",
     "/etc/gpioirqd/x.toml:2:7: mqtt.url: expected a port from 1 to 65535 after the host, found \"mqtt://broker:65536\""},
    {"port not a number", "[mqtt]\nurl = \"mqtt://broker:mqtt\"\n",
     "/etc/gpioirqd/x.toml:2:7: mqtt.url: expected a port from 1 to 65535 after the host, found \"mqtt://broker:mqtt\""},
    {"url not a string", "[mqtt]\nurl = 1883\n",
     "/etc/gpioirqd/x.toml:2:7: mqtt.url: expected a non-empty string, found an integer"},
    {"mqtts without a CA", "[mqtt]\nurl = \"mqtts://broker\"\n",
     "/etc/gpioirqd/x.toml:1:1: mqtt: missing required key 'ca_file' (an mqtts:// broker is verified against a CA)"},
    {"a CA for plain mqtt", "[mqtt]\nurl = \"mqtt://broker\"\nca_file = \"ca.pem\"\n",
     "/etc/gpioirqd/x.toml:3:11: mqtt.ca_file: applies only to mqtts:// brokers, and url is \"mqtt://broker\""},
    {"a certificate without its key", "[mqtt]\nurl = \"mqtts://broker\"\nca_file = \"ca.pem\"\ncert_file = \"c.pem\"\n",
     "/etc/gpioirqd/x.toml:4:13: mqtt.cert_file: a client certificate needs its key: give 'key_file' too"},
    {"a key without its certificate", "[mqtt]\nurl = \"mqtts://broker\"\nca_file = \"ca.pem\"\nkey_file = \"c.key\"\n",
     "/etc/gpioirqd/x.toml:4:12: mqtt.key_file: a client key needs its certificate: give 'cert_file' too"},
    {"a password without a user", "[mqtt]\nurl = \"mqtt://broker\"\npassword_file = \"pw\"\n",
     "/etc/gpioirqd/x.toml:3:17: mqtt.password_file: applies only with 'username'"},
    {"empty client id", "[mqtt]\nurl = \"mqtt://broker\"\nclient_id = \"\"\n",
     "/etc/gpioirqd/x.toml:3:13: mqtt.client_id: expected a non-empty string, found \"\""},
    {"empty prefix", "[mqtt]\nurl = \"mqtt://broker\"\ntopic_prefix = \"\"\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.topic_prefix: expected a non-empty string, found \"\""},
    {"wildcard in the prefix", "[mqtt]\nurl = \"mqtt://broker\"\ntopic_prefix = \"home/+/gpio\"\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.topic_prefix: expected a topic without the wildcards '+' and '#', found \"home/+/gpio\""},
    {"hash in the prefix", "[mqtt]\nurl = \"mqtt://broker\"\ntopic_prefix = \"home/#\"\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.topic_prefix: expected a topic without the wildcards '+' and '#', found \"home/#\""},
    {"leading slash", "[mqtt]\nurl = \"mqtt://broker\"\ntopic_prefix = \"/home\"\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.topic_prefix: expected a topic that neither begins nor ends with '/', found \"/home\""},
    {"trailing slash", "[mqtt]\nurl = \"mqtt://broker\"\ntopic_prefix = \"home/\"\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.topic_prefix: expected a topic that neither begins nor ends with '/', found \"home/\""},
    {"a broker's own topic", "[mqtt]\nurl = \"mqtt://broker\"\ntopic_prefix = \"$SYS/x\"\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.topic_prefix: expected a topic that does not begin with '$' (the broker's own topics), found \"$SYS/x\""},
    {"wildcard in the discovery prefix", "[mqtt]\nurl = \"mqtt://broker\"\ndiscovery_prefix = \"ha/#\"\n",
     "/etc/gpioirqd/x.toml:3:20: mqtt.discovery_prefix: expected a topic without the wildcards '+' and '#', found \"ha/#\""},
    {"qos 3", "[mqtt]\nurl = \"mqtt://broker\"\nqos = 3\n",
     "/etc/gpioirqd/x.toml:3:7: mqtt.qos: expected an integer from 0 to 2, found 3"},
    {"keepalive too short", "[mqtt]\nurl = \"mqtt://broker\"\nkeepalive_s = 4\n",
     "/etc/gpioirqd/x.toml:3:15: mqtt.keepalive_s: expected an integer from 5 to 65535, found 4"},
    {"state interval too short", "[mqtt]\nurl = \"mqtt://broker\"\nstate_interval_ms = 5\n",
     "/etc/gpioirqd/x.toml:3:21: mqtt.state_interval_ms: expected an integer from 10 to 3600000, found 5"},
    {"health interval too short", "[mqtt]\nurl = \"mqtt://broker\"\nhealth_interval_ms = 999\n",
     "/etc/gpioirqd/x.toml:3:22: mqtt.health_interval_ms: expected an integer from 1000 to 86400000, found 999"},
    {"spool of 0 MB", "[mqtt]\nurl = \"mqtt://broker\"\nspool_max_mb = 0\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.spool_max_mb: expected an integer from 1 to 4096, found 0"},
    {"spool too big", "[mqtt]\nurl = \"mqtt://broker\"\nspool_max_mb = 4097\n",
     "/etc/gpioirqd/x.toml:3:16: mqtt.spool_max_mb: expected an integer from 1 to 4096, found 4097"},
    {"in flight 0", "[mqtt]\nurl = \"mqtt://broker\"\nmax_in_flight = 0\n",
     "/etc/gpioirqd/x.toml:3:17: mqtt.max_in_flight: expected an integer from 1 to 65535, found 0"},
    {"homeassistant as a string", "[mqtt]\nurl = \"mqtt://broker\"\nhomeassistant = \"yes\"\n",
     "/etc/gpioirqd/x.toml:3:17: mqtt.homeassistant: expected a boolean (true or false), found a string"},
    {"rate limit for a device that is not there", DEVICES "[mqtt]\nurl = \"mqtt://broker\"\n[mqtt.rate_limit_ms]\nwatr = 100\n",
     "/etc/gpioirqd/x.toml:15:8: mqtt.rate_limit_ms.watr: device 'watr' is not defined; did you mean 'water'?"},
    {"rate limit for a device far from any", DEVICES "[mqtt]\nurl = \"mqtt://broker\"\n[mqtt.rate_limit_ms]\nboiler = 100\n",
     "/etc/gpioirqd/x.toml:15:10: mqtt.rate_limit_ms.boiler: device 'boiler' is not defined"},
    {"rate limit too short", DEVICES "[mqtt]\nurl = \"mqtt://broker\"\n[mqtt.rate_limit_ms]\nwater = 1\n",
     "/etc/gpioirqd/x.toml:15:9: mqtt.rate_limit_ms.water: expected an integer from 10 to 3600000, found 1"},
    {"rate limit not a table", DEVICES "[mqtt]\nurl = \"mqtt://broker\"\nrate_limit_ms = 100\n",
     "/etc/gpioirqd/x.toml:14:17: mqtt.rate_limit_ms: expected a table of device names and milliseconds ([mqtt.rate_limit_ms]), found an integer"},
};
// clang-format on

}  // namespace

TEST_CASE("every bad [mqtt] gets its exact one-line message", "[config][mqtt][errors]") {
  for (const BadMqtt& bad : bad_mqtt) {
    INFO(bad.what);
    INFO(bad.text);
    CHECK(error_of(bad.text) == bad.message);
  }
}
