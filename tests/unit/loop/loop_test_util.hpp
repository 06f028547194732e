#pragma once
// Helpers for the loop tests: drive the loop until a condition holds (bounded, so a broken
// loop fails the test instead of hanging it), and a private temp directory.

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>

#include "loop/event_loop.hpp"
#include "support/temp_dir.hpp"

namespace gpioirq::loop::test {

// Runs rounds until done() is true. The limit is a hang guard, not a timing assertion.
inline bool run_until(EventLoop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_once(50);
  }
  return true;
}

using TempDir = gpioirq_test::TempDir;

}  // namespace gpioirq::loop::test
