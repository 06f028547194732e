#include "loop/event_loop.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

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
  // COOP_TASKRUN: completions are processed when this thread enters the kernel anyway (every
  // round does), instead of interrupting it with an IPI per completion. Older kernels
  // reject the flag with -EINVAL; then go without.
  io_uring_params params{};
  params.flags = IORING_SETUP_COOP_TASKRUN;
  int r = io_uring_queue_init_params(entries, &ring_, &params);
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
  // CQEs left by a withdraw() outside a round are due now: don't wait for more.
  if (ready_pos_ < ready_.size()) timeout_ms = 0;

  // Errors here (-ETIME, -EINTR, -EBUSY with a full CQ) all mean "reap what is there".
  if (timeout_ms < 0) {
    io_uring_submit_and_wait(&ring_, 1);
  } else if (timeout_ms == 0) {
    io_uring_submit_and_get_events(&ring_);  // enters the kernel: runs COOP task work
  } else {
    __kernel_timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  reap(kIgnored);
  return dispatch();
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
  if (c.prev_ != nullptr)
    c.prev_->next_ = c.next_;
  else
    in_flight_head_ = c.next_;
  if (c.next_ != nullptr) c.next_->prev_ = c.prev_;
  c.prev_ = c.next_ = nullptr;
  c.loop_ = nullptr;
  --in_flight_count_;
}

bool EventLoop::reap(std::uint64_t withdrawn) noexcept {
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

void EventLoop::withdraw(Completion& c) noexcept {
  const std::uint64_t ud = user_data_of(c);
  untrack(c);
  // Already reaped and waiting for dispatch: just forget it.
  for (std::size_t i = ready_pos_; i < ready_.size(); ++i) {
    if (ready_[i].user_data == ud) {
      ready_[i].user_data = kIgnored;
      return;
    }
  }
  if (reap(ud)) return;
  if (io_uring_sqe* sqe = get_sqe()) {
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, kIgnored);
  }
  // Blocks until the kernel returns the op. Pollable ops are cancelled at once; an op
  // running in io-wq (a regular file read, an fsync) finishes first.
  for (;;) {
    const int r = io_uring_submit_and_wait(&ring_, 1);
    if (reap(ud)) return;
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
      return;  // ring unusable
  }
}

int EventLoop::read(int fd, void* buf, unsigned len, std::uint64_t offset, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_read(sqe, fd, buf, len, offset);
  track(c, sqe);
  return 0;
}

int EventLoop::write(int fd, const void* buf, unsigned len, std::uint64_t offset,
                     Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_write(sqe, fd, buf, len, offset);
  track(c, sqe);
  return 0;
}

int EventLoop::set_worker_cpus(const cpu_set_t& cpus) noexcept {
  cpu_set_t copy = cpus;  // liburing takes a non-const pointer
  return io_uring_register_iowq_aff(&ring_, sizeof copy, &copy);
}

int EventLoop::fdatasync(int fd, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  track(c, sqe);
  return 0;
}

int EventLoop::start_writeback(int fd, std::uint64_t offset, unsigned len, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_sync_file_range(sqe, fd, len, offset, SYNC_FILE_RANGE_WRITE);
  track(c, sqe);
  return 0;
}

int EventLoop::accept(int listen_fd, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  track(c, sqe);
  return 0;
}

int EventLoop::recv(int fd, void* buf, unsigned len, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_recv(sqe, fd, buf, len, 0);
  track(c, sqe);
  return 0;
}

int EventLoop::send(int fd, const void* buf, unsigned len, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
  track(c, sqe);
  return 0;
}

int EventLoop::poll_add(int fd, unsigned events, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  io_uring_prep_poll_add(sqe, fd, events);
  track(c, sqe);
  return 0;
}

int EventLoop::timeout_at(const __kernel_timespec& when, Completion& c) noexcept {
  int err = 0;
  io_uring_sqe* sqe = begin(c, err);
  if (sqe == nullptr) return err;
  // liburing's prototype is not const-correct; the kernel only reads the timespec.
  io_uring_prep_timeout(sqe, const_cast<__kernel_timespec*>(&when), 0, IORING_TIMEOUT_ABS);
  track(c, sqe);
  return 0;
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
