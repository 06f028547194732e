#pragma once
// Daemon: gpioirqd's whole life, wired in dependency order (chrony style): config ->
// event loop -> log files -> streams and their line requests -> RT ingest thread ->
// control socket -> signals; torn down in reverse. The loop thread owns everything but
// what the RT thread touches through the hooks and the rings.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/streams.hpp"
#include "config/schema.hpp"
#include "control/command_handler.hpp"
#include "core/histogram.hpp"
#include "gpio/ingest_thread.hpp"

namespace gpioirq::loop {
class EventLoop;
class FlagWaiter;
class SignalSet;
class Timer;
}  // namespace gpioirq::loop
namespace gpioirq::control {
class ControlServer;
}
namespace gpioirq::sinks {
class EventLog;
class FrameLog;
class RunMarker;
enum class GapReason : std::uint8_t;
}

namespace gpioirq::app {

inline constexpr const char* kVersion = "0.1.0";

struct RunOptions {
  double run_seconds = 0;  // > 0: stop by itself after this long (the non-interactive demo)
  bool notify_systemd = true;
};

class Daemon final : public control::CommandHandler {
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
  struct Route {
    enum class Kind : std::uint8_t { none, encoder, button, counter, imu } kind = Kind::none;
    StreamBase* stream = nullptr;
  };

  void build_streams(const config::Config& cfg);
  void add_stream_lines(StreamBase& s, const std::vector<std::pair<config::LineRef, std::string>>& refs,
                        const config::LineSettings& settings, config::EdgeKind edge,
                        std::uint32_t debounce_us, gpio::RtLineHook* hook, Route::Kind kind,
                        double sim_rate, int sim_shape);
  void remove_stream(StreamBase& s);
  // Devices that come and go (docs/RELIABILITY.md): attach() requests a stream's lines
  // and opens its bus, throwing DeviceUnavailable when they are not there; the stream is
  // then down, and retried every kDeviceRetryMs. A source the RT thread gave up on (the
  // chip was removed) takes its stream down the same way. Ingest thread stopped for both.
  void attach(StreamBase& s);
  void attach_or_mark_down(StreamBase& s);
  void mark_down(StreamBase& s, const std::string& reason);
  void detach(StreamBase& s);
  void take_failed_streams_down();
  bool device_may_be_back(const StreamBase& s) const;
  void retry_down_streams();
  template <typename F>
  void for_each_stream(F f);
  static constexpr std::uint64_t kDeviceRetryMs = 1000;
  void on_wake();
  void drain(std::size_t max_records);
  void drain_stopped();
  void start_ingest();
  void keep_io_workers_off_rt_cpu();
  void apply_loop_priority();
  // Makes a loop timer for a stream; returns its timer_index (1-based).
  std::size_t add_timer(std::function<void()> callback);
  // A wake decodes at most this many records before the loop serves its other work.
  static constexpr std::size_t kMaxRecordsPerWake = 16384;
  void dispatch(const gpio::EdgeRecord& r, std::uint64_t now_mono, std::uint64_t now_real);
  void drain_imus(bool everything);
  // Splits ring records into frames for the file: a jump in their numbers is an
  // imu_overrun GAP, frames the file refuses are log_full GAPs.
  void store_frames(ImuStream& m, sinks::FrameLog& log, std::span<const std::byte> records);
  void log_frame_gap(ImuStream& m, sinks::GapReason reason, std::uint64_t first, std::uint64_t count);
  void refuse_frames(ImuStream& m, ImuStream::Run run);
  void flush_refused(ImuStream& m);
  // Once the RT thread is stopped: the last losses, the file closed, the totals logged.
  void finish_imu(std::size_t i);
  void log_counters();
  void arm_button_timer(ButtonStream& b);
  void log_button_events(ButtonStream& b, const devices::ButtonEvents& events);
  void on_button_timer(ButtonStream& b);
  void start_poll(PollStream& p);
  void on_poll_read(PollStream& p, int res);
  void report_poll(PollStream& p, const devices::PollReading& reading);
  static nlohmann::json poll_json(const PollStream& p);
  void reload();
  // Opens every log file anew whose path no longer names it (moved by logrotate, deleted)
  // or that failed to open; REOPEN markers in the event log. `only_lost`: the periodic
  // check (a deleted file at once, a moved one after kMovedGraceNs; warns in the journal
  // and counts it as found moved). Returns the reply of `reopen`.
  nlohmann::json reopen_logs(const std::string& reason, bool only_lost);
  void shutdown();
  std::string reload_from_file(std::string& error);

  config::Config cfg_;
  std::unique_ptr<loop::EventLoop> loop_;
  std::unique_ptr<gpio::IngestThread> ingest_;
  std::unique_ptr<sinks::EventLog> event_log_;
  std::vector<std::unique_ptr<EncoderStream>> encoders_;
  std::vector<std::unique_ptr<ButtonStream>> buttons_;
  std::vector<std::unique_ptr<CounterStream>> counters_;
  std::vector<std::unique_ptr<ImuStream>> imus_;
  std::vector<std::unique_ptr<PollStream>> polls_;
  std::vector<std::unique_ptr<sinks::FrameLog>> frame_logs_;  // parallel to imus_
  std::vector<std::unique_ptr<loop::Timer>> timers_;          // button deadlines, polls
  std::vector<Route> routes_;                                 // by line id
  std::vector<LineInfo> line_info_;                           // by line id
  std::unique_ptr<loop::FlagWaiter> wake_waiter_;
  std::unique_ptr<loop::SignalSet> signals_;
  std::unique_ptr<loop::Timer> flush_timer_, watchdog_timer_, end_timer_, device_timer_;
  std::uint32_t sources_failed_seen_ = 0;
  std::unique_ptr<control::ControlServer> control_;
  core::Histogram latency_all_;
  std::vector<gpio::EdgeRecord> drain_buffer_;
  std::vector<std::byte> frame_buffer_;
  std::vector<std::byte> ring_buffer_;
  std::vector<ImuStream::Run> frame_runs_;
  std::uint64_t started_mono_ns_ = 0;
  std::uint64_t records_dispatched_ = 0;
  std::uint64_t reloads_ = 0, reload_failures_ = 0;
  std::string last_reload_error_;
  std::uint64_t log_files_found_moved_ = 0;  // log files found moved or deleted by the periodic check
  std::map<std::string, std::uint64_t> moved_seen_ns_;  // log path -> when first found moved
  gpio::RtGranted granted_;
  bool io_workers_off_rt_cpu_ = false;
  int loop_priority_ = 0;  // SCHED_FIFO priority the loop thread got; 0: as started
  bool mlock_done_ = false;
  std::unique_ptr<sinks::RunMarker> run_marker_;
  bool previous_run_unstopped_ = false;  // the previous run did not stop cleanly
};

}  // namespace gpioirq::app
