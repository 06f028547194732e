// Stress: a producer thread pushes sequence-numbered 16-byte items as fast as it can
// through SpscRing (as ThreadSafeQueue) and through RingIO (as 16-byte frames) into an
// EventLoop woken by the producer's ThreadSafeFlag through a FlagWaiter. The consumer
// checks that items arrive in order, untorn and without duplicates, and that every item
// is accounted for: each sequence number is either consumed or was dropped by the
// producer (which records which ones), and pushed = consumed + dropped exactly.
//
// Two variants per ring: a small ring and a producer that never waits, so drops must
// happen; and a producer that retries while the ring is full (backpressure), where no
// item may be lost at all. A lost wake-up shows as a loop round with no completion for
// kStallMs while the producer is still running (with backpressure both sides would stall).

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "core/ring_io.hpp"
#include "core/spsc_ring.hpp"
#include "core/thread_safe_flag.hpp"
#include "core/thread_safe_queue.hpp"
#include "loop/event_loop.hpp"
#include "loop/flag_waiter.hpp"

namespace {

using gpioirq::core::RingIO;
using gpioirq::core::ThreadSafeFlag;
using gpioirq::core::ThreadSafeQueue;
using gpioirq::loop::EventLoop;
using gpioirq::loop::FlagWaiter;

#ifdef GPIOIRQ_STRESS_ITEMS
constexpr std::uint64_t kItems = GPIOIRQ_STRESS_ITEMS;
#else
constexpr std::uint64_t kItems = 10'000'000;
#endif
constexpr int kStallMs = 20'000;

// 16 bytes; `check` catches a torn or stale slot.
struct Item {
  std::uint64_t seq;
  std::uint64_t check;
};
static_assert(sizeof(Item) == 16);
constexpr Item make_item(std::uint64_t seq) {
  return Item{seq, ~seq * 0x9E3779B97F4A7C15u};
}

// What the consumer saw; checked on the test thread after the producer is joined.
struct Consumer {
  std::vector<std::uint8_t> received = std::vector<std::uint8_t>(kItems, 0);
  std::uint64_t consumed = 0;
  std::uint64_t next_min = 0;  // the next item must have seq >= this (strictly increasing)
  std::uint64_t out_of_order = 0;
  std::uint64_t torn = 0;
  std::uint64_t duplicates = 0;

  void take(const Item& item) noexcept {
    if (item.check != make_item(item.seq).check || item.seq >= kItems) {
      ++torn;
      return;
    }
    if (item.seq < next_min) ++out_of_order;
    if (received[item.seq]) ++duplicates;
    received[item.seq] = 1;
    next_min = item.seq + 1;
    ++consumed;
  }
};

// What the producer did; written by the producer thread, read after join().
struct Producer {
  std::vector<std::uint8_t> dropped_seq = std::vector<std::uint8_t>(kItems, 0);
  std::uint64_t attempted = 0;
  std::uint64_t dropped = 0;
  std::uint64_t full_retries = 0;
};

// Runs the loop until the producer says it is done, then drains once more. After a stall
// (a lost wake-up) it drains by polling so that a backpressured producer can finish and
// the test fails on `stalls` instead of hanging.
template <typename Drain>
void run_consumer(EventLoop& loop, const std::atomic<bool>& done, Drain drain,
                  std::uint64_t& stalls) {
  while (!done.load(std::memory_order_acquire)) {
    if (stalls) {
      drain();
      std::this_thread::yield();
    } else if (!loop.run_once(kStallMs) && !done.load(std::memory_order_acquire)) {
      ++stalls;
    }
  }
  drain();
}

void check_accounting(const Consumer& c, const Producer& p, bool backpressure) {
  std::printf(
      "  items=%llu consumed=%llu dropped=%llu full_retries=%llu\n",
      static_cast<unsigned long long>(p.attempted), static_cast<unsigned long long>(c.consumed),
      static_cast<unsigned long long>(p.dropped), static_cast<unsigned long long>(p.full_retries));
  CHECK(c.torn == 0);
  CHECK(c.out_of_order == 0);
  CHECK(c.duplicates == 0);
  REQUIRE(p.attempted == kItems);
  CHECK(p.attempted == c.consumed + p.dropped);
  // Every sequence number exactly once: consumed, or dropped by the producer.
  std::uint64_t unaccounted = 0;
  std::uint64_t both = 0;
  for (std::uint64_t s = 0; s < kItems; ++s) {
    const int n = c.received[s] + p.dropped_seq[s];
    unaccounted += n == 0;
    both += n == 2;
  }
  CHECK(unaccounted == 0);
  CHECK(both == 0);
  if (backpressure) {
    CHECK(p.dropped == 0);
  } else {
    CHECK(p.dropped > 0);  // the ring was small enough to overflow: the drop path ran
  }
}

void spsc_stress(bool backpressure) {
  std::printf("SpscRing/ThreadSafeQueue stress, %s: %llu items\n",
              backpressure ? "backpressure" : "drops", static_cast<unsigned long long>(kItems));
  // Drops: 64 slots fill within microseconds of a producer that never waits.
  ThreadSafeQueue<Item> queue(backpressure ? 1024 : 64);
  Consumer consumer;
  Producer producer;
  std::atomic<bool> done{false};
  std::array<Item, 32> scratch{};
  const auto drain = [&] {
    queue.drain([&](const Item& i) { consumer.take(i); }, std::span<Item>(scratch));
  };

  EventLoop loop;
  FlagWaiter waiter(loop, queue.flag(), drain);
  REQUIRE(waiter.start() == 0);

  std::thread thread([&] {
    if (backpressure) {
      // Batches of 1..16 through try_push_batch; retry the rest while the ring is full.
      std::array<Item, 16> batch{};
      for (std::uint64_t seq = 0; seq < kItems;) {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(1 + seq % 16, kItems - seq));
        for (std::size_t i = 0; i < n; ++i) batch[i] = make_item(seq + i);
        std::size_t done_n = 0;
        while (done_n < n) {
          done_n +=
              queue.ring().try_push_batch(std::span<const Item>(batch.data() + done_n, n - done_n));
          queue.flag().set();
          if (done_n < n) {
            ++producer.full_retries;
            std::this_thread::yield();
          }
        }
        seq += n;
        producer.attempted += n;
      }
    } else {
      for (std::uint64_t seq = 0; seq < kItems; ++seq) {
        if (!queue.push(make_item(seq))) {
          producer.dropped_seq[seq] = 1;
          ++producer.dropped;
          // Not a retry (this item stays dropped): lets the loop catch up so that
          // accepted and refused pushes interleave instead of the ring staying full.
          std::this_thread::yield();
        }
        ++producer.attempted;
      }
    }
    done.store(true, std::memory_order_release);
    queue.flag().set();
  });
  std::uint64_t stalls = 0;
  run_consumer(loop, done, drain, stalls);
  thread.join();
  drain();
  CHECK(stalls == 0);
  check_accounting(consumer, producer, backpressure);
  if (!backpressure) {
    // ThreadSafeQueue's own counters agree with the producer's.
    CHECK(queue.pushed() == consumer.consumed);
    CHECK(queue.dropped() == producer.dropped);
    CHECK(queue.ring().high_water() == queue.ring().capacity());
  }
  CHECK(waiter.wakes() > 0);
  std::printf("  wakes=%llu eventfd_writes=%llu\n", static_cast<unsigned long long>(waiter.wakes()),
              static_cast<unsigned long long>(queue.flag().wake_writes()));
}

