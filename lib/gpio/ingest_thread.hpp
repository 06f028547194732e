#pragma once
// IngestThread: the one real-time thread of the daemon (the "interrupt handler" of seed
// §3.3). It blocks in poll(2) on every LineSource fd, every RT timer fd and a stop
// eventfd; reads edges in batches; checks each line's kernel seqno for gaps; lets the
// line's RtLineHook do the urgent work (an encoder's position word, an IMU read); and
// hands EdgeRecords to the event loop through an SpscRing, setting the ThreadSafeFlag
// once per wake. It never allocates, locks or logs once started.
//
// Accounting: every edge read is counted per line; kernel FIFO overflows (line_seqno
// jumps) and records refused by a full ring are counted per line and turned into GAP
// records, re-offered until the ring takes them. Nothing is lost without a record.
//
// A source whose fd reports POLLHUP/POLLERR without events, or whose read fails other
// than EAGAIN/EINTR (a removed chip: ENODEV), leaves the poll set at once, so a vanished
// chip can neither spin this thread nor starve the others; its lines' source_error says
// why and sources_failed() tells the loop, which takes the stream down.
//
// Set-up and tear-down (add_line, remove_source) happen only while the thread is
// stopped; a reload stops it, swaps what changed and starts it again. The kernel keeps
// queuing edges on the line requests meanwhile, so no edge is lost across a reload.

#include <poll.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/spsc_ring.hpp"
#include "core/thread_safe_flag.hpp"
#include "core/unique_fd.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/line_source.hpp"
#include "gpio/rt_thread_setup.hpp"

namespace gpioirq::gpio {

// Urgent per-edge work on the RT thread. noexcept, no allocation, no locks, no logging.
class RtLineHook {
 public:
  virtual ~RtLineHook() = default;
  // For each edge on a bound line. `level` is the line's level after the edge as the
  // kernel reports it. Sets `value` for the record; returns false to keep the edge out
  // of the ring (it is still counted), e.g. an IMU data-ready edge.
  virtual bool on_edge(std::uint16_t line, bool level, const RawEdge& edge,
                       std::int64_t& value) noexcept = 0;
};

// A timer the RT thread waits on (an IMU's sampling tick): fd() is a timerfd.
class RtTimerHook {
 public:
  virtual ~RtTimerHook() = default;
  virtual int fd() const noexcept = 0;
  // `expirations` > 1 means ticks were missed.
  virtual void on_tick(std::uint64_t expirations) noexcept = 0;
};

// Written by the RT thread only, read by the loop.
struct LineCounters {
  std::atomic<std::uint64_t> edges{0};
  std::atomic<std::uint64_t> kernel_lost{0};   // from seqno gaps
  std::atomic<std::uint64_t> ring_dropped{0};  // records the ring refused
  std::atomic<std::uint64_t> last_timestamp_ns{0};
  // errno (> 0) once the line's source failed for good (the chip was removed: POLLHUP,
  // ENODEV) and the thread stopped polling it; 0 while it works.
  std::atomic<int> source_error{0};
};

class IngestThread {
 public:
  IngestThread(std::size_t ring_capacity, RtRequest request);
  ~IngestThread();
  IngestThread(const IngestThread&) = delete;
  IngestThread& operator=(const IngestThread&) = delete;

  // Set-up, while stopped. Returns the line id used in EdgeRecord::line.
  std::uint16_t add_line(LineSource& source, std::uint32_t offset, RtLineHook* hook);
  void add_timer(RtTimerHook& timer);
  // Forgets a source's lines (their ids are not reused) and the timer, if any.
  void remove_source(const LineSource& source);
  void remove_timer(const RtTimerHook& timer);

  void start();
  // The CPU the RT thread pins itself to at the next start() (-1: none).
  void set_rt_cpu(int cpu) noexcept { request_.cpu = cpu; }
  void stop();
  // While stopped: offers GAP records the ring refused at the thread's last flush.
  // Returns true while some are still pending (drain the ring and call again).
  bool offer_pending_stopped() noexcept;
  bool running() const noexcept { return running_; }

  core::SpscRing<EdgeRecord>& ring() noexcept { return ring_; }
  core::ThreadSafeFlag& wake() noexcept { return wake_; }
  const LineCounters& counters(std::uint16_t line) const { return *lines_.at(line)->counters; }
  std::size_t line_count() const noexcept { return lines_.size(); }
  // What the kernel granted, valid after start().
  const RtGranted& granted() const noexcept { return granted_; }
  std::uint64_t records_pushed() const noexcept { return pushed_.load(std::memory_order_relaxed); }
  std::uint64_t wakes() const noexcept { return wakes_.load(std::memory_order_relaxed); }
  // Goes up by one each time the thread gives up on a source (see LineCounters::
  // source_error); the loop compares it with the value it last saw. The source stays in
  // the thread's tables, unpolled, until remove_source().
  std::uint32_t sources_failed() const noexcept {
    return sources_failed_.load(std::memory_order_acquire);
  }

  // Benchmark hook (tests/bench/pipeline), null in the daemon: when set, called on the
  // RT thread each time its start-up is done (RT attributes applied, poll set built),
  // just before its first poll(2), so that a benchmark can tell that thread apart
  // (heap allocation count, per-thread CPU time). Costs one atomic load per start().
  static inline std::atomic<void (*)() noexcept> on_rt_thread_ready{nullptr};

 private:
  struct LineState {
    LineSource* source = nullptr;  // null once removed
    std::uint32_t offset = 0;
    RtLineHook* hook = nullptr;
    std::uint32_t expected_seqno = 1;
    std::uint32_t pending_ring = 0;    // refused edge records not yet reported
    std::uint32_t pending_kernel = 0;  // kernel gaps whose GAP record was refused
    std::uint32_t pending_first = 0;   // line seqnos spanned by what is pending
    std::uint32_t pending_last = 0;
    std::uint64_t last_ts = 0;
    std::unique_ptr<LineCounters> counters = std::make_unique<LineCounters>();
  };
  struct SourceBinding {
    LineSource* source;
    std::vector<std::pair<std::uint32_t, std::uint16_t>> routes;  // offset -> line id
  };

  void run() noexcept;
  // Returns 0, or the errno with which the source failed.
  int drain(SourceBinding& binding) noexcept;
  void give_up(std::size_t poll_index, int error) noexcept;
  void handle(SourceBinding& binding, const RawEdge& edge) noexcept;
  void append(const EdgeRecord& record) noexcept;
  void flush() noexcept;
  void offer_pending() noexcept;

  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  core::SpscRing<EdgeRecord> ring_;
  core::ThreadSafeFlag wake_;
  core::UniqueFd stop_fd_;
  RtRequest request_;
  RtGranted granted_;
  std::vector<std::unique_ptr<LineState>> lines_;
  std::vector<SourceBinding> sources_;
  std::vector<RtTimerHook*> timers_;
  std::vector<pollfd> poll_fds_;
  static constexpr std::size_t kStackBytes = 256 * 1024;
  pthread_t thread_{};
  bool running_ = false;
  std::atomic<bool> started_{false};

  // RT thread's working memory, allocated at construction.
  static constexpr std::size_t kBatch = 256;
  std::vector<RawEdge> raw_;
  std::vector<EdgeRecord> batch_;
  std::size_t batch_size_ = 0;
  bool pending_any_ = false;
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> wakes_{0};
  std::atomic<std::uint32_t> sources_failed_{0};
};

}  // namespace gpioirq::gpio
