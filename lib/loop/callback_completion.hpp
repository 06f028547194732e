#pragma once
// CallbackCompletion: a Completion that forwards the result to a std::function, for code
// that would rather not write a Completion subclass (control socket sessions, tests).
// Calling the function does not allocate; set the callback once, not per event.

#include <cstdint>
#include <functional>
#include <utility>

#include "loop/completion.hpp"

namespace gpioirq::loop {

class CallbackCompletion final : public Completion {
 public:
  using Callback = std::function<void(int res, std::uint32_t cqe_flags)>;

  CallbackCompletion() = default;
  explicit CallbackCompletion(Callback callback) : callback_(std::move(callback)) {}
  // The op must be withdrawn before callback_ (which may own its buffer) goes away.
  ~CallbackCompletion() override { abandon(); }

  // Not while this completion's own callback is running (it would destroy the running one).
  void set_callback(Callback callback) { callback_ = std::move(callback); }

 private:
  void complete(int res, std::uint32_t cqe_flags) override {
    if (callback_) callback_(res, cqe_flags);
  }

  Callback callback_;
};

}  // namespace gpioirq::loop
