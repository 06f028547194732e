#include "gpio/rt_thread_setup.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace gpioirq::gpio {

namespace {

// What the user can change when the kernel said EPERM: a process without CAP_SYS_NICE /
// CAP_IPC_LOCK gets real time and locked memory only up to its resource limits (the
// packaged unit: LimitRTPRIO=99, LimitMEMLOCK=infinity).
std::string limit_hint(int resource, const char* unit_setting) {
  rlimit lim{};
  if (::getrlimit(resource, &lim) != 0) return {};
  const std::string value =
      lim.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(lim.rlim_cur);
  return std::string(" (its limit is ") + value + ": raise it with " + unit_setting +
         " in the unit, or run as root)";
}

}  // namespace

void apply_thread_rt(const RtRequest& request, RtGranted& granted) noexcept {
  if (request.priority > 0) {
    sched_param param{};
    param.sched_priority = request.priority;
    const int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param);
    if (err == 0) {
      granted.priority = request.priority;
    } else {
      granted.refused += "SCHED_FIFO priority " + std::to_string(request.priority) +
                         " refused: " + std::strerror(err) +
                         (err == EPERM ? limit_hint(RLIMIT_RTPRIO, "LimitRTPRIO=") : "") + "\n";
    }
  }
  if (request.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(request.cpu), &set);
    const int err = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
    if (err == 0) {
      granted.cpu = request.cpu;
    } else {
      granted.refused += "CPU affinity " + std::to_string(request.cpu) +
                         " refused: " + std::strerror(err) + "\n";
    }
  }
}

void apply_mlock(const RtRequest& request, RtGranted& granted) noexcept {
  if (!request.mlock) return;
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
    granted.mlocked = true;
  } else {
    const int err = errno;
    granted.refused +=
        std::string("mlockall refused: ") + std::strerror(err) +
        (err == EPERM || err == ENOMEM ? limit_hint(RLIMIT_MEMLOCK, "LimitMEMLOCK=infinity") : "") +
        "\n";
  }
}

}  // namespace gpioirq::gpio
