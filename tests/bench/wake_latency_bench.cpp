// Wake latency producer -> consumer, open loop: a pinned producer thread sends event i at
// its intended time start + i/rate and stamps the record with that intended time, not with
// the time it actually got round to sending. The consumer records now - intended, so a
// producer or consumer that falls behind is charged for every event it delays (no
// coordinated omission). Every contender moves the same 16-byte record through an
// SpscRing; only the wake mechanism differs:
//
//   ThreadSafeFlag+io_uring  the real thing: ThreadSafeQueue::push (try_push + flag.set())
//                            and an EventLoop on the consumer thread with a FlagWaiter.
//   ThreadSafeFlag+io_uring+spin50us  the same with EventLoop::set_spin_before_sleep(50):
//                            the loop spins up to 50 us for the next event before it
//                            sleeps, when its last sleep was that short.
//   eventfd+epoll            the classic pattern: write(2) on an eventfd for every event;
//                            the consumer epoll_wait()s, read()s the eventfd, drains.
//   futex                    a coalescing futex word (Drepper's "futexes are tricky"
//                            event): the producer calls FUTEX_WAKE only when the consumer
//                            announced it is about to sleep.
//
// Per run: p50/p99/p99.9/max latency (core::Histogram), the producer's CPU time inside
// the send call (CLOCK_THREAD_CPUTIME_ID, less the clock's own cost), the consumer
// thread's CPU time per event
// (CLOCK_THREAD_CPUTIME_ID: user + system, includes recording the latency), and the
// mechanism's syscalls per 1000 events: eventfd writes (ThreadSafeFlag::wake_writes()) or
// futex wakes on the producer side, plus the consumer's waits (the loop's io_uring_enter
// calls, EventLoop::kernel_entries(); epoll_wait + read; futex wait).

#include <benchmark/benchmark.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <thread>

#include "bench_support.hpp"
#include "core/histogram.hpp"
#include "core/spsc_ring.hpp"
#include "core/thread_safe_queue.hpp"
#include "core/unique_fd.hpp"
#include "loop/event_loop.hpp"
#include "loop/flag_waiter.hpp"

