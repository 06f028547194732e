// ImuStream's RT side without the RT thread: every sample due takes a frame number, so
// the counter in the frames jumps over missed timer ticks, a full ring, and data-ready
// edges the kernel dropped; the ring records carry the full 64-bit number.

#include "app/streams.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cstring>
#include <vector>

#include "devices/imu_frame.hpp"

namespace {

using gpioirq::app::ImuStream;

gpioirq::config::ImuConfig timer_imu() {
  gpioirq::config::ImuConfig c;
  c.name = "imu";
  c.i2c_bus = "sim";
  c.trigger = gpioirq::config::ImuTrigger::timer;
  c.rate_hz = 1000;
  c.buffer_ms = 10;  // 11 records
  c.block_records = 2;
  c.format = gpioirq::config::ImuFormat::extended;
  return c;
}

struct Taken {
  std::uint64_t number;
  std::uint32_t counter;
  bool gap_before;
};

// Every record in the ring: its number, and the frame's own counter and gap flag.
std::vector<Taken> take_all(ImuStream& m) {
  std::vector<Taken> out;
  std::vector<std::byte> rec(m.record_bytes);
  while (m.ring.read_exactly(rec)) {
    Taken t{};
    std::memcpy(&t.number, rec.data(), ImuStream::kNumberBytes);
    const auto f = gpioirq::devices::decode_extended(
        std::span(reinterpret_cast<const std::uint8_t*>(rec.data()) + ImuStream::kNumberBytes,
                  m.frame_bytes));
    REQUIRE(f.has_value());
    t.counter = f->counter;
    t.gap_before = (f->flags & gpioirq::devices::kFlagGapBefore) != 0;
    out.push_back(t);
  }
  return out;
}

}  // namespace

TEST_CASE("ImuStream: a full ring's samples keep their numbers; the next frame jumps", "[imu]") {
  gpioirq::core::ThreadSafeFlag wake;
  ImuStream m(timer_imu(), wake);
  const std::size_t capacity = m.ring.capacity() / m.record_bytes;
  REQUIRE(capacity == 11);
  for (std::size_t i = 0; i < capacity + 5; ++i) m.on_tick(1);  // nobody drains: 5 overrun
  CHECK(m.overruns.load() == 5);
  CHECK(m.frames.load() == capacity);
  auto taken = take_all(m);
  REQUIRE(taken.size() == capacity);
  for (std::size_t i = 0; i < taken.size(); ++i) {
    CHECK(taken[i].number == i);
    CHECK(taken[i].counter == i);
  }
  m.on_tick(1);
  taken = take_all(m);
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].number == capacity + 5);  // the 5 the ring refused are skipped, not reused
  CHECK(taken[0].counter == capacity + 5);
  CHECK(taken[0].gap_before);
  CHECK(m.samples_due.load() == capacity + 6);
}

TEST_CASE("ImuStream: missed timer ticks advance the frame counter", "[imu]") {
  gpioirq::core::ThreadSafeFlag wake;
  ImuStream m(timer_imu(), wake);
  m.on_tick(1);
  m.on_tick(4);  // three ticks missed
  m.on_tick(1);
  const auto taken = take_all(m);
  REQUIRE(taken.size() == 3);
  CHECK(taken[0].number == 0);
  CHECK(taken[1].number == 4);
  CHECK(taken[1].counter == 4);
  CHECK(taken[1].gap_before);
  CHECK(taken[2].number == 5);
  CHECK_FALSE(taken[2].gap_before);
  CHECK(m.missed_ticks.load() == 3);
  CHECK(m.overruns.load() == 3);
  CHECK(m.samples_due.load() == 6);
}

TEST_CASE("ImuStream: data-ready edges the kernel dropped advance the frame counter", "[imu]") {
  auto c = timer_imu();
  c.trigger = gpioirq::config::ImuTrigger::data_ready;
  gpioirq::core::ThreadSafeFlag wake;
  ImuStream m(c, wake);
  std::int64_t value = 0;
  gpioirq::gpio::RawEdge e;
  for (std::uint32_t seqno : {1u, 2u, 7u, 8u}) {  // 3..6 dropped by the kernel
    e.line_seqno = seqno;
    e.timestamp_ns = seqno * 1000;
    e.rising = true;
    CHECK_FALSE(m.on_edge(0, true, e, value));
  }
  const auto taken = take_all(m);
  REQUIRE(taken.size() == 4);
  CHECK(taken[2].number == 6);
  CHECK(taken[2].gap_before);
  CHECK(taken[3].number == 7);
  CHECK(m.samples_due.load() == 8);
  CHECK(m.overruns.load() == 4);
}

TEST_CASE("ImuStream: seed frames carry the number's low 14 bits", "[imu]") {
  auto c = timer_imu();
  c.format = gpioirq::config::ImuFormat::seed;
  gpioirq::core::ThreadSafeFlag wake;
  ImuStream m(c, wake);
  m.on_tick(16385);  // 16384 missed: the counter wraps, the number does not
  std::vector<std::byte> rec(m.record_bytes);
  REQUIRE(m.ring.read_exactly(rec));
  std::uint64_t number = 0;
  std::memcpy(&number, rec.data(), ImuStream::kNumberBytes);
  CHECK(number == 16384);
  const auto f = gpioirq::devices::decode_seed(std::span(
      reinterpret_cast<const std::uint8_t*>(rec.data()) + ImuStream::kNumberBytes, m.frame_bytes));
  REQUIRE(f.has_value());
  CHECK(f->counter == 0);
}
