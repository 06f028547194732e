#include "loop/timer.hpp"

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "loop/event_loop.hpp"
#include "loop_test_util.hpp"

using gpioirq::loop::EventLoop;
using gpioirq::loop::Timer;
using gpioirq::loop::test::run_until;

namespace {
constexpr std::uint64_t kMs = 1'000'000;
// Hang guard for loops driven by run(): generous, never expected to fire.
constexpr std::uint64_t kWatchdog = 10'000 * kMs;
}  // namespace

TEST_CASE("one-shot timers fire in deadline order, not start order", "[loop][timer]") {
  EventLoop loop;
  std::vector<int> order;
  Timer t30(loop, [&] { order.push_back(30); });
  Timer t10(loop, [&] { order.push_back(10); });
  Timer t20(loop, [&] { order.push_back(20); });
  const std::uint64_t start = Timer::now_ns();
  REQUIRE(t30.start_once(30 * kMs) == 0);
  REQUIRE(t10.start_once(10 * kMs) == 0);
  REQUIRE(t20.start_once(20 * kMs) == 0);
  CHECK(t10.active());

  loop.run();  // returns when the last timer has fired: nothing left in flight
  CHECK(order == std::vector<int>{10, 20, 30});
  // A timer never fires early; the upper bound is only a sanity check.
  const std::uint64_t elapsed = Timer::now_ns() - start;
  CHECK(elapsed >= 30 * kMs);
  CHECK(elapsed < kWatchdog);
  CHECK_FALSE(t30.active());
}

TEST_CASE("a periodic timer ticks until it cancels itself", "[loop][timer]") {
  EventLoop loop;
  int ticks = 0;
  Timer watchdog(loop, [&] { loop.stop(); });
  Timer periodic(loop);
  periodic.set_callback([&] {
    if (++ticks == 10) {
      periodic.cancel();
      watchdog.cancel();
    }
  });
  const std::uint64_t start = Timer::now_ns();
  REQUIRE(watchdog.start_once(kWatchdog) == 0);
  REQUIRE(periodic.start_periodic(5 * kMs) == 0);
  loop.run();  // both cancelled: nothing left in flight
  CHECK(ticks == 10);
  CHECK_FALSE(periodic.active());
  CHECK(Timer::now_ns() - start >= 50 * kMs);
  CHECK(loop.in_flight() == 0);
  CHECK(periodic.error() == 0);
}

TEST_CASE("a cancelled timer does not fire", "[loop][timer]") {
  EventLoop loop;
  bool fired = false;
  Timer t(loop, [&] { fired = true; });
  REQUIRE(t.start_once(1 * kMs) == 0);
  t.cancel();
  CHECK_FALSE(t.active());
  REQUIRE(run_until(loop, [&] { return loop.in_flight() == 0; }));
  CHECK_FALSE(fired);
}

TEST_CASE("restarting a running timer replaces its deadline", "[loop][timer]") {
  EventLoop loop;
  int fired = 0;
  Timer t(loop, [&] { ++fired; });
  REQUIRE(t.start_once(kWatchdog) == 0);
  loop.run_once(0);  // the long timeout is in the kernel now
  const std::uint64_t start = Timer::now_ns();
  REQUIRE(t.start_once(2 * kMs) == 0);
  loop.run();  // the old timeout is cancelled, the new one fires, then nothing is left
  CHECK(fired == 1);
  CHECK(Timer::now_ns() - start < kWatchdog);
}

TEST_CASE("a one-shot timer can be restarted from its own callback", "[loop][timer]") {
  EventLoop loop;
  int fired = 0;
  Timer t(loop);
  t.set_callback([&] {
    if (++fired < 3) t.start_once(1 * kMs);
  });
  REQUIRE(t.start_once(1 * kMs) == 0);
  loop.run();
  CHECK(fired == 3);
}

TEST_CASE("destroying an armed timer withdraws it", "[loop][timer][lifetime]") {
  EventLoop loop;
  bool fired = false;
  auto t = std::make_unique<Timer>(loop, [&] { fired = true; });
  // Far in the future: the test is about withdrawal, and a loaded machine can take
  // longer than a short delay to get from run_once(0) to reset().
  REQUIRE(t->start_once(10'000 * kMs) == 0);
  loop.run_once(0);
  t.reset();
  CHECK(loop.in_flight() == 0);
  loop.run();
  CHECK_FALSE(fired);
}
