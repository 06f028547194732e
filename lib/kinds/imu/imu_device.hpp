#pragma once
// An IMU as the daemon runs it: the RT thread reads one sample per data-ready edge or timer
// tick (a non-allocating SMBus block read, or synthetic values on a sim bus) and writes one
// ring record (its 64-bit frame number, then the frame) into the RingIO; the loop strips
// the numbers and appends whole blocks of frames to the IMU's file (its FrameLog).
//
// Every sample due gets a frame number, taken or lost (a missed timer tick, a data-ready
// edge the kernel dropped, an I2C error, a full ring), so the frame counter in the file
// jumps over every loss. The loop learns each frame's full number from its ring record:
// a jump is an imu_overrun GAP with exact bounds, whatever the counter's width in the
// file; frames the file refuses are log_full GAPs spanning their numbers.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "core/ring_io.hpp"
#include "core/thread_safe_flag.hpp"
#include "core/unique_fd.hpp"
#include "devices/i2c_device.hpp"
#include "gpio/ingest_thread.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"
#include "sinks/frame_log.hpp"
#include "sinks/log_records.hpp"

namespace gpioirq::kinds {

// Defined here; kinds/imu/imu.hpp declares it too (ImuKind::make() calls it).
std::unique_ptr<Device> make_imu_device(const Kind& kind, const config::DeviceConfig& cfg,
                                        DeviceContext& ctx);

// The RT side of an IMU (what app::ImuStream's RT hooks were): reads samples and hands
// them over through its ring. Allocated with its device, before the RT thread starts.
struct ImuSampler final : gpio::RtLineHook, gpio::RtTimerHook {
  static constexpr std::size_t kNumberBytes = sizeof(std::uint64_t);  // ring record prefix

  ImuSampler(const config::ImuConfig& c, core::ThreadSafeFlag& wake);
  const config::ImuConfig& cfg;
  core::ThreadSafeFlag& wake;
  bool simulated = false;
  devices::I2cDevice device;
  core::UniqueFd timer;  // trigger = timer
  std::size_t frame_bytes;
  std::size_t record_bytes;  // kNumberBytes + frame_bytes
  core::RingIO ring;
  // RT thread writes, loop reads. samples_due counts triggers (timer expirations, missed
  // ones included; data-ready edges, kernel-dropped ones included) apart from the frame
  // numbers, so that a loss that forgets to take a number shows as a mismatch.
  std::atomic<std::uint64_t> samples_due{0}, frames{0}, overruns{0}, i2c_errors{0}, missed_ticks{0};
  std::atomic<bool> degraded{false};
  std::uint64_t frame_number = 0;     // RT thread (read by the loop only once it is stopped)
  std::uint32_t last_edge_seqno = 0;  // RT thread: the last data-ready edge's line seqno
  std::uint32_t backoff_left = 0;     // RT thread: samples to skip after an I2C error
  std::uint32_t backoff_next = 1;
  bool gap_before = false;

  // Opens and sets up the I2C device (nothing on a sim bus); throws std::system_error
  // (or what I2cDevice throws) when the bus or the chip does not answer.
  void open_device();
  void make_timer();  // the timerfd, unarmed: its fd joins the RT thread's poll set
  void arm_timer();   // just before the RT thread starts, so no tick is missed before it runs
  void sample(std::uint64_t ts_ns) noexcept;
  void skip(std::uint64_t samples) noexcept;  // samples lost before they were read
  bool on_edge(std::uint16_t line, bool level, const gpio::RawEdge& edge,
               std::int64_t& value) noexcept override;
  int fd() const noexcept override { return timer.get(); }
  void on_tick(std::uint64_t expirations) noexcept override;
};

class ImuDevice final : public Device {
 public:
  // Opens its frame file (a link or a non-regular file there: config::ConfigError, any
  // other failure: std::runtime_error, both fatal, as before the device exists).
  ImuDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context);

