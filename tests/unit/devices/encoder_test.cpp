#include "devices/encoder.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

using gpioirq::config::EncoderConfig;
using gpioirq::config::RangeMode;
using gpioirq::devices::Encoder;
using gpioirq::devices::quadrature_phase;
using gpioirq::devices::quadrature_step;
using gpioirq::devices::Transition;

namespace {

// Levels (a, b) of each gray phase, forward order: 00, 10, 11, 01.
constexpr std::pair<bool, bool> kLevels[4] = {
    {false, false}, {true, false}, {true, true}, {false, true}};

EncoderConfig make_cfg(int cpp, int div = 1) {
  EncoderConfig c;
  c.name = "enc";
  c.counts_per_period = cpp;
  c.div = div;
  return c;
}

// Drives an encoder like a hand on the knob, with optional contact bounce at each edge.
struct Knob {
  Encoder& enc;
  int phase = 0;
  std::uint64_t ts = 1'000'000'000;

  explicit Knob(Encoder& e, int start_phase = 0) : enc(e) { set(start_phase); }

  Transition set(int p) {
    phase = p & 3;
    ts += 1'000;
    return enc.on_levels(kLevels[phase].first, kLevels[phase].second, ts);
  }
  // One quarter step; `bounce` extra back-and-forth flips of the changing line first.
  void quarter(int dir, int bounce = 0) {
    const int from = phase;
    for (int i = 0; i < bounce; ++i) {
      set(from + dir);
      set(from);
    }
    set(from + dir);
  }
  void quarters(int n, int bounce = 0) {
    for (int i = 0; i < (n < 0 ? -n : n); ++i) quarter(n < 0 ? -1 : 1, bounce);
  }
  void periods(int n, int bounce = 0) { quarters(4 * n, bounce); }
};

}  // namespace

TEST_CASE("quadrature: phase table and every transition between states", "[encoder]") {
  CHECK(quadrature_phase(false, false) == 0);
  CHECK(quadrature_phase(true, false) == 1);
  CHECK(quadrature_phase(true, true) == 2);
  CHECK(quadrature_phase(false, true) == 3);
  for (int from = 0; from < 4; ++from) {
    CHECK(quadrature_step(from, from) == Transition::none);
    CHECK(quadrature_step(from, (from + 1) & 3) == Transition::forward);
    CHECK(quadrature_step(from, (from + 3) & 3) == Transition::backward);
    CHECK(quadrature_step(from, (from + 2) & 3) == Transition::invalid);
  }
}

TEST_CASE("encoder 4x: each valid transition counts one step, each invalid none", "[encoder]") {
  for (int from = 0; from < 4; ++from) {
    for (int delta = 0; delta < 4; ++delta) {
      Encoder enc(make_cfg(4));
      const auto [a0, b0] = kLevels[from];
      CHECK(enc.on_levels(a0, b0, 100) == Transition::none);  // first levels: state only
      const auto [a1, b1] = kLevels[(from + delta) & 3];
      const Transition t = enc.on_levels(a1, b1, 200);
      INFO("from phase " << from << " delta " << delta);
      switch (delta) {
        case 0:
          CHECK(t == Transition::none);
          CHECK(enc.counts() == 0);
          break;
        case 1:
          CHECK(t == Transition::forward);
          CHECK(enc.counts() == 1);
          CHECK(enc.last_change_ns() == 200);
          break;
        case 2:
          CHECK(t == Transition::invalid);
          CHECK(enc.counts() == 0);
          CHECK(enc.invalid_transitions() == 1);
          break;
        case 3:
          CHECK(t == Transition::backward);
          CHECK(enc.counts() == -1);
          break;
      }
    }
  }
}

TEST_CASE("encoder: full cycles count 1, 2 or 4 per period in both directions", "[encoder]") {
  const int cpp = GENERATE(1, 2, 4);
  Encoder enc(make_cfg(cpp));
  Knob k(enc);
  k.periods(3);
  CHECK(enc.counts() == 3 * cpp);
  k.periods(-5);
  CHECK(enc.counts() == -2 * cpp);
  CHECK(enc.invalid_transitions() == 0);
  CHECK(enc.transitions() == 32);
}

