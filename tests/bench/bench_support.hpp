#pragma once
// Shared pieces of the primitives benchmarks: the 16-byte record every contender moves,
// CPU pinning, clocks and a spin hint. Header-only on purpose: the benchmarks are one
// executable and these are tiny.

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/cpu_relax.hpp"

namespace gpioirq::bench {

// The same 16-byte record for every contender (the size of a timestamped edge record).
struct Record {
  std::uint64_t seq;
  std::uint64_t stamp_ns;  // intended send time (latency benches) or payload
};
static_assert(sizeof(Record) == 16);

inline std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t thread_cpu_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

using core::cpu_relax;

// The CPUs this process may run on, in order: the calling thread's mask the first time
// this is called, remembered. Remembered because a thread inherits its creator's mask:
// a producer started by an already pinned consumer would otherwise see one CPU and stay
// on the consumer's (which made the wake-latency runs before session 3 share one CPU).
inline const std::vector<int>& allowed_cpus() {
  static const std::vector<int> cpus = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> found;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return found;
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) found.push_back(i);
    return found;
  }();
  return cpus;
}

// Pins the calling thread to the `index`-th allowed CPU when at least two exist, so
// producer and consumer sit on different cores. Returns the previous mask to restore.
class ScopedPin {
 public:
  explicit ScopedPin(int index) {
    pinned_ = ::pthread_getaffinity_np(::pthread_self(), sizeof old_, &old_) == 0;
    const auto& cpus = allowed_cpus();
    if (!pinned_ || cpus.size() < 2) {
      pinned_ = false;
      return;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[static_cast<std::size_t>(index) % cpus.size()], &one);
    pinned_ = ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one) == 0;
  }
  ~ScopedPin() {
    if (pinned_) ::pthread_setaffinity_np(::pthread_self(), sizeof old_, &old_);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;

 private:
  cpu_set_t old_{};
  bool pinned_ = false;
};

// Core-to-core cache-line round trip, ns (median of 5 runs of 20000 round trips): two
// threads pinned like the benchmarks' producer and consumer hand one cache line back and
// forth. In a VM the host decides where the two vCPUs sit (same core complex or not), and
// every figure that moves cache lines between the threads scales with this one, so the
// table prints it before and after the runs.
inline double core_to_core_round_trip_ns() {
  constexpr int kRounds = 20000;
  std::vector<double> runs;
  for (int run = 0; run < 5; ++run) {
    alignas(64) std::atomic<int> ball{0};
    std::thread partner([&ball] {
      ScopedPin pin(1);
      for (int i = 0; i < kRounds; ++i) {
        while (ball.load(std::memory_order_acquire) != 2 * i + 1) cpu_relax();
        ball.store(2 * i + 2, std::memory_order_release);
      }
    });
    ScopedPin pin(0);
    const std::uint64_t t0 = now_ns();
    for (int i = 0; i < kRounds; ++i) {
      ball.store(2 * i + 1, std::memory_order_release);
      while (ball.load(std::memory_order_acquire) != 2 * i + 2) cpu_relax();
    }
    const std::uint64_t t1 = now_ns();
    partner.join();
    runs.push_back(static_cast<double>(t1 - t0) / kRounds);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace gpioirq::bench