  const config::ImuConfig& settings() const noexcept { return imu_; }
  // Its RT side (tests drive it as the RT thread would).
  ImuSampler& sampler() noexcept { return rt_; }
  const ImuSampler& sampler() const noexcept { return rt_; }
  std::uint64_t frames_written() const noexcept { return frames_written_; }
  std::uint64_t frames_lost_overrun() const noexcept { return frames_lost_overrun_; }
  std::uint64_t frames_lost_file() const noexcept { return frames_lost_file_; }

  // The bus and the chip (DeviceUnavailable when they do not answer); in timer mode its
  // timerfd, made once, after the bus first answered.
  void open() override;
  // The data-ready line; nullopt in timer mode.
  std::optional<LineRequest> line_request() override;
  void simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) override;
  // Timer mode, once open() has made its timerfd; the same hook each call.
  gpio::RtTimerHook* rt_timer() override;
  // The bus node exists (always on a sim bus).
  bool resources_present() const override;
  void before_rt_start() override;
  void after_drain() override { drain(false); }
  void drain_all() override { drain(true); }
  // The RT thread is stopped and the ring drained (drain_all): the last GAP rows, the file
  // closed, and the `frames` row with the totals.
  void finish(Finish why) override;

  nlohmann::json status(std::uint64_t now) const override;
  void metrics(MetricsOut& out, std::uint64_t now) const override;
  std::string summary(std::uint64_t now) const override;
  // Publishing (MQTT): {rate_hz, frames, lost}; a rate sensor. The frames themselves go to
  // its file, never to the broker.
  nlohmann::json published_state(std::uint64_t now) const override;
  std::vector<sinks::HaEntity> ha_entities() const override;
  // Frames lost, before the file or by it (a dropped data-ready edge is one of those).
  std::uint64_t lost() const override { return frames_lost_overrun_ + frames_lost_file_; }
  std::vector<LogFile*> logs() override { return {&log_file_}; }

 private:
  struct Run {  // frames first .. first + count - 1
    std::uint64_t first = 0, count = 0;
  };
  // Its FrameLog as the daemon reopens it and lists it in status `files`.
  class FrameLogFile final : public LogFile {
   public:
    explicit FrameLogFile(sinks::FrameLog& log) : log_(log) {}
    const std::string& path() const override { return log_.options().path; }
    sinks::AppendFile::PathCheck path_check() const override { return log_.path_check(); }
    int reopen() override { return log_.reopen(); }
    sinks::AppendFileStatus file_status() const override { return log_.status().file; }

   private:
    sinks::FrameLog& log_;
  };

  void drain(bool everything);
  void log_frame_gap(sinks::GapReason reason, std::uint64_t first, std::uint64_t count);
  void flush_refused();
  void refuse_frames(Run run);
  void store_frames(std::span<const std::byte> records);

  const config::ImuConfig& imu_;  // in config(): shared, never changed
  ImuSampler rt_;
  std::unique_ptr<sinks::FrameLog> log_;
  FrameLogFile log_file_;

  // Loop side.
  std::uint64_t next_number_ = 0;          // the frame number the ring should give next
  std::uint64_t frames_written_ = 0;       // accepted by the file (written or buffered)
  std::uint64_t frames_lost_overrun_ = 0;  // numbers the ring never gave (imu_overrun GAPs)
  std::uint64_t frames_lost_file_ = 0;     // refused by the file, or never written (log_full)
  Run refused_;                            // refused frames not yet in a GAP row (count 0: none)
  std::vector<Run> unconfirmed_;           // accepted frames the file may still lose, oldest first
  bool finished_ = false;                  // finish(): final accounting done
  bool file_healthy_ = true;               // as last told to the journal
  // Scratch, reused: a block of ring records, its frames, their runs of numbers.
  std::vector<std::byte> ring_buffer_;
  std::vector<std::byte> frame_buffer_;
  std::vector<Run> frame_runs_;
};

}  // namespace gpioirq::kinds
