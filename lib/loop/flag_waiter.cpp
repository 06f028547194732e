#include "loop/flag_waiter.hpp"

#include <utility>

namespace gpioirq::loop {

FlagWaiter::FlagWaiter(EventLoop& loop, core::ThreadSafeFlag& flag, Callback callback)
    : ReadWatcher(loop, &counter_, sizeof counter_),
      loop_(loop),
      flag_(flag),
      callback_(std::move(callback)) {}

// counter_ is ours: the kernel must be done with it before it goes.
FlagWaiter::~FlagWaiter() {
  if (watched_) loop_.unwatch(*this);  // a loop destroyed first has unwatched us already
  abandon();
}

int FlagWaiter::start() noexcept {
  const int r = start_reading(flag_.fd());
  if (r == 0) loop_.watch(*this);
  return r;
}

void FlagWaiter::stop() noexcept {
  loop_.unwatch(*this);
  ReadWatcher::stop();
}

// The eventfd was written: a set() found the loop asleep. If a round already found the
// flag set and ran the callback, there is nothing new to drain.
void FlagWaiter::on_read(int /*res*/) {
  fire();
}

bool FlagWaiter::fire() {
  if (!running() || !flag_.consume()) return false;
  ++wakes_;
  if (callback_) callback_();
  return true;
}

}  // namespace gpioirq::loop
