#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/spsc_ring.hpp"

using gpioirq::core::SpscRing;

TEST_CASE("SpscRing refuses a capacity that is not a power of two", "[core][ring]") {
  CHECK_THROWS_AS(SpscRing<int>(0), std::invalid_argument);
  CHECK_THROWS_AS(SpscRing<int>(1), std::invalid_argument);
  CHECK_THROWS_AS(SpscRing<int>(12), std::invalid_argument);
  CHECK_NOTHROW(SpscRing<int>(16));
}

TEST_CASE("SpscRing holds exactly its capacity and reports full", "[core][ring]") {
  SpscRing<std::uint32_t> ring(8);
  for (std::uint32_t i = 0; i < 8; ++i) REQUIRE(ring.try_push(i));
  CHECK_FALSE(ring.try_push(99));
  CHECK(ring.size() == 8);
  CHECK(ring.high_water() == 8);  // a refused push means the ring was full
  std::uint32_t v = 0;
  for (std::uint32_t i = 0; i < 8; ++i) {
    REQUIRE(ring.try_pop(v));
    CHECK(v == i);
  }
  CHECK_FALSE(ring.try_pop(v));
  CHECK(ring.empty());
}

TEST_CASE("SpscRing batches keep order across wrap-around", "[core][ring]") {
  SpscRing<std::uint64_t> ring(16);
  std::uint64_t next_in = 0, next_out = 0;
  std::array<std::uint64_t, 7> in{};
  std::array<std::uint64_t, 5> out{};
  for (int round = 0; round < 100; ++round) {
    for (auto& x : in) x = next_in++;
    const std::size_t pushed = ring.try_push_batch(in);
    next_in -= in.size() - pushed;  // what did not fit is pushed again next round
    const std::size_t popped = ring.pop_batch(out);
    for (std::size_t i = 0; i < popped; ++i) REQUIRE(out[i] == next_out++);
  }
  std::uint64_t v = 0;
  while (ring.try_pop(v)) REQUIRE(v == next_out++);
  CHECK(next_out == next_in);
}

TEST_CASE("SpscRing partial batch push reports how many fit", "[core][ring]") {
  SpscRing<int> ring(4);
  std::vector<int> items(6);
  std::iota(items.begin(), items.end(), 0);
  CHECK(ring.try_push_batch(items) == 4);
  CHECK(ring.high_water() == 4);
  std::array<int, 8> out{};
  CHECK(ring.pop_batch(out) == 4);
  CHECK(out[3] == 3);
  ring.reset_high_water();
  CHECK(ring.high_water() == 0);
}

TEST_CASE("SpscRing high-water mark is the largest backlog a drain found", "[core][ring]") {
  SpscRing<int> ring(64);
  std::array<int, 64> out{};
  for (int i = 0; i < 10; ++i) ring.try_push(i);
  ring.pop_batch(out);
  for (int i = 0; i < 3; ++i) ring.try_push(i);
  ring.pop_batch(out);
  CHECK(ring.high_water() == 10);
}
