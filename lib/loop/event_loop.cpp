#include "loop/event_loop.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/cpu_relax.hpp"
#include "loop/flag_waiter.hpp"
#include "loop/opcode_probe.hpp"

namespace gpioirq::loop {

namespace {

// user_data of SQEs whose CQE nobody wants (the cancel requests themselves, and CQEs of
// withdrawn ops once found). No Completion lives at address 0.
constexpr std::uint64_t kIgnored = 0;

// CQEs copied out of the CQ ring per peek.
constexpr unsigned kReapBatch = 64;

// How long the destructor waits for cancelled ops to come back before giving up.
constexpr int kTeardownRounds = 50;
constexpr long kTeardownRoundNs = 100'000'000;

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Takes `node` out of an intrusive doubly linked list (the in-flight completions, the
// watched flags) and clears its links.
template <typename Node>
void unlink(Node*& head, Node& node, Node* Node::*prev, Node* Node::*next) noexcept {
  if (node.*prev != nullptr)
    (node.*prev)->*next = node.*next;
  else
    head = node.*next;
  if (node.*next != nullptr) (node.*next)->*prev = node.*prev;
  node.*prev = node.*next = nullptr;
}

std::uint64_t user_data_of(const Completion& c) noexcept {
  return reinterpret_cast<std::uintptr_t>(&c);
}

std::string init_failure_message(int err) {
  std::string msg = "io_uring_queue_init failed: ";
  msg += std::strerror(err);
  msg += " (kernel " + kernel_release() + ")";
  if (err == EPERM || err == ENOSYS) {
    msg +=
        "; io_uring may be disabled (sysctl kernel.io_uring_disabled, or a seccomp"
        " profile such as a container runtime's default)";
  }
  msg += "; gpioirqd needs io_uring on Linux >= 5.19";
  return msg;
}

}  // namespace

EventLoop::EventLoop(unsigned entries) {
  // COOP_TASKRUN: completions are processed when this thread enters the kernel anyway,
  // instead of interrupting it with an IPI per completion. TASKRUN_FLAG: the kernel says
  // in the SQ flags when such work waits, so a round with nothing to submit and nothing
  // pending can skip the syscall. Older kernels reject the flags with -EINVAL; then go
  // without (and enter the kernel every round).
  io_uring_params params{};
  params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  int r = io_uring_queue_init_params(entries, &ring_, &params);
  taskrun_flag_ = r == 0;
  if (r == -EINVAL) {
    params = io_uring_params{};
    r = io_uring_queue_init_params(entries, &ring_, &params);
  }
  if (r < 0) throw std::runtime_error(init_failure_message(-r));
  try {
    check_required_opcodes(ring_);
    // Twice the CQ size leaves room for CQEs reaped while withdrawing an op mid-round.
    ready_.reserve(2 * std::size_t{params.cq_entries});
  } catch (...) {
    io_uring_queue_exit(&ring_);
    throw;
  }
}

EventLoop::~EventLoop() {
  // Owners may already be half destroyed (members are destroyed in reverse order), so no
  // complete() runs from here: detach every completion, cancel its op, and wait for the
  // kernel to return them so it no longer writes into their buffers.
  for (Completion* c = in_flight_head_; c != nullptr;) {
    Completion* next = c->next_;
    if (io_uring_sqe* sqe = get_sqe()) {
      io_uring_prep_cancel64(sqe, user_data_of(*c), 0);
      io_uring_sqe_set_data64(sqe, kIgnored);
    }
    c->loop_ = nullptr;
    c->prev_ = c->next_ = nullptr;
    c = next;
  }
  in_flight_head_ = nullptr;
  in_flight_count_ = 0;
  for (FlagWaiter* w = watched_head_; w != nullptr;) {
    FlagWaiter* next = w->watch_next_;
    w->watch_prev_ = w->watch_next_ = nullptr;
    w->watched_ = false;
    w = next;
  }
  watched_head_ = nullptr;
  // Bounded: an op the kernel cannot cancel (e.g. a stuck fsync) must not hang shutdown.
  for (int round = 0; round < kTeardownRounds && kernel_pending_ > 0; ++round) {
    __kernel_timespec ts{0, kTeardownRoundNs};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    reap(kIgnored);
    ready_.clear();
  }
  io_uring_queue_exit(&ring_);
}

void EventLoop::run() {
  while (!stop_requested_ && (in_flight_count_ > 0 || ready_pos_ < ready_.size())) {
    run_once(-1);
  }
  stop_requested_ = false;
}

bool EventLoop::run_once(int timeout_ms) {
  if (dispatching_) return false;
  if (in_flight_count_ == 0 && ready_pos_ == ready_.size()) {
    io_uring_submit(&ring_);  // queued cancel requests, if any
    return false;             // nothing could complete: don't sleep for nothing
  }
  ++round_;
  // CQEs left by a withdraw() outside a round are due now: don't wait for more.
  if (ready_pos_ < ready_.size()) timeout_ms = 0;

  bool announced = false;
  std::int64_t idle_from = 0;  // when this round began to wait, if spinning is enabled
  if (timeout_ms != 0 && watched_head_ != nullptr) {
    if (spin_max_ns_ > 0) idle_from = monotonic_ns();
    if (spin_worthwhile_ && spin_max_ns_ > 0) {
      // What is queued must reach the kernel before the spin (the re-armed eventfd read
      // after a wake, typically): one syscall, and none on the following rounds while the
      // spin keeps finding the flag set.
      if (io_uring_sq_ready(&ring_) > 0) {
        ++kernel_entries_;
        io_uring_submit(&ring_);
      }
      std::int64_t budget = spin_max_ns_;
      if (timeout_ms > 0) budget = std::min<std::int64_t>(budget, timeout_ms * 1'000'000LL);
      if (spin_for_work(budget)) {
        ++spins_found_work_;
        timeout_ms = 0;
      } else {
        ++spins_ran_out_;
      }
    }
    if (timeout_ms != 0) {
      announced = true;
      if (!announce_sleep()) timeout_ms = 0;  // a flag was set meanwhile: don't sleep
    }
  }

  // Errors here (-ETIME, -EINTR, -EBUSY with a full CQ) all mean "reap what is there".
  if (timeout_ms == 0) {
    if (kernel_has_work()) {
      ++kernel_entries_;
      io_uring_submit_and_get_events(&ring_);  // enters the kernel: runs COOP task work
    }
  } else {
    ++kernel_entries_;
    if (timeout_ms < 0) {
      io_uring_submit_and_wait(&ring_, 1);
    } else {
      __kernel_timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    // Spin next time only if this wait, spin included, was shorter than the budget: when
    // events come every 100 us, a 50 us spin always runs out and is not tried again.
    if (idle_from != 0) spin_worthwhile_ = monotonic_ns() - idle_from < spin_max_ns_;
  }
  if (announced) announce_awake();
  reap(kIgnored);
  const bool ran = dispatch();
  return fire_set_flags() || ran;
}

void EventLoop::set_spin_before_sleep(unsigned max_us) noexcept {
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  spin_max_ns_ = cpus > 1 ? static_cast<std::int64_t>(max_us) * 1000 : 0;
  spin_worthwhile_ = spin_max_ns_ > 0;
}

bool EventLoop::kernel_has_work() const noexcept {
  if (!taskrun_flag_ || io_uring_sq_ready(&ring_) > 0) return true;
  return (IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

bool EventLoop::spin_for_work(std::int64_t max_ns) noexcept {
  const std::int64_t start = monotonic_ns();
  for (unsigned i = 1;; ++i) {
    if (any_flag_set() || io_uring_cq_ready(&ring_) > 0 || (taskrun_flag_ && kernel_has_work()))
      return true;
    // The clock read (vDSO, tens of ns) only every 16th turn.
    if (i % 16 == 0 && monotonic_ns() - start >= max_ns) return false;
    core::cpu_relax();
  }
}

void EventLoop::watch(FlagWaiter& w) noexcept {
  if (w.watched_) return;
  w.watched_ = true;
  w.watch_prev_ = nullptr;
  w.watch_next_ = watched_head_;
  if (watched_head_ != nullptr) watched_head_->watch_prev_ = &w;
  watched_head_ = &w;
}

void EventLoop::unwatch(FlagWaiter& w) noexcept {
  if (!w.watched_) return;
  unlink(watched_head_, w, &FlagWaiter::watch_prev_, &FlagWaiter::watch_next_);
  w.watched_ = false;
}

bool EventLoop::announce_sleep() noexcept {
  bool may_sleep = true;
  for (FlagWaiter* w = watched_head_; w != nullptr; w = w->watch_next_)
    may_sleep = w->flag_.announce_sleep() && may_sleep;
  return may_sleep;
}

void EventLoop::announce_awake() noexcept {
  for (FlagWaiter* w = watched_head_; w != nullptr; w = w->watch_next_) w->flag_.announce_awake();
}

bool EventLoop::any_flag_set() const noexcept {
  for (const FlagWaiter* w = watched_head_; w != nullptr; w = w->watch_next_)
    if (w->flag_.is_set()) return true;
  return false;
}

bool EventLoop::fire_set_flags() {
  bool ran = false;
  dispatching_ = true;
  // A callback may stop or start waiters (changing the list), so after each one the
  // scan starts over; fired_round_ keeps it to one callback per waiter per round.
  for (FlagWaiter* w = watched_head_; w != nullptr;) {
    if (w->fired_round_ != round_ && w->flag_.is_set()) {
      w->fired_round_ = round_;
      if (w->fire()) {
        ran = true;
        w = watched_head_;
        continue;
      }
    }
    w = w->watch_next_;
  }
  dispatching_ = false;
  return ran;
}

io_uring_sqe* EventLoop::get_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // SQ full: hand the queued SQEs to the kernel now and try once more.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

io_uring_sqe* EventLoop::begin(Completion& c, int& error) noexcept {
  if (c.loop_ != nullptr) {
    error = -EBUSY;
    return nullptr;
  }
  io_uring_sqe* sqe = get_sqe();
  error = sqe == nullptr ? -EAGAIN : 0;
  return sqe;
}

void EventLoop::track(Completion& c, io_uring_sqe* sqe) noexcept {
  io_uring_sqe_set_data64(sqe, user_data_of(c));
  c.loop_ = this;
  c.prev_ = nullptr;
  c.next_ = in_flight_head_;
  if (in_flight_head_ != nullptr) in_flight_head_->prev_ = &c;
  in_flight_head_ = &c;
  ++in_flight_count_;
  ++kernel_pending_;
}

void EventLoop::untrack(Completion& c) noexcept {
  unlink(in_flight_head_, c, &Completion::prev_, &Completion::next_);
  c.loop_ = nullptr;
  --in_flight_count_;
}

bool EventLoop::reap(std::uint64_t withdrawn, int* withdrawn_res) noexcept {
  bool seen = false;
  io_uring_cqe* cqes[kReapBatch];
  for (;;) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kReapBatch);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) {
      const std::uint64_t ud = cqes[i]->user_data;
      if (ud == kIgnored || ud == LIBURING_UDATA_TIMEOUT) continue;
      --kernel_pending_;
      if (ud == withdrawn) {
        seen = true;
        if (withdrawn_res != nullptr) *withdrawn_res = cqes[i]->res;
        continue;
      }
      // Allocates only if more CQEs pile up than the reserve (CQ overflow); never steady.
      ready_.push_back(Reaped{ud, cqes[i]->res, cqes[i]->flags});
    }
    io_uring_cq_advance(&ring_, n);
  }
  return seen;
}

bool EventLoop::dispatch() {
  bool ran = false;
  dispatching_ = true;
  // Index, not iterator: a complete() that withdraws another op appends to ready_.
  while (ready_pos_ < ready_.size()) {
    const Reaped r = ready_[ready_pos_++];
    if (r.user_data == kIgnored) continue;  // withdrawn after it was reaped
    auto* c = reinterpret_cast<Completion*>(r.user_data);
    untrack(*c);  // before complete(): it may submit again, or destroy c
    c->complete(r.res, r.flags);
    ran = true;
  }
  ready_.clear();
  ready_pos_ = 0;
  dispatching_ = false;
  return ran;
}

std::optional<int> EventLoop::withdraw(Completion& c) noexcept {
  const std::uint64_t ud = user_data_of(c);
  untrack(c);
  // Already reaped and waiting for dispatch: just forget it.
  for (std::size_t i = ready_pos_; i < ready_.size(); ++i) {
    if (ready_[i].user_data == ud) {
      ready_[i].user_data = kIgnored;
      return ready_[i].res;
    }
  }
  int res = 0;
  if (reap(ud, &res)) return res;
  if (io_uring_sqe* sqe = get_sqe()) {
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, kIgnored);
  }
  // Blocks until the kernel returns the op. Pollable ops are cancelled at once; an op
  // running in io-wq (a regular file read, an fsync) finishes first.
  for (;;) {
    const int r = io_uring_submit_and_wait(&ring_, 1);
    if (reap(ud, &res)) return res;
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
      return std::nullopt;  // ring unusable
  }
}

int EventLoop::read(int fd, void* buf, unsigned len, std::uint64_t offset, Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, buf, len, offset); });
}

