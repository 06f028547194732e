#pragma once
// MqttSink: the daemon's events published to an MQTT broker, with store and forward
// (docs/MQTT.md). A live EventSink in the daemon's fan-out; it never names a device kind:
// topics come from the device's name and the event's class, state payloads from
// Device::published_state (asked through SinkSource), discovery from Device::ha_entities.
//
//   <prefix>/status               retained online/offline (the client's will)
//   <prefix>/health               retained, every health_interval_ms: SinkSource::health()
//   <prefix>/<device>/state       retained, at most every state_interval_ms (or the
//                                 device's rate_limit_ms) while its state changes
//   <prefix>/<device>/events      occurrences, losses (GAP) and lifecycle (down/up), in order,
//                                 never dropped while the spool has room
//
// Every payload is JSON with "ts_ns" (the kernel timestamp, or the daemon's clock), "time"
// (wall clock, RFC 3339 UTC) and "seq" (per topic, contiguous, continuing across restarts
// for events topics) so that a consumer finds gaps and removes QoS 1 duplicates.
//
// Store and forward: every events-topic message is appended to the Spool (<state_dir>/mqtt)
// first, published from the spool's head while connected (at most max_in_flight not yet
// acknowledged) and trimmed when acknowledged; so a broker outage and a daemon restart
// lose nothing while the spool has room, and past its cap the oldest are dropped and
// counted exactly (status, a GAP row, a message on the events topic after reconnect).
// State topics keep only their latest value.
//
// Loop thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/schema.hpp"
#include "loop/event_loop.hpp"
#include "sinks/device_event.hpp"
#include "sinks/published.hpp"

namespace gpioirq::mqtt {

// What the sink asks the daemon, on the loop thread.
class SinkSource {
 public:
  virtual ~SinkSource() = default;
  struct PublishedDevice {
    std::string name;
    std::string kind;  // for topics' and discovery's words only; never branched on
    std::vector<sinks::HaEntity> entities;
  };
  // Every configured device, in the daemon's order (registry, then file).
  virtual std::vector<PublishedDevice> published_devices() const = 0;
  // The device's state topic members (Device::published_state); null: no state topic.
  virtual nlohmann::json published_state(std::string_view device, std::uint64_t now_mono) const = 0;
  // The health topic's members: uptime, edges, losses, devices down, ...
  virtual nlohmann::json health() const = 0;
  // A loss the sink itself caused (spool past its cap): written as a GAP row by the daemon.
  virtual void spool_dropped(std::string_view device, std::uint64_t lost) = 0;
};

class MqttSink final : public sinks::EventSink {
 public:
  // Validates what can be checked without the network (files, the URL's form) and opens
  // the spool in <state_dir>/mqtt (a non-empty one is replayed after the connect).
  // hostname: the default prefix's and client id's <hostname>. Throws
  // std::invalid_argument / std::runtime_error / std::system_error saying what is wrong.
  MqttSink(loop::EventLoop& loop, const config::MqttConfig& cfg, const std::string& state_dir,
           const std::string& hostname, SinkSource& source);
  MqttSink(const MqttSink&) = delete;
  MqttSink& operator=(const MqttSink&) = delete;
  ~MqttSink() override;

  // Resolves the broker's host name off the loop thread if it is one, then connects and
  // keeps reconnecting.
  void start();
  // The stop's first half: every device's final state and the health message, handed to
  // the library now, so the caller can run the loop until the broker acknowledged them
  // (libmosquitto holds QoS 1 messages beyond its in-flight window back, and a DISCONNECT
  // would drop those). Once per run; stop() calls it if the caller did not.
  void publish_final_states();
  // Final state topics and health (publish_final_states), `offline`, a clean disconnect;
  // the spool synced. What is not acknowledged stays in the spool for the next run.
  void stop();
  // The spool's fdatasync: called at the event log's flush interval.
  void sync();
  // After a reload: discovery for the devices now configured; removed devices' discovery
  // and state topics cleared (empty retained payloads).
  void devices_changed();

  // status["mqtt"]: broker, state (disconnected/resolving/connecting/connected),
  // last_error, published, acknowledged, in_flight, dropped, spooled (entries), spool_bytes,
  // spool_dropped, connects, disconnects.
  nlohmann::json status() const;

  // sinks::EventSink
  bool wants(std::string_view device) const noexcept override;
  bool wants_class(sinks::EventClass cls) const noexcept override;
  bool wants_edges() const noexcept override { return false; }
  void on_event(const sinks::DeviceEvent& ev, const nlohmann::json& line) override;
  void on_mark(const sinks::DeviceEvent& ev) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpioirq::mqtt
