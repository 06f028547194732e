#include "loop/signal_set.hpp"

#include <pthread.h>

#include <cerrno>
#include <csignal>
#include <system_error>
#include <utility>

namespace gpioirq::loop {

namespace {

sigset_t make_mask(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : signals) {
    if (sigaddset(&mask, s) != 0) {
      throw std::system_error(errno, std::system_category(), "sigaddset");
    }
  }
  return mask;
}

}  // namespace

SignalSet::SignalSet(EventLoop& loop, std::initializer_list<int> signals, Callback callback)
    // &infos_, not infos_.data(): the base is made before the member, and calling a member
    // function of an object not yet made is undefined (clang: -Wuninitialized).
    : ReadWatcher(loop, &infos_, sizeof infos_), callback_(std::move(callback)) {
  const sigset_t mask = make_mask(signals);
  if (const int err = ::pthread_sigmask(SIG_BLOCK, &mask, nullptr); err != 0) {
    throw std::system_error(err, std::system_category(), "pthread_sigmask");
  }
  // O_NONBLOCK: without it a kernel lacking async signalfd reads would park the read in an
  // io-wq worker, whose signal queue is not the loop thread's.
  fd_.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) throw std::system_error(errno, std::system_category(), "signalfd");
}

// infos_ is ours: the kernel must be done with it before it goes.
SignalSet::~SignalSet() {
  abandon();
}

void SignalSet::on_read(int res) {
  const auto count = static_cast<std::size_t>(res) / sizeof(signalfd_siginfo);
  for (std::size_t i = 0; i < count && running(); ++i) {
    if (callback_) callback_(static_cast<int>(infos_[i].ssi_signo));
  }
}

}  // namespace gpioirq::loop
