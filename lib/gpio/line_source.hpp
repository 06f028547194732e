#pragma once
// A LineSource is one group of lines the RT thread waits on through one fd: a libgpiod
// line request on a real chip, or the sim backend's generator. Everything here that the
// RT thread calls is noexcept and does not allocate.

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
  // Reads up to out.size() events, oldest first. Returns how many (0 when none are
  // ready) or -errno. The RT thread calls it again while it fills the whole span.
  virtual int read_events(std::span<RawEdge> out) noexcept = 0;
  // The current level (0/1, after active-low) of one requested line, or -errno.
  virtual int read_level(std::uint32_t offset) noexcept = 0;

  // Start-up facts, for status and for routing.
  virtual const std::vector<std::uint32_t>& offsets() const noexcept = 0;
  virtual std::string describe() const = 0;  // "/dev/gpiochip0 (gpio-sim.0-node0)"
};

}  // namespace gpioirq::gpio
