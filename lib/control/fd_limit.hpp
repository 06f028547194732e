#pragma once
// The file descriptors the control server needs: one per client on top of what the
// daemon holds. A shipped unit or a shell gives a soft RLIMIT_NOFILE of 1024, less than
// 1024 clients plus the daemon's own fds, so accept() would fail before the documented
// client limit and a client past it would wait for nothing. The server raises the soft
// limit (up to the hard one) at start and, when it cannot, serves fewer clients and
// says so.

#include <cstddef>
#include <cstdint>
#include <string>

namespace gpioirq::control {

struct FdLimit {
  std::uint64_t wanted = 0;  // soft limit asked for
  std::uint64_t got = 0;     // soft limit in force afterwards
  std::uint64_t hard = 0;    // the hard limit (RLIM_INFINITY as UINT64_MAX)
  std::string refused;       // why `got` < `wanted`; empty when enough
  bool enough() const noexcept { return got >= wanted; }
};

// Raises the soft RLIMIT_NOFILE to `wanted`, or as near as the hard limit allows; never
// lowers it.
FdLimit raise_open_file_limit(std::uint64_t wanted);

// Entries in /proc/self/fd (0 if it cannot be read).
std::size_t count_open_fds();

}  // namespace gpioirq::control
