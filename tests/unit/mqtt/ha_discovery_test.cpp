// Home Assistant MQTT discovery payloads (lib/mqtt/ha_discovery.*): the fields Home
// Assistant requires per component (home-assistant.io/integrations/sensor.mqtt,
// binary_sensor.mqtt, device_trigger.mqtt and the discovery page), the topics, the ids.

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mqtt/ha_discovery.hpp"

using gpioirq::mqtt::DiscoveryMessage;
using gpioirq::mqtt::DiscoveryNode;
using gpioirq::mqtt::ha_discovery_messages;
using gpioirq::mqtt::ha_discovery_removal;
using gpioirq::mqtt::ha_id;
using gpioirq::mqtt::SinkSource;
using gpioirq::sinks::HaEntity;
using nlohmann::json;

namespace {

DiscoveryNode node() {
  DiscoveryNode n;
  n.node_id = "gpioirqd-pi4";
  n.node_name = "gpioirqd on pi4";
  n.topic_prefix = "gpioirq/pi4";
  n.status_topic = "gpioirq/pi4/status";
  n.sw_version = "1.2.3";
  return n;
}

HaEntity total_sensor() {
  HaEntity e;
  e.component = "sensor";
  e.object_id = "total";
  e.name = "total";
  e.state_member = "value";
  e.unit = "m³";
  e.device_class = "water";
  e.state_class = "total_increasing";
  return e;
}

HaEntity pressed_sensor() {
  HaEntity e;
  e.component = "binary_sensor";
  e.object_id = "pressed";
  e.name = "pressed";
  e.state_member = "pressed";
  e.payload_on = "true";
  e.payload_off = "false";
  return e;
}

HaEntity click_trigger() {
  HaEntity e;
  e.component = "device_automation";
  e.object_id = "click";
  e.name = "click";
  e.trigger_event = "click";
  e.trigger_type = "button_short_press";
  e.trigger_subtype = "door bell";
  return e;
}

std::vector<SinkSource::PublishedDevice> devices() {
  return {{"water", "counter", {total_sensor()}},
          {"door bell", "button", {pressed_sensor(), click_trigger()}}};
}

void check_device_block(const json& d) {
  REQUIRE(d.is_object());
  CHECK(d.at("identifiers") == json::array({"gpioirqd-pi4"}));
  CHECK(d.at("name") == "gpioirqd on pi4");
  CHECK(d.at("manufacturer") == "gpioirq");
  CHECK(d.at("model") == "gpioirqd");
  CHECK(d.at("sw_version") == "1.2.3");
}

void check_availability(const json& j) {
  REQUIRE(j.at("availability").is_array());
  REQUIRE(j.at("availability").size() == 1);
  const json& a = j.at("availability")[0];
  CHECK(a.at("topic") == "gpioirq/pi4/status");
  CHECK(a.at("payload_available") == "online");
  CHECK(a.at("payload_not_available") == "offline");
}

}  // namespace

TEST_CASE("ha_id keeps [a-zA-Z0-9_-] and replaces everything else", "[mqtt][ha]") {
  CHECK(ha_id("water_meter-1") == "water_meter-1");
  CHECK(ha_id("door bell") == "door_bell");
  CHECK(ha_id("a/b+c#d.e") == "a_b_c_d_e");
  // A multi-byte character: each of its bytes.
  CHECK(ha_id("m³") == "m__");
  CHECK(ha_id("") == "");
}

TEST_CASE("ha discovery: one message per entity, in order, on its component's topic",
          "[mqtt][ha]") {
  const auto msgs = ha_discovery_messages(node(), devices());
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].topic == "homeassistant/sensor/gpioirqd-pi4/water_total/config");
  CHECK(msgs[1].topic == "homeassistant/binary_sensor/gpioirqd-pi4/door_bell_pressed/config");
  CHECK(msgs[2].topic == "homeassistant/device_automation/gpioirqd-pi4/door_bell_click/config");
  for (const auto& m : msgs) CHECK(json::parse(m.payload).is_object());

  DiscoveryNode other = node();
  other.discovery_prefix = "ha";
  CHECK(ha_discovery_messages(other, devices())[0].topic ==
        "ha/sensor/gpioirqd-pi4/water_total/config");
}

