#pragma once
// A value read from a small file every interval by a loop timer (seed §2.1), e.g.
// /sys/class/thermal/thermal_zone0/temp: value = raw * scale + offset.
//
// read() does a blocking open/read/close. That is acceptable on the loop thread for
// sysfs and procfs attributes: the kernel produces them in memory, without disk I/O,
// in microseconds. For a file on a real disk, read it through the loop (io_uring) and
// hand the text to parse().

#include <cstdint>
#include <string>
#include <string_view>

#include "config/schema.hpp"

namespace gpioirq::devices {

struct PollReading {
  double raw = 0.0;     // the number in the file
  double value = 0.0;   // raw * scale + offset
  int error = 0;        // 0 = ok; else an errno (EINVAL: no number in the text)
  std::string message;  // empty when ok; else what failed, with the path
  bool ok() const noexcept { return error == 0; }
};

class PolledSource {
 public:
  static constexpr std::size_t kMaxFileBytes = 4096;

  explicit PolledSource(const config::PollConfig& cfg);

  // Read the file now and parse it; also stored as last().
  const PollReading& poll();
  // Parse text holding one number (integer or decimal, surrounding whitespace allowed)
  // with this source's scale and offset. No I/O.
  PollReading parse(std::string_view text) const;

  const PollReading& last() const noexcept { return last_; }
  std::uint64_t reads() const noexcept { return reads_; }
  std::uint64_t errors() const noexcept { return errors_; }
  const config::PollConfig& config() const noexcept { return cfg_; }

 private:
  config::PollConfig cfg_;
  PollReading last_;
  std::uint64_t reads_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace gpioirq::devices
