#include "sinks/rotation.hpp"

#include <cerrno>
#include <cstdio>
#include <unistd.h>

namespace gpioirq::sinks {

std::string rotated_path(std::string_view path, std::uint32_t n) {
  std::string p(path);
  if (n > 0) {
    p += '.';
    p += std::to_string(n);
  }
  return p;
}

int rotate_files(std::string_view path, std::uint32_t keep) {
  int first_error = 0;
  auto note = [&first_error](int r) {
    if (r != 0 && errno != ENOENT && first_error == 0) first_error = -errno;
  };
  if (keep == 0) {
    note(::unlink(std::string(path).c_str()));
  } else {
    for (std::uint32_t n = keep - 1; n >= 1; --n) {
      note(std::rename(rotated_path(path, n).c_str(), rotated_path(path, n + 1).c_str()));
    }
    note(std::rename(std::string(path).c_str(), rotated_path(path, 1).c_str()));
  }
  // Leftovers of a larger retention count: stop at the first one missing.
  for (std::uint32_t n = keep + 1;; ++n) {
    if (::unlink(rotated_path(path, n).c_str()) != 0) {
      if (errno != ENOENT && first_error == 0) first_error = -errno;
      break;
    }
  }
  return first_error;
}

}  // namespace gpioirq::sinks
