#pragma once
// FlagWaiter: how the loop waits on a core::ThreadSafeFlag. Started, it is on the loop's
// list of watched flags: every round the loop finds a set flag without a syscall (and
// runs the callback), and before the loop sleeps it announces the sleep to the flag, so
// that a producer's set() then writes the flag's eventfd, on which the waiter keeps an
// io_uring read in flight. Either way the waiter consume()s the flag and then calls the
// callback, which drains whatever the producer pushed. Because consume() comes first, a
// set() during the callback causes another callback, and any number of set() calls
// before it give one callback (coalescing).
//
// The re-arm is one SQE into the loop's ring and a member buffer: no allocation per wake.
// Rules: the callback runs on the loop thread, may call stop(), must not destroy the waiter.

#include <cstdint>
#include <functional>

#include "core/thread_safe_flag.hpp"
#include "loop/event_loop.hpp"
#include "loop/read_watcher.hpp"

namespace gpioirq::loop {

class FlagWaiter final : public ReadWatcher {
 public:
  using Callback = std::function<void()>;

  // Does not start waiting: call start(). The flag must outlive the waiter.
  FlagWaiter(EventLoop& loop, core::ThreadSafeFlag& flag, Callback callback);
  ~FlagWaiter() override;

  // 0 or -errno. A flag set before start() wakes the first round.
  int start() noexcept;
  // No callback after this.
  void stop() noexcept;

  // How many times the callback ran.
  std::uint64_t wakes() const noexcept { return wakes_; }

 private:
  friend class EventLoop;

  void on_read(int res) override;
  // Consumes the flag and runs the callback if it was set; returns whether it ran.
  bool fire();

  EventLoop& loop_;
  core::ThreadSafeFlag& flag_;
  Callback callback_;
  std::uint64_t counter_ = 0;  // the eventfd's count; its value does not matter
  std::uint64_t wakes_ = 0;

  // The loop's list of watched flags (EventLoop::watch).
  bool watched_ = false;
  FlagWaiter* watch_prev_ = nullptr;
  FlagWaiter* watch_next_ = nullptr;
  std::uint64_t fired_round_ = 0;
};

}  // namespace gpioirq::loop
