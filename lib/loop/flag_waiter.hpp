#pragma once
// FlagWaiter: how the loop waits on a core::ThreadSafeFlag. It keeps an io_uring read of the
// flag's eventfd in flight; when a producer's set() wakes it, it consume()s the flag and
// then calls the callback, which drains whatever the producer pushed. Because consume()
// comes first, a set() during the callback causes another wake, and any number of set()
// calls before the wake give one callback (coalescing).
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
  int start() noexcept { return start_reading(flag_.fd()); }
  using ReadWatcher::stop;

  // How many times the callback ran.
  std::uint64_t wakes() const noexcept { return wakes_; }

 private:
  void on_read(int res) override;

  core::ThreadSafeFlag& flag_;
  Callback callback_;
  std::uint64_t counter_ = 0;  // the eventfd's count; its value does not matter
  std::uint64_t wakes_ = 0;
};

}  // namespace gpioirq::loop
