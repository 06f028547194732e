#include "devices/pulse_counter.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cstdint>
#include <stdexcept>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using gpioirq::config::CounterConfig;
using gpioirq::config::EdgeKind;
using gpioirq::devices::PulseCounter;

namespace {

constexpr std::uint64_t ms(std::uint64_t v) {
  return v * 1'000'000;
}
constexpr std::uint64_t T0 = ms(50'000);

CounterConfig make_cfg(EdgeKind edge = EdgeKind::rising, std::uint32_t window_ms = 1000) {
  CounterConfig c;
  c.name = "flow";
  c.edge = edge;
  c.window_ms = window_ms;
  return c;
}

// A square wave: rising edge at each period start, falling edge half a period later.
void square(PulseCounter& pc, std::uint64_t start, std::uint64_t period, int n) {
  for (int i = 0; i < n; ++i) {
    pc.on_edge(true, start + i * period);
    pc.on_edge(false, start + i * period + period / 2);
  }
}

}  // namespace

TEST_CASE("pulse counter: counts the configured edge kind", "[pulse]") {
  PulseCounter rising(make_cfg(EdgeKind::rising));
  PulseCounter falling(make_cfg(EdgeKind::falling));
  PulseCounter both(make_cfg(EdgeKind::both));
  for (PulseCounter* pc : {&rising, &falling, &both}) square(*pc, T0, ms(10), 7);
  CHECK(rising.count() == 7);
  CHECK(falling.count() == 7);
  CHECK(both.count() == 14);
  CHECK(rising.on_edge(true, T0 + ms(100)));
  CHECK_FALSE(rising.on_edge(false, T0 + ms(105)));
}

TEST_CASE("pulse counter: frequency of a steady train is exact", "[pulse]") {
  PulseCounter pc(make_cfg());
  square(pc, T0, ms(10), 300);  // 100 Hz for 3 s
  const std::uint64_t last = T0 + ms(10) * 299;
  CHECK_THAT(pc.frequency(last), WithinRel(100.0, 1e-12));
  CHECK_THAT(pc.frequency(last + ms(7)), WithinRel(100.0, 1e-12));
  PulseCounter both(make_cfg(EdgeKind::both, 250));
  square(both, T0, ms(4), 1000);  // 250 Hz square wave -> 500 edges/s
  CHECK_THAT(both.frequency(T0 + ms(4) * 1000), WithinRel(500.0, 1e-12));
}

TEST_CASE("pulse counter: frequency with jittered timestamps stays close", "[pulse]") {
  PulseCounter pc(make_cfg());
  std::uint32_t lcg = 12345;
  std::uint64_t ts = 0;
  for (int i = 0; i < 5000; ++i) {  // 1 kHz nominal, +-200 us jitter per pulse
    lcg = lcg * 1664525u + 1013904223u;
    const std::int64_t jitter = static_cast<std::int64_t>(lcg % 400'001) - 200'000;
    ts = T0 + static_cast<std::uint64_t>(static_cast<std::int64_t>(i) * 1'000'000 + jitter);
    pc.on_edge(true, ts);
  }
  // Endpoint jitter is at most 0.4 ms over a ~0.94..1 s span.
  CHECK_THAT(pc.frequency(ts), WithinRel(1000.0, 0.0005));
}

TEST_CASE("pulse counter: frequency holds for one window after pulses stop, then 0", "[pulse]") {
  PulseCounter pc(make_cfg());
  square(pc, T0, ms(20), 100);  // 50 Hz
  const std::uint64_t last = T0 + ms(20) * 99;
  CHECK_THAT(pc.frequency(last + ms(500)), WithinRel(50.0, 1e-9));
  CHECK_THAT(pc.frequency(last + ms(1000)), WithinRel(50.0, 1e-9));
  CHECK(pc.frequency(last + ms(1000) + 1) == 0.0);
  CHECK(pc.frequency(last + ms(60'000)) == 0.0);
}

TEST_CASE("pulse counter: slow signals use the interval to the previous pulse", "[pulse]") {
  PulseCounter pc(make_cfg());
  CHECK(pc.frequency(T0) == 0.0);
  pc.on_edge(true, T0);
  CHECK(pc.frequency(T0) == 0.0);   // one pulse ever: no rate yet
  pc.on_edge(true, T0 + ms(2000));  // 0.5 Hz, window 1 s
  CHECK_THAT(pc.frequency(T0 + ms(2100)), WithinRel(0.5, 1e-12));
}

TEST_CASE("pulse counter: scaled value and rate; reset", "[pulse]") {
  CounterConfig c = make_cfg();
  c.scale = 0.0025;  // litres per pulse
  c.unit = "l";
  PulseCounter pc(c);
  square(pc, T0, ms(5), 400);  // 200 Hz
  CHECK_THAT(pc.value(), WithinAbs(1.0, 1e-12));
  CHECK_THAT(pc.rate(T0 + ms(5) * 399), WithinRel(0.5, 1e-9));
  pc.reset();
  CHECK(pc.count() == 0);
  CHECK(pc.value() == 0.0);
  CHECK(pc.frequency(T0 + ms(5) * 399) == 0.0);
}

TEST_CASE("pulse counter: a zero window is refused", "[pulse]") {
  CHECK_THROWS_AS(PulseCounter(make_cfg(EdgeKind::rising, 0)), std::invalid_argument);
}
