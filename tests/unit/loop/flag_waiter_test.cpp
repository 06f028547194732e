#include "loop/flag_waiter.hpp"

#include <unistd.h>
#include <atomic>
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <cstdint>
#include <thread>

#include "core/thread_safe_flag.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer.hpp"
#include "loop_test_util.hpp"

using gpioirq::core::ThreadSafeFlag;
using gpioirq::loop::EventLoop;
using gpioirq::loop::FlagWaiter;
using gpioirq::loop::Timer;
using gpioirq::loop::test::run_until;

TEST_CASE("FlagWaiter: many set() from a thread coalesce, and every item is seen", "[loop][flag]") {
  constexpr std::uint64_t kItems = 200'000;
  EventLoop loop;
  ThreadSafeFlag flag;
  std::atomic<std::uint64_t> pushed{0};
  std::uint64_t seen = 0;
  FlagWaiter waiter(loop, flag, [&] {
    // The drain: everything pushed before the set() that woke us is visible now.
    seen = pushed.load(std::memory_order_acquire);
    if (seen == kItems) loop.stop();
  });
  bool timed_out = false;
  Timer watchdog(loop, [&] {
    timed_out = true;
    loop.stop();
  });
  REQUIRE(waiter.start() == 0);
  REQUIRE(watchdog.start_once(60'000'000'000) == 0);

  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kItems; ++i) {
      pushed.fetch_add(1, std::memory_order_release);
      flag.set();
    }
  });
  loop.run();
  producer.join();

  INFO("wakes " << waiter.wakes() << ", eventfd writes " << flag.wake_writes());
  REQUIRE_FALSE(timed_out);
  CHECK(seen == kItems);
  CHECK(waiter.wakes() >= 1);
  CHECK(waiter.wakes() < kItems / 4);  // coalescing: far fewer wakes than set() calls
  // A set() writes the eventfd only when the loop announced a sleep, once per sleep, and
  // every sleep is one io_uring_enter.
  CHECK(flag.wake_writes() <= loop.kernel_entries());
  CHECK(waiter.running());
  CHECK(waiter.error() == 0);
}

TEST_CASE("FlagWaiter: a flag set before start() wakes, and stop() ends the callbacks",
          "[loop][flag]") {
  EventLoop loop;
  ThreadSafeFlag flag;
  int calls = 0;
  FlagWaiter waiter(loop, flag, [&] { ++calls; });
  flag.set();
  REQUIRE(waiter.start() == 0);
  REQUIRE(run_until(loop, [&] { return calls == 1; }));
  CHECK_FALSE(flag.is_set());  // consumed before the callback ran

  flag.set();
  REQUIRE(run_until(loop, [&] { return calls == 2; }));

  waiter.stop();
  REQUIRE(run_until(loop, [&] { return loop.in_flight() == 0; }));
  flag.set();
  loop.run();  // nothing in flight: returns at once
  CHECK(calls == 2);

  REQUIRE(waiter.start() == 0);  // restartable: the pending set() wakes it
  REQUIRE(run_until(loop, [&] { return calls == 3; }));
}

TEST_CASE("FlagWaiter: a set() while the loop is awake costs no syscall", "[loop][flag]") {
  EventLoop loop;
  ThreadSafeFlag flag;
  int calls = 0;
  FlagWaiter waiter(loop, flag, [&] {
    ++calls;
    // The producer's side while the loop is busy in a callback: found by the loop's next
    // round, no eventfd write, no sleep.
    if (calls < 100) flag.set();
  });
  REQUIRE(waiter.start() == 0);
  flag.set();
  const std::uint64_t entries_before = loop.kernel_entries();
  REQUIRE(run_until(loop, [&] { return calls == 100; }));
  CHECK(flag.wake_writes() == 0);
  // Only the first round entered the kernel (to submit the eventfd read); the other 99
  // found the flag set before sleeping and skipped the syscall.
  CHECK(loop.kernel_entries() - entries_before <= 2);
}

TEST_CASE("FlagWaiter: a set() while the loop sleeps wakes it through the eventfd",
          "[loop][flag]") {
  EventLoop loop;
  ThreadSafeFlag flag;
  int calls = 0;
  FlagWaiter waiter(loop, flag, [&] { ++calls; });
  REQUIRE(waiter.start() == 0);
  std::atomic<bool> sleeping{false};
  std::thread producer([&] {
    while (!sleeping.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the loop is blocked by now
    flag.set();
  });
  sleeping.store(true);
  const bool woke = loop.run_once(10'000);  // blocks until the set() (hang guard: 10 s)
  producer.join();
  REQUIRE(woke);
  CHECK(calls == 1);
  CHECK(flag.wake_writes() == 1);
}

TEST_CASE("EventLoop spin before sleep: a steady stream of sets keeps the loop awake",
          "[loop][flag]") {
  constexpr int kEvents = 2000;
  EventLoop loop;
  // Generous: a producer preempted for longer than this costs the loop one sleep.
  loop.set_spin_before_sleep(20'000);
  ThreadSafeFlag flag;
  std::atomic<int> handled{0};
  FlagWaiter waiter(loop, flag, [&] { handled.fetch_add(1, std::memory_order_release); });
  REQUIRE(waiter.start() == 0);
  std::thread producer([&] {
    // One event at a time: the next set() only after the loop handled the previous one.
    for (int i = 0; i < kEvents; ++i) {
      flag.set();
      while (handled.load(std::memory_order_acquire) <= i) std::this_thread::yield();
    }
  });
  REQUIRE(run_until(
      loop, [&] { return handled.load() == kEvents; }, std::chrono::seconds(60)));
  producer.join();
  INFO("kernel entries " << loop.kernel_entries() << ", eventfd writes " << flag.wake_writes()
                         << ", spins that found work " << loop.spins_found_work()
                         << ", spins that ran out " << loop.spins_ran_out());
  if (::sysconf(_SC_NPROCESSORS_ONLN) > 1) {
    // Far fewer than one syscall per event on either side.
    CHECK(loop.spins_found_work() > kEvents / 2);
    CHECK(loop.kernel_entries() < kEvents / 4);
    CHECK(flag.wake_writes() < kEvents / 4);
  } else {
    CHECK(loop.spins_found_work() == 0);  // spinning on one CPU only delays the producer
  }
}
