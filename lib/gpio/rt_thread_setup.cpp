#include "gpio/rt_thread_setup.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace gpioirq::gpio {

void apply_thread_rt(const RtRequest& request, RtGranted& granted) noexcept {
  if (request.priority > 0) {
    sched_param param{};
    param.sched_priority = request.priority;
    const int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param);
    if (err == 0) {
      granted.priority = request.priority;
    } else {
      granted.refused += "SCHED_FIFO priority " + std::to_string(request.priority) +
                         " refused: " + std::strerror(err) + "\n";
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
    granted.refused += std::string("mlockall refused: ") + std::strerror(errno) + "\n";
  }
}

}  // namespace gpioirq::gpio
