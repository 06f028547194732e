#include "devices/pulse_counter.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace gpioirq::devices {

PulseCounter::PulseCounter(const config::CounterConfig& cfg)
    : edge_(cfg.edge), scale_(cfg.scale), window_ns_(std::uint64_t{cfg.window_ms} * 1'000'000) {
  if (cfg.window_ms == 0)
    throw std::invalid_argument("counter '" + cfg.name + "': window_ms must be > 0");
  bucket_ns_ = std::max<std::uint64_t>(1, window_ns_ / kBuckets);
}

bool PulseCounter::on_edge(bool level, std::uint64_t ts_ns) noexcept {
  if (!is_pulse(edge_, level)) return false;
  ++count_;
  prev_ts_ = last_ts_;
  last_ts_ = ts_ns;
  const std::uint64_t epoch = ts_ns / bucket_ns_ + 1;
  Bucket& b = buckets_[epoch % kBuckets];
  if (b.epoch != epoch) b = Bucket{epoch, 0, ts_ns, ts_ns};
  ++b.count;
  b.last_ts = ts_ns;
  return true;
}

double PulseCounter::frequency(std::uint64_t now_ns) const noexcept {
  now_ns = std::max(now_ns, last_ts_);
  if (count_ == 0 || now_ns - last_ts_ > window_ns_) return 0.0;
  const std::uint64_t now_epoch = now_ns / bucket_ns_ + 1;
  std::uint64_t n = 0;
  std::uint64_t first = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t last = 0;
  for (const Bucket& b : buckets_) {
    if (b.epoch == 0 || b.epoch > now_epoch || now_epoch - b.epoch >= kBuckets) continue;
    n += b.count;
    first = std::min(first, b.first_ts);
    last = std::max(last, b.last_ts);
  }
  if (n >= 2 && last > first)
    return static_cast<double>(n - 1) * 1e9 / static_cast<double>(last - first);
  if (count_ >= 2 && last_ts_ > prev_ts_) return 1e9 / static_cast<double>(last_ts_ - prev_ts_);
  return 0.0;
}

void PulseCounter::reset() noexcept {
  count_ = 0;
  last_ts_ = 0;
  prev_ts_ = 0;
  buckets_.fill(Bucket{});
}

}  // namespace gpioirq::devices
