#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/thread_safe_queue.hpp"

using gpioirq::core::ThreadSafeQueue;

TEST_CASE("ThreadSafeQueue counts every item: pushed = drained + dropped", "[core][queue]") {
  ThreadSafeQueue<std::uint32_t> queue(8);
  for (std::uint32_t i = 0; i < 20; ++i) queue.push(i);
  CHECK(queue.pushed() == 8);
  CHECK(queue.dropped() == 12);
  REQUIRE(queue.flag().wait_blocking(0));
  std::array<std::uint32_t, 3> scratch{};
  std::vector<std::uint32_t> got;
  CHECK(queue.drain([&](std::uint32_t v) { got.push_back(v); }, scratch) == 8);
  REQUIRE(got.size() == 8);
  for (std::uint32_t i = 0; i < 8; ++i) CHECK(got[i] == i);  // the oldest are kept
}

TEST_CASE("ThreadSafeQueue batch push wakes once", "[core][queue]") {
  ThreadSafeQueue<int> queue(16);
  REQUIRE(queue.flag().announce_sleep());  // a waiter blocked on the flag
  std::array<int, 10> items{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK(queue.push_batch(items) == 10);
  CHECK(queue.push_batch(items) == 6);
  CHECK(queue.dropped() == 4);
  CHECK(queue.flag().wake_writes() == 1);
}

TEST_CASE("ThreadSafeQueue hands items from a thread in order", "[core][queue]") {
  constexpr std::uint32_t kItems = 200000;
  ThreadSafeQueue<std::uint32_t> queue(1024);
  std::thread producer([&] {
    for (std::uint32_t i = 0; i < kItems; ++i) queue.push(i);
  });
  std::array<std::uint32_t, 64> scratch{};
  std::uint64_t drained = 0;
  std::int64_t last = -1;
  bool ordered = true;
  auto take = [&](std::uint32_t v) {
    ordered = ordered && static_cast<std::int64_t>(v) > last;
    last = v;
    ++drained;
  };
  while (drained + queue.dropped() < kItems) {
    queue.flag().wait_blocking(100);
    queue.drain(take, scratch);
  }
  producer.join();
  queue.drain(take, scratch);
  CHECK(ordered);
  CHECK(queue.pushed() == drained);
  CHECK(queue.pushed() + queue.dropped() == kItems);
}
