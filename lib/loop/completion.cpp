#include "loop/completion.hpp"

#include "loop/event_loop.hpp"

namespace gpioirq::loop {

Completion::~Completion() {
  abandon();
}

void Completion::abandon() noexcept {
  if (loop_ != nullptr) loop_->withdraw(*this);
}

}  // namespace gpioirq::loop