namespace gpioirq::bench {
namespace {

constexpr std::size_t kRingCapacity = 4096;
constexpr std::uint64_t kSpinMarginNs = 50'000;  // sleep until this close, then spin
// Reading the thread CPU clock is a syscall: doing it around every send would slow the
// producer at 100k/s. Every 8th send is measured; the mean is scaled to all events.
constexpr std::uint64_t kCpuSampleEvery = 8;

struct RunStats {
  core::Histogram latency;
  std::uint64_t events = 0;
  std::uint64_t spins_found_work = 0;  // EventLoop's spin before sleep, when enabled
  std::uint64_t spins_ran_out = 0;
  std::uint64_t producer_send_ns = 0;
  std::uint64_t consumer_cpu_ns = 0;
  std::uint64_t producer_syscalls = 0;
  std::uint64_t consumer_syscalls = 0;
  std::uint64_t consumer_wakes = 0;
  std::uint64_t dropped = 0;
};

std::uint64_t events_for(std::uint64_t rate) {
  // About 2 s at 1k/s, 1 s at 10k/s, 0.5 s at 100k/s: enough samples for p99.9.
  if (rate <= 1'000) return 2'000;
  if (rate <= 10'000) return 10'000;
  return 50'000;
}

// Runs the open-loop producer on its own pinned thread. send(record) returns false on a
// drop. The first event is due shortly after start so both threads are settled.
template <typename Send>
std::thread start_producer(std::uint64_t rate, std::uint64_t n, RunStats& stats,
                           std::atomic<bool>& done, Send send) {
  const std::uint64_t start_ns = now_ns() + 20'000'000;
  return std::thread([=, &stats, &done]() mutable {
    ScopedPin pin(1);
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // precise sleeps for the pacing
    const std::uint64_t period = 1'000'000'000u / rate;
    // The producer's CPU time per send: CLOCK_THREAD_CPUTIME_ID around a send (it does
    // not advance while the thread is preempted, which matters on a shared machine), less
    // the cost of the two clock reads themselves, measured here first.
    std::uint64_t overhead = ~std::uint64_t{0};
    for (int i = 0; i < 1000; ++i) {
      const std::uint64_t a = thread_cpu_ns();
      const std::uint64_t b = thread_cpu_ns();
      if (b - a < overhead) overhead = b - a;
    }
    std::uint64_t send_ns = 0;
    std::uint64_t sampled = 0;
    std::uint64_t dropped = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t intended = start_ns + i * period;
      std::uint64_t t = now_ns();
      if (t + kSpinMarginNs < intended) {
        const std::uint64_t wake_at = intended - kSpinMarginNs;
        const timespec ts{static_cast<time_t>(wake_at / 1'000'000'000u),
                          static_cast<long>(wake_at % 1'000'000'000u)};
        ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      }
      while ((t = now_ns()) < intended) cpu_relax();
      if (i % kCpuSampleEvery != 0) {
        if (!send(Record{i, intended})) ++dropped;
        continue;
      }
      const std::uint64_t cpu_before = thread_cpu_ns();
      if (!send(Record{i, intended})) ++dropped;
      const std::uint64_t cpu_spent = thread_cpu_ns() - cpu_before;
      send_ns += cpu_spent > overhead ? cpu_spent - overhead : 0;
      ++sampled;
    }
    stats.producer_send_ns = sampled ? send_ns * n / sampled : 0;  // scaled to all n events
    stats.dropped = dropped;
    done.store(true, std::memory_order_release);  // after the last push: see the consumers
  });
}

// Consumer-side bookkeeping shared by the three contenders.
struct Sink {
  RunStats& stats;
  std::uint64_t consumed = 0;
  void operator()(const Record& r) noexcept {
    stats.latency.record(now_ns() - r.stamp_ns);
    ++consumed;
  }
};

// The consumers stop once the producer is done and the ring is drained. They wait with a
// 100 ms timeout only so that the end of a run cannot hang: during a run every event
// wakes them well before that.
constexpr int kWaitTimeoutMs = 100;

void run_uring(std::uint64_t rate, std::uint64_t n, RunStats& stats, unsigned spin_us) {
  core::ThreadSafeQueue<Record> queue(kRingCapacity);
  loop::EventLoop loop;
  loop.set_spin_before_sleep(spin_us);
  Sink sink{stats};
  std::array<Record, 64> scratch{};
  loop::FlagWaiter waiter(loop, queue.flag(),
                          [&] { queue.drain(sink, std::span<Record>(scratch)); });
  if (waiter.start() < 0) throw std::runtime_error("FlagWaiter::start failed");
  std::atomic<bool> done{false};
  const std::uint64_t cpu0 = thread_cpu_ns();
  std::thread producer =
      start_producer(rate, n, stats, done, [&](const Record& r) { return queue.push(r); });
  while (!done.load(std::memory_order_acquire)) loop.run_once(kWaitTimeoutMs);
  queue.drain(sink, std::span<Record>(scratch));
  producer.join();
  stats.consumer_cpu_ns = thread_cpu_ns() - cpu0;
  stats.events = n;
  stats.producer_syscalls = queue.flag().wake_writes();
  stats.consumer_syscalls = loop.kernel_entries();
  stats.spins_found_work = loop.spins_found_work();
  stats.spins_ran_out = loop.spins_ran_out();
  stats.consumer_wakes = waiter.wakes();
}

void run_epoll(std::uint64_t rate, std::uint64_t n, RunStats& stats) {
  core::SpscRing<Record> ring(kRingCapacity);
  core::UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  core::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  epoll_event want{};
  want.events = EPOLLIN;
  if (!efd || !ep || ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, efd.get(), &want) != 0)
    throw std::runtime_error("eventfd/epoll setup failed");
  Sink sink{stats};
  std::array<Record, 64> scratch{};
  std::uint64_t writes = 0;
  std::atomic<bool> done{false};
  const std::uint64_t cpu0 = thread_cpu_ns();
  std::thread producer = start_producer(rate, n, stats, done, [&](const Record& r) {
    const bool ok = ring.try_push(r);
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(efd.get(), &one, sizeof one);
    ++writes;
    return ok;
  });
  std::uint64_t waits = 0;
  std::uint64_t wakes = 0;
  const auto drain = [&] {
    for (std::size_t k; (k = ring.pop_batch(std::span<Record>(scratch))) > 0;)
      for (std::size_t i = 0; i < k; ++i) sink(scratch[i]);
  };
  while (!done.load(std::memory_order_acquire)) {
    epoll_event got{};
    const int r = ::epoll_wait(ep.get(), &got, 1, kWaitTimeoutMs);
    ++waits;
    if (r > 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] ssize_t rd = ::read(efd.get(), &count, sizeof count);
      ++waits;
      ++wakes;
    }
    drain();
  }
  drain();
  producer.join();
  stats.consumer_cpu_ns = thread_cpu_ns() - cpu0;
  stats.events = n;
  stats.producer_syscalls = writes;
  stats.consumer_syscalls = waits;
  stats.consumer_wakes = wakes;
}

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t val,
           const timespec* timeout = nullptr) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op | FUTEX_PRIVATE_FLAG, val,
                   timeout, nullptr, 0);
}

void run_futex(std::uint64_t rate, std::uint64_t n, RunStats& stats) {
  // 0: idle, 1: set (something was pushed since the consumer last looked), 2: consumer
  // sleeping or about to. The producer only makes a syscall on the 2 -> 1 transition.
  core::SpscRing<Record> ring(kRingCapacity);
  std::atomic<std::uint32_t> state{0};
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  Sink sink{stats};
  std::array<Record, 64> scratch{};
  std::uint64_t wakes_sent = 0;
  std::atomic<bool> done{false};
  const std::uint64_t cpu0 = thread_cpu_ns();
  std::thread producer = start_producer(rate, n, stats, done, [&](const Record& r) {
    const bool ok = ring.try_push(r);
    if (state.exchange(1) == 2) {
      futex(state, FUTEX_WAKE, 1);
      ++wakes_sent;
    }
    return ok;
  });
  std::uint64_t waits = 0;
  std::uint64_t wakes = 0;
  const timespec timeout{0, kWaitTimeoutMs * 1'000'000L};
  const auto drain = [&] {
    for (std::size_t k; (k = ring.pop_batch(std::span<Record>(scratch))) > 0;)
      for (std::size_t i = 0; i < k; ++i) sink(scratch[i]);
  };
  while (!done.load(std::memory_order_acquire)) {
    drain();
    std::uint32_t expected = 0;
    if (state.compare_exchange_strong(expected, 2)) {
      futex(state, FUTEX_WAIT, 2, &timeout);  // returns at once if the producer set 1
      ++waits;
      ++wakes;
    }
    state.exchange(0);  // RMW: ordered before the drain's acquire of the ring's tail
  }
  drain();
  producer.join();
  stats.consumer_cpu_ns = thread_cpu_ns() - cpu0;
  stats.events = n;
  stats.producer_syscalls = wakes_sent;
  stats.consumer_syscalls = waits;
  stats.consumer_wakes = wakes;
}

enum class Mechanism { kUring, kUringSpin, kEpoll, kFutex };
constexpr unsigned kSpinUs = 50;

template <Mechanism M>
void wake_latency(benchmark::State& state) {
  const auto rate = static_cast<std::uint64_t>(state.range(0));
  RunStats stats;
  for (auto _ : state) {
    stats = RunStats{};
    ScopedPin pin(0);
    const std::uint64_t n = events_for(rate);
    const std::uint64_t t0 = now_ns();
    if constexpr (M == Mechanism::kUring) run_uring(rate, n, stats, 0);
    if constexpr (M == Mechanism::kUringSpin) run_uring(rate, n, stats, kSpinUs);
    if constexpr (M == Mechanism::kEpoll) run_epoll(rate, n, stats);
    if constexpr (M == Mechanism::kFutex) run_futex(rate, n, stats);
    state.SetIterationTime(static_cast<double>(now_ns() - t0) * 1e-9);
  }
  const auto per_event = [&](std::uint64_t v) {
    return static_cast<double>(v) / static_cast<double>(stats.events);
  };
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  state.counters["p50_us"] = us(stats.latency.quantile(0.50));
  state.counters["p99_us"] = us(stats.latency.quantile(0.99));
  state.counters["p999_us"] = us(stats.latency.quantile(0.999));
  state.counters["max_us"] = us(stats.latency.max());
  state.counters["prod_cpu_ns_per_ev"] = per_event(stats.producer_send_ns);
  state.counters["cons_cpu_ns_per_ev"] = per_event(stats.consumer_cpu_ns);
  state.counters["syscalls_per_1k"] =
      1000.0 * per_event(stats.producer_syscalls + stats.consumer_syscalls);
  state.counters["wakes_per_1k"] = 1000.0 * per_event(stats.consumer_wakes);
  state.counters["spins_found_work_per_1k"] = 1000.0 * per_event(stats.spins_found_work);
  state.counters["spins_ran_out_per_1k"] = 1000.0 * per_event(stats.spins_ran_out);
  state.counters["drops"] = static_cast<double>(stats.dropped);
  state.counters["events"] = static_cast<double>(stats.events);
}

#define GPIOIRQ_WAKE_BENCH(name, M) \
  BENCHMARK(wake_latency<M>)        \
      ->Name("wake/" name)          \
      ->ArgName("rate")             \
      ->Arg(1'000)                  \
      ->Arg(10'000)                 \
      ->Arg(100'000)                \
      ->UseManualTime()             \
      ->Iterations(1)               \
      ->Repetitions(5)              \
      ->Unit(benchmark::kMillisecond)

GPIOIRQ_WAKE_BENCH("ThreadSafeFlag+io_uring", Mechanism::kUring);
GPIOIRQ_WAKE_BENCH("ThreadSafeFlag+io_uring+spin50us", Mechanism::kUringSpin);
GPIOIRQ_WAKE_BENCH("eventfd+epoll", Mechanism::kEpoll);
GPIOIRQ_WAKE_BENCH("futex", Mechanism::kFutex);

}  // namespace
}  // namespace gpioirq::bench
