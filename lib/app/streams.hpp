#pragma once
// The daemon's streams: one per configured device. Each owns its line request (a
// LineSource), its decoder, its RT hook where it has urgent work, and its loop-side
// figures (latency histogram, counters) that status and metrics report.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/schema.hpp"
#include "core/histogram.hpp"
#include "core/ring_io.hpp"
#include "core/thread_safe_flag.hpp"
#include "core/unique_fd.hpp"
#include "devices/button.hpp"
#include "devices/encoder.hpp"
#include "devices/i2c_device.hpp"
#include "devices/imu_frame.hpp"
#include "devices/polled_source.hpp"
#include "devices/pulse_counter.hpp"
#include "gpio/ingest_thread.hpp"
#include "gpio/line_source.hpp"
#include "loop/callback_completion.hpp"
#include "loop/timer.hpp"

namespace gpioirq::app {

// A line as the loop knows it: which device, which role, where.
struct LineInfo {
  std::string device;
  std::string role;  // "a", "b", "line", "data_ready"
  std::string chip;
  std::uint32_t offset = 0;
  config::EventClock clock = config::EventClock::monotonic;
};

struct StreamBase {
  virtual ~StreamBase() = default;
  std::string name;
  // Down: its chip, line or bus is missing, at start or since (the reason says which and
  // why). The stream keeps its state (counts, position) and is attached again when the
  // device returns.
  bool down = false;
  std::string down_reason;
  std::uint64_t down_since_ns = 0;  // CLOCK_MONOTONIC
  std::uint64_t times_down = 0, times_attached = 0;
  std::unique_ptr<gpio::LineSource> source;      // null for polled sources and timer IMUs
  std::vector<std::uint16_t> lines;              // line ids in the ingest thread
  core::Histogram latency;                       // kernel timestamp -> loop dispatch, ns
  std::uint64_t gaps_kernel = 0, gaps_ring = 0;  // as reported by GAP records
  std::size_t timer_index = 0;  // 1 + index of its loop timer in the daemon, 0 = none
};

// Quadrature encoder. The RT hook derives both lines' levels by toggling on each edge
// (the kernel's edge type is read late at high rates and can be wrong; a toggle cannot).
//
// After the kernel's FIFO overflowed (the request's global seqno jumps: both lines may
// have lost edges) the toggled levels mean nothing. Reading the levels from the chip
// then would be wrong too: they are the levels after every edge still queued behind the
// one being handled. So each line's level is taken from the type of its first edge after
// the gap (the level right after that edge) and nothing is counted until both lines are
// known again; from then on toggling resumes. What the position may be off by is bounded
// and published: one count per lost edge, plus one per edge seen while a level was unknown.
struct EncoderStream final : StreamBase, gpio::RtLineHook {
  explicit EncoderStream(const config::EncoderConfig& c) : cfg(c), encoder(c) {}
  config::EncoderConfig cfg;
  devices::Encoder encoder;
  std::uint16_t line_a = 0, line_b = 0;
  std::uint32_t offset_a = 0, offset_b = 0;
  // RT thread only.
  bool level_a = false, level_b = false;
  bool known_a = true, known_b = true;  // false from a gap to the line's next edge
  std::uint32_t last_global_seqno = 0;  // of the request; 0: no edge read yet
  // Written by the RT thread, read by the loop.
  std::atomic<std::uint64_t> uncertainty{0};  // quarter steps the position may be off by
  std::atomic<std::uint64_t> resyncs{0};      // gaps after which levels were re-learnt
  // Loop side.
  std::int64_t last_logged = 0;
  std::uint64_t uncertainty_logged = 0;

  // The levels read from the chip, before the ingest thread runs (no edge is queued yet
  // that they could be ahead of). A fresh request's seqnos start at 1 again.
  void init_levels();
  // What the position may be off by since start, in position units (see encoder.hpp:
  // a resync drops a half-counted sub-count, div rounds).
  std::uint64_t position_error_bound() const noexcept;
  bool on_edge(std::uint16_t line, bool level, const gpio::RawEdge& edge,
               std::int64_t& value) noexcept override;
};

struct ButtonStream final : StreamBase {
  ButtonStream(const config::ButtonConfig& c, bool initial) : cfg(c), button(c, initial) {}
  config::ButtonConfig cfg;
  devices::Button button;
  std::uint16_t line = 0;
  std::uint64_t events[7] = {};  // per devices::ButtonEventKind
};

// Pulse counter. The RT hook counts the pulses in one word (as an encoder's position),
// so a full edge ring costs log rows and frequency samples, never counts; the loop's
// PulseCounter estimates the frequency from the edges that reach it.
struct CounterStream final : StreamBase, gpio::RtLineHook {
  explicit CounterStream(const config::CounterConfig& c) : cfg(c), counter(c) {}
  config::CounterConfig cfg;
  devices::PulseCounter counter;  // loop: frequency
  std::uint16_t line = 0;
  std::uint64_t count_logged = 0;           // the count in the last `count` EVENT row
  std::atomic<std::uint64_t> rt_pulses{0};  // written by the RT thread only
  std::uint64_t reset_base = 0;             // rt_pulses at the last reset (loop)

