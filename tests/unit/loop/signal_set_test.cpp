#include "loop/signal_set.hpp"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <vector>

#include "loop/event_loop.hpp"
#include "loop_test_util.hpp"

using gpioirq::loop::EventLoop;
using gpioirq::loop::SignalSet;
using gpioirq::loop::test::run_until;

TEST_CASE("signals raised to self reach the callback", "[loop][signal]") {
  EventLoop loop;
  std::vector<int> got;
  SignalSet signals(loop, {SIGUSR1, SIGHUP}, [&](int signo) { got.push_back(signo); });
  REQUIRE(signals.start() == 0);
  loop.run_once(0);  // the read waits in the kernel

  REQUIRE(::raise(SIGUSR1) == 0);  // thread-directed
  REQUIRE(run_until(loop, [&] { return got.size() == 1; }));
  CHECK(got[0] == SIGUSR1);

  REQUIRE(::kill(::getpid(), SIGHUP) == 0);  // process-directed
  REQUIRE(run_until(loop, [&] { return got.size() == 2; }));
  CHECK(got[1] == SIGHUP);
  CHECK(signals.running());
  CHECK(signals.error() == 0);
}

TEST_CASE("a signal pending before start() is delivered, and stop() ends delivery",
          "[loop][signal]") {
  EventLoop loop;
  std::vector<int> got;
  SignalSet signals(loop, {SIGUSR2}, [&](int signo) { got.push_back(signo); });
  REQUIRE(::raise(SIGUSR2) == 0);  // blocked by the constructor: stays pending
  REQUIRE(signals.start() == 0);
  REQUIRE(run_until(loop, [&] { return got.size() == 1; }));
  CHECK(got[0] == SIGUSR2);

  signals.stop();
  REQUIRE(run_until(loop, [&] { return loop.in_flight() == 0; }));
  CHECK_FALSE(signals.running());

  // Restartable; the signal raised while stopped waits for the next start().
  REQUIRE(::raise(SIGUSR2) == 0);
  REQUIRE(signals.start() == 0);
  REQUIRE(run_until(loop, [&] { return got.size() == 2; }));
}
