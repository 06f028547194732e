#include "control/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace gpioirq::control {

FdLimit raise_open_file_limit(std::uint64_t wanted) {
  FdLimit out;
  out.wanted = wanted;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    out.refused = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return out;
  }
  out.hard = lim.rlim_max;
  out.got = lim.rlim_cur;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted) {
    const rlim_t before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, lim.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &lim) == 0) {
      out.got = lim.rlim_cur;
    } else {
      out.got = before;
      out.refused = std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
      return out;
    }
  }
  if (!out.enough())
    out.refused =
        "the hard limit on open files (RLIMIT_NOFILE, LimitNOFILE= in a systemd unit) is " +
        std::to_string(out.hard);
  return out;
}

std::size_t count_open_fds() {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  // The iterator's own fd was listed too.
  return n > 0 ? n - 1 : 0;
}

}  // namespace gpioirq::control
