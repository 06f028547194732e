#pragma once
// A LineSource is one group of lines the RT thread waits on through one fd: a libgpiod
// line request on a real chip, or the sim backend's generator. Everything here that the
// RT thread calls is noexcept and does not allocate.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gpio/edge_record.hpp"

namespace gpioirq::gpio {

class LineSource {
 public:
  virtual ~LineSource() = default;

  // The fd to poll for POLLIN.
  virtual int fd() const noexcept = 0;
  // Reads up to out.size() events, oldest first (in the request's seqno order). Returns how many (0
  // when none are ready) or -errno. The RT thread calls it again while it fills the whole span.
  virtual int read_events(std::span<RawEdge> out) noexcept = 0;
  // The current level (0/1, after active-low) of one requested line, or -errno.
  virtual int read_level(std::uint32_t offset) noexcept = 0;

  // Start-up facts, for status and for routing.
  virtual const std::vector<std::uint32_t>& offsets() const noexcept = 0;
  virtual std::string describe() const = 0;  // "/dev/gpiochip0 (gpio-sim.0-node0)"
};

// On a multi-core kernel a request's edges can reach its FIFO out of order: gpiolib-cdev
// takes the request seqno (and the timestamp) in each line's hard IRQ handler, but each
// line's IRQ thread queues its own edge, and two threads on two CPUs race. A line's own
// edges stay in order. This puts one read's edges back in seqno order (the order they
// happened in), in place: an insertion sort, as they are nearly always in order already.
// Seqnos are compared as a signed 32-bit difference (they wrap).
inline void order_by_request_seqno(std::span<RawEdge> edges) noexcept {
  for (std::size_t i = 1; i < edges.size(); ++i) {
    const RawEdge edge = edges[i];
    std::size_t j = i;
    while (j > 0 && static_cast<std::int32_t>(edge.global_seqno - edges[j - 1].global_seqno) < 0) {
      edges[j] = edges[j - 1];
      --j;
    }
    edges[j] = edge;
  }
}

}  // namespace gpioirq::gpio
