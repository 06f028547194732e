#pragma once
// EventLoop: the daemon's single-threaded io_uring event loop (liburing >= 2.3).
//
// Every operation is a submission whose SQE user_data is the address of a caller-owned
// Completion (see completion.hpp for the owner rules). Submissions are queued in the SQ and
// handed to the kernel at the start of the next round, together with the wait, in one
// io_uring_enter; CQEs are then reaped in batches and dispatched in order.
//
// Thread rules: one thread constructs, submits to, runs and destroys the loop. Other
// threads reach it only through a core::ThreadSafeFlag watched by a FlagWaiter.
//
// Flags: the loop checks every started FlagWaiter's flag before it sleeps, and tells the
// flag when it sleeps (so that only then a set() costs the producer a write(2)); a flag
// found set runs its waiter's callback in the same round without any syscall. Optionally
// (set_spin_before_sleep) it first spins a bounded time for work before sleeping, when
// the last sleeps were that short: under a steady stream of events the loop then stays
// awake and neither side makes a syscall per event.
//
// Errors: submission functions return 0 or -errno (-EBUSY: that Completion already has an
// op in flight; -EAGAIN: no SQE even after flushing the SQ). Results arrive as -errno in
// complete(). Only the constructor throws.

#include <liburing.h>
#include <sched.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "loop/completion.hpp"

namespace gpioirq::loop {

class FlagWaiter;

class EventLoop {
 public:
  // Offset for read()/write() meaning "the file's current position" (pipes, sockets, ttys).
  static constexpr std::uint64_t kCurrentPosition = ~std::uint64_t{0};

  // io_uring_queue_init with `entries` SQEs, then probes the ring for every opcode the loop
  // uses. Throws std::runtime_error naming the missing opcode and the kernel release, or
  // naming the failure when io_uring is unavailable (old kernel, seccomp, sysctl).
  explicit EventLoop(unsigned entries = 256);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  // Cancels every op still in flight and waits (bounded) for the kernel to let go of them,
  // without calling their complete(): owners may already be half torn down.
  ~EventLoop();

  // Runs rounds until stop() is called, or until no op is in flight (nothing could ever
  // complete again, as with libuv's uv_run). A stop() before run() makes it return at once;
  // the request is cleared on return so the loop can be run again.
  void run();

  // One round: submit queued SQEs, wait up to timeout_ms for at least one CQE (< 0: no
  // limit, 0: don't wait), dispatch everything reaped. Returns whether any complete() ran.
  // Must not be called from inside a complete() (returns false).
  bool run_once(int timeout_ms);

  // Asks run() to return after the current round. Loop thread only; from other threads or
  // signal handlers, set a ThreadSafeFlag (or raise a signal watched by a SignalSet).
  void stop() noexcept { stop_requested_ = true; }

  // Restricts the kernel's io-wq worker threads that serve the calling thread's io_uring
  // ops (the file writes and fdatasyncs) to `cpus`. Workers that already exist keep the
  // mask they were created with until they exit (idle ones linger for seconds), so call
  // it before the first such op. Used to keep them off the RT thread's CPU: a worker
  // copying megabytes into the page cache runs in the kernel and, on a kernel without
  // full preemption, is not preempted even by a SCHED_FIFO thread. Returns 0 or -errno.
  int set_worker_cpus(const cpu_set_t& cpus) noexcept;

  // Before sleeping, spin up to max_us (0: never, the default) for a flag to be set or a
  // completion to arrive, when the previous wait (spin and sleep) was shorter than that
  // (adaptive, like a mutex that spins before it blocks). Costs CPU while
  // events keep coming faster than one per max_us; saves the producer's write(2) and the
  // loop's io_uring_enter per event, and their latency. Ignored on a single CPU, where
  // spinning only delays the producer.
  void set_spin_before_sleep(unsigned max_us) noexcept;
  // What set_spin_before_sleep made of it (0 on a single CPU).
  unsigned spin_before_sleep_us() const noexcept {
    return static_cast<unsigned>(spin_max_ns_ / 1000);
  }

  // Counters: io_uring_enter calls made by rounds; rounds that found work while
  // spinning; spins that ran out (then the loop slept).
  std::uint64_t kernel_entries() const noexcept { return kernel_entries_; }
  std::uint64_t spins_found_work() const noexcept { return spins_found_work_; }
  std::uint64_t spins_ran_out() const noexcept { return spins_ran_out_; }

