#pragma once
// What a device offers to network sinks besides its events (MQTT, #13): its Home Assistant
// entities. Each kind says what it publishes (kinds::Device::published_state and
// ha_entities); the MQTT sink builds topics and discovery payloads from these without
// naming a kind.

#include <string>

namespace gpioirq::sinks {

// One Home Assistant entity of a device (MQTT discovery, docs/MQTT.md).
struct HaEntity {
  // "sensor", "binary_sensor" (read from the device's retained state topic) or
  // "device_automation" (a trigger, matched on the device's events topic).
  std::string component;
  // Unique within the device ("total", "position", "pressed", "single"): with the daemon's
  // node id and the device name it makes the unique_id and the discovery topic.
  std::string object_id;
  std::string name;  // shown in Home Assistant: "total", "position"
  // sensor / binary_sensor: the state topic payload's member this entity shows
  // ("value"): the sink makes value_template "{{ value_json.<member> }}".
  std::string state_member;
  std::string unit;          // unit_of_measurement; empty: none
  std::string device_class;  // "water", "gas", "energy", "duration"...; empty: none
  std::string state_class;   // "total_increasing", "measurement"; empty: none
  std::string payload_on, payload_off;  // binary_sensor: what the member's text is when on/off
  // device_automation: fires when the events topic's payload has event == trigger_event;
  // HA's trigger type and subtype ("button_short_press", "button_1").
  std::string trigger_event, trigger_type, trigger_subtype;
};

}  // namespace gpioirq::sinks
