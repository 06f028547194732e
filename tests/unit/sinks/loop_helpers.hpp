#pragma once
// EventLoop helpers for the sinks tests: a loop (gpioirqd needs io_uring, so a machine
// without it fails these tests with the loop's own message rather than skipping them),
// and running the loop until a condition holds, with a deadline.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "loop/event_loop.hpp"

namespace sinks_test {

inline std::unique_ptr<gpioirq::loop::EventLoop> make_loop() {
  return std::make_unique<gpioirq::loop::EventLoop>(256);
}

// Runs loop rounds until pred() is true; false if timeout_ms passed first.
template <typename Pred>
bool run_until(gpioirq::loop::EventLoop& loop, Pred pred, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_once(20);
  }
  return true;
}

}  // namespace sinks_test
