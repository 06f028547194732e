#include "loop/flag_waiter.hpp"

#include <utility>

namespace gpioirq::loop {

FlagWaiter::FlagWaiter(EventLoop& loop, core::ThreadSafeFlag& flag, Callback callback)
    : ReadWatcher(loop, &counter_, sizeof counter_), flag_(flag), callback_(std::move(callback)) {}

// counter_ is ours: the kernel must be done with it before it goes.
FlagWaiter::~FlagWaiter() {
  abandon();
}

void FlagWaiter::on_read(int /*res*/) {
  flag_.consume();
  ++wakes_;
  if (callback_) callback_();
}

}  // namespace gpioirq::loop
