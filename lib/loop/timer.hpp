#pragma once
// Timer: one-shot and periodic timers on CLOCK_MONOTONIC, driven by the EventLoop.
//
// Built on IORING_OP_TIMEOUT with absolute deadlines rather than on a timerfd: no fd per
// timer and no extra read per expiry, and because each period is armed at
// previous_deadline + period (not now + period) a periodic timer does not drift however late
// the loop runs. Kernels before 6.4 have no multishot timeout, so a periodic timer re-arms
// itself on each expiry (no allocation: the SQE points at a member timespec).
//
// Rules: the callback runs on the loop thread. It may call cancel() and the start_*()
// overloads without a callback (set_callback() and the overloads that take one must not be
// called from inside this timer's own callback), and must not destroy the Timer.

#include <cstdint>
#include <functional>

#include "loop/completion.hpp"
#include "loop/event_loop.hpp"

namespace gpioirq::loop {

class Timer final : private Completion {
 public:
  using Callback = std::function<void()>;

  explicit Timer(EventLoop& loop, Callback callback = {});
  ~Timer() override;

  // Fire once, delay_ns from now. Restarts the timer if it is running.
  int start_once(std::uint64_t delay_ns) noexcept;
  int start_once(std::uint64_t delay_ns, Callback callback);
  // Fire every period_ns (> 0), first one period from now. Restarts the timer if running.
  int start_periodic(std::uint64_t period_ns) noexcept;
  int start_periodic(std::uint64_t period_ns, Callback callback);
  // No callback after this returns (a pending expiry is cancelled).
  void cancel() noexcept;

  void set_callback(Callback callback);
  // Started and not yet expired (one-shot) or cancelled (periodic).
  bool active() const noexcept { return mode_ != Mode::idle; }
  // Periods a periodic timer skipped because the loop came back later than a full period.
  std::uint64_t overruns() const noexcept { return overruns_; }
  // Last error that stopped the timer (-errno), or 0.
  int error() const noexcept { return error_; }

  // CLOCK_MONOTONIC now, in nanoseconds (the timers' time base).
  static std::uint64_t now_ns() noexcept;

 private:
  enum class Mode { idle, once, periodic };

  int start(Mode mode, std::uint64_t delay_ns, std::uint64_t period_ns) noexcept;
  int arm() noexcept;
  void complete(int res, std::uint32_t cqe_flags) override;

  EventLoop& event_loop_;
  Callback callback_;
  __kernel_timespec when_{};  // read by the kernel when the SQE is submitted
  std::uint64_t deadline_ns_ = 0;
  std::uint64_t period_ns_ = 0;
  std::uint64_t overruns_ = 0;
  Mode mode_ = Mode::idle;
  bool restart_ = false;  // a new deadline waits for the old timeout's cancellation
  int error_ = 0;
};

}  // namespace gpioirq::loop
