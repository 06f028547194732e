#include "loop/flag_waiter.hpp"

#include <atomic>
#include <catch2/catch_test_macros.hpp>
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
  CHECK(flag.wake_writes() >= waiter.wakes());
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
