#pragma once
// ReadWatcher: keeps one read of an fd in flight through the EventLoop and re-arms it after
// every completion, for fds that deliver a stream of small records (eventfd, signalfd).
// The base of FlagWaiter and SignalSet.
//
// Non-blocking fds: kernels that do not retry reads on O_NONBLOCK files internally answer
// -EAGAIN; the watcher then arms a one-shot POLL_ADD and reads again when it fires. Reads
// are submitted by the loop thread and retried in its task context, which is what makes
// thread-directed signals visible to a signalfd read.
//
// Rules: on_read() runs on the loop thread; it may call stop(), and must not destroy the
// watcher (the watcher touches its own state after on_read() returns).

#include <cstdint>

#include "loop/completion.hpp"
#include "loop/event_loop.hpp"

namespace gpioirq::loop {

class ReadWatcher : private Completion {
 public:
  // Whether a read is armed (start() called, no stop() and no error since).
  bool running() const noexcept { return !stopped_; }
  // The -errno that stopped the watcher, or 0. End of file counts as -ENODATA.
  int error() const noexcept { return error_; }

 protected:
  // buf/len: where each read lands; must outlive the watcher.
  ReadWatcher(EventLoop& loop, void* buf, unsigned len) noexcept;
  ~ReadWatcher() override;

  // Starts reading fd (0 or -errno). Idempotent while running.
  int start_reading(int fd) noexcept;
  // No on_read() after this; the read in flight is cancelled.
  void stop() noexcept;
  // Synchronously withdraws the read in flight: call first in a derived destructor.
  using Completion::abandon;

  // res > 0: bytes read into buf. The read is re-armed after on_read() returns, so buf is
  // stable during the call. Errors stop the watcher instead (see error()).
  virtual void on_read(int res) = 0;

 private:
  void complete(int res, std::uint32_t cqe_flags) override;
  int submit_read() noexcept;
  void fail(int err) noexcept;

  EventLoop& event_loop_;
  void* buf_;
  unsigned len_;
  int fd_ = -1;
  bool stopped_ = true;
  bool polling_ = false;  // the op in flight is the POLL_ADD fallback, not the read
  int error_ = 0;
};

}  // namespace gpioirq::loop
