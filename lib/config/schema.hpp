#pragma once
// The daemon's configuration as plain data: what the TOML file says after validation,
// with every default filled in. Parsing and validation live in config/loader.hpp; the
// key reference is docs/CONFIGURATION.md. Other modules take their settings from here.
// Everything here is already checked: ranges, cross-references (every LineRef::chip names
// a ChipConfig; no line is used twice by offset or by name), and every path is absolute
// (relative ones in the file are resolved against the file's directory).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/device_settings.hpp"
#include "config/source_place.hpp"

namespace gpioirq::config {

enum class Backend { gpiod, sim };
enum class Bias { as_is, disabled, pull_up, pull_down };
enum class EdgeKind { rising, falling, both };
enum class EventClock { monotonic, realtime, hte };
enum class LogFormat { csv, jsonl };
enum class RangeMode { wrap, clamp };
enum class ImuTrigger { data_ready, timer };
enum class ImuFormat { seed, extended };
enum class ButtonKind { button, switch_ };

struct DaemonConfig {
  std::string log_dir = "/var/log/gpioirqd";
  std::string socket_path = "/run/gpioirqd/control.sock";
  std::string socket_group;                // empty: root only for state-changing commands
  int rt_priority = 80;                    // SCHED_FIFO priority 1..99; 0 = do not ask for RT
  int cpu = -1;                            // RT thread affinity; -1 = any
  bool mlock = true;                       // mlockall(MCL_CURRENT|MCL_FUTURE)
  std::uint32_t flush_interval_ms = 1000;  // fdatasync interval of every log file
  std::uint64_t rotate_size_bytes = 64ull << 20;  // the file says rotate_size_mb
  std::uint32_t rotate_keep = 5;                  // rotated files kept; 0 = delete at rotation
  LogFormat event_log_format = LogFormat::csv;
  bool log_edges = true;                // raw edges in the event log, not only decoded events
  std::uint32_t ring_capacity = 65536;  // edge records; power of two
  std::uint32_t time_sync_interval_ms = 10000;  // MONOTONIC<->REALTIME pair records
  std::uint64_t log_buffer_max_bytes = 16ull << 20;  // the file says log_buffer_max_mb
  int loop_priority = 0;  // SCHED_FIFO priority of the loop thread, below rt_priority; 0 = as started
  std::uint32_t loop_spin_us = 0;  // loop spins this long for work before sleeping; 0 = never
  // Where what must outlive the process is kept: the state file (totals, positions) and
  // the MQTT spool. systemd's StateDirectory=gpioirqd.
  std::string state_dir = "/var/lib/gpioirqd";
  std::uint32_t state_save_interval_ms = 10000;  // the state file is written and synced this often
  // The file names state_dir: totals and positions are kept in <state_dir>/state.json
  // (without it nothing is saved or restored, as before #13).
  bool keep_state = false;

  bool operator==(const DaemonConfig&) const = default;
};

struct ChipConfig {
  std::string name;
  // gpiod: exactly one of path and label is set. sim: both empty.
  std::string path;   // "/dev/gpiochip0"; empty when chosen by label
  std::string label;  // "gpio-sim.0-node0"; empty when chosen by path
  Backend backend = Backend::gpiod;
  std::uint32_t sim_num_lines = 64;  // sim backend only
  SourcePlace place;

  bool operator==(const ChipConfig&) const = default;
};

// A line on a chip: by offset or by the line's name (1..31 characters). Lines on a sim chip
// are always offsets below its sim_num_lines. Two devices naming the same line, one by
// offset and one by name, can only be caught when the daemon resolves the name.
struct LineRef {
  std::string chip;                               // ChipConfig::name
  std::variant<std::uint32_t, std::string> line;  // offset or line name
  SourcePlace place;

  bool operator==(const LineRef&) const = default;
};

struct LineSettings {
  Bias bias = Bias::as_is;
  bool active_low = false;
  EventClock clock = EventClock::monotonic;

  bool operator==(const LineSettings&) const = default;
};

struct EncoderConfig {
  std::string name;
  LineRef a, b;
  LineSettings line;
  int counts_per_period = 4;  // 1, 2 or 4
  int div = 1;                // reported position = counts / div
  std::optional<std::int64_t> min, max;
  RangeMode mode = RangeMode::clamp;  // at min/max when both are set
  // Each new position also as a `detent` occurrence (the MQTT events topic, monitor
  // clients); off: positions are state only (the MQTT state topic, coalesced).
  bool detent_events = false;
  double sim_rate_hz = 0;  // sim chip only: edges per second generated; 0 = none
  SourcePlace place;

  bool operator==(const EncoderConfig&) const = default;
};

struct ButtonConfig {
  std::string name;
  LineRef line;
  LineSettings settings;
  ButtonKind kind = ButtonKind::button;
  std::uint32_t debounce_ms = 20;        // software, from kernel timestamps
  std::uint32_t kernel_debounce_us = 0;  // gpiolib-cdev debounce; 0 = off; never on sim
  std::uint32_t long_press_ms = 1000;    // kind = button only
  std::uint32_t double_click_ms = 400;   // kind = button only; 0 = no double clicks
  double sim_rate_hz = 0;                // sim chip only: presses per second; 0 = none
  SourcePlace place;

