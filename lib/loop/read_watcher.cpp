#include "loop/read_watcher.hpp"

#include <poll.h>

#include <cerrno>

namespace gpioirq::loop {

ReadWatcher::ReadWatcher(EventLoop& loop, void* buf, unsigned len) noexcept
    : event_loop_(loop), buf_(buf), len_(len) {}

ReadWatcher::~ReadWatcher() {
  abandon();
}

int ReadWatcher::start_reading(int fd) noexcept {
  fd_ = fd;
  stopped_ = false;
  error_ = 0;
  // Still in flight: either running already, or a stop()'s cancellation is on its way
  // back, and complete() re-arms when it sees we were restarted meanwhile.
  if (in_flight()) return 0;
  const int r = submit_read();
  if (r < 0) fail(r);
  return r;
}

void ReadWatcher::stop() noexcept {
  stopped_ = true;
  if (in_flight()) event_loop_.cancel(*this);
}

int ReadWatcher::submit_read() noexcept {
  polling_ = false;
  return event_loop_.read(fd_, buf_, len_, EventLoop::kCurrentPosition, *this);
}

void ReadWatcher::fail(int err) noexcept {
  stopped_ = true;
  error_ = err;
}

void ReadWatcher::complete(int res, std::uint32_t /*cqe_flags*/) {
  if (stopped_) return;  // the -ECANCELED (or a late result) after stop()
  int r = 0;
  if (res == -ECANCELED || res == -EINTR) {
    // -ECANCELED while running: stop() then start_reading() before the cancel came back.
    r = submit_read();
  } else if (res == -EAGAIN && !polling_) {
    polling_ = true;
    r = event_loop_.poll_add(fd_, POLLIN, *this);
  } else if (polling_) {
    r = res < 0 ? res : submit_read();
  } else if (res < 0) {
    r = res;
  } else if (res == 0) {
    r = -ENODATA;  // end of file: re-arming would spin
  } else {
    on_read(res);
    if (!stopped_) r = submit_read();
  }
  if (r < 0) fail(r);
}

}  // namespace gpioirq::loop
