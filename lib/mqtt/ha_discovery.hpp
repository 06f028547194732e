#pragma once
// Home Assistant MQTT discovery (docs/MQTT.md): retained config payloads under
// <discovery_prefix>/<component>/<node_id>/<object_id>/config so that each device appears
// in Home Assistant without configuration there: one HA device per daemon, availability
// from the daemon's status topic, sensors and binary sensors reading the devices' state
// topics, device triggers on their events topics. Built from each device's HaEntity list
// (Device::ha_entities), so it never names a device kind.

#include <string>
#include <string_view>
#include <vector>

#include "mqtt/mqtt_sink.hpp"

namespace gpioirq::mqtt {

struct DiscoveryNode {
  std::string discovery_prefix = "homeassistant";
  std::string node_id;       // the daemon's id in topics and unique_ids: [a-zA-Z0-9_-] only
  std::string node_name;     // shown in HA: "gpioirqd on <hostname>"
  std::string topic_prefix;  // the sink's prefix: <prefix>/<device>/state, .../events
  std::string status_topic;  // <prefix>/status: availability (online/offline)
  std::string sw_version;    // the daemon's version
};

struct DiscoveryMessage {
  std::string topic;    // .../config
  std::string payload;  // JSON; empty: clears a retained config (a removed entity)
};

// Every entity of every device, in order.
std::vector<DiscoveryMessage> ha_discovery_messages(
    const DiscoveryNode& node, const std::vector<SinkSource::PublishedDevice>& devices);
// Empty payloads for a device's entities: removes them from Home Assistant.
std::vector<DiscoveryMessage> ha_discovery_removal(const DiscoveryNode& node,
                                                   const SinkSource::PublishedDevice& device);
// s with every character outside [a-zA-Z0-9_-] replaced by '_' (node and object ids).
std::string ha_id(std::string_view s);

}  // namespace gpioirq::mqtt
