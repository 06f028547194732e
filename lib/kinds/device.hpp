#pragma once
// One configured device as the daemon runs it, whatever its kind. The daemon owns the
// line requests, the RT thread, the routing of records, the event log and the reports; a
// Device says which lines it wants, decodes what arrives on them, emits its events and
// reports its figures, through the virtuals below, in the order their groups list them.
//
// RT rules: a kind's RT state lives in its device object, allocated before the RT thread
// starts, in a class deriving from gpio::RtLineHook / gpio::RtTimerHook: hooks are noexcept
// and neither allocate, lock nor log; the loop reads what they write through atomics.
// Device::on_edge and RtLineHook::on_edge share a name, so a class deriving from both
// overrides both or says `using Device::on_edge;` (-Woverloaded-virtual is an error); a
// separate member object for the hook avoids the question.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "core/histogram.hpp"
#include "core/thread_safe_flag.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/ingest_thread.hpp"
#include "gpio/line_source.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/kind.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer.hpp"
#include "sinks/append_file.hpp"
#include "sinks/device_event.hpp"
#include "sinks/published.hpp"

namespace gpioirq::kinds {

// A device that is not there (chip, line, bus): it waits, down. Anything else is fatal.
struct DeviceUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A log file of a device that cannot be opened (err: -errno from AppendFile::open()). A
// link or a non-regular file at a log name is a configuration error (config::ConfigError,
// exit 78): restarting will not remove it, the user must. Anything else: runtime_error.
// "opening <what> <path>: <reason>".
[[noreturn]] void throw_log_open_error(const std::string& what, const std::string& path, int err);

// The longest Device::summary(): top's VALUES column.
inline constexpr std::size_t kSummaryBytes = 32;
// `text` cut to at most `bytes` bytes, at the start of a UTF-8 character (a unit such as
// "°C" or "m³" cut inside one would make the reply invalid JSON text).
std::string cut_utf8(std::string text, std::size_t bytes = kSummaryBytes);

// One line request per device, as today.
struct LineRequest {
  // Each line and its role ("a", "line"), in the order Device::on_edge's line_index counts.
  std::vector<std::pair<const config::LineRef*, std::string_view>> lines;
  config::LineSettings settings;
  config::EdgeKind edge = config::EdgeKind::both;
  std::uint32_t kernel_debounce_us = 0;
  gpio::RtLineHook* hook = nullptr;  // urgent RT work; null: records only
};

// The daemon's bookkeeping of a device (what app::StreamBase held).
struct DeviceState {
  // Down: its chip, line or bus is missing, at start or since. The device keeps its state
  // (counts, position) and is attached again when it returns.
  bool down = false;
  std::string down_reason;
  std::uint64_t down_since_ns = 0;  // CLOCK_MONOTONIC
  std::uint64_t times_down = 0, times_attached = 0;
  std::unique_ptr<gpio::LineSource> source;      // its line request; null: none or down
  std::vector<std::uint16_t> lines;              // ingest line ids, LineRequest order
  std::vector<std::uint32_t> offsets;            // resolved offsets, same order
  core::Histogram latency;                       // kernel timestamp -> loop dispatch, ns
  std::uint64_t gaps_kernel = 0, gaps_ring = 0;  // as reported by GAP records
  std::vector<std::size_t> timer_slots;          // DeviceContext::add_timer slots, freed with it
};

// A device's own file (an IMU's frame log): reopened with the event log, shown in status.
class LogFile {
 public:
  virtual ~LogFile() = default;
  virtual const std::string& path() const = 0;
  virtual sinks::AppendFile::PathCheck path_check() const = 0;
  virtual int reopen() = 0;  // 1 reopened, 0 unchanged, -errno
  virtual sinks::AppendFileStatus file_status() const = 0;
};

// Where a device writes its metric samples; the daemon adds device="<name>".
class MetricsOut {
 public:
  virtual ~MetricsOut() = default;
  // family: an index into its Kind::metric_families(). extra_labels: "" or
  // ",reason=\"file\"" (appended after the device label).
  virtual void sample(std::size_t family, std::string_view extra_labels, double v) = 0;
};

class Device;

// What the daemon lends a device.
class DeviceContext {
 public:
  virtual ~DeviceContext() = default;
  virtual loop::EventLoop& loop() = 0;
  virtual core::ThreadSafeFlag& rt_wake() = 0;             // IMU RingIO -> loop
  virtual const config::DaemonConfig& daemon() const = 0;  // log_dir, flush interval
  virtual sinks::EventOut& events() = 0;
  // A loop timer owned by the daemon for `owner`, counted in status `timers`, freed with it.
  virtual loop::Timer& add_timer(Device& owner, std::function<void()> cb) = 0;
  // Dispatches what the RT thread has already read, so that a deadline does not overtake
  // the edges before it (a button's long-press timer calls it first).
  virtual void drain_pending() = 0;
};

enum class Finish : std::uint8_t { stop, retired };

class Device {
 public:
  // Keeps a COPY of cfg: the daemon's Config is replaced at every reload.
  Device(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context)
      : ctx(context), kind_(device_kind), cfg_(std::move(cfg)) {}
  virtual ~Device() = default;
  // Never moves: the RT thread and the route table hold its address.
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const Kind& kind() const noexcept { return kind_; }
  const std::string& name() const noexcept { return cfg_.name; }
  const config::DeviceConfig& config() const noexcept { return cfg_; }

