#pragma once
// SignalSet: receives signals as ordinary events on the loop (chrony and systemd style).
// The constructor blocks the signals with pthread_sigmask in the calling thread and opens a
// signalfd for them; the loop reads it, and the callback gets each signal number.
//
// Construct it on the loop thread before any other thread starts, so that every thread
// inherits the blocked mask and the signals stay pending for the signalfd instead of being
// delivered to some other thread. The signals stay blocked after destruction: unblocking
// would deliver any still-pending one with its default action (SIGTERM would kill the
// process in the middle of an orderly shutdown).
//
// Rules: the callback runs on the loop thread, may call stop() and EventLoop::stop(), and
// must not destroy the SignalSet.

#include <sys/signalfd.h>

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>

#include "core/unique_fd.hpp"
#include "loop/event_loop.hpp"
#include "loop/read_watcher.hpp"

namespace gpioirq::loop {

class SignalSet final : public ReadWatcher {
 public:
  using Callback = std::function<void(int signo)>;

  // Throws std::system_error if the mask cannot be set or the signalfd cannot be made.
  // Does not start watching: call start().
  SignalSet(EventLoop& loop, std::initializer_list<int> signals, Callback callback);
  ~SignalSet() override;

  int start() noexcept { return start_reading(fd_.get()); }
  using ReadWatcher::stop;

 private:
  void on_read(int res) override;

  core::UniqueFd fd_;
  Callback callback_;
  // Several signals can arrive between two rounds; one read takes them all.
  std::array<signalfd_siginfo, 8> infos_{};
};

}  // namespace gpioirq::loop
