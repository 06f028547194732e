// MqttSource: the daemon's side of MQTT. The spool's drops become GAP rows of the device
// with the exact number; the health topic's members are the status reply's figures; the
// gpioirq_mqtt_* metrics say what status["mqtt"] says.
#include <catch2/catch_test_macros.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/mqtt_source.hpp"
#include "loop/event_loop.hpp"
#include "sinks/event_log.hpp"
#include "support/temp_dir.hpp"

using namespace gpioirq;

namespace {

std::vector<nlohmann::json> gap_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("type") == "GAP") out.push_back(std::move(j));
  }
  return out;
}

app::MqttSource::ForEachDevice no_devices() {
  return [](const std::function<void(const kinds::Device&)>&) {};
}

}  // namespace

TEST_CASE("MqttSource: the spool's drops are GAP rows of the device, exactly counted",
          "[app][mqtt]") {
  gpioirq_test::TempDir dir;
  loop::EventLoop loop(256);
  sinks::EventLogOptions o;
  o.format = config::LogFormat::jsonl;
  o.path = dir.file("events.jsonl");
  o.version = "0.1.0";
  o.time_sync_interval_ms = 0;
  sinks::EventLog log(loop, o);
  REQUIRE(log.open() == 0);
  app::MqttSource source(
      no_devices(), [] { return nlohmann::json::object(); }, log);
  source.spool_dropped("door", 17);
  source.spool_dropped("water", 0);  // nothing lost: no row
  source.spool_dropped("water", 3);
  CHECK(source.spool_dropped_total() == 20);
  REQUIRE(log.close() == 0);
  const auto rows = gap_rows(o.path);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("device") == "door");
  CHECK(rows[0].at("kind") == "mqtt_spool_full");
  CHECK(rows[0].at("lost") == 17);
  CHECK_FALSE(rows[0].contains("from"));
  CHECK(rows[1].at("device") == "water");
  CHECK(rows[1].at("lost") == 3);
  // Nothing of a device the daemon does not have.
  CHECK(source.published_devices().empty());
  CHECK(source.published_state("door", 0).is_null());
}

TEST_CASE("health: the status reply's figures, summed over lines", "[app][mqtt]") {
  const nlohmann::json status = {
      {"uptime_s", 12.5},
      {"reloads", 2},
      {"log", {{"healthy", true}}},
      {"ring", {{"records", 1234}}},
      {"devices_down", nlohmann::json::array({{{"name", "tilt"}}})},
      {"lines",
       {{{"device", "knob"}, {"edges", 100}, {"kernel_lost", 1}, {"ring_dropped", 2}},
        {{"device", "flow"}, {"edges", 50}, {"kernel_lost", 0}, {"ring_dropped", 4}}}},
      {"mqtt",
       {{"state", "connected"},
        {"published", 9},
        {"acknowledged", 8},
        {"dropped", 0},
        {"in_flight", 1},
        {"spooled", 1},
        {"spool_dropped", 5},
        {"broker", "mqtt://127.0.0.1"}}}};
  const nlohmann::json h = app::health_from_status(status);
  CHECK(h.at("uptime_s") == 12.5);
  CHECK(h.at("edges") == 150);
  CHECK(h.at("edges_lost") == 7);
  CHECK(h.at("records") == 1234);
  CHECK(h.at("devices_down") == 1);
  CHECK(h.at("reloads") == 2);
  CHECK(h.at("log_healthy") == true);
  CHECK(h.at("mqtt") == nlohmann::json({{"published", 9},
                                        {"acknowledged", 8},
                                        {"dropped", 0},
                                        {"in_flight", 1},
                                        {"spooled", 1},
                                        {"spool_dropped", 5}}));
  nlohmann::json without = status;
  without.erase("mqtt");
  CHECK_FALSE(app::health_from_status(without).contains("mqtt"));
}

TEST_CASE("gpioirq_mqtt_* metrics: each family with HELP and TYPE, from status[\"mqtt\"]",
          "[app][mqtt]") {
  nlohmann::json m = {{"state", "connected"}, {"published", 9}, {"acknowledged", 8}, {"dropped", 3},
                      {"in_flight", 1},       {"spooled", 2},   {"spool_dropped", 5}};
  const std::string text = app::mqtt_metrics_text(m);
  const std::vector<std::pair<std::string, std::string>> samples = {
      {"gpioirq_mqtt_connected", "1"},          {"gpioirq_mqtt_published_total", "9"},
      {"gpioirq_mqtt_acknowledged_total", "8"}, {"gpioirq_mqtt_dropped_total", "3"},
      {"gpioirq_mqtt_in_flight", "1"},          {"gpioirq_mqtt_spooled", "2"},
      {"gpioirq_mqtt_spool_dropped_total", "5"}};
  for (const auto& [name, value] : samples) {
    INFO(name);
    CHECK(text.find("# HELP " + name + " ") != std::string::npos);
    CHECK(text.find("# TYPE " + name + " ") != std::string::npos);
    CHECK(text.find("\n" + name + " " + value + "\n") != std::string::npos);
  }
  m["state"] = "connecting";
  CHECK(app::mqtt_metrics_text(m).find("\ngpioirq_mqtt_connected 0\n") != std::string::npos);
}
