#pragma once
// Daemon: gpioirqd's whole life, wired in dependency order (chrony style): config ->
// event loop -> log files -> devices and their line requests -> RT ingest thread ->
// control socket -> signals; torn down in reverse. The loop thread owns everything but
// what the RT thread touches through the hooks and the rings.
//
// It names no device kind: each configured device is made by its kind (lib/kinds) and
// driven through kinds::Device. The daemon keeps what is the same for every kind: line
// requests and the route of each line's records to its device, the GAP and EDGE rows and
// latency of every edge, devices that go down and come back, loop timers, reloads, the
// event fan-out (event log + monitor clients) and the control commands.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/metrics_textfile.hpp"
#include "config/schema.hpp"
#include "control/command_handler.hpp"
#include "core/histogram.hpp"
#include "gpio/ingest_thread.hpp"
#include "irqinfo/irq_info.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "state/state_file.hpp"

namespace gpioirq::loop {
class EventLoop;
class FlagWaiter;
class SignalSet;
class Timer;
}  // namespace gpioirq::loop
namespace gpioirq::control {
class ControlServer;
}
namespace gpioirq::mqtt {
class MqttSink;
}
namespace gpioirq::sinks {
class EventLog;
class RunMarker;
}  // namespace gpioirq::sinks

namespace gpioirq::app {

class EventFanout;
class MonitorSink;
class MqttSource;

inline constexpr const char* kVersion = "0.1.0";

struct RunOptions {
  double run_seconds = 0;  // > 0: stop by itself after this long (the non-interactive demo)
  bool notify_systemd = true;
};

// A line as the loop knows it: which device, which role, where.
// A line's kernel IRQ and its thread (irqinfo), or why it is not known.
struct LineIrqState {
  std::optional<irqinfo::LineIrq> irq;
  std::string note;
};

struct LineInfo {
  std::string device;
  std::string role;  // "a", "b", "line", "data_ready"
  std::string chip;
  std::uint32_t offset = 0;
  config::EventClock clock = config::EventClock::monotonic;
};

class Daemon final : public control::CommandHandler, private kinds::DeviceContext {
 public:
  // Opens everything; throws std::runtime_error (or std::system_error) with a message
  // fit for the user when a chip, line, bus, socket or directory cannot be had.
  explicit Daemon(config::Config cfg);
  ~Daemon() override;

  // Runs until SIGTERM/SIGINT (or run_seconds); returns the exit code.
  int run(const RunOptions& options);

  // control::CommandHandler
  nlohmann::json handle(std::string_view cmd, const nlohmann::json& request,
                        const control::PeerCredentials& peer) override;
  std::string metrics_text() override;

  nlohmann::json status() const;
  bool has_stream(const std::string& name) const;

 private:
  // The devices of one kind, in the order they were made (file order; a reload appends),
  // so that every report stays kind-major in registry order.
  struct Slot {
    const kinds::Kind* kind = nullptr;
    std::vector<std::unique_ptr<kinds::Device>> devices;
  };
  // Where a line's records go: its device and the line's index in its LineRequest.
  struct Route {
    kinds::Device* device = nullptr;
    std::size_t line_index = 0;
  };
  // A loop timer lent to a device (kinds::DeviceContext::add_timer); freed with it.
  struct TimerSlot {
    std::unique_ptr<loop::Timer> timer;
    const kinds::Device* owner = nullptr;
  };

  // kinds::DeviceContext
  loop::EventLoop& loop() override { return *loop_; }
  core::ThreadSafeFlag& rt_wake() override { return ingest_->wake(); }
  const config::DaemonConfig& daemon() const override { return cfg_.daemon; }
  sinks::EventOut& events() override;
  loop::Timer& add_timer(kinds::Device& owner, std::function<void()> callback) override;
  void drain_pending() override;

  // Makes the devices of cfg that do not run yet (all at start; after a reload the added
  // and changed ones), appending each to `made` as soon as it is made.
  void build_devices(const config::Config& cfg, std::vector<kinds::Device*>& made);
  template <typename F>
  void for_each_device(F f);
  // Requests the device's lines (if it has any) and routes their records to it.
  void request_lines(kinds::Device& d);
  // Removes a device a reload dropped or changed: its lines, its RT timer, its last rows
  // (finish(retired)), its loop timers. The RT thread is stopped.
  void retire(kinds::Device& d);
  // Devices that come and go (docs/RELIABILITY.md): attach() opens a device's resources
  // and requests its lines, throwing kinds::DeviceUnavailable when they are not there; the
  // device is then down, and retried every kDeviceRetryMs. A source the RT thread gave up
  // on (the chip was removed) takes its device down the same way. Ingest thread stopped
  // for both.
  void attach(kinds::Device& d);
  void attach_or_mark_down(kinds::Device& d);
  void mark_down(kinds::Device& d, const std::string& reason);
  void detach(kinds::Device& d);
  void take_failed_streams_down();
  bool device_may_be_back(const kinds::Device& d) const;
  void retry_down_streams();
  static constexpr std::uint64_t kDeviceRetryMs = 1000;
  void on_wake();
  void drain(std::size_t max_records);
  void drain_stopped();
  // Everything handed over reaches its file or GAP rows (flush tick, reload, stop).
  void drain_all_devices();
  void start_ingest();
  // The IRQs of the lines (irqinfo): found after each request, re-read before each RT
  // start and by status at most every kIrqRefreshNs.
  std::set<int> irqs_taken() const;
  void refresh_line_irqs() const;
  std::set<int> irq_thread_cpus() const;  // where the lines' IRQ threads are held
  void place_rt_thread();                 // picks the RT CPU before a start
  std::string irq_cpu_risk() const;       // non-empty when daemon.cpu holds an IRQ thread
  void keep_io_workers_off_rt_cpu();
  void apply_loop_priority();
  // A wake decodes at most this many records before the loop serves its other work.
  static constexpr std::size_t kMaxRecordsPerWake = 16384;
  void dispatch(const gpio::EdgeRecord& r, std::uint64_t now_mono, std::uint64_t now_real);
  void reload();
  // Opens every log file anew whose path no longer names it (moved by logrotate, deleted)
  // or that failed to open; REOPEN markers in the event log. `only_lost`: the periodic
  // check (a deleted file at once, a moved one after kMovedGraceNs; warns in the journal
  // and counts it as found moved). Returns the reply of `reopen`.
  nlohmann::json reopen_logs(const std::string& reason, bool only_lost);
  void shutdown();
  // [metrics] textfile: (re)made from cfg_.metrics (none when no textfile), written now.
  void start_metrics_textfile();
  void write_metrics_textfile();

