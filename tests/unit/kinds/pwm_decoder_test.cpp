#include "kinds/pwm_in/pwm_decoder.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using gpioirq::kinds::PwmCycle;
using gpioirq::kinds::PwmDecoder;
using gpioirq::kinds::PwmDecoderSettings;
using gpioirq::kinds::PwmMeasure;
using gpioirq::kinds::PwmState;
using gpioirq::kinds::PwmStuck;
using gpioirq::kinds::PwmUpdate;
using gpioirq::kinds::PwmWindow;

namespace {

constexpr std::uint64_t us(std::uint64_t v) {
  return v * 1'000;
}
constexpr std::uint64_t ms(std::uint64_t v) {
  return v * 1'000'000;
}
constexpr std::uint64_t T0 = ms(50'000);  // an arbitrary monotonic time

// The decoder doesn't allocate: it holds nothing that could own heap memory (a replaced
// global operator new would clash with other tests linked into the same executable).
static_assert(std::is_trivially_copyable_v<PwmDecoder>);
static_assert(noexcept(std::declval<PwmDecoder&>().on_edge(0, true, 0)));
static_assert(noexcept(std::declval<PwmDecoder&>().on_gap()));

PwmDecoderSettings settings(std::uint32_t window_ms = 1000, std::uint32_t timeout_ms = 1000) {
  PwmDecoderSettings s;
  s.window_ms = window_ms;
  s.timeout_ms = timeout_ms;
  return s;
}

// One line feeding a decoder, with the line seqnos the kernel would give, recording every
// report in the order a device would emit it.
struct Line {
  explicit Line(const PwmDecoderSettings& s, std::uint64_t start_ns = T0) : dec(s) {
    dec.start(start_ns);
  }

  PwmDecoder dec;
  std::uint32_t seqno = 0;
  std::vector<PwmCycle> cycles;
  std::vector<PwmWindow> windows;
  std::vector<PwmStuck> stucks;
  std::vector<std::uint64_t> outages;
  int level_reads = 0;

  PwmUpdate edge(std::uint64_t ts, bool rising) { return record(dec.on_edge(ts, rising, ++seqno)); }
  void lose_edge() { ++seqno; }  // the kernel numbered an edge we never see
  PwmUpdate tick(std::uint64_t now, bool level_now = false) {
    return record(dec.on_time(now, [&] {
      ++level_reads;
      return level_now;
    }));
  }
  // n pulses: rising at start + i*period, falling `high` later. n pulses make n-1 cycles
  // (the n-th closes when the next rising comes).
  void pulses(std::uint64_t start, std::uint64_t high, std::uint64_t period, int n) {
    for (int i = 0; i < n; ++i) {
      const std::uint64_t r = start + static_cast<std::uint64_t>(i) * period;
      edge(r, true);
      edge(r + high, false);
    }
  }
  PwmUpdate record(const PwmUpdate& u) {
    if (u.stuck) stucks.push_back(dec.stuck());
    if (u.cycle) cycles.push_back(*dec.last_cycle());
    if (u.signal) outages.push_back(dec.outage_ns());
    if (u.window) windows.push_back(*dec.last_window());
    return u;
  }
};

std::vector<std::uint64_t> starts_of(const std::vector<PwmCycle>& cycles) {
  std::vector<std::uint64_t> v;
  for (const PwmCycle& c : cycles) v.push_back(c.start_ns);
  return v;
}

}  // namespace

TEST_CASE("pwm decoder: 1 kHz at 25 % gives exact figures for every cycle and window", "[pwm]") {
  Line line(settings(10));
  line.pulses(T0, us(250), ms(1), 101);  // 100 cycles
  REQUIRE(line.cycles.size() == 100);
  for (std::size_t i = 0; i < line.cycles.size(); ++i) {
    const PwmCycle& c = line.cycles[i];
    CHECK(c.start_ns == T0 + i * ms(1));
    CHECK(c.high_ns == 250'000);
    CHECK(c.period_ns == 1'000'000);
    CHECK(c.high_us == 250.0);
    CHECK(c.period_us == 1000.0);
    CHECK(c.duty == 0.25);
    CHECK(c.frequency_hz == 1000.0);
    REQUIRE(c.value.has_value());
    CHECK(*c.value == 0.25);  // measure duty, scale 1, offset 0
  }
  CHECK(line.dec.cycles() == 100);
  CHECK(line.dec.invalid() == 0);
  CHECK(line.dec.losses() == 0);
  CHECK(line.dec.state() == PwmState::ok);
  // 10 ms windows of exactly 10 cycles each: [T0, T0+10ms], [T0+10ms, T0+20ms], ...
  REQUIRE(line.windows.size() == 10);
  for (std::size_t i = 0; i < line.windows.size(); ++i) {
    const PwmWindow& w = line.windows[i];
    CHECK(w.from_ns == T0 + i * ms(10));
    CHECK(w.to_ns == T0 + (i + 1) * ms(10));
    CHECK_FALSE(w.closed_by_stuck);
    CHECK(w.cycles == 10);
    CHECK(w.high_sum_ns == us(2500));
    CHECK(w.period_sum_ns == ms(10));
    CHECK((w.high_us.min == 250.0 && w.high_us.mean == 250.0 && w.high_us.max == 250.0));
    CHECK((w.period_us.min == 1000.0 && w.period_us.mean == 1000.0 && w.period_us.max == 1000.0));
    CHECK((w.duty.min == 0.25 && w.duty.mean == 0.25 && w.duty.max == 0.25));
    CHECK((w.frequency_hz.min == 1000.0 && w.frequency_hz.mean == 1000.0 &&
           w.frequency_hz.max == 1000.0));
    REQUIRE(w.value.has_value());
    CHECK((w.value->min == 0.25 && w.value->mean == 0.25 && w.value->max == 0.25));
  }
}

TEST_CASE("pwm decoder: the cycle whose end reaches opening + window closes it", "[pwm]") {
  SECTION("30 ms period, 100 ms window: 4 cycles each, the next opens at the closing r2") {
    Line line(settings(100));
    line.pulses(T0, ms(10), ms(30), 13);  // 12 cycles, ending at T0 + 30, 60, ..., 360 ms
    REQUIRE(line.cycles.size() == 12);
    REQUIRE(line.windows.size() == 3);
    const std::uint64_t expected[][2] = {{T0, T0 + ms(120)},             // 120 >= 100: 30,60,90,120
                                         {T0 + ms(120), T0 + ms(240)},   // 240 >= 220
                                         {T0 + ms(240), T0 + ms(360)}};  // 360 >= 340
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(line.windows[i].from_ns == expected[i][0]);
      CHECK(line.windows[i].to_ns == expected[i][1]);
      CHECK(line.windows[i].cycles == 4);
      CHECK(line.windows[i].period_sum_ns == ms(120));
    }
  }
  SECTION("a cycle ending exactly at opening + window closes it (>=)") {
    Line line(settings(100));
    line.pulses(T0, ms(5), ms(25), 5);  // cycles end at T0 + 25, 50, 75, 100
    REQUIRE(line.windows.size() == 1);
    CHECK(line.windows[0].cycles == 4);
    CHECK(line.windows[0].to_ns == T0 + ms(100));
  }
  SECTION("one ns short of it does not") {
    Line line(settings(100));
    line.pulses(T0, ms(5), ms(25) - 1, 5);  // ends at T0 + 100 ms - 4 ns
    CHECK(line.windows.empty());
    line.edge(T0 + 4 * (ms(25) - 1) + ms(25), true);  // the fifth cycle closes it
    REQUIRE(line.windows.size() == 1);
    CHECK(line.windows[0].cycles == 5);
  }
}

TEST_CASE("pwm decoder: jitter on the edges stays within its bounds", "[pwm]") {
  // 1 kHz 25 %, every edge moved by a uniform jitter in [-J, +J]: a cycle's high and period
  // are within 2J of nominal; a window's mean period within 2J/n (its sum telescopes to the
  // distance of its first and last rising edges).
  constexpr std::uint64_t J = 2'000;  // 2 µs
  constexpr auto J_signed = static_cast<std::int64_t>(J);
  std::mt19937_64 rng(20261130);
  std::uniform_int_distribution<std::int64_t> jitter(-J_signed, J_signed);
  Line line(settings(100));
  for (std::uint64_t i = 0; i < 1001; ++i) {
    const std::uint64_t r = T0 + i * ms(1);
    line.edge(static_cast<std::uint64_t>(static_cast<std::int64_t>(r) + jitter(rng)), true);
    line.edge(static_cast<std::uint64_t>(static_cast<std::int64_t>(r + us(250)) + jitter(rng)),
              false);
  }
  REQUIRE(line.cycles.size() == 1000);
  for (const PwmCycle& c : line.cycles) {
    CHECK(c.high_ns >= us(250) - 2 * J);
    CHECK(c.high_ns <= us(250) + 2 * J);
    CHECK(c.period_ns >= ms(1) - 2 * J);
    CHECK(c.period_ns <= ms(1) + 2 * J);
    CHECK_THAT(c.duty, WithinAbs(0.25, (us(250) + 2.0 * J) / (ms(1) - 2.0 * J) - 0.25));
  }
  REQUIRE(line.windows.size() >= 9);
  for (const PwmWindow& w : line.windows) {
    const double n = static_cast<double>(w.cycles);
    CHECK((w.cycles == 100 || w.cycles == 101));  // the boundary moves by the jitter
    CHECK_THAT(w.period_us.mean, WithinAbs(1000.0, 2.0 * J / 1000.0 / n));
    CHECK_THAT(w.high_us.mean, WithinAbs(250.0, 2.0 * J / 1000.0));
    CHECK(w.period_us.min >= 1000.0 - 2.0 * J / 1000.0);
    CHECK(w.period_us.max <= 1000.0 + 2.0 * J / 1000.0);
    CHECK(w.period_us.min < w.period_us.max);  // there was jitter
  }
}

TEST_CASE("pwm decoder: a seeded random train gives the figures of the list it was made of",
          "[pwm]") {
  // Highs and periods drawn at random; expectations computed here from that list (window
  // grouping by the documented rule, integer sums, min/max over the list) — the replay a
  // user would write over the EDGE rows.
  std::mt19937_64 rng(12);
  std::uniform_int_distribution<std::uint64_t> period_d(us(500), us(20'000));
  struct Pulse {
    std::uint64_t high, period;
  };
  std::vector<Pulse> list;
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t period = period_d(rng);
    list.push_back({std::uniform_int_distribution<std::uint64_t>(1, period - 1)(rng), period});
  }
  PwmDecoderSettings s = settings(250);
  s.measure = PwmMeasure::high;
  s.high_trim_us = 300;
  s.scale = -2.5;
  s.offset = 7.0;
  Line line(s);
  std::uint64_t t = T0;
  for (const Pulse& p : list) {
    line.edge(t, true);
    line.edge(t + p.high, false);
    t += p.period;
  }
  line.edge(t, true);
  REQUIRE(line.cycles.size() == list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    CHECK(line.cycles[i].high_ns == list[i].high);
    CHECK(line.cycles[i].period_ns == list[i].period);
  }

  struct Expected {
    std::uint64_t from = 0, to = 0, n = 0, sum_high = 0, sum_period = 0;
    std::uint64_t min_high = std::numeric_limits<std::uint64_t>::max(), max_high = 0;
    std::uint64_t min_period = std::numeric_limits<std::uint64_t>::max(), max_period = 0;
  };
  std::vector<Expected> expected;
  Expected cur{.from = T0};
  std::uint64_t r = T0;
  for (const Pulse& p : list) {
    ++cur.n;
    cur.sum_high += p.high;
    cur.sum_period += p.period;
    cur.min_high = std::min(cur.min_high, p.high);
    cur.max_high = std::max(cur.max_high, p.high);
    cur.min_period = std::min(cur.min_period, p.period);
    cur.max_period = std::max(cur.max_period, p.period);
    r += p.period;
    if (r - cur.from >= ms(250)) {
      cur.to = r;
      expected.push_back(cur);
      cur = Expected{.from = r};
    }
  }
  REQUIRE(line.windows.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const PwmWindow& w = line.windows[i];
    const Expected& e = expected[i];
    INFO("window " << i);
    CHECK(w.from_ns == e.from);
    CHECK(w.to_ns == e.to);
    CHECK(w.cycles == e.n);
    CHECK(w.high_sum_ns == e.sum_high);
    CHECK(w.period_sum_ns == e.sum_period);
    const double n = static_cast<double>(e.n);
    CHECK(w.high_us.min == static_cast<double>(e.min_high) / 1000.0);
    CHECK(w.high_us.max == static_cast<double>(e.max_high) / 1000.0);
    CHECK(w.high_us.mean == static_cast<double>(e.sum_high) / (n * 1000.0));
    CHECK(w.period_us.mean == static_cast<double>(e.sum_period) / (n * 1000.0));
    CHECK(w.duty.mean == static_cast<double>(e.sum_high) / static_cast<double>(e.sum_period));
    CHECK(w.frequency_hz.mean == n * 1e9 / static_cast<double>(e.sum_period));
    CHECK(w.frequency_hz.min == 1e9 / static_cast<double>(e.max_period));
    CHECK(w.frequency_hz.max == 1e9 / static_cast<double>(e.min_period));
    // value = 7 - 2.5 * (high - 300 µs)/1000: the negative scale swaps min and max.
    REQUIRE(w.value.has_value());
    const double mean_x = (static_cast<double>(e.sum_high) - n * 300'000.0) / (n * 1000.0);
    CHECK_THAT(w.value->mean, WithinRel(7.0 - 2.5 * mean_x, 1e-12));
    CHECK_THAT(
        w.value->min,
        WithinRel(7.0 - 2.5 * (static_cast<double>(e.max_high) - 300'000.0) / 1000.0, 1e-12));
    CHECK_THAT(
        w.value->max,
        WithinRel(7.0 - 2.5 * (static_cast<double>(e.min_high) - 300'000.0) / 1000.0, 1e-12));
  }
}

TEST_CASE("pwm decoder: a lost edge discards exactly the cycles that contained it", "[pwm]") {
  // Pulses at T0 + i ms, high 250 µs. Cycle i = r_i -> f_i -> r_{i+1}.
  auto run = [](int lost_edge, bool with_gap_record) {
    Line line(settings());
    for (int i = 0; i < 10; ++i) {
      const std::uint64_t r = T0 + static_cast<std::uint64_t>(i) * ms(1);
      for (int k = 0; k < 2; ++k) {
        if (2 * i + k == lost_edge) {
          line.lose_edge();
          if (with_gap_record) line.dec.on_gap();
          continue;
        }
        line.edge(k == 0 ? r : r + us(250), k == 0);
      }
    }
    return line;
  };
  std::vector<std::uint64_t> all;
  for (int i = 0; i < 9; ++i) all.push_back(T0 + static_cast<std::uint64_t>(i) * ms(1));
  for (bool gap_record : {false, true}) {
    INFO("GAP record: " << gap_record);
    {
      Line line = run(2 * 4 + 1, gap_record);  // f_4 lost: only cycle 4 goes
      std::vector<std::uint64_t> want = all;
      want.erase(want.begin() + 4);
      CHECK(starts_of(line.cycles) == want);
      CHECK(line.dec.losses() == 1);  // a GAP record and its seqno jump are one loss
      CHECK(line.dec.invalid() == 0);
    }
    {
      Line line = run(2 * 4, gap_record);  // r_4 lost: it ended cycle 3 and started cycle 4
      std::vector<std::uint64_t> want = all;
      want.erase(want.begin() + 3, want.begin() + 5);
      CHECK(starts_of(line.cycles) == want);
      CHECK(line.dec.losses() == 1);
      CHECK(line.dec.invalid() == 0);
    }
    Line line = run(2 * 4 + 1, gap_record);
    for (const PwmCycle& c : line.cycles) {  // nothing measured across the loss
      CHECK(c.high_ns == us(250));
      CHECK(c.period_ns == ms(1));
    }
  }
  SECTION("seqnos wrap around 2^32 without a loss") {
    Line line(settings());
    line.seqno = std::numeric_limits<std::uint32_t>::max() - 2;
    line.pulses(T0, us(250), ms(1), 5);
    CHECK(line.cycles.size() == 4);
    CHECK(line.dec.losses() == 0);
  }
}

TEST_CASE("pwm decoder: starting in the middle of a pulse ignores the partial cycle", "[pwm]") {
  Line line(settings());
  line.edge(T0 + us(100), false);  // the end of a pulse that began before we looked
  line.edge(T0 + ms(1), true);
  CHECK(line.cycles.empty());
  line.edge(T0 + ms(1) + us(250), false);
  CHECK(line.cycles.empty());
  line.edge(T0 + ms(2), true);
  REQUIRE(line.cycles.size() == 1);
  CHECK(line.cycles[0].start_ns == T0 + ms(1));
  CHECK(line.cycles[0].high_ns == us(250));
  CHECK(line.cycles[0].period_ns == ms(1));
  CHECK(line.dec.invalid() == 0);
}

TEST_CASE("pwm decoder: two edges of the same type in a row are invalid, no cycle", "[pwm]") {
  SECTION("two risings") {
    Line line(settings());
    line.edge(T0, true);
    line.edge(T0 + us(100), true);  // a falling edge merged away
    line.edge(T0 + us(250), false);
    line.edge(T0 + ms(1), true);
    CHECK(line.cycles.empty());  // neither r1 is trusted
    CHECK(line.dec.invalid() == 1);
    line.edge(T0 + ms(1) + us(250), false);
    line.edge(T0 + ms(2), true);
    REQUIRE(line.cycles.size() == 1);
    CHECK(line.cycles[0].start_ns == T0 + ms(1));
    CHECK(line.dec.state() == PwmState::ok);
  }
  SECTION("two fallings") {
    Line line(settings());
    line.edge(T0, true);
    line.edge(T0 + us(250), false);
    line.edge(T0 + us(400), false);
    line.edge(T0 + ms(1), true);
    CHECK(line.cycles.empty());
    CHECK(line.dec.invalid() == 1);
    line.edge(T0 + ms(1) + us(250), false);
    line.edge(T0 + ms(2), true);
    REQUIRE(line.cycles.size() == 1);
    CHECK(line.cycles[0].start_ns == T0 + ms(1));
    CHECK(line.cycles[0].high_ns == us(250));
  }
  SECTION("three edges on the same ns: a period of 0 is invalid, not a cycle") {
    Line line(settings());
    line.edge(T0, true);
    line.edge(T0, false);
    line.edge(T0, true);
    CHECK(line.cycles.empty());
    CHECK(line.dec.invalid() == 1);
    line.edge(T0 + us(250), false);  // the last of them still starts the next cycle
    line.edge(T0 + ms(1), true);
    REQUIRE(line.cycles.size() == 1);
    CHECK(line.cycles[0].period_ns == ms(1));
  }
  SECTION("not across a loss: that is a loss, not an invalid pair") {
    Line line(settings());
    line.edge(T0, true);
    line.lose_edge();
    line.edge(T0 + ms(1), true);
    CHECK(line.dec.invalid() == 0);
    CHECK(line.dec.losses() == 1);
    line.edge(T0 + ms(1) + us(250), false);
    line.edge(T0 + ms(2), true);  // the edge after the jump did start a cycle
    REQUIRE(line.cycles.size() == 1);
    CHECK(line.cycles[0].start_ns == T0 + ms(1));
  }
}

TEST_CASE("pwm decoder: timeout reports stuck high or low, then the signal coming back", "[pwm]") {
  SECTION("silent after a falling edge: stuck_low; the next full cycle: signal") {
    Line line(settings(1000, 100));
    line.pulses(T0, us(250), ms(1), 11);  // 10 cycles, last edge (falling) at T0+10.25 ms
    const std::uint64_t last = T0 + ms(10) + us(250);
    CHECK(line.dec.state() == PwmState::ok);
    CHECK_FALSE(line.tick(last + ms(100) - 1).any());
    const PwmUpdate u = line.tick(last + ms(137));
    CHECK(u.stuck);
    CHECK(u.window);  // the open window is closed, with its figures
    CHECK(line.dec.state() == PwmState::stuck_low);
    REQUIRE(line.stucks.size() == 1);
    CHECK_FALSE(line.stucks[0].high);
    CHECK(line.stucks[0].ts_ns == last + ms(100));  // when it became stuck, not when seen
    CHECK(line.stucks[0].silent_ns == ms(100));
    REQUIRE(line.windows.size() == 1);
    CHECK(line.windows[0].closed_by_stuck);
    CHECK(line.windows[0].from_ns == T0);
    CHECK(line.windows[0].to_ns == last + ms(100));
    CHECK(line.windows[0].cycles == 10);
    CHECK(line.windows[0].duty.mean == 0.25);
    CHECK(line.level_reads == 0);                  // the level after the last edge was known
    CHECK_FALSE(line.tick(last + ms(500)).any());  // reported once
    CHECK(line.stucks.size() == 1);

    const std::uint64_t back = T0 + ms(2000);
    line.edge(back, true);
    line.edge(back + us(300), false);
    CHECK(line.outages.empty());  // no full cycle yet
    CHECK(line.dec.state() == PwmState::stuck_low);
    const PwmUpdate r = line.edge(back + ms(1), true);
    CHECK((r.cycle && r.signal));
    CHECK(line.dec.state() == PwmState::ok);
    REQUIRE(line.outages.size() == 1);
    CHECK(line.outages[0] == back - last);
    CHECK(line.cycles.back().high_ns == us(300));
    CHECK(line.cycles.size() == 11);  // nothing measured across the outage
  }
  SECTION("silent after a rising edge: stuck_high") {
    Line line(settings(1000, 100));
    line.pulses(T0, us(250), ms(1), 5);
    line.edge(T0 + ms(5), true);
    line.tick(T0 + ms(105));
    REQUIRE(line.stucks.size() == 1);
    CHECK(line.stucks[0].high);
    CHECK(line.dec.state() == PwmState::stuck_high);
    line.edge(T0 + ms(300), false);  // the signal comes back with a falling edge
    line.edge(T0 + ms(301), true);
    line.edge(T0 + ms(301) + us(250), false);
    line.edge(T0 + ms(302), true);
    REQUIRE(line.outages.size() == 1);
    CHECK(line.outages[0] == ms(295));  // from the last edge to the first one after
  }
  SECTION("duty 0 % and 100 % are a stuck line, not cycles") {
    for (bool high : {false, true}) {
      Line line(settings(1000, 50));
      line.pulses(T0, us(250), ms(1), 3);
      if (high) line.edge(T0 + ms(3), true);
      const std::uint64_t cycles = line.dec.cycles();
      for (std::uint64_t t = T0 + ms(4); t < T0 + ms(1000); t += ms(10)) line.tick(t);
      CHECK(line.dec.cycles() == cycles);
      REQUIRE(line.stucks.size() == 1);
      CHECK(line.stucks[0].high == high);
    }
  }
  SECTION("no edge since start: the line's level is read") {
    for (bool level : {false, true}) {
      Line line(settings(1000, 100));
      CHECK(line.dec.state() == PwmState::no_signal);
      CHECK_FALSE(line.tick(T0 + ms(99), level).any());
      CHECK(line.level_reads == 0);
      line.tick(T0 + ms(100), level);
      CHECK(line.level_reads == 1);
      REQUIRE(line.stucks.size() == 1);
      CHECK(line.stucks[0].high == level);
      CHECK(line.dec.state() == (level ? PwmState::stuck_high : PwmState::stuck_low));
      CHECK(line.windows.empty());  // nothing to report
    }
  }
  SECTION("a silence the timer missed is reported by the next edge, with the same figures") {
    Line line(settings(1000, 100));
    line.pulses(T0, us(250), ms(1), 11);
    const std::uint64_t last = T0 + ms(10) + us(250);
    const PwmUpdate u = line.edge(last + ms(400), true);  // no tick in between
    CHECK((u.stuck && u.window && !u.cycle));
    REQUIRE(line.stucks.size() == 1);
    CHECK_FALSE(line.stucks[0].high);
    CHECK(line.stucks[0].ts_ns == last + ms(100));
    CHECK(line.windows.back().to_ns == last + ms(100));
    line.edge(last + ms(400) + us(250), false);
    line.edge(last + ms(401), true);
    REQUIRE(line.outages.size() == 1);
    CHECK(line.outages[0] == ms(400));
    CHECK(line.cycles.size() == 11);  // the 400 ms "cycle" was not measured
  }
  SECTION("a glitch during an outage ends nothing; a new level is reported") {
    Line line(settings(1000, 100));
    line.pulses(T0, us(250), ms(1), 3);
    const std::uint64_t last = T0 + ms(2) + us(250);
    line.tick(last + ms(100));
    line.edge(last + ms(200), true);  // a lone rising edge, then high for good
    CHECK_FALSE(line.tick(last + ms(299)).any());
    line.tick(last + ms(300));
    REQUIRE(line.stucks.size() == 2);
    CHECK_FALSE(line.stucks[0].high);
    CHECK(line.stucks[1].high);
    CHECK(line.stucks[1].ts_ns == last + ms(300));
    CHECK(line.stucks[1].silent_ns == ms(300));
    CHECK(line.dec.state() == PwmState::stuck_high);
    line.edge(last + ms(500), false);  // back: f, r, f, r
    line.edge(last + ms(501), true);
    line.edge(last + ms(501) + us(250), false);
    line.edge(last + ms(502), true);
    REQUIRE(line.outages.size() == 1);
    CHECK(line.outages[0] == ms(500));  // the glitch did not end the outage
  }
}

TEST_CASE("pwm decoder: MH-Z19B ppm from the datasheet formula", "[pwm]") {
  // MH-Z19B datasheet (Winsen), PWM output: Cppm = range * (TH - 2 ms) / (TH + TL - 4 ms),
  // range 5000 ppm: measure duty, high_trim 2000 µs, period_trim 4000 µs, scale 5000.
  PwmDecoderSettings s = settings(10'000, 3000);
  s.measure = PwmMeasure::duty;
  s.high_trim_us = 2000;
  s.period_trim_us = 4000;
  s.scale = 5000;
  Line line(s);
  const std::uint64_t th[] = {ms(202), ms(2), ms(1002), ms(402)};  // period 1004 ms each
  std::uint64_t t = T0;
  for (std::uint64_t h : th) {
    line.edge(t, true);
    line.edge(t + h, false);
    t += ms(1004);
  }
  line.edge(t, true);
  REQUIRE(line.cycles.size() == 4);
  CHECK_THAT(*line.cycles[0].value, WithinRel(1000.0, 1e-12));  // TH 202, TL 802
  CHECK_THAT(*line.cycles[1].value, WithinAbs(0.0, 1e-12));     // TH 2 ms: 0 ppm
  CHECK_THAT(*line.cycles[2].value, WithinRel(5000.0, 1e-12));  // TL 2 ms: full range
  CHECK_THAT(*line.cycles[3].value, WithinRel(2000.0, 1e-12));
  CHECK(line.dec.out_of_range() == 0);
  // The window of all four: ratio of the trimmed sums, (200+0+1000+400)/(4*1000) * 5000.
  line.tick(t + ms(3000));
  REQUIRE(line.windows.size() == 1);
  REQUIRE(line.windows[0].value.has_value());
  CHECK_THAT(line.windows[0].value->mean, WithinRel(2000.0, 1e-12));
  CHECK_THAT(line.windows[0].value->min, WithinAbs(0.0, 1e-12));
  CHECK_THAT(line.windows[0].value->max, WithinRel(5000.0, 1e-12));
}

TEST_CASE("pwm decoder: a trimmed period of 0 or less gives no value, counted", "[pwm]") {
  PwmDecoderSettings s = settings(10, 1000);
  s.high_trim_us = 2000;
  s.period_trim_us = 4000;
  s.scale = 5000;
  Line line(s);
  line.pulses(T0, ms(2), ms(4), 3);  // period 4 ms == trim
  REQUIRE(line.cycles.size() == 2);
  for (const PwmCycle& c : line.cycles) {
    CHECK_FALSE(c.value.has_value());
    CHECK(c.duty == 0.5);  // the raw figures are still there
    CHECK(c.frequency_hz == 250.0);
  }
  CHECK(line.dec.out_of_range() == 2);
  CHECK(line.dec.cycles() == 2);
  line.tick(T0 + ms(10) + ms(1000));  // no cycle reached the 10 ms window: stuck closes it
  REQUIRE(line.windows.size() == 1);
  CHECK(line.windows[0].cycles == 2);
  CHECK(line.windows[0].duty.mean == 0.5);
  CHECK_FALSE(line.windows[0].value.has_value());

  PwmDecoderSettings p = settings();
  p.measure = PwmMeasure::period;
  p.period_trim_us = 1000;
  Line by_period(p);
  by_period.pulses(T0, us(250), ms(1), 2);
  by_period.edge(T0 + ms(1) + ms(3), true);  // a 1 ms then a 3 ms period
  REQUIRE(by_period.cycles.size() == 2);
  CHECK_FALSE(by_period.cycles[0].value.has_value());
  CHECK(*by_period.cycles[1].value == 2000.0);  // (3 ms - 1 ms) in µs
  CHECK(by_period.dec.out_of_range() == 1);
}

TEST_CASE("pwm decoder: RC servo pulses map to degrees, -1..+1 and 0..100 %", "[pwm]") {
  struct Mapping {
    std::uint32_t trim_us;
    double scale;
    double at_1000, at_1500, at_2000;
  };
  const Mapping mappings[] = {{1500, 0.18, -90.0, 0.0, 90.0},     // degrees
                              {1500, 1.0 / 500, -1.0, 0.0, 1.0},  // -1..+1
                              {1000, 0.1, 0.0, 50.0, 100.0}};     // percent
  for (const Mapping& m : mappings) {
    PwmDecoderSettings s = settings(60);
    s.measure = PwmMeasure::high;
    s.high_trim_us = m.trim_us;
    s.scale = m.scale;
    Line line(s);
    const std::uint64_t highs[] = {us(1000), us(1500), us(2000)};
    for (std::uint64_t i = 0; i < 4; ++i) {
      line.edge(T0 + i * ms(20), true);
      if (i < 3) line.edge(T0 + i * ms(20) + highs[i], false);
    }
    REQUIRE(line.cycles.size() == 3);
    CHECK_THAT(*line.cycles[0].value, WithinAbs(m.at_1000, 1e-12));
    CHECK_THAT(*line.cycles[1].value, WithinAbs(m.at_1500, 1e-12));
    CHECK_THAT(*line.cycles[2].value, WithinAbs(m.at_2000, 1e-12));
    REQUIRE(line.windows.size() == 1);  // 3 × 20 ms >= 60 ms
    const PwmWindow& w = line.windows[0];
    CHECK((w.high_us.min == 1000.0 && w.high_us.mean == 1500.0 && w.high_us.max == 2000.0));
    CHECK(w.period_us.mean == 20'000.0);
    CHECK(w.frequency_hz.mean == 50.0);
    REQUIRE(w.value.has_value());
    CHECK_THAT(w.value->min, WithinAbs(m.at_1000, 1e-12));
    CHECK_THAT(w.value->mean, WithinAbs(m.at_1500, 1e-12));
    CHECK_THAT(w.value->max, WithinAbs(m.at_2000, 1e-12));
  }
}

TEST_CASE("pwm decoder: frequency measure and offset", "[pwm]") {
  PwmDecoderSettings s = settings(1000);
  s.measure = PwmMeasure::frequency;
  s.scale = 60.0 / 2;  // a fan tachometer, 2 pulses per revolution: rpm
  s.offset = 0;
  Line line(s);
  line.pulses(T0, us(100), us(2500), 3);  // 400 Hz
  REQUIRE(line.cycles.size() == 2);
  CHECK(*line.cycles[0].value == 12'000.0);
}

TEST_CASE("pwm decoder: extreme timestamps and lengths", "[pwm]") {
  SECTION("the last edge at the 64-bit clock's end: no overflow in window or timeout") {
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    // 15 ms windows: the second one opens 5 ms before the end, where opening + window
    // does not fit in 64 bits.
    Line line(settings(15, 1000), kMax - ms(20));
    line.pulses(kMax - ms(20), us(250), ms(1), 20);
    line.edge(kMax, true);
    REQUIRE(line.cycles.size() == 20);
    CHECK(line.cycles.back().end_ns() == kMax);
    CHECK(line.cycles.back().period_ns == ms(1));
    REQUIRE(line.windows.size() == 1);
    CHECK(line.windows[0].to_ns == kMax - ms(5));
    CHECK(line.windows[0].cycles == 15);
    CHECK_FALSE(line.tick(kMax).any());  // silent for 0 ns: last edge + timeout does not fit
    CHECK(line.dec.state() == PwmState::ok);
  }
  SECTION("periods as long as the longest timeout allows are exact") {
    // timeout 3 600 000 ms: highs and lows of 3599 s, a period of 7198 s.
    Line line(settings(3'600'000, 3'600'000));
    const std::uint64_t high = 3'599'000'000'000ULL;
    line.pulses(T0, high, 2 * high, 3);
    REQUIRE(line.cycles.size() == 2);
    CHECK(line.cycles[0].period_ns == 2 * high);
    CHECK(line.cycles[0].duty == 0.5);
    CHECK(line.cycles[0].period_us == 7'198'000'000.0);
    CHECK(line.stucks.empty());
  }
  SECTION("a 1 ns pulse is a cycle, duty 1e-6") {
    Line line(settings());
    line.pulses(T0, 1, ms(1), 2);
    REQUIRE(line.cycles.size() == 1);
    CHECK(line.cycles[0].high_ns == 1);
    CHECK(line.cycles[0].duty == 1e-6);
  }
  SECTION("a 60 s trim over a window of 100 000 cycles gives the exact mean") {
    PwmDecoderSettings s = settings(3'600'000, 1000);
    s.measure = PwmMeasure::high;
    s.high_trim_us = 60'000'000;
    Line line(s);
    line.pulses(T0, 10, 100, 100'001);  // 10 MHz, 100 000 cycles in one window
    line.tick(T0 + 100 * 100'000ULL + ms(1001));
    REQUIRE(line.windows.size() == 1);
    CHECK(line.windows[0].cycles == 100'000);
    // (Σhigh - n*h)/(n*1000) = (1e6 - 6e15)/1e8 µs = -59 999 999.99
    CHECK_THAT(line.windows[0].value->mean, WithinRel(-59'999'999.99, 1e-12));
  }
}

TEST_CASE("pwm decoder: reset starts counts and windows afresh", "[pwm]") {
  Line line(settings(10));
  line.pulses(T0, us(250), ms(1), 26);  // 25 cycles, 2 windows, 5 cycles open
  REQUIRE(line.windows.size() == 2);
  line.dec.reset();
  CHECK(line.dec.cycles() == 0);
  CHECK_FALSE(line.dec.last_cycle().has_value());
  CHECK_FALSE(line.dec.last_window().has_value());
  CHECK(line.dec.state() == PwmState::ok);  // the line did not change
  // The cycle in progress (from T0+25 ms) is dropped; the next starts at T0+26 ms and so
  // does the next window.
  line.pulses(T0 + ms(26), us(250), ms(1), 11);
  CHECK(line.cycles.size() == 25 + 10);
  CHECK(line.cycles[25].start_ns == T0 + ms(26));
  REQUIRE(line.windows.size() == 3);
  CHECK(line.windows[2].from_ns == T0 + ms(26));
  CHECK(line.windows[2].cycles == 10);
}

TEST_CASE("pwm decoder: a clock stepping back is invalid and nothing spans it", "[pwm]") {
  Line line(settings(1000));
  line.pulses(T0, us(250), ms(1), 4);  // 3 cycles in the open window
  line.edge(T0 - ms(500), true);       // realtime stepped back
  CHECK(line.dec.invalid() == 1);
  REQUIRE(line.windows.size() == 1);  // closed at its last cycle's end
  CHECK(line.windows[0].to_ns == T0 + ms(3));
  CHECK(line.windows[0].cycles == 3);
  line.edge(T0 - ms(500) + us(250), false);
  line.edge(T0 - ms(499), true);
  REQUIRE(line.cycles.size() == 4);
  CHECK(line.cycles[3].start_ns == T0 - ms(500));
  CHECK(line.cycles[3].period_ns == ms(1));
}

TEST_CASE("pwm decoder: settings are checked, names round-trip", "[pwm]") {
  auto with = [](auto change) {
    PwmDecoderSettings s;
    change(s);
    return s;
  };
  CHECK_THROWS_AS(PwmDecoder(with([](auto& s) { s.window_ms = 0; })), std::invalid_argument);
  CHECK_THROWS_AS(PwmDecoder(with([](auto& s) { s.timeout_ms = 0; })), std::invalid_argument);
  CHECK_THROWS_AS(PwmDecoder(with([](auto& s) { s.scale = 0; })), std::invalid_argument);
  CHECK_THROWS_AS(PwmDecoder(with([](auto& s) { s.high_trim_us = 60'000'001; })),
                  std::invalid_argument);
  CHECK_NOTHROW(PwmDecoder(with([](auto& s) { s.period_trim_us = 60'000'000; })));
  for (PwmMeasure m :
       {PwmMeasure::duty, PwmMeasure::high, PwmMeasure::period, PwmMeasure::frequency})
    CHECK(gpioirq::kinds::pwm_measure_from(to_string(m)) == m);
  CHECK_FALSE(gpioirq::kinds::pwm_measure_from("width").has_value());
  CHECK(to_string(PwmState::stuck_high) == "stuck_high");
  CHECK(to_string(PwmState::no_signal) == "no_signal");
}