TEST_CASE("encoder: bounce at each edge (one line toggling, the other steady) does not drift",
          "[encoder]") {
  const int cpp = GENERATE(1, 2, 4);
  for (int start = 0; start < 4; ++start) {
    for (int dir : {+1, -1}) {
      Encoder enc(make_cfg(cpp));
      Knob k(enc, start);
      // The edge between start and start+dir chatters 7 times and settles back.
      for (int i = 0; i < 7; ++i) {
        k.set(start + dir);
        k.set(start);
      }
      INFO("cpp " << cpp << " start " << start << " dir " << dir);
      CHECK(enc.counts() == 0);
      CHECK(enc.invalid_transitions() == 0);
    }
  }
}

TEST_CASE("encoder: N forward and M back with bounce at every edge ends at N-M", "[encoder]") {
  const int cpp = GENERATE(1, 2, 4);
  const int bounce = GENERATE(0, 1, 3);
  Encoder enc(make_cfg(cpp));
  Knob k(enc);
  k.periods(25, bounce);
  CHECK(enc.counts() == 25 * cpp);
  k.periods(-7, bounce);
  CHECK(enc.counts() == 18 * cpp);
  k.periods(-30, bounce);
  CHECK(enc.counts() == -12 * cpp);
  CHECK(enc.invalid_transitions() == 0);
}

TEST_CASE("encoder 1x/2x: hysteresis, a count is taken back only by a full count of motion",
          "[encoder]") {
  SECTION("1x") {
    Encoder enc(make_cfg(1));
    Knob k(enc);
    k.quarters(3);
    CHECK(enc.counts() == 0);
    k.quarters(1);
    CHECK(enc.counts() == 1);
    k.quarters(-1);  // the detent line bounces back: no flicker
    CHECK(enc.counts() == 1);
    k.quarters(1);
    CHECK(enc.counts() == 1);  // and no double count
    k.quarters(-3);
    CHECK(enc.counts() == 1);
    k.quarters(-1);
    CHECK(enc.counts() == 0);
  }
  SECTION("2x") {
    Encoder enc(make_cfg(2));
    Knob k(enc);
    k.quarters(1);
    CHECK(enc.counts() == 0);
    k.quarters(1);
    CHECK(enc.counts() == 1);
    k.quarters(-1);
    CHECK(enc.counts() == 1);
    k.quarters(-1);
    CHECK(enc.counts() == 0);
  }
}

TEST_CASE("encoder: reversal mid-period returns to the same count", "[encoder]") {
  const int cpp = GENERATE(1, 2, 4);
  Encoder enc(make_cfg(cpp));
  Knob k(enc);
  k.periods(2);
  k.quarters(2);   // half a period on
  k.quarters(-2);  // and back
  CHECK(enc.counts() == 2 * cpp);
  k.quarters(-3);
  k.quarters(3);
  CHECK(enc.counts() == 2 * cpp);
}

TEST_CASE("encoder: a skipped state is counted as invalid, not as movement", "[encoder]") {
  Encoder enc(make_cfg(4));
  Knob k(enc);
  k.quarters(2);
  CHECK(enc.counts() == 2);
  CHECK(k.set(k.phase + 2) == Transition::invalid);  // 11 -> 00: both lines changed
  CHECK(enc.counts() == 2);
  CHECK(enc.invalid_transitions() == 1);
  // The state follows the levels: the next single-line change counts from there.
  CHECK(k.set(k.phase + 1) == Transition::forward);
  CHECK(enc.counts() == 3);
}

