#include "gpio/gpiod_source.hpp"

#include <fcntl.h>
#include <linux/gpio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace gpioirq::gpio {
namespace {

gpiod::line::bias to_gpiod(config::Bias bias) {
  switch (bias) {
    case config::Bias::disabled: return gpiod::line::bias::DISABLED;
    case config::Bias::pull_up: return gpiod::line::bias::PULL_UP;
    case config::Bias::pull_down: return gpiod::line::bias::PULL_DOWN;
    case config::Bias::as_is: break;
  }
  return gpiod::line::bias::AS_IS;
}

gpiod::line::edge to_gpiod(config::EdgeKind edge) {
  switch (edge) {
    case config::EdgeKind::rising: return gpiod::line::edge::RISING;
    case config::EdgeKind::falling: return gpiod::line::edge::FALLING;
    case config::EdgeKind::both: break;
  }
  return gpiod::line::edge::BOTH;
}

gpiod::line::clock to_gpiod(config::EventClock clock) {
  switch (clock) {
    case config::EventClock::realtime: return gpiod::line::clock::REALTIME;
    case config::EventClock::hte: return gpiod::line::clock::HTE;
    case config::EventClock::monotonic: break;
  }
  return gpiod::line::clock::MONOTONIC;
}

std::vector<std::string> chip_paths() {
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("gpiochip", 0) == 0) paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace

std::string resolve_chip_path(const config::ChipConfig& chip) {
  if (!chip.path.empty()) {
    if (!gpiod::is_gpiochip_device(chip.path))
      throw std::runtime_error("chip '" + chip.name + "': " + chip.path +
                               " is not a GPIO character device");
    return chip.path;
  }
  std::string seen;
  for (const auto& path : chip_paths()) {
    try {
      if (!gpiod::is_gpiochip_device(path)) continue;
      const std::string label = gpiod::chip(path).get_info().label();
      if (label == chip.label) return path;
      seen += (seen.empty() ? "" : ", ") + path + " '" + label + "'";
    } catch (const std::exception&) {
      continue;  // a chip we may not open is not the one we want
    }
  }
  throw std::runtime_error("chip '" + chip.name + "': no GPIO chip has the label '" +
                           chip.label + "' (found: " + (seen.empty() ? "none" : seen) + ")");
}

std::uint32_t resolve_line_offset(const std::string& chip_path, const std::string& line_name) {
  const int offset = gpiod::chip(chip_path).get_line_offset_from_name(line_name);
  if (offset < 0)
    throw std::runtime_error(chip_path + " has no line named '" + line_name + "'");
  return static_cast<std::uint32_t>(offset);
}

GpiodSource::GpiodSource(const std::string& chip_path, const std::vector<LineRequestSpec>& lines,
                         std::size_t event_buffer_size)
    : chip_path_(chip_path),
      request_([&] {
        gpiod::chip chip(chip_path);
        auto builder = chip.prepare_request();
        builder.set_consumer(kConsumerLabel).set_event_buffer_size(event_buffer_size);
        for (const auto& spec : lines) {
          gpiod::line_settings settings;
          settings.set_direction(gpiod::line::direction::INPUT)
              .set_edge_detection(to_gpiod(spec.edge))
              .set_bias(to_gpiod(spec.bias))
              .set_active_low(spec.active_low)
              .set_event_clock(to_gpiod(spec.clock))
              .set_debounce_period(std::chrono::microseconds(spec.debounce_us));
          builder.add_line_settings(spec.offset, settings);
        }
        return builder.do_request();
      }()),
      kernel_events_(std::max<std::size_t>(event_buffer_size, 1)) {
  for (const auto& offset : request_.offsets()) offsets_.push_back(offset);
  // Non-blocking: read_events() is called after poll(2) said POLLIN, and drains until the
  // FIFO is empty; a read of an empty FIFO must then say EAGAIN, not block the RT thread.
  const int flags = ::fcntl(request_.fd(), F_GETFL);
  if (flags < 0 || ::fcntl(request_.fd(), F_SETFL, flags | O_NONBLOCK) < 0)
    throw std::system_error(errno, std::generic_category(),
                            chip_path + ": cannot make the line request non-blocking");
}

int GpiodSource::read_events(std::span<RawEdge> out) noexcept {
  const std::size_t want = std::min(out.size(), kernel_events_.size());
  if (want == 0) return 0;
  ssize_t r = 0;
  do {
    r = ::read(request_.fd(), kernel_events_.data(), want * sizeof(gpio_v2_line_event));
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno == EAGAIN ? 0 : -errno;  // ENODEV: the chip went away
  // The kernel copies whole events only; anything else is not a GPIO line request.
  if (static_cast<std::size_t>(r) % sizeof(gpio_v2_line_event) != 0) return -EIO;
  const std::size_t n = static_cast<std::size_t>(r) / sizeof(gpio_v2_line_event);
  for (std::size_t i = 0; i < n; ++i) {
    const gpio_v2_line_event& ev = kernel_events_[i];
    out[i].timestamp_ns = ev.timestamp_ns;
    out[i].offset = ev.offset;
    out[i].line_seqno = ev.line_seqno;
    out[i].global_seqno = ev.seqno;
    // The kernel has applied active-low already: the id is the edge as the user sees it.
    out[i].rising = ev.id == GPIO_V2_LINE_EVENT_RISING_EDGE;
  }
  order_by_request_seqno(out.first(n));
  return static_cast<int>(n);
}

int GpiodSource::read_level(std::uint32_t offset) noexcept {
  // The GET_VALUES ioctl straight on the request fd: libgpiod's C++ get_value() builds
  // a vector, which the RT thread must not do.
  const auto it = std::find(offsets_.begin(), offsets_.end(), offset);
  if (it == offsets_.end()) return -EINVAL;
  const auto index = static_cast<unsigned>(it - offsets_.begin());
  gpio_v2_line_values values{};
  values.mask = std::uint64_t{1} << index;
  if (::ioctl(request_.fd(), GPIO_V2_LINE_GET_VALUES_IOCTL, &values) < 0) return -errno;
  return (values.bits >> index) & 1 ? 1 : 0;
}

}  // namespace gpioirq::gpio