  // Submissions. Buffers must stay valid until complete() runs (or abandon() returns).
  int read(int fd, void* buf, unsigned len, std::uint64_t offset, Completion& c) noexcept;
  int write(int fd, const void* buf, unsigned len, std::uint64_t offset, Completion& c) noexcept;
  int fdatasync(int fd, Completion& c) noexcept;
  // sync_file_range(SYNC_FILE_RANGE_WRITE): starts writeback of [offset, offset + len)
  // without waiting for it, so that a later fdatasync has less left to write.
  int start_writeback(int fd, std::uint64_t offset, unsigned len, Completion& c) noexcept;
  // The accepted fd (res >= 0) is SOCK_CLOEXEC | SOCK_NONBLOCK; the caller owns it.
  int accept(int listen_fd, Completion& c) noexcept;
  int recv(int fd, void* buf, unsigned len, Completion& c) noexcept;
  // With MSG_NOSIGNAL: a peer that went away gives -EPIPE, not SIGPIPE.
  int send(int fd, const void* buf, unsigned len, Completion& c) noexcept;
  // One-shot poll; res is the ready mask (POLLIN, ...).
  int poll_add(int fd, unsigned events, Completion& c) noexcept;
  // Timeout at an absolute CLOCK_MONOTONIC time; res is -ETIME when it expires. `when` must
  // stay valid until the next round has submitted it (the Timer class keeps it as a member).
  int timeout_at(const __kernel_timespec& when, Completion& c) noexcept;

  // Asks the kernel to cancel c's op (IORING_OP_ASYNC_CANCEL by user_data). c's complete()
  // still runs exactly once: with -ECANCELED, or with the real result if the op had already
  // finished. Returns -ENOENT if c has nothing in flight on this loop.
  int cancel(Completion& c) noexcept;

  // Completions currently in flight (submitted and not yet dispatched).
  std::size_t in_flight() const noexcept { return in_flight_count_; }

 private:
  friend class Completion;
  friend class FlagWaiter;

  // A reaped CQE waiting for dispatch; copied out so the CQ slot can be released at once.
  struct Reaped {
    std::uint64_t user_data;
    int res;
    std::uint32_t flags;
  };

  io_uring_sqe* get_sqe() noexcept;
  io_uring_sqe* begin(Completion& c, int& error) noexcept;
  void track(Completion& c, io_uring_sqe* sqe) noexcept;
  // Every submission: an SQE for c, filled by prep(sqe), then tracked. 0 or -errno.
  template <typename Prep>
  int submit(Completion& c, Prep&& prep) noexcept {
    int err = 0;
    io_uring_sqe* sqe = begin(c, err);
    if (sqe == nullptr) return err;
    prep(sqe);
    track(c, sqe);
    return 0;
  }
  void untrack(Completion& c) noexcept;
  // Moves every CQE in the CQ ring to ready_; a CQE for `withdrawn` is dropped instead,
  // its res stored in *withdrawn_res. Returns whether that one was seen.
  bool reap(std::uint64_t withdrawn, int* withdrawn_res = nullptr) noexcept;
  bool dispatch();
  std::optional<int> withdraw(Completion& c) noexcept;

  // Started FlagWaiters, an intrusive list (no allocation).
  void watch(FlagWaiter& w) noexcept;
  void unwatch(FlagWaiter& w) noexcept;
  // false when a watched flag is set already: then the round must not sleep.
  bool announce_sleep() noexcept;
  void announce_awake() noexcept;
  bool any_flag_set() const noexcept;
  // Runs the callback of every watched waiter whose flag is set, once each per round.
  bool fire_set_flags();
  // Whether entering the kernel could do anything now: SQEs to submit, task work to run,
  // an overflowed CQ. Unknown (true) without IORING_SETUP_TASKRUN_FLAG.
  bool kernel_has_work() const noexcept;
  // Spins until a flag is set or a CQE (or task work) is there; false when max_ns passed.
  bool spin_for_work(std::int64_t max_ns) noexcept;

  io_uring ring_{};
  std::vector<Reaped> ready_;  // capacity reserved up front: reaping does not allocate
  std::size_t ready_pos_ = 0;  // next entry of ready_ to dispatch
  Completion* in_flight_head_ = nullptr;
  std::size_t in_flight_count_ = 0;
  std::size_t kernel_pending_ = 0;  // submitted ops whose CQE has not been reaped yet
  bool stop_requested_ = false;
  bool dispatching_ = false;
  bool taskrun_flag_ = false;  // the kernel reports pending task work in the SQ flags

  FlagWaiter* watched_head_ = nullptr;
  std::uint64_t round_ = 0;
  std::int64_t spin_max_ns_ = 0;
  bool spin_worthwhile_ = false;
  std::uint64_t kernel_entries_ = 0;
  std::uint64_t spins_found_work_ = 0;
  std::uint64_t spins_ran_out_ = 0;
};

}  // namespace gpioirq::loop
