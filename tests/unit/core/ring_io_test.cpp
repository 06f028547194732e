#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/ring_io.hpp"

using gpioirq::core::RingIO;

namespace {
std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}
}  // namespace

TEST_CASE("RingIO uses every byte of its capacity", "[core][ringio]") {
  CHECK_THROWS_AS(RingIO(0), std::invalid_argument);
  RingIO ring(5);
  CHECK(ring.write(bytes({1, 2, 3, 4, 5})));
  CHECK(ring.available() == 5);
  CHECK(ring.free_space() == 0);
  CHECK_FALSE(ring.write(bytes({6})));
}

TEST_CASE("RingIO write is all-or-nothing", "[core][ringio]") {
  RingIO ring(10);
  CHECK(ring.write(bytes({1, 2, 3, 4, 5, 6, 7, 8})));
  CHECK_FALSE(ring.write(bytes({9, 10, 11})));  // 3 do not fit in the 2 left: none written
  CHECK(ring.available() == 8);
  CHECK(ring.write(bytes({9, 10})));
  std::array<std::byte, 10> out{};
  CHECK(ring.read(out) == 10);
  CHECK(out[9] == std::byte{10});
}

TEST_CASE("RingIO readexactly waits for n bytes and works across wrap-around", "[core][ringio]") {
  RingIO ring(12);  // frames of 8 bytes: every other frame straddles the end
  std::array<std::byte, 8> frame{}, got{};
  std::uint8_t counter = 0;
  for (int round = 0; round < 50; ++round) {
    for (auto& b : frame) b = static_cast<std::byte>(counter++);
    REQUIRE(ring.write(std::span<const std::byte>(frame).first(5)));
    CHECK_FALSE(ring.read_exactly(got));  // only 5 of 8 there: nothing taken
    CHECK(ring.available() == 5);
    REQUIRE(ring.write(std::span<const std::byte>(frame).subspan(5)));
    REQUIRE(ring.read_exactly(got));
    CHECK(got == frame);
    CHECK(ring.available() == 0);
  }
}

TEST_CASE("RingIO read takes what is there", "[core][ringio]") {
  RingIO ring(16);
  REQUIRE(ring.write(bytes({1, 2, 3})));
  std::array<std::byte, 8> out{};
  CHECK(ring.read(out) == 3);
  CHECK(out[2] == std::byte{3});
  CHECK(ring.read(out) == 0);
  CHECK(ring.high_water() == 3);
}
