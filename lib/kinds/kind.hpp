#pragma once
// A device kind: everything the daemon, the loader and the reports need to know about
// encoders (or buttons, counters, ...) without naming them. Each kind lives in its own
// folder, lib/kinds/<kind>/, and is listed once, in registry.cpp; adding a kind adds that
// folder and that one line.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/device_reader.hpp"
#include "config/device_settings.hpp"
#include "config/schema.hpp"

namespace gpioirq::kinds {

class Device;
class DeviceContext;

// A Prometheus metric family a kind reports (its samples: Device::metrics()).
struct MetricFamily {
  std::string_view name;
  std::string_view help;  // "" = no HELP line
  std::string_view type;  // "counter", "gauge"
};

class Kind {
 public:
  virtual ~Kind() = default;
  // "encoder": [[encoder]], DeviceConfig::kind, its group in `devices`.
  virtual std::string_view name() const = 0;
  // "encoders": start-up and --check-config lines.
  virtual std::string_view plural() const = 0;
  // Its table and parser.
  virtual config::DeviceSection section() const = 0;
  virtual std::unique_ptr<Device> make(const config::DeviceConfig& c, DeviceContext& ctx) const = 0;
  // "encoders": a command whose reply is its devices' status() objects; "" = none.
  virtual std::string_view list_command() const { return {}; }
  // "polls": the member of `status` that holds its devices' status_entry(); "" = none.
  virtual std::string_view status_key() const { return {}; }
  // Their headers are printed even when no device of the kind is configured.
  virtual std::span<const MetricFamily> metric_families() const { return {}; }
  // Listed by `latency` (IMU, poll: false).
  virtual bool in_latency_report() const { return true; }
  // Counted in devices_down and the device_down metric, retried when down (poll: false).
  virtual bool can_be_down() const { return true; }
};

// The one table of kinds, in its frozen order (it fixes the output orders: encoder, button,
// counter, imu, poll, then newer kinds).
std::span<const Kind* const> registry();
// nullptr for a name no kind has.
const Kind* find_kind(std::string_view name);
// Every kind's section, in registry order.
std::vector<config::DeviceSection> config_sections();
// config::parse() and config::load() with every kind's section.
config::Config parse_config(std::string_view text, std::string_view file);
config::Config load_config(const std::string& path);

}  // namespace gpioirq::kinds
