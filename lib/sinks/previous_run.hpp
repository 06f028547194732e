#pragma once
// Whether the daemon's previous run on this log directory ended cleanly. A run killed with
// SIGKILL (or crashed, or the power lost) cannot write what it still held, and nothing in
// its files could say how much that was; the next run says that it happened, so that the
// loss is not silent. The sign is a file `.gpioirqd-running` in the log directory, made at
// start and removed after a clean stop has flushed every log (a START row alone would not
// do: a run killed in its first second may not have written it yet).

#include <string>

namespace gpioirq::sinks {

class RunMarker {
 public:
  explicit RunMarker(std::string log_dir);
  // True when the file was there before mark_running(): the previous run did not stop.
  bool previous_run_unstopped() const noexcept { return previous_unstopped_; }
  // Makes the file (O_NOFOLLOW: a link planted there is refused). Returns 0 or -errno.
  int mark_running() noexcept;
  // Removes it, after the last log was closed. Returns 0 or -errno.
  int mark_stopped() noexcept;

 private:
  std::string path_;
  bool previous_unstopped_ = false;
};

}  // namespace gpioirq::sinks
