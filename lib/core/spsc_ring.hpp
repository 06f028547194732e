#pragma once
// SpscRing<T>: bounded lock-free ring for exactly one producer thread and one consumer
// thread. The RT ingest thread pushes EdgeRecords; the event loop pops them.
//
// - Capacity is a power of two, fixed at construction (the only allocation).
// - Indices run freely (64-bit, never wrap in practice) and are masked on access, so
//   every slot is usable: no reserved slot.
// - head_ (consumer) and tail_ (producer) live on separate cache lines, each next to
//   the owner's cached copy of the other side's index: the producer re-reads head_ only
//   when its cached copy says the ring is full, the consumer re-reads tail_ only when its
//   cached copy says the ring is empty. That keeps cache-line ping-pong to a minimum.
// - try_push is wait-free and reports "full"; the caller counts the drop.
// - high_water() is the largest backlog the consumer found when it looked (the moment
//   before a drain, when the backlog is largest); capacity() when a push was refused.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace gpioirq::core {

inline constexpr std::size_t kCacheLine = 64;

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "records are copied as bytes");

 public:
  explicit SpscRing(std::size_t capacity)
      : capacity_(capacity), mask_(capacity - 1), slots_(std::make_unique<T[]>(capacity)) {
    if (capacity < 2 || !std::has_single_bit(capacity))
      throw std::invalid_argument("SpscRing capacity must be a power of two >= 2");
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer side.
  bool try_push(const T& item) noexcept {
    const std::uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    if (tail - producer_.cached_head >= capacity_) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      if (tail - producer_.cached_head >= capacity_) {
        note_refused();
        return false;
      }
    }
    slots_[tail & mask_] = item;
    producer_.tail.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Pushes as many leading items as fit; returns how many. One release store per batch.
  std::size_t try_push_batch(std::span<const T> items) noexcept {
    const std::uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    std::uint64_t room = capacity_ - (tail - producer_.cached_head);
    if (room < items.size()) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      room = capacity_ - (tail - producer_.cached_head);
    }
    const std::size_t n = items.size() < room ? items.size() : static_cast<std::size_t>(room);
    if (n < items.size()) note_refused();
    copy_in(tail, items.first(n));
    if (n) producer_.tail.store(tail + n, std::memory_order_release);
    return n;
  }

  // Consumer side.
  bool try_pop(T& out) noexcept {
    const std::uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    if (head == consumer_.cached_tail) {
      refresh_tail(head);
      if (head == consumer_.cached_tail) return false;
    }
    out = slots_[head & mask_];
    consumer_.head.store(head + 1, std::memory_order_release);
    return true;
  }

  // Pops up to out.size() items; returns how many. One acquire load and one release
  // store per batch.
  std::size_t pop_batch(std::span<T> out) noexcept {
    const std::uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    if (consumer_.cached_tail - head < out.size()) refresh_tail(head);
    const std::uint64_t avail = consumer_.cached_tail - head;
    const std::size_t n = out.size() < avail ? out.size() : static_cast<std::size_t>(avail);
    const std::size_t first = static_cast<std::size_t>(head & mask_);
    const std::size_t first_len = n < capacity_ - first ? n : capacity_ - first;
    std::copy_n(&slots_[first], first_len, out.data());
    std::copy_n(&slots_[0], n - first_len, out.data() + first_len);
    if (n) consumer_.head.store(head + n, std::memory_order_release);
    return n;
  }

  // Either side, approximate while the other side runs.
  std::size_t size() const noexcept {
    const std::uint64_t head = consumer_.head.load(std::memory_order_acquire);
    const std::uint64_t tail = producer_.tail.load(std::memory_order_acquire);
    return static_cast<std::size_t>(tail - head);
  }
  bool empty() const noexcept { return size() == 0; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t high_water() const noexcept {
    if (producer_.refused.load(std::memory_order_relaxed)) return capacity_;
    return consumer_.high_water.load(std::memory_order_relaxed);
  }
  // Consumer side: forget the high-water mark (the control socket's `reset`).
  void reset_high_water() noexcept {
    producer_.refused.store(false, std::memory_order_relaxed);
    consumer_.high_water.store(0, std::memory_order_relaxed);
  }

 private:
  void copy_in(std::uint64_t tail, std::span<const T> items) noexcept {
    const std::size_t first = static_cast<std::size_t>(tail & mask_);
    const std::size_t first_len = items.size() < capacity_ - first ? items.size() : capacity_ - first;
    std::copy_n(items.data(), first_len, &slots_[first]);
    std::copy_n(items.data() + first_len, items.size() - first_len, &slots_[0]);
  }
  void refresh_tail(std::uint64_t head) noexcept {
    consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
    const std::size_t backlog = static_cast<std::size_t>(consumer_.cached_tail - head);
    if (backlog > consumer_.high_water.load(std::memory_order_relaxed))
      consumer_.high_water.store(backlog, std::memory_order_relaxed);
  }
  // Written only on the first refusal, so a producer spinning on a full ring does not
  // keep dirtying a cache line.
  void note_refused() noexcept {
    if (!producer_.refused.load(std::memory_order_relaxed))
      producer_.refused.store(true, std::memory_order_relaxed);
  }

  const std::size_t capacity_;
  const std::uint64_t mask_;
  std::unique_ptr<T[]> slots_;

  // Each side's fields share a cache line with nothing the other side writes. Every field
  // has one writer, so no read-modify-write is needed.
  struct alignas(kCacheLine) ProducerSide {
    std::atomic<std::uint64_t> tail{0};
    std::uint64_t cached_head = 0;
    std::atomic<bool> refused{false};
  } producer_;
  struct alignas(kCacheLine) ConsumerSide {
    std::atomic<std::uint64_t> head{0};
    std::uint64_t cached_tail = 0;
    std::atomic<std::size_t> high_water{0};
  } consumer_;
};

}  // namespace gpioirq::core