  // The state file (lib/state, #13; only with [daemon] state_dir): totals and positions
  // that survive a restart. Loaded before the devices are made; each device with a saved
  // entry is restored right after it is made (at start, or when a reload makes it), before
  // it starts; saved every state_save_interval_ms, after `set` and `reset`, before a
  // reload remakes devices and at the stop after the last drain.
  void load_state_file();
  void restore_device(kinds::Device& d);
  // RESTORE markers of what was restored (or not, and why): after the START marker at
  // start, at once after a reload.
  void write_state_markers();
  // `about_to_be_added`: names a reload adds, whose entries (if the file has them) stay.
  void save_state_file(const std::vector<std::string>* about_to_be_added = nullptr);
  nlohmann::json state_status() const;
  // `set`: a device's reading (gpioirqctl set NAME VALUE).
  nlohmann::json set_device_value(const nlohmann::json& request);

  // MQTT ([mqtt], docs/MQTT.md): the sink joins the fan-out at start (make_mqtt), connects
  // once the loop runs, syncs its spool at the flush tick, is told about reloads, and is
  // stopped before the event log closes (stop_mqtt). Nothing of it exists without [mqtt].
  void make_mqtt();
  void stop_mqtt();

  config::Config cfg_;
  std::unique_ptr<loop::EventLoop> loop_;
  std::unique_ptr<gpio::IngestThread> ingest_;
  std::unique_ptr<sinks::EventLog> event_log_;
  std::unique_ptr<EventFanout> fanout_;
  std::vector<Slot> kinds_;                           // registry order
  std::vector<TimerSlot> timers_;                     // button deadlines, polls, ...: after kinds_,
                                                      // so destroyed before the devices they call
  std::vector<const kinds::Device*> rt_timer_added_;  // devices whose rt_timer() runs
  std::vector<Route> routes_;                         // by line id
  std::vector<LineInfo> line_info_;                   // by line id
  mutable std::vector<LineIrqState> line_irq_;        // by line id; refreshed by status()
  mutable std::uint64_t irq_refreshed_ns_ = 0;
  std::string rt_placement_;  // why the RT thread is on its CPU (or on none)
  std::unique_ptr<loop::FlagWaiter> wake_waiter_;
  std::unique_ptr<loop::SignalSet> signals_;
  std::unique_ptr<loop::Timer> flush_timer_, watchdog_timer_, end_timer_, device_timer_;
  std::uint32_t sources_failed_seen_ = 0;
  std::unique_ptr<control::ControlServer> control_;
  std::unique_ptr<MonitorSink> monitor_sink_;  // after control_: gone before it
  core::Histogram latency_all_;
  std::vector<gpio::EdgeRecord> drain_buffer_;
  std::uint64_t started_mono_ns_ = 0;
  std::uint64_t records_dispatched_ = 0;
  std::uint64_t reloads_ = 0, reload_failures_ = 0;
  std::string last_reload_error_;
  std::uint64_t log_files_found_moved_ =
      0;  // log files found moved or deleted by the periodic check
  std::map<std::string, std::uint64_t> moved_seen_ns_;  // log path -> when first found moved
  gpio::RtGranted granted_;
  bool io_workers_off_rt_cpu_ = false;
  bool io_workers_placed_ = false;  // run() has placed them once
  int loop_priority_ = 0;           // SCHED_FIFO priority the loop thread got; 0: as started
  bool mlock_done_ = false;
  std::unique_ptr<sinks::RunMarker> run_marker_;
  bool previous_run_unstopped_ = false;  // the previous run did not stop cleanly
  // The state file; null without state_dir.
  std::unique_ptr<state::StateFile> state_file_;
  nlohmann::json saved_devices_ = nlohmann::json::object();  // as last loaded or saved
  std::int64_t saved_realtime_ns_ = 0;                       // when that was saved
  std::string saved_boot_id_, boot_id_;
  std::vector<std::string> state_notes_;  // RESTORE marker texts not written yet
  bool started_ = false;                  // run() wrote the START marker
  std::unique_ptr<loop::Timer> state_timer_;
  std::uint64_t state_saves_ = 0, state_save_errors_ = 0, devices_restored_ = 0;
  std::string state_last_error_;
  std::unique_ptr<MetricsTextfile> metrics_textfile_;    // [metrics] textfile; null: none
  std::unique_ptr<loop::Timer> metrics_textfile_timer_;  // every textfile_interval_ms
  // Last: gone first, before the devices that emit into it and the log and loop it uses.
  std::unique_ptr<MqttSource> mqtt_source_;
  std::unique_ptr<mqtt::MqttSink> mqtt_sink_;
};

}  // namespace gpioirq::app
