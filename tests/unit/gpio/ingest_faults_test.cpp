// The RT ingest thread under the faults a real chip shows, driven by a scripted LineSource
// (exact seqnos, no timing): a kernel FIFO overflow (line_seqno jumps) reported with the
// exact count and seqno span; GAP records still pending when the thread stops with a full
// ring handed over afterwards; a source that fails (a removed chip: POLLHUP, or a read
// returning ENODEV) dropped from the poll set at once, without spinning, while another
// source keeps being read.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "gpio/ingest_thread.hpp"
#include "gpio/sim_source.hpp"

using namespace gpioirq;
using gpio::EdgeRecord;
using gpio::RecordKind;

namespace {

// Hands out a fixed script of edges on one line; readable through a pipe whose write end
// the test holds. After the script: 0 events, or -fail_errno if set. Closing the write end
// makes the read end report POLLHUP, as a line request of a removed chip does.
class ScriptedSource final : public gpio::LineSource {
 public:
  explicit ScriptedSource(std::vector<std::uint32_t> seqnos, std::uint32_t offset = 0) : offsets_{offset} {
    REQUIRE(::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) == 0);
    for (auto s : seqnos)
      script_.push_back(gpio::RawEdge{1000ull * s, offset, s, s, (s % 2) == 1});
  }
  ~ScriptedSource() override {
    ::close(pipe_[0]);
    if (pipe_[1] >= 0) ::close(pipe_[1]);
  }
  void ready() { REQUIRE(::write(pipe_[1], "x", 1) == 1); }
  void unplug() {
    ::close(pipe_[1]);
    pipe_[1] = -1;
  }
  int fail_errno = 0;

  int fd() const noexcept override { return pipe_[0]; }
  int read_events(std::span<gpio::RawEdge> out) noexcept override {
    std::size_t n = 0;
    while (n < out.size() && next_ < script_.size()) out[n++] = script_[next_++];
    if (n > 0) return static_cast<int>(n);
    char drain[16];
    while (::read(pipe_[0], drain, sizeof drain) > 0) {
    }
    return fail_errno ? -fail_errno : 0;
  }
  int read_level(std::uint32_t) noexcept override { return 0; }
  const std::vector<std::uint32_t>& offsets() const noexcept override { return offsets_; }
  std::string describe() const override { return "scripted"; }

 private:
  int pipe_[2] = {-1, -1};
  std::vector<gpio::RawEdge> script_;
  std::size_t next_ = 0;
  std::vector<std::uint32_t> offsets_;
};

std::vector<std::uint32_t> seqnos(std::uint32_t first, std::uint32_t last) {
  std::vector<std::uint32_t> v;
  for (auto s = first; s <= last; ++s) v.push_back(s);
  return v;
}

struct Taken {
  std::vector<EdgeRecord> edges, gaps;
  void drain(gpio::IngestThread& ingest) {
    std::array<EdgeRecord, 8> buf{};
    while (std::size_t n = ingest.ring().pop_batch(buf))
      for (std::size_t i = 0; i < n; ++i) (buf[i].kind == RecordKind::gap ? gaps : edges).push_back(buf[i]);
  }
};

template <typename F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

TEST_CASE("A line_seqno jump is one GAP with the exact count and span", "[gpio][ingest][faults]") {
  // 1, 2, then 3..6 dropped by the kernel, then 7, 8; later 9..10 dropped, 11.
  std::vector<std::uint32_t> script{1, 2, 7, 8, 11};
  ScriptedSource src(script);
  gpio::IngestThread ingest(1024, gpio::RtRequest{0, -1, false});
  const auto line = ingest.add_line(src, 0, nullptr);
  ingest.start();
  src.ready();
  REQUIRE(eventually([&] { return ingest.counters(line).edges.load() == 5; }));
  ingest.stop();
  Taken t;
  t.drain(ingest);
  REQUIRE(t.edges.size() == 5);
  REQUIRE(t.gaps.size() == 2);
  CHECK(t.gaps[0].count == 4);
  CHECK(t.gaps[0].line_seqno == 3);    // first missing
  CHECK(t.gaps[0].global_seqno == 6);  // last missing
  CHECK(t.gaps[1].count == 2);
  CHECK(t.gaps[1].line_seqno == 9);
  CHECK(t.gaps[1].global_seqno == 10);
  CHECK(ingest.counters(line).kernel_lost.load() == 6);
  CHECK(ingest.counters(line).ring_dropped.load() == 0);
}

