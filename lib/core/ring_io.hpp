#pragma once
// RingIO: a single-producer single-consumer byte ring, after micropython.RingIO (seed
// §3.4). The RT thread writes whole IMU frames; the event loop reads blocks of frames.
//
// Scheme: the read and write positions are free-running 64-bit byte counters, masked
// only when the buffer is touched, so all `capacity()` bytes are usable. MicroPython's
// RingIO keeps one byte free to tell full from empty; counters that never wrap tell
// them apart without it (full: written - read == capacity).
//
// - write() is all-or-nothing: a frame is never split by a full ring, so the reader
//   never has to resynchronise after an overrun. The caller counts a refused write.
// - read() takes what is there, up to the buffer's size (readinto in MicroPython).
// - read_exactly() takes exactly n bytes or nothing; the event loop waits on the
//   producer's ThreadSafeFlag and calls it again (readexactly in asyncio terms).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/spsc_ring.hpp"

namespace gpioirq::core {

class RingIO {
 public:
  // capacity: usable bytes, any size >= 1 (sized as frame_size * frames by the caller).
  explicit RingIO(std::size_t capacity);
  RingIO(const RingIO&) = delete;
  RingIO& operator=(const RingIO&) = delete;

  // Producer side. Writes all of data or nothing; false when it does not fit.
  bool write(std::span<const std::byte> data) noexcept;

  // Consumer side.
  std::size_t read(std::span<std::byte> out) noexcept;   // up to out.size() bytes
  bool read_exactly(std::span<std::byte> out) noexcept;  // out.size() bytes or none
  std::size_t available() const noexcept;                // bytes readable now

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t free_space() const noexcept { return capacity_ - available(); }
  std::size_t high_water() const noexcept { return high_water_.load(std::memory_order_relaxed); }

 private:
  void copy_out(std::uint64_t from, std::span<std::byte> out) const noexcept;

  const std::size_t capacity_;
  std::unique_ptr<std::byte[]> buffer_;
  alignas(kCacheLine) std::atomic<std::uint64_t> written_{0};  // producer
  std::uint64_t cached_read_ = 0;                              // producer's copy
  alignas(kCacheLine) std::atomic<std::uint64_t> read_{0};     // consumer
  std::atomic<std::size_t> high_water_{0};                     // producer writes
};

}  // namespace gpioirq::core