void ring_io_stress(bool backpressure) {
  std::printf("RingIO stress (16-byte frames), %s: %llu items\n",
              backpressure ? "backpressure" : "drops", static_cast<unsigned long long>(kItems));
  // Capacities that are not a multiple of the frame size, so frames straddle the wrap.
  RingIO ring(backpressure ? 16 * 1024 + 8 : 16 * 64 + 8);
  ThreadSafeFlag flag;
  Consumer consumer;
  Producer producer;
  std::atomic<bool> done{false};
  std::uint64_t partial_reads = 0;
  std::array<std::byte, 16 * 32> buffer{};
  const auto drain = [&] {
    if (backpressure) {
      // Bulk read(): whole frames only, since the producer writes frame by frame.
      for (std::size_t n; (n = ring.read(std::span<std::byte>(buffer))) > 0;) {
        if (n % sizeof(Item)) ++partial_reads;
        for (std::size_t off = 0; off + sizeof(Item) <= n; off += sizeof(Item)) {
          Item item;
          std::memcpy(&item, buffer.data() + off, sizeof item);
          consumer.take(item);
        }
      }
    } else {
      Item item;
      while (ring.read_exactly(std::as_writable_bytes(std::span<Item, 1>(&item, 1))))
        consumer.take(item);
    }
  };

  EventLoop loop;
  FlagWaiter waiter(loop, flag, drain);
  REQUIRE(waiter.start() == 0);

  std::thread thread([&] {
    for (std::uint64_t seq = 0; seq < kItems; ++seq) {
      const Item item = make_item(seq);
      const auto bytes = std::as_bytes(std::span<const Item, 1>(&item, 1));
      bool ok = ring.write(bytes);
      while (!ok && backpressure) {
        flag.set();
        ++producer.full_retries;
        std::this_thread::yield();
        ok = ring.write(bytes);
      }
      if (!ok) {
        producer.dropped_seq[seq] = 1;
        ++producer.dropped;
        std::this_thread::yield();  // as in spsc_stress: not a retry
      }
      ++producer.attempted;
      flag.set();
    }
    done.store(true, std::memory_order_release);
    flag.set();
  });
  std::uint64_t stalls = 0;
  run_consumer(loop, done, drain, stalls);
  thread.join();
  drain();
  CHECK(stalls == 0);
  CHECK(partial_reads == 0);
  check_accounting(consumer, producer, backpressure);
  if (!backpressure) CHECK(ring.high_water() <= ring.capacity());
  CHECK(ring.available() == 0);
  std::printf("  wakes=%llu eventfd_writes=%llu\n", static_cast<unsigned long long>(waiter.wakes()),
              static_cast<unsigned long long>(flag.wake_writes()));
}

}  // namespace

TEST_CASE("stress: SpscRing via ThreadSafeQueue, small ring, drops counted exactly",
          "[stress][spsc]") {
  spsc_stress(false);
}

TEST_CASE("stress: SpscRing with backpressure loses nothing", "[stress][spsc]") {
  spsc_stress(true);
}

TEST_CASE("stress: RingIO frames, small ring, drops counted exactly", "[stress][ringio]") {
  ring_io_stress(false);
}

TEST_CASE("stress: RingIO frames with backpressure loses nothing", "[stress][ringio]") {
  ring_io_stress(true);
}
