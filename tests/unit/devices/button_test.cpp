#include "devices/button.hpp"

#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

using gpioirq::config::ButtonConfig;
using gpioirq::config::ButtonKind;
using gpioirq::devices::Button;
using gpioirq::devices::ButtonEventKind;
using gpioirq::devices::ButtonEvents;
using K = ButtonEventKind;

namespace {

constexpr std::uint64_t ms(std::uint64_t v) {
  return v * 1'000'000;
}
constexpr std::uint64_t T0 = ms(10'000);  // an arbitrary boot-relative start

ButtonConfig make_cfg(ButtonKind kind = ButtonKind::button) {
  ButtonConfig c;
  c.name = "btn";
  c.kind = kind;
  c.debounce_ms = 20;
  c.long_press_ms = 1000;
  c.double_click_ms = 400;
  return c;
}

struct Ev {
  K kind;
  std::uint64_t ts;  // relative to T0, in ms (exact multiples in these tests) or ns
  std::uint64_t start;
  bool operator==(const Ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << gpioirq::devices::to_string(e.kind) << "@" << e.ts << "(start " << e.start << ")";
}

// Records every event, times shown relative to T0 in ns.
struct Recorder {
  Button btn;
  std::vector<Ev> events;
  explicit Recorder(const ButtonConfig& c, bool initial = false) : btn(c, initial) {}
  void take(const ButtonEvents& evs) {
    for (const auto& e : evs) events.push_back({e.kind, e.ts_ns - T0, e.start_ns - T0});
  }
  void edge(bool level, std::uint64_t t) { take(btn.on_edge(level, T0 + t)); }
  void time(std::uint64_t t) { take(btn.on_time(T0 + t)); }
  // Let every deadline up to t fire, as the loop's timer would.
  void run_until(std::uint64_t t) {
    while (auto d = btn.next_deadline()) {
      if (*d > T0 + t) break;
      take(btn.on_time(*d));
    }
    time(t);
  }
};

}  // namespace

TEST_CASE("button: a clean press is accepted after debounce, stamped at its edge", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  CHECK(r.events.empty());
  REQUIRE(r.btn.next_deadline() == T0 + ms(20));
  r.time(ms(20) - 1);
  CHECK(r.events.empty());
  r.time(ms(20));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}});
  CHECK(r.btn.level());
  // The next deadline is the long press.
  CHECK(r.btn.next_deadline() == T0 + ms(1000));
}

TEST_CASE("button: bounce settles to one press stamped at the first edge", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.edge(false, ms(1));
  r.edge(true, ms(2));
  r.edge(false, ms(3));
  r.edge(true, ms(5));
  r.time(ms(24));  // stable for 19 ms only
  CHECK(r.events.empty());
  r.time(ms(25));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}});
}

TEST_CASE("button: glitches shorter than debounce are rejected", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.edge(false, ms(19));  // 19 ms < 20 ms
  r.run_until(ms(5000));
  CHECK(r.events.empty());
  CHECK(r.btn.glitches() == 1);
  CHECK_FALSE(r.btn.level());
  CHECK_FALSE(r.btn.next_deadline().has_value());
}

TEST_CASE("button: a level held exactly debounce_ms is accepted, decided by edge timestamps",
          "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  // No timer ran; the release edge itself proves the press was stable for 20 ms.
  r.edge(false, ms(20));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}});
  r.run_until(ms(40));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}, {K::release, ms(20), 0}});
}

TEST_CASE("button: short press gives press, release, then click after the window", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.edge(false, ms(100));
  r.time(ms(120));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}, {K::release, ms(100), 0}});
  CHECK(r.btn.next_deadline() == T0 + ms(500) + 1);
  r.time(ms(500));  // the window is inclusive: not yet
  CHECK(r.events.size() == 2);
  r.time(ms(500) + 1);
  CHECK(r.events.back() == Ev{K::click, ms(500), 0});
  CHECK_FALSE(r.btn.next_deadline().has_value());
}

TEST_CASE("button: long press fires once while held; no click after it", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.run_until(ms(3000));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}, {K::long_press, ms(1000), 0}});
  r.edge(false, ms(3000));
  r.run_until(ms(9000));
  CHECK(r.events ==
        std::vector<Ev>{{K::press, 0, 0}, {K::long_press, ms(1000), 0}, {K::release, ms(3000), 0}});
}

TEST_CASE("button: a release that starts before the long-press time prevents it", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.time(ms(20));
  r.edge(false, ms(990));
  r.time(ms(1000));  // the release is still being debounced: no long press yet
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}});
  r.time(ms(1010));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}, {K::release, ms(990), 0}});
  r.run_until(ms(2000));
  CHECK(r.events.back() == Ev{K::click, ms(1390), 0});
}

TEST_CASE("button: a release glitch around the long-press time does not cancel it", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.time(ms(20));
  r.edge(false, ms(990));
  r.edge(true, ms(995));
  r.run_until(ms(1014));
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}});
  r.time(ms(1015));  // glitch resolved: the button was held all along
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}, {K::long_press, ms(1000), 0}});
  CHECK(r.btn.glitches() == 1);
}

TEST_CASE("button: release exactly at the long-press time still counts as held", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.edge(false, ms(1000));
  r.run_until(ms(3000));
  CHECK(r.events ==
        std::vector<Ev>{{K::press, 0, 0}, {K::long_press, ms(1000), 0}, {K::release, ms(1000), 0}});
}

