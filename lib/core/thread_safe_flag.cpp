#include "core/thread_safe_flag.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace gpioirq::core {

namespace {

std::int64_t monotonic_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

ThreadSafeFlag::ThreadSafeFlag() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw std::system_error(errno, std::system_category(), "eventfd");
}

void ThreadSafeFlag::set() noexcept {
  // Only a waiter that announced its sleep needs the syscall; that is the coalescing.
  if (state_.exchange(kSet, std::memory_order_seq_cst) != kSleeping) return;
  const int saved_errno = errno;  // set() may run inside a signal handler
  const std::uint64_t one = 1;
  // EAGAIN cannot happen: the waiter reads the counter to zero on every wake, and at
  // most one write happens per announced sleep. Nothing else can fail on a valid eventfd.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
  wake_writes_.fetch_add(1, std::memory_order_relaxed);
  errno = saved_errno;
}

bool ThreadSafeFlag::consume() noexcept {
  std::uint32_t expected = kSet;
  return state_.compare_exchange_strong(expected, kClear, std::memory_order_seq_cst);
}

bool ThreadSafeFlag::announce_sleep() noexcept {
  std::uint32_t expected = kClear;
  if (state_.compare_exchange_strong(expected, kSleeping, std::memory_order_seq_cst)) return true;
  return expected != kSet;  // kSleeping already: still announced
}

void ThreadSafeFlag::announce_awake() noexcept {
  std::uint32_t expected = kSleeping;
  state_.compare_exchange_strong(expected, kClear, std::memory_order_seq_cst);
}

bool ThreadSafeFlag::wait_blocking(int timeout_ms) noexcept {
  const std::int64_t deadline = timeout_ms < 0 ? 0 : monotonic_ms() + timeout_ms;
  std::uint64_t count = 0;
  for (;;) {
    if (!announce_sleep()) {
      // Set already. A set() that found an earlier announced sleep may have written the
      // eventfd: empty it (non-blocking) so that the next wait does not wake for it.
      [[maybe_unused]] ssize_t n = ::read(fd_.get(), &count, sizeof count);
      return consume();
    }
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      const std::int64_t left = deadline - monotonic_ms();
      wait_ms = left > 0 ? static_cast<int>(left) : 0;
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    const int r = ::poll(&pfd, 1, wait_ms);
    const int poll_errno = errno;
    if (r > 0) {
      [[maybe_unused]] ssize_t n = ::read(fd_.get(), &count, sizeof count);
    }
    announce_awake();
    if (consume()) return true;
    // Nothing set: a timeout, an error, or a count left by a write whose set() was
    // consumed before this wait (then wait again for what is left of the timeout).
    if (r == 0 || (r < 0 && poll_errno != EINTR)) return false;
    if (timeout_ms >= 0 && monotonic_ms() >= deadline) return false;
  }
}

}  // namespace gpioirq::core