  bool operator==(const ButtonConfig&) const = default;
};

struct CounterConfig {
  std::string name;
  LineRef line;
  LineSettings settings;
  EdgeKind edge = EdgeKind::rising;
  std::uint32_t window_ms = 1000;  // frequency window
  double scale = 1.0;              // units per pulse; never 0
  std::string unit = "pulses";
  // Debounce from kernel timestamps: a pulse (active edge to the next opposite edge) shorter
  // than this is not counted (a bouncing reed switch); 0 = off. Needs both edges requested.
  std::uint32_t min_pulse_us = 0;
  // Home Assistant device_class of its sensor ("water", "gas", "energy", ...); empty: none.
  std::string device_class;
  double sim_rate_hz = 0;  // sim chip only: pulses per second; 0 = none
  SourcePlace place;

  bool operator==(const CounterConfig&) const = default;
};

struct ImuConfig {
  std::string name;
  std::string driver = "mpu6050";
  // "/dev/i2c-N", or "sim" for a simulated MPU-6050: required when data_ready is on a sim
  // chip, refused when it is on a gpiod chip, allowed with trigger = timer.
  std::string i2c_bus;
  std::uint16_t address = 0x68;
  ImuTrigger trigger = ImuTrigger::data_ready;
  std::optional<LineRef> data_ready;  // set exactly when trigger = data_ready
  LineSettings settings;              // of the data_ready line
  // data_ready: (dlpf == 0 ? 8000 : 1000) / n for n in 1..256 (the chip's own rates);
  // timer: 1..10000.
  std::uint32_t rate_hz = 1000;
  std::uint32_t buffer_ms = 200;  // RingIO sized for this much loop latency; >= 2 frames
  // Frames per file append; <= the frames buffer_ms holds. When not written in the file:
  // min(100, those frames / 2).
  std::uint32_t block_records = 100;
  ImuFormat format = ImuFormat::extended;
  int accel_range_g = 2;     // 2, 4, 8, 16
  int gyro_range_dps = 250;  // 250, 500, 1000, 2000
  int dlpf = 1;              // 0..6, MPU-6050 CONFIG register
  SourcePlace place;

  bool operator==(const ImuConfig&) const = default;
};

struct PollConfig {
  std::string name;
  std::string path;
  std::uint32_t interval_ms = 1000;
  double scale = 1.0;
  double offset = 0.0;
  std::string unit;
  SourcePlace place;

  bool operator==(const PollConfig&) const = default;
};

// What the reload diff and DeviceSettings need of each device kind's settings (bodies in
// schema.cpp), found by ADL from SettingsOf<T>: blank_places() sets every SourcePlace in
// the settings to {} (where a thing is written does not make it another thing);
// line_refs_of() gives its GPIO lines.
void blank_places(EncoderConfig& c);
void blank_places(ButtonConfig& c);
void blank_places(CounterConfig& c);
void blank_places(ImuConfig& c);
void blank_places(PollConfig& c);
std::vector<const LineRef*> line_refs_of(const EncoderConfig& c);  // a, b
std::vector<const LineRef*> line_refs_of(const ButtonConfig& c);
std::vector<const LineRef*> line_refs_of(const CounterConfig& c);
std::vector<const LineRef*> line_refs_of(const ImuConfig& c);   // data_ready, if any
std::vector<const LineRef*> line_refs_of(const PollConfig& c);  // none

// [mqtt]: publishing to a broker (docs/MQTT.md). Absent: no MQTT at all.
struct MqttConfig {
  std::string url;  // mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; HOST a name or an address
  std::string ca_file, cert_file, key_file;  // mqtts: CA required; cert and key both or neither
  std::string client_id;                     // default "gpioirqd-<hostname>"
  std::string username;                      // empty: none
  std::string password_file;                 // its first line; only with username
  std::string topic_prefix;                  // default "gpioirq/<hostname>"
  int qos = 1;                               // 0, 1 or 2: events, losses, state
  int keepalive_s = 60;                      // 5..65535
  std::uint32_t state_interval_ms = 1000;    // a device's state topic at most this often
  // Per device (by name): its state topic at most this often, instead of state_interval_ms.
  std::map<std::string, std::uint32_t> rate_limit_ms;
  std::uint32_t health_interval_ms = 10000;     // the daemon's health topic
  std::uint64_t spool_max_bytes = 64ull << 20;  // the file says spool_max_mb
  std::uint32_t max_in_flight = 1000;  // messages handed to the library, not yet acknowledged
  bool homeassistant = false;          // Home Assistant MQTT discovery
  std::string discovery_prefix = "homeassistant";
  SourcePlace place;  // its [mqtt] header

  bool operator==(const MqttConfig&) const = default;
};

// [metrics]: the Prometheus metrics as a node_exporter textfile.
struct MetricsConfig {
  std::string textfile;                        // absolute path ending in .prom; empty: none
  std::uint32_t textfile_interval_ms = 15000;  // rewritten (atomically) this often

  bool operator==(const MetricsConfig&) const = default;
};

struct Config {
  std::string file;  // the file this came from, absolute
  DaemonConfig daemon;
  std::vector<ChipConfig> chips;
  // Every device, by kind in the order of the kinds' table (lib/kinds/registry.cpp), then in
  // file order: this order gives the lines their ids and the reports their order.
  std::vector<DeviceConfig> devices;
  std::optional<MqttConfig> mqtt;
  MetricsConfig metrics;

  bool operator==(const Config&) const = default;
};

// Copies of the settings of every device of kind T (its settings struct), in
// Config::devices order.
template <typename T>
std::vector<T> settings_of(const Config& c) {
  std::vector<T> found;
  for (const DeviceConfig& d : c.devices)
    if (const auto* s = dynamic_cast<const SettingsOf<T>*>(d.settings.get()))
      found.push_back(s->value);
  return found;
}

}  // namespace gpioirq::config
