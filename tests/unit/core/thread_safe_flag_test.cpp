#include <catch2/catch_test_macros.hpp>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "core/thread_safe_flag.hpp"

using gpioirq::core::ThreadSafeFlag;

namespace {
bool fd_readable(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 1;
}
ThreadSafeFlag* g_signal_flag = nullptr;
void on_usr1(int) {
  g_signal_flag->set();
}
}  // namespace

TEST_CASE("ThreadSafeFlag coalesces many sets into one wake", "[core][flag]") {
  ThreadSafeFlag flag;
  REQUIRE_FALSE(flag.is_set());
  REQUIRE_FALSE(fd_readable(flag.fd()));
  REQUIRE(flag.announce_sleep());  // the waiter is about to block on fd()
  for (int i = 0; i < 1000; ++i) flag.set();
  CHECK(flag.is_set());
  CHECK(flag.wake_writes() == 1);  // no syscall while already set
  CHECK(fd_readable(flag.fd()));
  REQUIRE(flag.wait_blocking(0));
  CHECK_FALSE(flag.is_set());
  CHECK_FALSE(fd_readable(flag.fd()));  // one wake, not 1000
  CHECK_FALSE(flag.wait_blocking(0));

  REQUIRE(flag.announce_sleep());
  flag.set();  // consumed: the next set wakes again
  CHECK(flag.wake_writes() == 2);
  CHECK(flag.wait_blocking(0));
}

TEST_CASE("ThreadSafeFlag: set() makes no syscall while the waiter is awake", "[core][flag]") {
  ThreadSafeFlag flag;
  for (int i = 0; i < 100; ++i) flag.set();
  CHECK(flag.is_set());
  CHECK(flag.wake_writes() == 0);
  CHECK_FALSE(fd_readable(flag.fd()));
  // A waiter that checks before blocking sees it without any wake.
  CHECK_FALSE(flag.announce_sleep());
  CHECK(flag.wait_blocking(0));
  CHECK_FALSE(flag.is_set());

  // Announced and then awake again without blocking: sets are free once more.
  REQUIRE(flag.announce_sleep());
  flag.announce_awake();
  flag.set();
  CHECK(flag.wake_writes() == 0);
  CHECK(flag.consume());
  CHECK_FALSE(flag.consume());
}

TEST_CASE("ThreadSafeFlag: a count left on the eventfd is not taken for a set", "[core][flag]") {
  ThreadSafeFlag flag;
  REQUIRE(flag.announce_sleep());
  flag.set();  // writes: the waiter announced a sleep
  flag.announce_awake();
  REQUIRE(flag.consume());  // found set without reading the eventfd
  REQUIRE(fd_readable(flag.fd()));
  CHECK_FALSE(flag.wait_blocking(20));  // reads the stale count, waits out the timeout
  CHECK_FALSE(fd_readable(flag.fd()));
}

TEST_CASE("ThreadSafeFlag wait times out when nothing is set", "[core][flag]") {
  ThreadSafeFlag flag;
  CHECK_FALSE(flag.wait_blocking(10));
  CHECK_FALSE(flag.consume());
}

TEST_CASE("ThreadSafeFlag can be set from a signal handler", "[core][flag]") {
  ThreadSafeFlag flag;
  g_signal_flag = &flag;
  struct sigaction sa {};
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
  REQUIRE(::raise(SIGUSR1) == 0);
  CHECK(flag.wait_blocking(1000));
  sigaction(SIGUSR1, &old, nullptr);
  g_signal_flag = nullptr;
}

TEST_CASE("ThreadSafeFlag wakes a waiter in another thread", "[core][flag]") {
  ThreadSafeFlag flag;
  std::atomic<int> data{0};
  std::thread producer([&] {
    data.store(42, std::memory_order_relaxed);
    flag.set();
  });
  REQUIRE(flag.wait_blocking(5000));
  CHECK(data.load(std::memory_order_relaxed) == 42);
  producer.join();
}
