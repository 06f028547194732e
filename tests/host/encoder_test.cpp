// Encoder exactness on the sim chip. Its quadrature generator turns 40 detents forward
// and 15 back, over and over, with contact bounce every 16th edge. The event log's EDGE
// rows are replayed through the test's own gray-code decoder (harness.cpp), and every
// position the daemon logged (EVENT position, computed on the RT thread) must be exactly
// the replayed one at that edge, for x4, x2 with clamp limits, x1, and x4 with div and a
// wrapping dial. Bounce and reversals must not drift the count.

#include <catch2/catch_test_macros.hpp>

#include <map>
#include <string>

#include "harness.hpp"

namespace {

using namespace host;

struct EncoderCase {
  const char* name;
  const char* keys;
  ReplayEncoder::Options options;
};

const EncoderCase kEncoders[] = {
    {"x4", "counts_per_period = 4", {4, 1, std::nullopt, std::nullopt, false}},
    {"x2clamp", "counts_per_period = 2\nmin = -5\nmax = 50\nmode = \"clamp\"", {2, 1, -5, 50, false}},
    {"x1", "counts_per_period = 1", {1, 1, std::nullopt, std::nullopt, false}},
    {"dial", "counts_per_period = 4\ndiv = 4\nmin = 0\nmax = 24\nmode = \"wrap\"", {4, 4, 0, 24, true}},
};

std::string config() {
  std::string c = daemon_section() + sim_chip_section(16);
  int line = 0;
  for (const auto& e : kEncoders) {
    c += "\n[[encoder]]\nname = \"" + std::string(e.name) + "\"\nchip = \"sim0\"\n";
    c += "a = " + std::to_string(line) + "\nb = " + std::to_string(line + 1) + "\n";
    line += 2;
    c += std::string(e.keys) + "\nsim_rate_hz = 10000\n";
  }
  return c;
}

}  // namespace

TEST_CASE("encoder positions equal a replay of the logged edges exactly (bounce, reversals, x1/x2/x4, limits)",
          "[host][encoder]") {
  TempDir dir;
  Daemon d(dir, config());
  // Each sim cycle is 220 edges plus bounce; wait for a good number of cycles each.
  Json encoders;
  REQUIRE(wait_until(
      [&] {
        encoders = d.ok("encoders");
        for (const auto& e : encoders.at("encoders"))
          if (e.at("transitions").get<std::uint64_t>() < 4000) return false;
        return encoders.at("encoders").size() == std::size(kEncoders);
      },
      15s));
  for (const auto& e : encoders.at("encoders")) {
    INFO(e.dump());
    CHECK(e.at("invalid") == 0);
    CHECK(e.at("lost") == 0);
  }
  REQUIRE(d.stop() == 0);

  const auto log = read_event_log(d.event_log());
  const auto lines = account_lines(log);
  for (const auto& enc : kEncoders) {
    INFO("encoder " << enc.name);
    for (const char* role : {"a", "b"}) {
      const LineAccount& a = lines.at({enc.name, role});
      CHECK(a.problems.empty());
      CHECK(a.ring_lost + a.kernel_lost + a.other_lost == 0);  // replay needs every edge
      CHECK(a.last_seqno == a.edges);
    }

    ReplayEncoder replay(enc.options);
    replay.set(false, false);  // sim lines start low
    std::map<std::string, std::string> last_edge;  // role -> "rising"/"falling"
    std::int64_t logged = 0;                        // the daemon's last logged position
    std::optional<std::int64_t> owed;               // an EVENT the last EDGE must be followed by
    int problems = 0, events = 0, invalid = 0;
    std::int64_t min_quarter = 0;
    auto problem = [&](const std::string& what) {
      if (problems++ < 5) UNSCOPED_INFO(what);
    };
    for (std::size_t i = 0; i < log.size(); ++i) {
      const LogRecord& r = log[i];
      if (r.device != enc.name) continue;
      if (r.type == "EDGE") {
        if (owed) problem("record " + std::to_string(i) + ": no EVENT for position " + std::to_string(*owed));
        if (last_edge[r.line] == r.edge) problem("record " + std::to_string(i) + ": two " + r.edge + " edges in a row");
        last_edge[r.line] = r.edge;
        if (!replay.edge(r.line, r.edge == "rising")) ++invalid;
        min_quarter = std::min(min_quarter, replay.quarter_steps());
        owed.reset();
        if (replay.position() != logged) owed = replay.position();
      } else if (r.type == "EVENT" && r.kind == "position") {
        ++events;
        const auto v = r.int_value();
        if (!owed) problem("record " + std::to_string(i) + ": EVENT position " + r.value + " after no change");
        else if (v != *owed)
          problem("record " + std::to_string(i) + ": EVENT position " + r.value + " where the edges give " +
                  std::to_string(*owed));
        if (v) logged = *v;
        owed.reset();
      }
    }
    INFO("replayed " << replay.quarter_steps() << " net quarter steps, final position " << replay.position()
                     << ", last logged " << logged << ", " << events << " EVENT rows");
    CHECK(problems == 0);
    CHECK(invalid == 0);
    CHECK(events > 50);
    CHECK_FALSE(owed);
    CHECK(logged == replay.position());
    // The generator itself never goes behind its start (40 forward before 15 back), and a
    // whole number of cycles has gone by: 100 net detents each.
    CHECK(min_quarter >= -1);  // at most one bounce step behind
    CHECK(replay.quarter_steps() >= 4 * 100);
  }
}