TEST_CASE("ha discovery: a counter's total sensor", "[mqtt][ha]") {
  const json j = json::parse(ha_discovery_messages(node(), devices())[0].payload);
  CHECK(j.at("name") == "water total");
  CHECK(j.at("unique_id") == "gpioirqd-pi4_water_total");
  CHECK(j.at("object_id") == "water_total");
  CHECK(j.at("default_entity_id") == "sensor.water_total");
  CHECK(j.at("state_topic") == "gpioirq/pi4/water/state");
  CHECK(j.at("value_template") == "{{ value_json.value }}");
  CHECK(j.at("unit_of_measurement") == "m³");
  CHECK(j.at("device_class") == "water");
  CHECK(j.at("state_class") == "total_increasing");
  CHECK_FALSE(j.contains("expire_after"));
  CHECK_FALSE(j.contains("payload_on"));
  check_availability(j);
  check_device_block(j.at("device"));
  CHECK(j.at("origin").at("name") == "gpioirqd");
}

TEST_CASE("ha discovery: unset unit, device_class and state_class are left out", "[mqtt][ha]") {
  HaEntity e = total_sensor();
  e.unit.clear();
  e.device_class.clear();
  e.state_class.clear();
  const json j = json::parse(ha_discovery_messages(node(), {{"enc", "encoder", {e}}})[0].payload);
  CHECK_FALSE(j.contains("unit_of_measurement"));
  CHECK_FALSE(j.contains("device_class"));
  CHECK_FALSE(j.contains("state_class"));
  CHECK(j.at("state_topic") == "gpioirq/pi4/enc/state");
}

TEST_CASE("ha discovery: a button's binary sensor reads the member's JSON text", "[mqtt][ha]") {
  const json j = json::parse(ha_discovery_messages(node(), devices())[1].payload);
  CHECK(j.at("name") == "door bell pressed");
  CHECK(j.at("unique_id") == "gpioirqd-pi4_door_bell_pressed");
  CHECK(j.at("default_entity_id") == "binary_sensor.door_bell_pressed");
  // The device name is not sanitised in the sink's topics, only in HA's ids.
  CHECK(j.at("state_topic") == "gpioirq/pi4/door bell/state");
  // A JSON true renders as "True" in Jinja: to_json makes it "true", payload_on.
  CHECK(j.at("value_template") == "{{ value_json.pressed | to_json }}");
  CHECK(j.at("payload_on") == "true");
  CHECK(j.at("payload_off") == "false");
  check_availability(j);
  check_device_block(j.at("device"));
}

TEST_CASE("ha discovery: a gesture as a device trigger", "[mqtt][ha]") {
  const json j = json::parse(ha_discovery_messages(node(), devices())[2].payload);
  // Required by HA: automation_type, topic, type, subtype, device.
  CHECK(j.at("automation_type") == "trigger");
  CHECK(j.at("topic") == "gpioirq/pi4/door bell/events");
  CHECK(j.at("type") == "button_short_press");
  CHECK(j.at("subtype") == "door bell");
  CHECK(j.at("payload") == "click");
  CHECK(j.at("value_template") == "{{ value_json.event }}");
  check_device_block(j.at("device"));
  // Not an entity: no state topic, name or availability.
  CHECK_FALSE(j.contains("state_topic"));
  CHECK_FALSE(j.contains("availability"));
}

TEST_CASE("ha discovery: every entity's unique_id and topic differ", "[mqtt][ha]") {
  std::vector<SinkSource::PublishedDevice> two = {{"a", "counter", {total_sensor()}},
                                                  {"b", "counter", {total_sensor()}}};
  const auto msgs = ha_discovery_messages(node(), two);
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].topic != msgs[1].topic);
  CHECK(json::parse(msgs[0].payload).at("unique_id") !=
        json::parse(msgs[1].payload).at("unique_id"));
}

TEST_CASE("ha discovery removal: an empty retained payload on each entity's topic", "[mqtt][ha]") {
  const auto all = ha_discovery_messages(node(), devices());
  const auto removal = ha_discovery_removal(node(), devices()[1]);
  REQUIRE(removal.size() == 2);
  CHECK(removal[0].topic == all[1].topic);
  CHECK(removal[1].topic == all[2].topic);
  for (const auto& m : removal) CHECK(m.payload.empty());
  CHECK(ha_discovery_removal(node(), {"x", "poll", {}}).empty());
}