TEST_CASE("button: double click, its window inclusive, and a third press", "[button]") {
  SECTION("two presses: double_click after the second press, no click") {
    Recorder r(make_cfg());
    r.edge(true, 0);
    r.edge(false, ms(100));
    r.edge(true, ms(300));
    r.edge(false, ms(400));
    r.run_until(ms(5000));
    CHECK(r.events == std::vector<Ev>{{K::press, 0, 0},
                                      {K::release, ms(100), 0},
                                      {K::press, ms(300), ms(300)},
                                      {K::double_click, ms(300), 0},
                                      {K::release, ms(400), ms(300)}});
  }
  SECTION("second press exactly double_click_ms after the release") {
    Recorder r(make_cfg());
    r.edge(true, 0);
    r.edge(false, ms(100));
    r.edge(true, ms(500));
    r.edge(false, ms(600));
    r.run_until(ms(5000));
    REQUIRE(r.events.size() == 5);
    CHECK(r.events[3] == Ev{K::double_click, ms(500), 0});
  }
  SECTION("second press 1 ms too late: click, then a new click") {
    Recorder r(make_cfg());
    r.edge(true, 0);
    r.edge(false, ms(100));
    r.edge(true, ms(501));
    r.edge(false, ms(600));
    r.run_until(ms(5000));
    CHECK(r.events == std::vector<Ev>{{K::press, 0, 0},
                                      {K::release, ms(100), 0},
                                      {K::click, ms(500), 0},
                                      {K::press, ms(501), ms(501)},
                                      {K::release, ms(600), ms(501)},
                                      {K::click, ms(1000), ms(501)}});
  }
  SECTION("three quick presses: double_click then click") {
    Recorder r(make_cfg());
    for (int i = 0; i < 3; ++i) {
      r.edge(true, ms(200 * i));
      r.edge(false, ms(200 * i + 100));
    }
    r.run_until(ms(5000));
    std::vector<K> kinds;
    for (const auto& e : r.events) kinds.push_back(e.kind);
    CHECK(kinds == std::vector<K>{K::press, K::release, K::press, K::double_click, K::release,
                                  K::press, K::release, K::click});
    CHECK(r.events.back() == Ev{K::click, ms(900), ms(400)});
  }
  SECTION("bounce on the second press does not break the double click") {
    Recorder r(make_cfg());
    r.edge(true, 0);
    r.edge(false, ms(100));
    r.edge(true, ms(300));
    r.edge(false, ms(302));
    r.edge(true, ms(304));
    r.edge(false, ms(400));
    r.run_until(ms(5000));
    REQUIRE(r.events.size() == 5);
    CHECK(r.events[3] == Ev{K::double_click, ms(300), 0});
  }
}

TEST_CASE("button: double_click_ms = 0 gives a click right after each release", "[button]") {
  ButtonConfig c = make_cfg();
  c.double_click_ms = 0;
  Recorder r(c);
  r.edge(true, 0);
  r.edge(false, ms(100));
  r.edge(true, ms(150));
  r.edge(false, ms(250));
  r.run_until(ms(2000));
  std::vector<K> kinds;
  for (const auto& e : r.events) kinds.push_back(e.kind);
  CHECK(kinds == std::vector<K>{K::press, K::release, K::click, K::press, K::release, K::click});
}

TEST_CASE("button: debounce 0 accepts at the edge", "[button]") {
  ButtonConfig c = make_cfg();
  c.debounce_ms = 0;
  Recorder r(c);
  r.edge(true, 0);
  CHECK(r.events == std::vector<Ev>{{K::press, 0, 0}});
}

TEST_CASE("switch: only close and open, debounced, stamped at the first edge", "[button]") {
  Recorder r(make_cfg(ButtonKind::switch_));
  r.edge(true, 0);
  r.edge(false, ms(3));
  r.edge(true, ms(4));
  r.run_until(ms(5000));  // held far longer than long_press_ms
  CHECK(r.events == std::vector<Ev>{{K::close, 0, 0}});
  r.edge(false, ms(5000));
  r.edge(true, ms(5010));  // glitch
  r.run_until(ms(6000));
  CHECK(r.events.size() == 1);
  r.edge(false, ms(6000));
  r.edge(true, ms(6100));
  r.edge(false, ms(6200));
  r.run_until(ms(9000));
  CHECK(r.events == std::vector<Ev>{{K::close, 0, 0},
                                    {K::open, ms(6000), ms(6000)},
                                    {K::close, ms(6100), ms(6100)},
                                    {K::open, ms(6200), ms(6200)}});
}

TEST_CASE("button: resync after a gap reports a missed change without gestures", "[button]") {
  Recorder r(make_cfg());
  r.edge(true, 0);
  r.take(r.btn.resync(false, T0 + ms(10)));  // the press was lost in the gap... and released
  CHECK(r.events.empty());
  CHECK_FALSE(r.btn.next_deadline().has_value());
  r.take(r.btn.resync(true, T0 + ms(50)));
  CHECK(r.events == std::vector<Ev>{{K::press, ms(50), ms(50)}});
  r.run_until(ms(5000));
  CHECK(r.events.size() == 1);  // no long press from a press of unknown start
}
