#pragma once
// ThreadSafeQueue<T>: a typed queue from one producer thread to the event loop, after
// micropython-async's ThreadSafeQueue (seed §3.5): an SpscRing for the items plus a
// ThreadSafeFlag to wake the loop. The producer pushes a batch and sets the flag once;
// the loop, woken through the flag (loop::FlagWaiter), drains everything that is there.
//
// Every item is accounted for: pushed() == items the consumer drained + dropped(),
// where dropped() counts the pushes refused because the ring was full.

#include <atomic>
#include <cstdint>
#include <span>

#include "core/spsc_ring.hpp"
#include "core/thread_safe_flag.hpp"

namespace gpioirq::core {

template <typename T>
class ThreadSafeQueue {
 public:
  explicit ThreadSafeQueue(std::size_t capacity) : ring_(capacity) {}

  // Producer: pushes and wakes the loop. false (and one drop counted) when full.
  bool push(const T& item) noexcept {
    const bool ok = ring_.try_push(item);
    count(ok ? 1 : 0, ok ? 0 : 1);
    flag_.set();  // also on a drop, so the loop notices the backlog promptly
    return ok;
  }

  // Producer: pushes what fits, counts the rest as dropped, wakes the loop once.
  std::size_t push_batch(std::span<const T> items) noexcept {
    const std::size_t n = ring_.try_push_batch(items);
    count(n, items.size() - n);
    if (!items.empty()) flag_.set();
    return n;
  }

  // Consumer: calls f(item) for every queued item, in order; returns how many.
  template <typename F>
  std::size_t drain(F&& f, std::span<T> scratch) {
    std::size_t total = 0;
    for (;;) {
      const std::size_t n = ring_.pop_batch(scratch);
      for (std::size_t i = 0; i < n; ++i) f(scratch[i]);
      total += n;
      if (n < scratch.size()) return total;
    }
  }
  bool try_pop(T& out) noexcept { return ring_.try_pop(out); }

  ThreadSafeFlag& flag() noexcept { return flag_; }
  SpscRing<T>& ring() noexcept { return ring_; }
  std::uint64_t pushed() const noexcept { return pushed_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  // Single writer (the producer): load+store instead of a locked read-modify-write.
  void count(std::uint64_t ok, std::uint64_t refused) noexcept {
    if (ok) pushed_.store(pushed_.load(std::memory_order_relaxed) + ok, std::memory_order_relaxed);
    if (refused)
      dropped_.store(dropped_.load(std::memory_order_relaxed) + refused, std::memory_order_relaxed);
  }

  SpscRing<T> ring_;
  ThreadSafeFlag flag_;
  alignas(kCacheLine) std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace gpioirq::core
