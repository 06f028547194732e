#pragma once
// ThreadSafeFlag: the one way a producer thread (or a signal handler) wakes the event
// loop, after MicroPython's asyncio.ThreadSafeFlag (seed §3.3).
//
// - set() may be called from any thread and from a signal handler: it touches only a
//   lock-free atomic and, at most once per wake, write(2) on an eventfd.
// - Coalescing: any number of set() calls before the waiter consumes the flag give one
//   wake. While the flag is set and not yet consumed, set() makes no syscall.
// - One waiter: the event loop reads the eventfd (an io_uring read) and then calls
//   consume(), which clears the flag. Items pushed before a set() are visible to the
//   waiter after consume() returns (seq_cst on the pending word).

#include <atomic>
#include <cstdint>

#include "core/unique_fd.hpp"

namespace gpioirq::core {

class ThreadSafeFlag {
 public:
  // Throws std::system_error if the eventfd cannot be made.
  ThreadSafeFlag();
  ThreadSafeFlag(const ThreadSafeFlag&) = delete;
  ThreadSafeFlag& operator=(const ThreadSafeFlag&) = delete;

  // Async-signal-safe; wait-free apart from the one write(2) that a new wake costs.
  void set() noexcept;

  // The waiter calls this after its read of fd() completed (or before polling the
  // producer's data again): clears the flag so that the next set() wakes again.
  // Returns whether the flag had been set.
  bool consume() noexcept;

  // True while a set() has not been consumed.
  bool is_set() const noexcept { return pending_.load(std::memory_order_seq_cst); }

  // The eventfd (EFD_NONBLOCK | EFD_CLOEXEC) the waiter reads; 8 bytes per read.
  int fd() const noexcept { return fd_.get(); }

  // Blocking wait for threads without an event loop (tests, the RT thread's peer
  // benches): poll(2) on fd(), then read and consume. timeout_ms < 0 waits forever.
  // Returns false on timeout.
  bool wait_blocking(int timeout_ms) noexcept;

  // How many set() calls actually wrote to the eventfd (a measure of coalescing).
  std::uint64_t wake_writes() const noexcept {
    return wake_writes_.load(std::memory_order_relaxed);
  }

 private:
  UniqueFd fd_;
  std::atomic<bool> pending_{false};
  std::atomic<std::uint64_t> wake_writes_{0};
  static_assert(std::atomic<bool>::is_always_lock_free, "set() must be signal-safe");
};

}  // namespace gpioirq::core