  // Loop side: pulses since start or the last reset, including those still in the ring.
  std::uint64_t count() const noexcept {
    return rt_pulses.load(std::memory_order_relaxed) - reset_base;
  }
  double value() const noexcept { return static_cast<double>(count()) * cfg.scale; }
  void reset() noexcept {
    reset_base = rt_pulses.load(std::memory_order_relaxed);
    counter.reset();
  }
  bool on_edge(std::uint16_t line, bool level, const gpio::RawEdge& edge,
               std::int64_t& value) noexcept override;
};

// IMU: the RT thread reads one sample per data-ready edge or timer tick (a
// non-allocating SMBus block read, or synthetic values on a sim bus) and writes one
// ring record (its 64-bit frame number, then the frame) into the RingIO; the loop
// strips the numbers and appends whole blocks of frames to the IMU's file.
//
// Every sample due gets a frame number, taken or lost (a missed timer tick, a data-ready
// edge the kernel dropped, an I2C error, a full ring), so the frame counter in the file
// jumps over every loss. The loop learns each frame's full number from its ring record:
// a jump is an imu_overrun GAP with exact bounds, whatever the counter's width in the
// file; frames the file refuses are log_full GAPs spanning their numbers.
struct ImuStream final : StreamBase, gpio::RtLineHook, gpio::RtTimerHook {
  static constexpr std::size_t kNumberBytes = sizeof(std::uint64_t);  // ring record prefix

  ImuStream(const config::ImuConfig& c, core::ThreadSafeFlag& wake);
  config::ImuConfig cfg;
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
  std::uint64_t frame_number = 0;       // RT thread (read by the loop only once it is stopped)
  std::uint32_t last_edge_seqno = 0;    // RT thread: the last data-ready edge's line seqno
  std::uint32_t backoff_left = 0;       // RT thread: samples to skip after an I2C error
  std::uint32_t backoff_next = 1;
  bool gap_before = false;

  // Loop side.
  struct Run {  // frames first .. first + count - 1
    std::uint64_t first = 0, count = 0;
  };
  std::uint64_t next_number = 0;           // the frame number the ring should give next
  std::uint64_t frames_written = 0;        // accepted by the file (written or buffered)
  std::uint64_t frames_lost_overrun = 0;   // numbers the ring never gave (imu_overrun GAPs)
  std::uint64_t frames_lost_file = 0;      // refused by the file, or never written (log_full)
  Run refused;                             // refused frames not yet in a GAP row (count 0: none)
  std::vector<Run> unconfirmed;            // accepted frames the file may still lose, oldest first
  bool finished = false;                   // finish(): final accounting done
  bool file_healthy = true;                // as last told to the journal
  std::string file;

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

// A polled file, read through the loop so that no file can block it: each tick opens the
// path non-blocking and submits one io_uring read with a deadline (3/4 of the interval, at
// most kPollDeadlineMs); a read still running then is cancelled and counted as failed. A tick
// that finds the previous read still in flight (a cancel the file did not honour) skips.
// (A FIFO read waits for data even when opened non-blocking: io_uring polls it.)
struct PollStream final : StreamBase {
  static constexpr std::uint32_t kPollDeadlineMs = 2000;

  PollStream(const config::PollConfig& c, loop::EventLoop& loop);
  ~PollStream();
  config::PollConfig cfg;
  devices::PolledSource source;
  std::uint64_t ticks_skipped = 0;  // ticks that found the previous read still in flight
  // The read in flight: its fd and buffer outlive read_op (declared before it).
  core::UniqueFd fd;
  std::array<char, devices::PolledSource::kMaxFileBytes> buffer{};
  bool timed_out = false;  // the deadline passed: the read's own result is ignored
  loop::CallbackCompletion read_op;
  loop::Timer deadline;

  std::uint64_t deadline_ns() const noexcept;
};

}  // namespace gpioirq::app
