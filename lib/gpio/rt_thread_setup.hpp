#pragma once
// Asking the kernel for real-time treatment: SCHED_FIFO, mlockall, CPU affinity. Each
// may be refused (no CAP_SYS_NICE, RLIMIT_MEMLOCK, a CPU not in the cpuset); the daemon
// says so once and runs on, and status shows what was granted.

#include <string>

namespace gpioirq::gpio {

struct RtRequest {
  int priority = 80;  // 0: do not ask for SCHED_FIFO
  int cpu = -1;       // -1: any CPU
  bool mlock = true;
};

struct RtGranted {
  int priority = 0;  // the SCHED_FIFO priority in force, 0 if none
  int cpu = -1;      // the CPU the RT thread is pinned to, -1 if not pinned
  bool mlocked = false;
  std::string refused;  // one line per refusal, empty when all was granted
};

// Applies the scheduling and affinity parts to the calling thread.
void apply_thread_rt(const RtRequest& request, RtGranted& granted) noexcept;
// mlockall(MCL_CURRENT | MCL_FUTURE) for the process.
void apply_mlock(const RtRequest& request, RtGranted& granted) noexcept;

}  // namespace gpioirq::gpio
