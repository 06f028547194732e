#include "app/mqtt_source.hpp"

#include <time.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sinks/event_log.hpp"
#include "sinks/log_records.hpp"

namespace gpioirq::app {
namespace {

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// A member of the status reply as a number, 0 when absent (a reply of an older shape).
std::uint64_t count_of(const nlohmann::json& j, std::string_view key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  return static_cast<std::uint64_t>(std::max<std::int64_t>(it->get<std::int64_t>(), 0));
}

}  // namespace

std::vector<mqtt::SinkSource::PublishedDevice> MqttSource::published_devices() const {
  std::vector<PublishedDevice> out;
  for_each_device_([&](const kinds::Device& d) {
    out.push_back(PublishedDevice{d.name(), std::string(d.kind().name()), d.ha_entities()});
  });
  return out;
}

nlohmann::json MqttSource::published_state(std::string_view device, std::uint64_t now_mono) const {
  nlohmann::json state;  // null: the device was removed by a reload meanwhile
  for_each_device_([&](const kinds::Device& d) {
    if (d.name() == device) state = d.published_state(now_mono);
  });
  return state;
}

nlohmann::json MqttSource::health() const {
  nlohmann::json health = health_from_status(status_());
  std::size_t devices = 0;
  for_each_device_([&](const kinds::Device&) { ++devices; });
  health["devices"] = devices;
  return health;
}

void MqttSource::spool_dropped(std::string_view device, std::uint64_t lost) {
  if (lost == 0) return;
  spool_dropped_total_ += lost;
  // The loss of messages is written where every other loss is: a GAP row. Its from/to
  // are not in any unit of the event log (the dropped messages' seq numbers are on the
  // events topic's gap message), so `from` stays empty and `to` is when it happened.
  sinks::GapEntry gap;
  const std::uint64_t now = monotonic_ns();
  gap.ts_ns = now;
  gap.reason = sinks::GapReason::mqtt_spool_full;
  gap.device = device;
  gap.lost = lost;
  gap.unit = sinks::GapUnit::ts_ns;
  gap.from = std::nullopt;
  gap.to = now;
  log_.gap(gap);
  spdlog::warn("mqtt: the spool is full; {} oldest messages of {} dropped", lost, device);
}

nlohmann::json health_from_status(const nlohmann::json& status) {
  std::uint64_t edges = 0, lost = 0;
  if (const auto lines = status.find("lines"); lines != status.end() && lines->is_array())
    for (const auto& line : *lines) {
      edges += count_of(line, "edges");
      lost += count_of(line, "kernel_lost") + count_of(line, "ring_dropped");
    }
  nlohmann::json health = {
      {"uptime_s", status.value("uptime_s", 0.0)},
      {"edges", edges},
      {"edges_lost", lost},
      {"records", status.contains("ring") ? count_of(status["ring"], "records") : 0},
      {"devices_down",
       status.contains("devices_down") ? status["devices_down"].size() : std::size_t{0}},
      {"reloads", count_of(status, "reloads")},
      {"log_healthy", status.contains("log") ? status["log"].value("healthy", false) : false}};
  if (const auto m = status.find("mqtt"); m != status.end() && m->is_object()) {
    nlohmann::json mqtt = nlohmann::json::object();
    for (const char* key :
         {"published", "acknowledged", "dropped", "in_flight", "spooled", "spool_dropped"})
      mqtt[key] = count_of(*m, key);
    health["mqtt"] = std::move(mqtt);
  }
  return health;
}

std::string mqtt_metrics_text(const nlohmann::json& m) {
  std::string out;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                    double value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  const bool connected = m.value("state", std::string()) == "connected";
  family("gpioirq_mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
         connected ? 1 : 0);
  family("gpioirq_mqtt_published_total", "counter",
         "Messages handed to the MQTT broker connection.",
         static_cast<double>(count_of(m, "published")));
  family("gpioirq_mqtt_acknowledged_total", "counter",
         "Messages the MQTT broker acknowledged (QoS 1/2; QoS 0 once written).",
         static_cast<double>(count_of(m, "acknowledged")));
  family("gpioirq_mqtt_dropped_total", "counter",
         "Messages not published: state values superseded or refused while disconnected.",
         static_cast<double>(count_of(m, "dropped")));
  family("gpioirq_mqtt_in_flight", "gauge", "Messages published and not yet acknowledged.",
         static_cast<double>(count_of(m, "in_flight")));
  family("gpioirq_mqtt_spooled", "gauge",
         "Events-topic messages in the on-disk spool, waiting to be published or acknowledged.",
         static_cast<double>(count_of(m, "spooled")));
  family("gpioirq_mqtt_spool_dropped_total", "counter",
         "Oldest spooled messages dropped because the spool reached spool_max_mb.",
         static_cast<double>(count_of(m, "spool_dropped")));
  return out;
}

}  // namespace gpioirq::app