TEST_CASE("encoder: div reports floor(counts / div)", "[encoder]") {
  Encoder enc(make_cfg(4, 4));
  Knob k(enc);
  k.quarters(3);
  CHECK(enc.position() == 0);
  k.quarters(1);
  CHECK(enc.position() == 1);
  k.quarters(-1);
  CHECK(enc.position() == 0);
  k.quarters(-4);
  CHECK(enc.counts() == -1);
  CHECK(enc.position() == -1);  // floor, not truncation toward 0
  k.quarters(-4);
  CHECK(enc.position() == -2);
}

TEST_CASE("encoder clamp: stops at the limit and turning back moves off it at once", "[encoder]") {
  SECTION("4x div 1") {
    EncoderConfig c = make_cfg(4);
    c.min = 0;
    c.max = 3;
    Encoder enc(c);
    Knob k(enc);
    k.quarters(40);
    CHECK(enc.position() == 3);
    k.quarters(-1);
    CHECK(enc.position() == 2);
    k.quarters(-40);
    CHECK(enc.position() == 0);
    k.quarters(1);
    CHECK(enc.position() == 1);
  }
  SECTION("4x div 2") {
    EncoderConfig c = make_cfg(4, 2);
    c.min = 0;
    c.max = 2;
    Encoder enc(c);
    Knob k(enc);
    CHECK(enc.position() == 0);
    k.quarters(40);
    CHECK(enc.position() == 2);
    k.quarters(-1);
    CHECK(enc.position() == 1);
    k.quarters(-40);
    CHECK(enc.position() == 0);
    k.quarters(1);
    CHECK(enc.position() == 1);
  }
  SECTION("1x with bounce") {
    EncoderConfig c = make_cfg(1);
    c.min = -1;
    c.max = 2;
    Encoder enc(c);
    Knob k(enc);
    k.periods(9, 2);
    CHECK(enc.position() == 2);
    k.periods(-1, 2);
    CHECK(enc.position() == 1);
    k.periods(-9, 2);
    CHECK(enc.position() == -1);
    k.periods(1, 2);
    CHECK(enc.position() == 0);
  }
  SECTION("only max set") {
    EncoderConfig c = make_cfg(4);
    c.max = 5;
    Encoder enc(c);
    Knob k(enc);
    k.quarters(9);
    CHECK(enc.position() == 5);
    k.quarters(-20);
    CHECK(enc.position() == -15);
  }
  SECTION("start value is pulled inside the limits") {
    EncoderConfig c = make_cfg(4);
    c.min = 10;
    c.max = 20;
    Encoder enc(c);
    CHECK(enc.position() == 10);
  }
}

TEST_CASE("encoder wrap: min..max wraps around in both directions", "[encoder]") {
  SECTION("div 1") {
    EncoderConfig c = make_cfg(4);
    c.min = 0;
    c.max = 3;
    c.mode = RangeMode::wrap;
    Encoder enc(c);
    Knob k(enc);
    k.quarters(5);
    CHECK(enc.position() == 1);
    k.quarters(-2);
    CHECK(enc.position() == 3);
  }
  SECTION("div 2: every position gets div counts") {
    EncoderConfig c = make_cfg(4, 2);
    c.min = -1;
    c.max = 1;
    c.mode = RangeMode::wrap;
    Encoder enc(c);
    Knob k(enc);
    std::vector<std::int64_t> seen;
    for (int i = 0; i < 6; ++i) {
      k.quarters(1);
      seen.push_back(enc.position());
    }
    CHECK(seen == std::vector<std::int64_t>{0, 1, 1, -1, -1, 0});
    k.quarters(-6);
    CHECK(enc.position() == 0);
  }
}

TEST_CASE("encoder: resync takes the levels without counting", "[encoder]") {
  Encoder enc(make_cfg(1));
  Knob k(enc);
  k.quarters(3);  // 3/4 of a count pending
  // A loss gap: the levels are now read again as phase 2 (unknown motion in between).
  enc.resync(kLevels[2].first, kLevels[2].second);
  k.phase = 2;
  CHECK(enc.counts() == 0);
  CHECK(enc.invalid_transitions() == 0);
  k.quarters(1);  // the pending 3/4 was dropped: one more quarter is not a count
  CHECK(enc.counts() == 0);
  k.quarters(3);
  CHECK(enc.counts() == 1);
}

