// A multi-core kernel can queue a request's edges out of seqno order (each line's IRQ
// thread queues its own edge; the seqno was taken in the hard handler): one read's edges
// are put back in seqno order, a line's own edges keep theirs, seqnos that wrap included.
#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <vector>

#include "gpio/line_source.hpp"

using namespace gpioirq;

namespace {

gpio::RawEdge edge(std::uint32_t offset, std::uint32_t line_seqno, std::uint32_t global) {
  gpio::RawEdge e;
  e.offset = offset;
  e.line_seqno = line_seqno;
  e.global_seqno = global;
  e.timestamp_ns = 1000ull * global;
  return e;
}

std::vector<std::uint32_t> globals(const std::vector<gpio::RawEdge>& edges) {
  std::vector<std::uint32_t> out;
  for (const auto& e : edges) out.push_back(e.global_seqno);
  return out;
}

}  // namespace

TEST_CASE("one read's edges are put back in the request's seqno order", "[gpio][order]") {
  // Line 3's IRQ thread queued seqno 6 before line 7's queued 5, twice.
  std::vector<gpio::RawEdge> read{edge(3, 1, 4), edge(3, 2, 6), edge(7, 1, 5),
                                  edge(7, 2, 8), edge(3, 3, 7), edge(3, 4, 9)};
  gpio::order_by_request_seqno(read);
  CHECK(globals(read) == std::vector<std::uint32_t>{4, 5, 6, 7, 8, 9});
  // Each line's own edges are still in their line order.
  std::uint32_t last3 = 0, last7 = 0;
  for (const auto& e : read) {
    std::uint32_t& last = e.offset == 3 ? last3 : last7;
    CHECK(e.line_seqno == last + 1);
    last = e.line_seqno;
  }
}

TEST_CASE("seqnos that wrap past 2^32 keep their order", "[gpio][order]") {
  std::vector<gpio::RawEdge> read{edge(1, 1, 0xfffffffeu), edge(2, 1, 0u), edge(1, 2, 0xffffffffu),
                                  edge(2, 2, 1u)};
  gpio::order_by_request_seqno(read);
  CHECK(globals(read) == std::vector<std::uint32_t>{0xfffffffeu, 0xffffffffu, 0u, 1u});
}

TEST_CASE("edges already in order are left as they are", "[gpio][order]") {
  std::vector<gpio::RawEdge> read{edge(1, 1, 1), edge(2, 1, 2), edge(1, 2, 3)};
  const auto before = globals(read);
  gpio::order_by_request_seqno(read);
  CHECK(globals(read) == before);
  std::vector<gpio::RawEdge> none;
  gpio::order_by_request_seqno(none);
  CHECK(none.empty());
}