TEST_CASE("GAP records pending when the thread stops with a full ring are handed over after",
          "[gpio][ingest][faults]") {
  // 100 edges into a 16-record ring nobody drains while the thread runs, with a kernel
  // gap (seqnos 41..60 missing) in the middle.
  auto script = seqnos(1, 40);
  const auto tail = seqnos(61, 120);
  script.insert(script.end(), tail.begin(), tail.end());
  ScriptedSource src(script);
  gpio::IngestThread ingest(16, gpio::RtRequest{0, -1, false});
  const auto line = ingest.add_line(src, 0, nullptr);
  ingest.start();
  src.ready();
  REQUIRE(eventually([&] { return ingest.counters(line).edges.load() == script.size(); }));
  ingest.stop();
  Taken t;
  do t.drain(ingest);
  while (ingest.offer_pending_stopped());
  t.drain(ingest);
  std::uint64_t ring_gap = 0, kernel_gap = 0;
  for (const auto& g : t.gaps)
    (g.level == static_cast<std::uint8_t>(gpio::GapReason::ring_full) ? ring_gap : kernel_gap) += g.count;
  const auto& c = ingest.counters(line);
  CHECK(c.ring_dropped.load() > 0);
  CHECK(ring_gap == c.ring_dropped.load());
  CHECK(kernel_gap == 20);
  CHECK(c.kernel_lost.load() == 20);
  CHECK(t.edges.size() + ring_gap == script.size());
}

TEST_CASE("A source that hangs up (a removed chip) leaves the poll set; the others go on",
          "[gpio][ingest][faults]") {
  const bool read_fails = GENERATE(false, true);
  INFO((read_fails ? "read returns ENODEV" : "POLLHUP, reads return nothing"));
  ScriptedSource gone({1, 2, 3});
  gpio::SimSource sim("other");
  sim.add_pulses(4, 2000);
  gpio::IngestThread ingest(4096, gpio::RtRequest{0, -1, false});
  const auto gone_line = ingest.add_line(gone, 0, nullptr);
  const auto sim_line = ingest.add_line(sim, 4, nullptr);
  sim.start();
  ingest.start();
  gone.ready();
  REQUIRE(eventually([&] { return ingest.counters(gone_line).edges.load() == 3; }));
  CHECK(ingest.sources_failed() == 0);
  Taken t;
  if (read_fails) {
    gone.fail_errno = ENODEV;
    gone.ready();
  } else {
    gone.unplug();
  }
  REQUIRE(eventually([&] { return ingest.sources_failed() == 1; }));
  CHECK(ingest.counters(gone_line).source_error.load() == ENODEV);
  // No spinning on the dead fd: the thread wakes only for the other source's edges
  // (2000/s, batched), not in a tight loop (which was millions of wakes a second).
  t.drain(ingest);
  const auto wakes0 = ingest.wakes();
  const auto sim0 = ingest.counters(sim_line).edges.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  t.drain(ingest);
  const auto wakes = ingest.wakes() - wakes0;
  const auto sim_edges = ingest.counters(sim_line).edges.load() - sim0;
  CHECK(sim_edges > 100);          // the other source is still read
  CHECK(wakes <= sim_edges + 10);  // at most a wake per edge of it
  ingest.stop();
  CHECK(ingest.counters(gone_line).edges.load() == 3);
}
