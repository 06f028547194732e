#pragma once
// GpiodSource: one libgpiod v2 line request on a real GPIO character device, with the
// kernel's event buffer at its maximum. libgpiod makes the request; the edge events are
// read straight from the request's fd, made non-blocking, into a reused array of the
// kernel's gpio_v2_line_event: one read(2) per batch, no extra poll(2) to ask whether one
// would block (libgpiod's read_edge_events blocks on an empty FIFO, and throws, which
// allocates, on every error), no allocation per event.

#include <linux/gpio.h>
#include <gpiod.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/schema.hpp"
#include "gpio/line_source.hpp"

namespace gpioirq::gpio {

// The consumer label of every line request: gpioinfo shows it, and gpiolib-cdev names each
// line's IRQ action (and so its thread, irq/<N>-gpioirqd) after it.
inline constexpr const char* kConsumerLabel = "gpioirqd";

struct LineRequestSpec {
  std::uint32_t offset = 0;
  config::Bias bias = config::Bias::as_is;
  bool active_low = false;
  config::EdgeKind edge = config::EdgeKind::both;
  config::EventClock clock = config::EventClock::monotonic;
  std::uint32_t debounce_us = 0;  // kernel debounce; only ever set for buttons
};

// Finds a chip by its path or by its label (scanning /dev/gpiochip*). Throws
// std::runtime_error naming what was looked for and what exists.
std::string resolve_chip_path(const config::ChipConfig& chip);
// A line's offset from a line name on an opened chip; throws if no such name.
std::uint32_t resolve_line_offset(const std::string& chip_path, const std::string& line_name);

class GpiodSource final : public LineSource {
 public:
  // The kernel's maximum (GPIO_V2_LINES_MAX * 16 = 1024), whatever the number of lines.
  static constexpr std::size_t kEventBufferSize = 1024;

  GpiodSource(const std::string& chip_path, const std::vector<LineRequestSpec>& lines,
              std::size_t event_buffer_size = kEventBufferSize);

  int fd() const noexcept override { return request_.fd(); }
  int read_events(std::span<RawEdge> out) noexcept override;
  int read_level(std::uint32_t offset) noexcept override;
  const std::vector<std::uint32_t>& offsets() const noexcept override { return offsets_; }
  std::string describe() const override { return chip_path_; }

 private:
  std::string chip_path_;
  std::vector<std::uint32_t> offsets_;  // in request order: bit i of GET_VALUES is offsets_[i]
  gpiod::line_request request_;
  std::vector<gpio_v2_line_event> kernel_events_;  // read(2)'s buffer, sized once
};

}  // namespace gpioirq::gpio
