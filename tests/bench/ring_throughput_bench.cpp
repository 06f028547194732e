// Ring throughput: SpscRing vs boost::lockfree::spsc_queue vs moodycamel::ReaderWriterQueue.
// One harness for all: a pinned producer thread pushes kItems 16-byte records in batches of
// B (retrying with a pause while the ring is full), the benchmark thread (pinned to another
// core) pops up to B at a time and checks the sequence. Time runs from a common start
// barrier until the consumer has the last item. Items/s is the figure of merit.
//
// ReaderWriterQueue has no batch calls: a "batch" is a loop of B single calls, which is how
// a caller would use it. boost gets its compile-time capacity (its fastest variant).

#include <benchmark/benchmark.h>

#include <readerwriterqueue/readerwriterqueue.h>
#include <boost/lockfree/spsc_queue.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>

#include "bench_support.hpp"
#include "core/spsc_ring.hpp"

namespace gpioirq::bench {
namespace {

constexpr std::size_t kCapacity = 4096;
constexpr std::uint64_t kItems = std::uint64_t{1} << 22;

class SpscRingAdapter {
 public:
  std::size_t push(const Record* items, std::size_t n) noexcept {
    if (n == 1) return ring_.try_push(*items) ? 1 : 0;
    return ring_.try_push_batch(std::span<const Record>(items, n));
  }
  std::size_t pop(Record* out, std::size_t n) noexcept {
    if (n == 1) return ring_.try_pop(*out) ? 1 : 0;
    return ring_.pop_batch(std::span<Record>(out, n));
  }

 private:
  core::SpscRing<Record> ring_{kCapacity};
};

class BoostAdapter {
 public:
  std::size_t push(const Record* items, std::size_t n) noexcept {
    if (n == 1) return queue_.push(*items) ? 1 : 0;
    return queue_.push(items, n);
  }
  std::size_t pop(Record* out, std::size_t n) noexcept {
    if (n == 1) return queue_.pop(*out) ? 1 : 0;
    return queue_.pop(out, n);
  }

 private:
  boost::lockfree::spsc_queue<Record, boost::lockfree::capacity<kCapacity>> queue_;
};

class MoodycamelAdapter {
 public:
  std::size_t push(const Record* items, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n && queue_.try_enqueue(items[i])) ++i;
    return i;
  }
  std::size_t pop(Record* out, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n && queue_.try_dequeue(out[i])) ++i;
    return i;
  }

 private:
  moodycamel::ReaderWriterQueue<Record> queue_{kCapacity};
};

template <typename Queue>
struct alignas(4096) PageAligned {
  Queue queue;
};

template <typename Queue, std::size_t B>
void ring_throughput(benchmark::State& state) {
  std::uint64_t bad = 0;
  // How often each side found the ring full / empty, per item: shows which side was the
  // bottleneck, and, when both are high, that the threads were not running at the same
  // time (preemption on a shared machine) rather than contending on cache lines.
  std::uint64_t full_spins = 0;
  std::uint64_t empty_spins = 0;
  for (auto _ : state) {
    // Every contender's object starts on a page boundary, so that where the heap puts it
    // does not decide which of its indices and slots share cache lines.
    auto holder = std::make_unique<PageAligned<Queue>>();
    Queue* const queue = &holder->queue;
    std::atomic<int> ready{0};
    // Each thread works on locals only (the queue pointer by value, its own spin count)
    // and publishes its count after the transfer: a counter or pointer on the other
    // thread's stack would share a cache line with what that thread writes, and the
    // harness itself would then cost a cache miss per item.
    std::atomic<std::uint64_t> producer_full_spins{0};
    std::thread producer([queue, &ready, &producer_full_spins] {
      ScopedPin pin(1);
      ready.fetch_add(1);
      while (ready.load() < 2) cpu_relax();
      std::uint64_t spins = 0;
      std::array<Record, B> batch{};
      for (std::uint64_t seq = 0; seq < kItems;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(B, kItems - seq));
        for (std::size_t i = 0; i < n; ++i) batch[i] = Record{seq + i, seq + i};
        for (std::size_t done = 0; done < n;) {
          const std::size_t k = queue->push(batch.data() + done, n - done);
          if (k == 0) {
            ++spins;
            cpu_relax();
          }
          done += k;
        }
        seq += n;
      }
      producer_full_spins.store(spins);
    });
    ScopedPin pin(0);
    ready.fetch_add(1);
    while (ready.load() < 2) cpu_relax();
    std::uint64_t spins = 0, wrong = 0;
    const std::uint64_t t0 = now_ns();
    std::array<Record, B> out{};
    for (std::uint64_t expect = 0; expect < kItems;) {
      const std::size_t k = queue->pop(out.data(), B);
      if (k == 0) {
        ++spins;
        cpu_relax();
        continue;
      }
      for (std::size_t i = 0; i < k; ++i) wrong += out[i].seq != expect + i;
      expect += k;
    }
    const std::uint64_t t1 = now_ns();
    producer.join();
    bad += wrong;
    empty_spins += spins;
    full_spins += producer_full_spins.load();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  if (bad) state.SkipWithError("records arrived out of order");
  state.SetItemsProcessed(static_cast<std::int64_t>(kItems) * state.iterations());
  state.counters["batch"] = B;
  const auto per_item = [&](std::uint64_t v) {
    return static_cast<double>(v) / static_cast<double>(kItems * state.iterations());
  };
  state.counters["full_spins_per_item"] = per_item(full_spins);
  state.counters["empty_spins_per_item"] = per_item(empty_spins);
}

// Iterations(1) per repetition: each repetition is one full transfer of kItems, and the
// repetitions of all contenders are interleaved (--benchmark_enable_random_interleaving).
#define GPIOIRQ_RING_BENCH(name, Queue, B) \
  BENCHMARK(ring_throughput<Queue, B>)     \
      ->Name("ring/" name "/batch:" #B)    \
      ->UseManualTime()                    \
      ->Iterations(1)                      \
      ->Repetitions(5)                     \
      ->Unit(benchmark::kMillisecond)

GPIOIRQ_RING_BENCH("SpscRing", SpscRingAdapter, 1);
GPIOIRQ_RING_BENCH("boost_spsc_queue", BoostAdapter, 1);
GPIOIRQ_RING_BENCH("moodycamel_RWQ", MoodycamelAdapter, 1);
GPIOIRQ_RING_BENCH("SpscRing", SpscRingAdapter, 64);
GPIOIRQ_RING_BENCH("boost_spsc_queue", BoostAdapter, 64);
GPIOIRQ_RING_BENCH("moodycamel_RWQ", MoodycamelAdapter, 64);

}  // namespace
}  // namespace gpioirq::bench