TEST_CASE("encoder: reset from the loop reads the start value at once and counts on from it",
          "[encoder]") {
  EncoderConfig c = make_cfg(4);
  c.min = 5;
  c.max = 100;
  Encoder enc(c);
  Knob k(enc);
  k.quarters(20);
  CHECK(enc.position() == 25);
  enc.reset();
  CHECK(enc.position() == 5);  // before the RT side has seen the request
  k.quarters(2);
  CHECK(enc.position() == 7);
  enc.reset();
  enc.reset();
  CHECK(enc.position() == 5);
  k.quarters(-1);
  CHECK(enc.position() == 5);  // clamped at min after the reset
}

TEST_CASE("encoder: velocity in counts/s from timestamps, decaying to 0 when idle", "[encoder]") {
  using Catch::Matchers::WithinRel;
  const int cpp = GENERATE(1, 4);
  Encoder enc(make_cfg(cpp));
  std::uint64_t ts = 5'000'000'000;
  int phase = 0;
  enc.on_levels(false, false, ts);
  CHECK(enc.velocity(ts) == 0.0);
  // 1000 quarter steps per second forward.
  for (int i = 0; i < 100; ++i) {
    ts += 1'000'000;
    phase = (phase + 1) & 3;
    enc.on_levels(kLevels[phase].first, kLevels[phase].second, ts);
  }
  const double expect = 1000.0 * cpp / 4.0;
  CHECK_THAT(enc.velocity(ts), WithinRel(expect, 1e-9));
  // 10 ms without a step: bounded by one quarter step per 10 ms.
  CHECK_THAT(enc.velocity(ts + 10'000'000), WithinRel(100.0 * cpp / 4.0, 1e-9));
  CHECK(enc.velocity(ts + 500'000'000) == 0.0);
  // Backward at 500 quarter steps per second.
  for (int i = 0; i < 100; ++i) {
    ts += 2'000'000;
    phase = (phase + 3) & 3;
    enc.on_levels(kLevels[phase].first, kLevels[phase].second, ts);
  }
  CHECK_THAT(enc.velocity(ts), WithinRel(-500.0 * cpp / 4.0, 1e-9));
}

TEST_CASE("encoder: bad settings are refused at construction", "[encoder]") {
  EncoderConfig c = make_cfg(3);
  CHECK_THROWS_AS(Encoder(c), std::invalid_argument);
  c = make_cfg(4, 0);
  CHECK_THROWS_AS(Encoder(c), std::invalid_argument);
  c = make_cfg(4);
  c.min = 5;
  c.max = 4;
  CHECK_THROWS_AS(Encoder(c), std::invalid_argument);
  c = make_cfg(4, 1'000'000);
  c.max = INT64_MAX / 2;
  CHECK_THROWS_AS(Encoder(c), std::invalid_argument);
}

TEST_CASE("encoder: reset and reads from another thread while the RT side counts",
          "[encoder][threads]") {
  // Run under TSan in the sanitizer build; here it checks the values stay coherent.
  Encoder enc(make_cfg(4));
  constexpr int kSteps = 200'000;
  std::atomic<bool> done{false};
  std::thread rt([&] {
    Knob k(enc);
    k.quarters(kSteps);
    done.store(true);
  });
  int resets = 0;
  bool in_range = true;
  while (!done.load()) {
    const std::int64_t p = enc.position();
    in_range = in_range && p >= 0 && p <= kSteps;
    if (++resets % 64 == 0) enc.reset();
    (void)enc.velocity(0);
  }
  rt.join();
  CHECK(in_range);
  CHECK(enc.position() <= kSteps);
  enc.reset();
  CHECK(enc.position() == 0);
  Knob k(enc);  // the same levels as where the RT side stopped (kSteps is a multiple of 4)
  k.quarters(1);
  CHECK(enc.position() == 1);
}
