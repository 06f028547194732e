#pragma once
// A value read from a small file every interval by a loop timer (seed §2.1), e.g.
// /sys/class/thermal/thermal_zone0/temp: value = raw * scale + offset.
//
// Nothing here may block the event loop. The file is opened non-blocking (a FIFO without
// a writer then opens at once and reads end of file; one whose writer has written nothing
// reads EAGAIN), and the daemon reads it through the loop (io_uring) with a deadline,
// cancelling a read that takes longer (a slow device file): open_nonblocking() gives the
// fd, complete() takes the outcome. poll() does the same synchronously with plain
// non-blocking reads, for tests and tools.
//
// Each outcome is accounted: reads, errors, consecutive failures, the time of the last
// success, and whether the state (ok, or which error) changed, so that the daemon logs
// a state change once instead of the same error every interval.

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

  // open(2) of the path, O_RDONLY | O_NONBLOCK (never waits for a FIFO's writer); a
  // regular file's fd is then set back to blocking (see the .cpp). An fd, or -errno.
  int open_nonblocking() const noexcept;
  // Accounts one read: err = 0 and the text read, or an errno (the open's or the
  // read's; ETIMEDOUT: the daemon cancelled a read that outlived its deadline).
  // now_ns: CLOCK_MONOTONIC, kept as the last success time. Also stored as last().
  const PollReading& complete(int err, std::string_view text, std::uint64_t now_ns);

  // Open, read (non-blocking) and parse now.
  const PollReading& poll();
  // Parse text holding one number (integer or decimal, surrounding whitespace allowed)
  // with this source's scale and offset. No I/O.
  PollReading parse(std::string_view text) const;

  const PollReading& last() const noexcept { return last_; }
  std::uint64_t reads() const noexcept { return reads_; }
  std::uint64_t errors() const noexcept { return errors_; }
  std::uint32_t consecutive_failures() const noexcept { return consecutive_failures_; }
  // CLOCK_MONOTONIC ns of the last successful reading; 0: none yet.
  std::uint64_t last_ok_ns() const noexcept { return last_ok_ns_; }
  // Whether the last complete() changed the state: ok <-> failing, or another error.
  // The first reading counts as a change when it fails.
  bool state_changed() const noexcept { return state_changed_; }
  const config::PollConfig& config() const noexcept { return cfg_; }

 private:
  config::PollConfig cfg_;
  PollReading last_;
  std::uint64_t reads_ = 0;
  std::uint64_t errors_ = 0;
  std::uint32_t consecutive_failures_ = 0;
  std::uint64_t last_ok_ns_ = 0;
  bool state_changed_ = false;
};

}  // namespace gpioirq::devices
