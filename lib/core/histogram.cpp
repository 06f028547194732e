#include "core/histogram.hpp"

#include <bit>
#include <cmath>

namespace gpioirq::core {

unsigned Histogram::bucket_of(std::uint64_t value) noexcept {
  if (value < kSub) return static_cast<unsigned>(value);
  const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(value));  // >= kSubBits
  const unsigned shift = msb - kSubBits;
  const unsigned sub = static_cast<unsigned>(value >> shift) - kSub;  // 0..kSub-1
  return (shift + 1) * kSub + sub;
}

std::uint64_t Histogram::bucket_lower(unsigned i) noexcept {
  if (i < kSub) return i;
  const unsigned shift = i / kSub - 1;
  const std::uint64_t sub = i % kSub;
  return (kSub + sub) << shift;
}

std::uint64_t Histogram::bucket_upper(unsigned i) noexcept {
  if (i < kSub) return i;
  const unsigned shift = i / kSub - 1;
  return bucket_lower(i) + ((std::uint64_t{1} << shift) - 1);
}

std::uint64_t Histogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  if (q <= 0) return min();
  if (q >= 1) return max_;
  // The rank of the value wanted, 1-based: the smallest value with at least q of the
  // samples at or below it.
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (unsigned i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t upper = bucket_upper(i);
      return upper < max_ ? upper : max_;
    }
  }
  return max_;
}

void Histogram::merge(const Histogram& other) noexcept {
  for (unsigned i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  if (other.max_ > max_) max_ = other.max_;
  if (other.min_ < min_) min_ = other.min_;
}

}  // namespace gpioirq::core
