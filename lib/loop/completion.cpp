#include "loop/completion.hpp"

#include "loop/event_loop.hpp"

namespace gpioirq::loop {

Completion::~Completion() {
  abandon();
}

std::optional<int> Completion::abandon() noexcept {
  if (loop_ == nullptr) return std::nullopt;
  return loop_->withdraw(*this);
}

}  // namespace gpioirq::loop
