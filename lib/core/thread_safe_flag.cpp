#include "core/thread_safe_flag.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace gpioirq::core {

ThreadSafeFlag::ThreadSafeFlag() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw std::system_error(errno, std::system_category(), "eventfd");
}

void ThreadSafeFlag::set() noexcept {
  // Only the transition clear -> set costs a syscall; that is the coalescing.
  if (pending_.exchange(true, std::memory_order_seq_cst)) return;
  const int saved_errno = errno;  // set() may run inside a signal handler
  const std::uint64_t one = 1;
  // EAGAIN cannot happen: the counter is read to zero on every consume path long
  // before it could approach 2^64-1. Nothing else can fail on a valid eventfd.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
  wake_writes_.fetch_add(1, std::memory_order_relaxed);
  errno = saved_errno;
}

bool ThreadSafeFlag::consume() noexcept { return pending_.exchange(false, std::memory_order_seq_cst); }

bool ThreadSafeFlag::wait_blocking(int timeout_ms) noexcept {
  pollfd pfd{fd_.get(), POLLIN, 0};
  for (;;) {
    const int r = ::poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t n = ::read(fd_.get(), &count, sizeof count);
    consume();
    return true;
  }
}

}  // namespace gpioirq::core