  DeviceState state;

  // Set-up: loop thread, RT thread stopped.
  // Non-GPIO resources (a bus, a file); throws DeviceUnavailable when they are not there.
  virtual void open() {}
  // nullopt: no lines (poll, timer IMU).
  virtual std::optional<LineRequest> line_request() = 0;
  // On a sim chip: adds its generators for the offsets of its LineRequest's lines.
  virtual void simulate(gpio::SimSource& /*sim*/, std::span<const std::uint32_t> /*offsets*/) {}
  // Lines requested: read levels; after an outage, resync (button).
  virtual void attached() {}
  // Added to the RT thread once, removed when retired.
  virtual gpio::RtTimerHook* rt_timer() { return nullptr; }
  // Cheap check that its resources exist (a bus node), gating retries while down.
  virtual bool resources_present() const { return true; }
  // At each RT (re)start: arm the IMU's timerfd.
  virtual void before_rt_start() {}
  // The loop runs (or a reload added it): timers, first reads.
  virtual void start() {}

  // Records and ticks, loop thread.
  // An edge on its line line_index, after its latency and EDGE row.
  virtual void on_edge(const gpio::EdgeRecord& /*r*/, std::size_t /*line_index*/) {}
  // A GAP record on its line line_index, after its GAP row.
  virtual void on_gap(const gpio::EdgeRecord& /*r*/, std::size_t /*line_index*/) {}
  // After each ring batch (IMU: whole blocks).
  virtual void after_drain() {}
  // Everything handed over reaches its file or GAP rows (flush tick, reload, stop).
  virtual void drain_all() {}
  // Each flush tick and at stop: periodic rows.
  virtual void on_flush(std::uint64_t /*now_mono*/) {}
  // After drain_all/on_flush at stop, or when a reload removed it.
  virtual void finish(Finish /*why*/) {}

  // Reports.
  // Its object in its kind's list_command reply and in `devices`.
  virtual nlohmann::json status(std::uint64_t now) const = 0;
  // Its object in status[kind().status_key()].
  virtual nlohmann::json status_entry() const { return {}; }
  virtual void metrics(MetricsOut& /*out*/, std::uint64_t /*now*/) const {}
  // top's VALUES cell, at most 32 characters.
  virtual std::string summary(std::uint64_t now) const = 0;
  // top's LOST.
  virtual std::uint64_t lost() const { return state.gaps_kernel + state.gaps_ring; }
  // `reset`: counts, positions, its latency histogram.
  virtual void reset() {}
  virtual std::vector<LogFile*> logs() { return {}; }

  // Publishing (MQTT, #13). Its retained state topic's payload members: a small object of
  // what a dashboard shows (a counter's total and frequency, an encoder's position and
  // velocity); null: no state topic. Called at most at the state rate, loop thread.
  virtual nlohmann::json published_state(std::uint64_t /*now*/) const { return nullptr; }
  // Its Home Assistant entities (discovery); their state_member names members of
  // published_state().
  virtual std::vector<sinks::HaEntity> ha_entities() const { return {}; }

  // Persistence (#13): what must survive a restart (a counter's total, an encoder's
  // position, reset offsets), kept in the daemon's state file; null: nothing.
  virtual nlohmann::json save_state() const { return nullptr; }
  // At start, before start(): `saved` as save_state() wrote it in an earlier run (ignore
  // members you do not know; throw std::invalid_argument when it makes no sense: the
  // daemon then starts the device from zero and says so). Returns the event log's words
  // for what was restored ("total 12345 pulses"), empty when nothing.
  virtual std::string restore_state(const nlohmann::json& /*saved*/) { return {}; }
  // `gpioirqctl set NAME VALUE`: sets its reading (a counter's value in its unit). Throws
  // std::invalid_argument with the reason (this kind cannot be set, a bad value).
  virtual void set_value(double /*value*/) {
    throw std::invalid_argument("a device of kind " + std::string(kind().name()) +
                                " cannot be set");
  }

 protected:
  DeviceContext& ctx;
  sinks::EventOut& out() { return ctx.events(); }

 private:
  const Kind& kind_;
  config::DeviceConfig cfg_;
};

}  // namespace gpioirq::kinds
