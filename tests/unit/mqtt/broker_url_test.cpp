#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <stdexcept>
#include <string>

#include "mqtt/mqtt_client.hpp"

using Catch::Matchers::ContainsSubstring;
using gpioirq::mqtt::parse_broker_url;

TEST_CASE("broker URL: scheme, address and port", "[mqtt][url]") {
  auto a = parse_broker_url("mqtt://127.0.0.1");
  CHECK_FALSE(a.tls);
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 1883);
  a = parse_broker_url("mqtts://192.168.1.2:18883");
  CHECK(a.tls);
  CHECK(a.host == "192.168.1.2");
  CHECK(a.port == 18883);
  a = parse_broker_url("mqtts://[::1]");
  CHECK(a.host == "::1");
  CHECK(a.port == 8883);
  a = parse_broker_url("mqtt://[fd00::5]:1884/");
  CHECK(a.host == "fd00::5");
  CHECK(a.port == 1884);
}

TEST_CASE("broker URL: a host name is accepted, resolved later off the loop", "[mqtt][url]") {
  auto a = parse_broker_url("mqtt://broker.lan");
  CHECK(a.is_name);
  CHECK(a.host == "broker.lan");
  CHECK(a.port == 1883);
  a = parse_broker_url("mqtts://mqtt-1.example.com.:18883");
  CHECK(a.is_name);
  CHECK(a.tls);
  CHECK(a.host == "mqtt-1.example.com.");
  CHECK(a.port == 18883);
  CHECK(parse_broker_url("mqtt://localhost").is_name);
  CHECK_FALSE(parse_broker_url("mqtt://10.0.0.1").is_name);
  CHECK_FALSE(parse_broker_url("mqtt://[::1]").is_name);
  CHECK(parse_broker_url("mqtt://" + std::string(63, 'a') + ".lan").is_name);
}

TEST_CASE("broker URL: what is refused says why", "[mqtt][url]") {
  CHECK_THROWS_WITH(parse_broker_url("tcp://127.0.0.1"), ContainsSubstring("mqtt:// or mqtts://"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://bro ker.lan"),
                    ContainsSubstring("neither an IP address nor a host name"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://-broker.lan"), ContainsSubstring("host name"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://broker-.lan"), ContainsSubstring("host name"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://broker..lan"), ContainsSubstring("host name"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://fd00::1"), ContainsSubstring("brackets"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://" + std::string(64, 'a') + ".lan"),
                    ContainsSubstring("host name"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://127.0.0.1:0"), ContainsSubstring("1..65535"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://127.0.0.1:70000"), ContainsSubstring("1..65535"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://127.0.0.1:x"), ContainsSubstring("1..65535"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://127.0.0.1:"), ContainsSubstring("1..65535"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://"), ContainsSubstring("no host"));
  CHECK_THROWS_WITH(parse_broker_url("mqtt://[::1"), ContainsSubstring("']'"));
}
