#pragma once
// ThreadSafeFlag: the one way a producer thread (or a signal handler) wakes the event
// loop, after MicroPython's asyncio.ThreadSafeFlag (seed §3.3).
//
// - set() may be called from any thread and from a signal handler: it touches only a
//   lock-free atomic and, at most once per sleep of the waiter, write(2) on an eventfd.
// - Coalescing: any number of set() calls before the waiter consumes the flag give one
//   wake. set() makes no syscall while the flag is already set, nor while the waiter is
//   awake: a waiter that is about to block announces it first (announce_sleep()), and
//   only a set() that finds that announcement writes the eventfd. A waiter checks the
//   flag before it blocks, so a set() it was not told about is never missed.
// - One waiter: the event loop (loop::FlagWaiter, an io_uring read of fd() while it
//   sleeps) or wait_blocking(). It calls consume(), which clears the flag, before it
//   looks at the producer's data. Items pushed before a set() are visible to the waiter
//   after consume() returned true (seq_cst on the state word).
//
// The state word: kClear (waiter awake, nothing pending), kSet (a set() not yet
// consumed), kSleeping (waiter blocked or about to block on fd(): the next set() writes).

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

  // Async-signal-safe; wait-free apart from the one write(2) that waking a sleeping
  // waiter costs.
  void set() noexcept;

  // Waiter: clears the flag so that the next set() counts again; call it before reading
  // the producer's data. Returns whether the flag had been set.
  bool consume() noexcept;

  // Waiter, just before it blocks on fd(): from now on a set() writes the eventfd.
  // Returns false, and announces nothing, when the flag is already set: don't block,
  // consume() instead.
  bool announce_sleep() noexcept;
  // Waiter, once it is running again (woken or not): set() stops writing the eventfd.
  void announce_awake() noexcept;

  // True while a set() has not been consumed.
  bool is_set() const noexcept { return state_.load(std::memory_order_seq_cst) == kSet; }

  // The eventfd (EFD_NONBLOCK | EFD_CLOEXEC) the waiter blocks on after
  // announce_sleep(); 8 bytes per read.
  int fd() const noexcept { return fd_.get(); }

  // Blocking wait for threads without an event loop (tests, the benches): announces the
  // sleep, poll(2)s fd(), consumes. timeout_ms < 0 waits forever. Returns whether the
  // flag was set (false on timeout).
  bool wait_blocking(int timeout_ms) noexcept;

  // How many set() calls actually wrote to the eventfd (a measure of coalescing).
  std::uint64_t wake_writes() const noexcept {
    return wake_writes_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::uint32_t kClear = 0;
  static constexpr std::uint32_t kSet = 1;
  static constexpr std::uint32_t kSleeping = 2;

  UniqueFd fd_;
  std::atomic<std::uint32_t> state_{kClear};
  std::atomic<std::uint64_t> wake_writes_{0};
  static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "set() must be signal-safe");
};

}  // namespace gpioirq::core
