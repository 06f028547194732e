#include "loop/timer.hpp"

#include <cerrno>
#include <ctime>
#include <utility>

namespace gpioirq::loop {

namespace {
constexpr std::uint64_t kNsPerSec = 1'000'000'000;
}

Timer::Timer(EventLoop& loop, Callback callback)
    : event_loop_(loop), callback_(std::move(callback)) {}

Timer::~Timer() {
  abandon();
}

std::uint64_t Timer::now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<std::uint64_t>(ts.tv_nsec);
}

int Timer::start_once(std::uint64_t delay_ns) noexcept {
  return start(Mode::once, delay_ns, 0);
}

int Timer::start_once(std::uint64_t delay_ns, Callback callback) {
  callback_ = std::move(callback);
  return start_once(delay_ns);
}

int Timer::start_periodic(std::uint64_t period_ns) noexcept {
  if (period_ns == 0) return -EINVAL;
  return start(Mode::periodic, period_ns, period_ns);
}

int Timer::start_periodic(std::uint64_t period_ns, Callback callback) {
  callback_ = std::move(callback);
  return start_periodic(period_ns);
}

void Timer::set_callback(Callback callback) {
  callback_ = std::move(callback);
}

void Timer::cancel() noexcept {
  mode_ = Mode::idle;
  restart_ = false;
  // The -ECANCELED (or a racing -ETIME) that follows finds mode_ idle and does nothing.
  if (in_flight()) event_loop_.cancel(*this);
}

int Timer::start(Mode mode, std::uint64_t delay_ns, std::uint64_t period_ns) noexcept {
  mode_ = mode;
  period_ns_ = period_ns;
  deadline_ns_ = now_ns() + delay_ns;
  error_ = 0;
  if (in_flight()) {
    // One op per Completion: the old timeout must come back before the new one is armed.
    restart_ = true;
    const int r = event_loop_.cancel(*this);
    if (r < 0 && r != -ENOENT) {
      mode_ = Mode::idle;
      restart_ = false;
      return r;
    }
    return 0;
  }
  return arm();
}

int Timer::arm() noexcept {
  when_.tv_sec = static_cast<decltype(when_.tv_sec)>(deadline_ns_ / kNsPerSec);
  when_.tv_nsec = static_cast<decltype(when_.tv_nsec)>(deadline_ns_ % kNsPerSec);
  const int r = event_loop_.timeout_at(when_, *this);
  if (r < 0) {
    mode_ = Mode::idle;
    error_ = r;
  }
  return r;
}

void Timer::complete(int res, std::uint32_t /*cqe_flags*/) {
  if (restart_) {
    restart_ = false;
    if (mode_ != Mode::idle) arm();
    return;
  }
  if (mode_ == Mode::idle) return;  // cancelled
  if (res != -ETIME) {
    // Cancelled by someone else's EventLoop::cancel(), or an error: the timer stops.
    if (res != -ECANCELED) error_ = res;
    mode_ = Mode::idle;
    return;
  }
  if (mode_ == Mode::once) {
    mode_ = Mode::idle;
    if (callback_) callback_();
    return;
  }
  // Periodic: the next deadline follows the previous one, so lateness does not accumulate.
  // If the loop fell a whole period or more behind, skip the missed ticks instead of firing
  // a burst of them, and count them.
  deadline_ns_ += period_ns_;
  const std::uint64_t now = now_ns();
  if (deadline_ns_ <= now) {
    const std::uint64_t missed = (now - deadline_ns_) / period_ns_ + 1;
    deadline_ns_ += missed * period_ns_;
    overruns_ += missed;
  }
  // Armed before the callback so that the callback can cancel() or restart it.
  arm();
  if (callback_) callback_();
}

}  // namespace gpioirq::loop
