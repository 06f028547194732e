// Encoder::on_levels runs on the RT thread: it must not touch the heap. A replaced global
// operator new counts every allocation in this test executable.
#include <atomic>
#include <cstdlib>
#include <new>

#include <catch2/catch_test_macros.hpp>

#include "devices/encoder.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

TEST_CASE("encoder: on_levels, resync and the loop-side readers do not allocate",
          "[encoder][alloc]") {
  gpioirq::config::EncoderConfig c;
  c.name = "enc";
  c.counts_per_period = 1;
  c.min = -10;
  c.max = 10;
  c.mode = gpioirq::config::RangeMode::wrap;
  gpioirq::devices::Encoder enc(c);
  constexpr bool kA[4] = {false, true, true, false};
  constexpr bool kB[4] = {false, false, true, true};

  const std::size_t before = g_allocations.load();
  std::uint64_t ts = 1;
  double sink = 0;
  for (int i = 0; i < 100'000; ++i) {
    const int p = (i * 3 / 2) & 3;  // mixes forward, none, invalid
    enc.on_levels(kA[p], kB[p], ts += 1000);
    if (i % 1000 == 0) {
      enc.resync(kA[p], kB[p]);
      enc.reset();
      sink += enc.velocity(ts) + static_cast<double>(enc.position());
    }
  }
  const std::size_t after = g_allocations.load();
  CHECK(after == before);
  // The hook does see allocations (volatile: the compiler may not elide the pair).
  void* volatile probe = ::operator new(16);
  ::operator delete(probe);
  CHECK(g_allocations.load() > after);
  CHECK(enc.transitions() > 0);
  CHECK(sink == sink);  // keep the reads
}
