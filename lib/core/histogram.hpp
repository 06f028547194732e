#pragma once
// Histogram: fixed-bucket log-linear histogram of non-negative integer values (latency
// in nanoseconds). Values below 2^kSubBits are exact; above, each power-of-two range is
// split into 2^kSubBits buckets, so a reported percentile is within 1/2^kSubBits (6.25 %)
// of the true value. record() touches one counter: no allocation, no branch on size.
// Owned by one thread (the event loop); merge() combines per-stream histograms.

#include <array>
#include <cstdint>

namespace gpioirq::core {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 4;
  static constexpr unsigned kSub = 1u << kSubBits;
  static constexpr unsigned kBuckets = (64 - kSubBits + 1) * kSub;

  void record(std::uint64_t value) noexcept {
    ++counts_[bucket_of(value)];
    ++count_;
    sum_ += value;
    if (value > max_) max_ = value;
    if (value < min_) min_ = value;
  }

  // The value at quantile q in [0, 1]: the upper bound of the bucket holding it, capped
  // at the exact maximum. 0 when empty.
  std::uint64_t quantile(double q) const noexcept;
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

  void merge(const Histogram& other) noexcept;
  void reset() noexcept { *this = Histogram{}; }

  // Buckets for printing: lower and upper bound (inclusive) of bucket i and its count.
  static std::uint64_t bucket_lower(unsigned i) noexcept;
  static std::uint64_t bucket_upper(unsigned i) noexcept;
  std::uint64_t bucket_count(unsigned i) const noexcept { return counts_[i]; }
  static unsigned bucket_of(std::uint64_t value) noexcept;

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
};

}  // namespace gpioirq::core
