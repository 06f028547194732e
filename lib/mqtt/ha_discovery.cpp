#include "mqtt/ha_discovery.hpp"

#include <nlohmann/json.hpp>

namespace gpioirq::mqtt {

namespace {

// The discovery topic's last level and the entity's object id: <device>_<object_id>, both
// sanitised, so that two devices' "total" sensors do not share a topic.
std::string entity_key(const SinkSource::PublishedDevice& device, const sinks::HaEntity& e) {
  return ha_id(device.name) + "_" + ha_id(e.object_id);
}

std::string config_topic(const DiscoveryNode& node, const SinkSource::PublishedDevice& device,
                         const sinks::HaEntity& e) {
  return node.discovery_prefix + "/" + e.component + "/" + ha_id(node.node_id) + "/" +
         entity_key(device, e) + "/config";
}

// One HA device per daemon: every entity of every device names it, so Home Assistant
// groups them under "gpioirqd on <hostname>".
nlohmann::json ha_device(const DiscoveryNode& node) {
  return {{"identifiers", nlohmann::json::array({ha_id(node.node_id)})},
          {"name", node.node_name},
          {"manufacturer", "gpioirq"},
          {"model", "gpioirqd"},
          {"sw_version", node.sw_version}};
}

void set_if(nlohmann::json& j, const char* key, const std::string& value) {
  if (!value.empty()) j[key] = value;
}

nlohmann::json entity_config(const DiscoveryNode& node, const SinkSource::PublishedDevice& device,
                             const sinks::HaEntity& e) {
  const std::string device_topic = node.topic_prefix + "/" + device.name;
  nlohmann::json j = nlohmann::json::object();
  if (e.component == "device_automation") {
    // HA's MQTT device trigger: no entity, no availability; it fires when a message on the
    // topic renders (value_template) to `payload`.
    j["automation_type"] = "trigger";
    j["topic"] = device_topic + "/events";
    j["type"] = e.trigger_type;
    j["subtype"] = e.trigger_subtype;
    j["payload"] = e.trigger_event;
    j["value_template"] = "{{ value_json.event }}";
    j["device"] = ha_device(node);
    return j;
  }
  const std::string key = entity_key(device, e);
  j["name"] = device.name + " " + e.name;
  j["unique_id"] = ha_id(node.node_id) + "_" + key;
  // object_id made the entity id up to Home Assistant 2025.9; default_entity_id from
  // 2025.10 (object_id stops working in 2026.4). Discovery drops keys it does not know, so
  // both are sent for old and new versions.
  j["object_id"] = key;
  j["default_entity_id"] = e.component + "." + key;
  j["state_topic"] = device_topic + "/state";
  if (e.component == "binary_sensor") {
    // The member's JSON text (a JSON true renders as "True" in Jinja; to_json gives "true"),
    // compared with payload_on/payload_off.
    j["value_template"] = "{{ value_json." + e.state_member + " | to_json }}";
    j["payload_on"] = e.payload_on;
    j["payload_off"] = e.payload_off;
  } else {
    j["value_template"] = "{{ value_json." + e.state_member + " }}";
  }
  set_if(j, "unit_of_measurement", e.unit);
  set_if(j, "device_class", e.device_class);
  set_if(j, "state_class", e.state_class);
  j["availability"] = nlohmann::json::array({{{"topic", node.status_topic},
                                              {"payload_available", "online"},
                                              {"payload_not_available", "offline"}}});
  j["device"] = ha_device(node);
  j["origin"] = {{"name", "gpioirqd"}, {"sw_version", node.sw_version}};
  return j;
}

}  // namespace

std::string ha_id(std::string_view s) {
  std::string id(s);
  for (char& c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return id;
}

std::vector<DiscoveryMessage> ha_discovery_messages(
    const DiscoveryNode& node, const std::vector<SinkSource::PublishedDevice>& devices) {
  std::vector<DiscoveryMessage> out;
  for (const auto& device : devices) {
    for (const auto& e : device.entities) {
      out.push_back({config_topic(node, device, e), entity_config(node, device, e).dump()});
    }
  }
  return out;
}

std::vector<DiscoveryMessage> ha_discovery_removal(const DiscoveryNode& node,
                                                   const SinkSource::PublishedDevice& device) {
  std::vector<DiscoveryMessage> out;
  for (const auto& e : device.entities) out.push_back({config_topic(node, device, e), ""});
  return out;
}

}  // namespace gpioirq::mqtt