int EventLoop::write(int fd, const void* buf, unsigned len, std::uint64_t offset,
                     Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) { io_uring_prep_write(sqe, fd, buf, len, offset); });
}

int EventLoop::set_worker_cpus(const cpu_set_t& cpus) noexcept {
  cpu_set_t copy = cpus;  // liburing takes a non-const pointer
  return io_uring_register_iowq_aff(&ring_, sizeof copy, &copy);
}

int EventLoop::fdatasync(int fd, Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); });
}

int EventLoop::start_writeback(int fd, std::uint64_t offset, unsigned len, Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) {
    io_uring_prep_sync_file_range(sqe, fd, len, offset, SYNC_FILE_RANGE_WRITE);
  });
}

int EventLoop::accept(int listen_fd, Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) {
    io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  });
}

int EventLoop::recv(int fd, void* buf, unsigned len, Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, fd, buf, len, 0); });
}

int EventLoop::send(int fd, const void* buf, unsigned len, Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) { io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL); });
}

int EventLoop::poll_add(int fd, unsigned events, Completion& c) noexcept {
  return submit(c, [&](io_uring_sqe* sqe) { io_uring_prep_poll_add(sqe, fd, events); });
}

int EventLoop::timeout_at(const __kernel_timespec& when, Completion& c) noexcept {
  // liburing's prototype is not const-correct; the kernel only reads the timespec.
  return submit(c, [&](io_uring_sqe* sqe) {
    io_uring_prep_timeout(sqe, const_cast<__kernel_timespec*>(&when), 0, IORING_TIMEOUT_ABS);
  });
}

int EventLoop::cancel(Completion& c) noexcept {
  if (c.loop_ != this) return -ENOENT;
  const std::uint64_t ud = user_data_of(c);
  // Reaped but not yet dispatched: it completes this round with its real result.
  for (std::size_t i = ready_pos_; i < ready_.size(); ++i) {
    if (ready_[i].user_data == ud) return 0;
  }
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return -EAGAIN;
  io_uring_prep_cancel64(sqe, ud, 0);
  io_uring_sqe_set_data64(sqe, kIgnored);
  return 0;
}

}  // namespace gpioirq::loop
