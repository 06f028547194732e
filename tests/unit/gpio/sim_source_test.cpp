// SimSource::add_cycle, the generator a device kind builds its own sim shape with (pwm_in's
// pulse train): edges come at exactly the delays given, with the kernel's types and seqnos.
#include <catch2/catch_test_macros.hpp>

#include <poll.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "gpio/sim_source.hpp"

using namespace gpioirq;

namespace {

// Reads the source's edges (waiting on its fd) until `count` have come or 5 s passed.
std::vector<gpio::RawEdge> read_edges(gpio::SimSource& sim, std::size_t count) {
  std::vector<gpio::RawEdge> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::array<gpio::RawEdge, 16> buf{};
  while (got.size() < count && std::chrono::steady_clock::now() < deadline) {
    pollfd p{sim.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    const int n = sim.read_events(buf);
    for (int i = 0; i < n; ++i) got.push_back(buf[static_cast<std::size_t>(i)]);
  }
  return got;
}

}  // namespace

TEST_CASE("add_cycle toggles its line at exactly the delays given", "[gpio][sim]") {
  gpio::SimSource sim("test");
  const std::uint32_t line[] = {7};
  // A 1 kHz train, 25 % high: low 750 us, then high 250 us.
  sim.add_cycle(line, {{750'000, 0}, {250'000, 0}});
  sim.start();
  const std::vector<gpio::RawEdge> edges = read_edges(sim, 9);
  REQUIRE(edges.size() >= 9);
  for (std::size_t i = 0; i < edges.size(); ++i) {
    INFO("edge " << i);
    CHECK(edges[i].offset == 7);
    CHECK(edges[i].line_seqno == i + 1);
    CHECK(edges[i].rising == (i % 2 == 0));  // from the idle low: rising first
    if (i > 0)
      CHECK(edges[i].timestamp_ns - edges[i - 1].timestamp_ns ==
            (i % 2 == 1 ? 250'000u : 750'000u));
  }
  CHECK(sim.read_level(7) == (edges.size() % 2 == 1 ? 1 : 0));
}

TEST_CASE("add_cycle on an active-low line reports logical edges", "[gpio][sim]") {
  gpio::SimSource sim("test");
  const std::uint32_t line[] = {2};
  sim.set_active_low(2, true);
  CHECK(sim.read_level(2) == 0);  // idles inactive
  sim.add_cycle(line, {{400'000, 0}, {100'000, 0}});
  sim.start();
  const std::vector<gpio::RawEdge> edges = read_edges(sim, 4);
  REQUIRE(edges.size() >= 4);
  CHECK(edges[0].rising);
  CHECK_FALSE(edges[1].rising);
  CHECK(edges[1].timestamp_ns - edges[0].timestamp_ns == 100'000);
  CHECK(edges[2].timestamp_ns - edges[1].timestamp_ns == 400'000);
}

TEST_CASE("add_cycle drives two lines and refuses what it cannot generate", "[gpio][sim]") {
  gpio::SimSource two("test");
  const std::uint32_t pair[] = {4, 5};
  two.add_cycle(pair, {{100'000, 1}, {100'000, 0}});
  two.start();
  const std::vector<gpio::RawEdge> edges = read_edges(two, 4);
  REQUIRE(edges.size() >= 4);
  CHECK(edges[0].offset == 5);
  CHECK(edges[1].offset == 4);
  CHECK(edges[2].offset == 5);
  CHECK_FALSE(edges[2].rising);
  CHECK(edges[1].global_seqno == edges[0].global_seqno + 1);

  gpio::SimSource sim("test");
  const std::uint32_t one[] = {1};
  const std::uint32_t three[] = {1, 2, 3};
  CHECK_THROWS_AS(sim.add_cycle(std::span<const std::uint32_t>{}, {{1000, 0}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(sim.add_cycle(three, {{1000, 0}}), std::invalid_argument);
  CHECK_THROWS_AS(sim.add_cycle(one, {}), std::invalid_argument);
  CHECK_THROWS_AS(sim.add_cycle(one, {{1000, 1}}), std::invalid_argument);
  CHECK_THROWS_AS(sim.add_cycle(one, {{0, 0}, {0, 0}}), std::invalid_argument);
  CHECK(sim.offsets().empty());  // nothing half-added
}
