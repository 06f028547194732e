#include "sinks/previous_run.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/unique_fd.hpp"

namespace gpioirq::sinks {

RunMarker::RunMarker(std::string log_dir) : path_(std::move(log_dir) + "/.gpioirqd-running") {
  struct stat st{};
  previous_unstopped_ = ::lstat(path_.c_str(), &st) == 0;
}

int RunMarker::mark_running() noexcept {
  core::UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640));
  if (!fd) return -errno;
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::write(fd.get(), pid.data(), pid.size()) < 0) return -errno;
  return 0;
}

int RunMarker::mark_stopped() noexcept {
  return ::unlink(path_.c_str()) == 0 || errno == ENOENT ? 0 : -errno;
}

}  // namespace gpioirq::sinks
