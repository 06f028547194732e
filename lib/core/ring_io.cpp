#include "core/ring_io.hpp"

#include <cstring>
#include <stdexcept>

namespace gpioirq::core {

RingIO::RingIO(std::size_t capacity)
    : capacity_(capacity), buffer_(std::make_unique<std::byte[]>(capacity)) {
  if (capacity == 0) throw std::invalid_argument("RingIO capacity must be at least 1 byte");
}

bool RingIO::write(std::span<const std::byte> data) noexcept {
  const std::uint64_t written = written_.load(std::memory_order_relaxed);
  if (written + data.size() - cached_read_ > capacity_) {
    cached_read_ = read_.load(std::memory_order_acquire);
    if (written + data.size() - cached_read_ > capacity_) return false;
  }
  const std::size_t at = static_cast<std::size_t>(written % capacity_);
  const std::size_t first = data.size() < capacity_ - at ? data.size() : capacity_ - at;
  std::memcpy(buffer_.get() + at, data.data(), first);
  std::memcpy(buffer_.get(), data.data() + first, data.size() - first);
  written_.store(written + data.size(), std::memory_order_release);
  // An upper bound when cached_read_ is stale, exact when the ring is filling up (the
  // producer re-reads read_ whenever the cached value says the data would not fit).
  const std::size_t backlog = static_cast<std::size_t>(written + data.size() - cached_read_);
  if (backlog > high_water_.load(std::memory_order_relaxed))
    high_water_.store(backlog, std::memory_order_relaxed);
  return true;
}

void RingIO::copy_out(std::uint64_t from, std::span<std::byte> out) const noexcept {
  const std::size_t at = static_cast<std::size_t>(from % capacity_);
  const std::size_t first = out.size() < capacity_ - at ? out.size() : capacity_ - at;
  std::memcpy(out.data(), buffer_.get() + at, first);
  std::memcpy(out.data() + first, buffer_.get(), out.size() - first);
}

std::size_t RingIO::read(std::span<std::byte> out) noexcept {
  const std::uint64_t rd = read_.load(std::memory_order_relaxed);
  const std::uint64_t avail = written_.load(std::memory_order_acquire) - rd;
  const std::size_t n = out.size() < avail ? out.size() : static_cast<std::size_t>(avail);
  copy_out(rd, out.first(n));
  read_.store(rd + n, std::memory_order_release);
  return n;
}

bool RingIO::read_exactly(std::span<std::byte> out) noexcept {
  const std::uint64_t rd = read_.load(std::memory_order_relaxed);
  if (written_.load(std::memory_order_acquire) - rd < out.size()) return false;
  copy_out(rd, out);
  read_.store(rd + out.size(), std::memory_order_release);
  return true;
}

std::size_t RingIO::available() const noexcept {
  return static_cast<std::size_t>(written_.load(std::memory_order_acquire) -
                                  read_.load(std::memory_order_acquire));
}

}  // namespace gpioirq::core
