#pragma once
// MqttSource: what the MQTT sink asks the daemon (mqtt::SinkSource), answered from the
// daemon's devices and its status, without naming a device kind; and the daemon's side of
// MQTT that is no business of the sink's: the gpioirq_mqtt_* metrics and the event log's
// GAP row for messages the spool had to drop.
//
// Loop thread only.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kinds/device.hpp"
#include "mqtt/mqtt_sink.hpp"

namespace gpioirq::sinks {
class EventLog;
}

namespace gpioirq::app {

class MqttSource final : public mqtt::SinkSource {
 public:
  // Calls its argument for every device, in the daemon's order (registry, then file).
  using ForEachDevice = std::function<void(const std::function<void(const kinds::Device&)>&)>;

  // status: the daemon's `status` reply (its "mqtt" member included once the sink runs).
  MqttSource(ForEachDevice for_each_device, std::function<nlohmann::json()> status,
             sinks::EventLog& log)
      : for_each_device_(std::move(for_each_device)), status_(std::move(status)), log_(log) {}

  std::vector<PublishedDevice> published_devices() const override;
  nlohmann::json published_state(std::string_view device, std::uint64_t now_mono) const override;
  nlohmann::json health() const override;
  void spool_dropped(std::string_view device, std::uint64_t lost) override;

  // Messages the spool dropped (as told through spool_dropped), for the daemon's own use.
  std::uint64_t spool_dropped_total() const noexcept { return spool_dropped_total_; }

 private:
  ForEachDevice for_each_device_;
  std::function<nlohmann::json()> status_;
  sinks::EventLog& log_;
  std::uint64_t spool_dropped_total_ = 0;
};

// The health topic's members from the daemon's `status` reply.
nlohmann::json health_from_status(const nlohmann::json& status);

// The gpioirq_mqtt_* families (HELP and TYPE, one sample each) from status["mqtt"] as
// MqttSink::status() gives it.
std::string mqtt_metrics_text(const nlohmann::json& mqtt_status);

}  // namespace gpioirq::app
