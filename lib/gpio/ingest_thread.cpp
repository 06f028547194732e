#include "gpio/ingest_thread.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <pthread.h>
#include <stdexcept>
#include <system_error>

namespace gpioirq::gpio {

IngestThread::IngestThread(std::size_t ring_capacity, RtRequest request)
    : ring_(ring_capacity),
      stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      request_(request),
      raw_(kBatch),
      batch_(kBatch) {
  if (!stop_fd_) throw std::system_error(errno, std::system_category(), "eventfd");
}

IngestThread::~IngestThread() { stop(); }

std::uint16_t IngestThread::add_line(LineSource& source, std::uint32_t offset, RtLineHook* hook) {
  if (running()) throw std::logic_error("IngestThread::add_line while running");
  if (lines_.size() >= 0xffff) throw std::runtime_error("too many lines");
  const auto id = static_cast<std::uint16_t>(lines_.size());
  auto state = std::make_unique<LineState>();
  state->source = &source;
  state->offset = offset;
  state->hook = hook;
  lines_.push_back(std::move(state));
  auto it = std::find_if(sources_.begin(), sources_.end(),
                         [&](const SourceBinding& b) { return b.source == &source; });
  if (it == sources_.end()) it = sources_.insert(sources_.end(), SourceBinding{&source, {}});
  it->routes.emplace_back(offset, id);
  return id;
}

void IngestThread::add_timer(RtTimerHook& timer) {
  if (running()) throw std::logic_error("IngestThread::add_timer while running");
  timers_.push_back(&timer);
}

void IngestThread::remove_source(const LineSource& source) {
  if (running()) throw std::logic_error("IngestThread::remove_source while running");
  for (auto& line : lines_)
    if (line->source == &source) {
      line->source = nullptr;
      line->hook = nullptr;
    }
  std::erase_if(sources_, [&](const SourceBinding& b) { return b.source == &source; });
}

void IngestThread::remove_timer(const RtTimerHook& timer) {
  if (running()) throw std::logic_error("IngestThread::remove_timer while running");
  std::erase(timers_, &timer);
}

void IngestThread::start() {
  if (running()) return;
  std::uint64_t drained = 0;
  [[maybe_unused]] ssize_t r = ::read(stop_fd_.get(), &drained, sizeof drained);
  // The poll set is fixed while the thread runs; built here so the thread allocates nothing.
  poll_fds_.clear();
  poll_fds_.push_back({stop_fd_.get(), POLLIN, 0});
  for (const auto& s : sources_) poll_fds_.push_back({s.source->fd(), POLLIN, 0});
  for (const auto* t : timers_) poll_fds_.push_back({t->fd(), POLLIN, 0});
  granted_ = RtGranted{};
  // A small explicit stack: under mlockall the default 8 MiB would all be resident, and
  // the RT path needs a few KiB (its buffers are members, allocated up front).
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackBytes);
  started_.store(false);
  const int err = ::pthread_create(
      &thread_, &attr,
      [](void* self) -> void* {
        auto* me = static_cast<IngestThread*>(self);
        // Named, so that ps, top and /proc show which thread is the real-time one.
        ::pthread_setname_np(::pthread_self(), "gpioirqd-rt");
        apply_thread_rt(me->request_, me->granted_);
        me->started_.store(true, std::memory_order_release);
        me->started_.notify_one();
        me->run();
        return nullptr;
      },
      this);
  pthread_attr_destroy(&attr);
  if (err != 0) throw std::system_error(err, std::system_category(), "starting the RT ingest thread");
  running_ = true;
  started_.wait(false, std::memory_order_acquire);
}

void IngestThread::stop() {
  if (!running()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(stop_fd_.get(), &one, sizeof one);
  ::pthread_join(thread_, nullptr);
  running_ = false;
}

void IngestThread::run() noexcept {
  std::vector<pollfd>& fds = poll_fds_;
  const std::size_t first_timer = 1 + sources_.size();
  if (auto* hook = on_rt_thread_ready.load(std::memory_order_acquire)) hook();

  for (;;) {
    const int ready = ::poll(fds.data(), fds.size(), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;
    for (std::size_t i = 1; i < first_timer; ++i) {
      const short revents = fds[i].revents;
      if (!revents) continue;
      // Events still queued are read first: a chip going away may leave some behind.
      int error = (revents & (POLLIN | POLLERR | POLLHUP)) ? drain(sources_[i - 1]) : 0;
      if (error == 0 && (revents & POLLNVAL)) error = EBADF;
      if (error == 0 && (revents & (POLLHUP | POLLERR))) error = ENODEV;
      if (error != 0) give_up(i, error);
    }
    for (std::size_t i = first_timer; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      std::uint64_t expirations = 0;
      if (::read(fds[i].fd, &expirations, sizeof expirations) == sizeof expirations)
        timers_[i - first_timer]->on_tick(expirations);
    }
    flush();
  }
  flush();
}

int IngestThread::drain(SourceBinding& binding) noexcept {
  for (;;) {
    const int n = binding.source->read_events(raw_);
    if (n < 0) return (n == -EAGAIN || n == -EINTR) ? 0 : -n;
    if (n == 0) return 0;
    for (int i = 0; i < n; ++i) handle(binding, raw_[static_cast<std::size_t>(i)]);
    if (static_cast<std::size_t>(n) < raw_.size()) return 0;
  }
}

void IngestThread::give_up(std::size_t poll_index, int error) noexcept {
  poll_fds_[poll_index].fd = -1;  // poll(2) skips negative fds
  const SourceBinding& binding = sources_[poll_index - 1];
  for (const auto& route : binding.routes)
    lines_[route.second]->counters->source_error.store(error, std::memory_order_relaxed);
  sources_failed_.fetch_add(1, std::memory_order_release);
}

void IngestThread::handle(SourceBinding& binding, const RawEdge& edge) noexcept {
  std::uint16_t id = 0xffff;
  for (const auto& [offset, line] : binding.routes)
    if (offset == edge.offset) id = line;
  if (id == 0xffff) return;  // a line of the request we were not asked about
  LineState& line = *lines_[id];

  if (edge.line_seqno != line.expected_seqno) {
    // The kernel's FIFO overflowed and it dropped the oldest events: report exactly
    // which seqnos are missing (the hook sees the jump in the request's global seqno).
    const std::uint32_t lost = edge.line_seqno - line.expected_seqno;
    bump(line.counters->kernel_lost, lost);
    EdgeRecord gap;
    gap.kind = RecordKind::gap;
    gap.level = static_cast<std::uint8_t>(GapReason::kernel_fifo);
    gap.line = id;
    gap.timestamp_ns = edge.timestamp_ns;
    gap.line_seqno = line.expected_seqno;
    gap.global_seqno = edge.line_seqno - 1;
    gap.count = lost;
    gap.value = static_cast<std::int64_t>(line.last_ts);
    append(gap);
  }
  line.expected_seqno = edge.line_seqno + 1;
  line.last_ts = edge.timestamp_ns;
  bump(line.counters->edges, 1);
  line.counters->last_timestamp_ns.store(edge.timestamp_ns, std::memory_order_relaxed);

  EdgeRecord rec;
  rec.timestamp_ns = edge.timestamp_ns;
  rec.line_seqno = edge.line_seqno;
  rec.global_seqno = edge.global_seqno;
  rec.line = id;
  rec.level = edge.rising ? 1 : 0;
  bool keep = true;
  if (line.hook) keep = line.hook->on_edge(id, edge.rising, edge, rec.value);
  if (keep) append(rec);
}

void IngestThread::append(const EdgeRecord& record) noexcept {
  batch_[batch_size_++] = record;
  if (batch_size_ == batch_.size()) flush();
}

void IngestThread::offer_pending() noexcept {
  bool still_pending = false;
  for (std::size_t id = 0; id < lines_.size(); ++id) {
    LineState& line = *lines_[id];
    for (auto* pending : {&line.pending_kernel, &line.pending_ring}) {
      if (*pending == 0) continue;
      EdgeRecord gap;
      gap.kind = RecordKind::gap;
      gap.level = static_cast<std::uint8_t>(pending == &line.pending_ring ? GapReason::ring_full
                                                                          : GapReason::kernel_fifo);
      gap.line = static_cast<std::uint16_t>(id);
      gap.timestamp_ns = line.last_ts;
      gap.count = *pending;
      gap.line_seqno = line.pending_first;
      gap.global_seqno = line.pending_last;
      if (ring_.try_push(gap)) {
        *pending = 0;
        pushed_.store(pushed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      } else {
        still_pending = true;
      }
    }
  }
  pending_any_ = still_pending;
}

bool IngestThread::offer_pending_stopped() noexcept {
  if (running()) return true;
  if (pending_any_) offer_pending();
  return pending_any_;
}

void IngestThread::flush() noexcept {
  if (pending_any_) offer_pending();
  if (batch_size_ > 0) {
    // Pending gaps go first so that the log reads in order; if they still do not fit,
    // nothing newer may overtake them either.
    const std::size_t n = pending_any_ ? 0 : ring_.try_push_batch(std::span(batch_.data(), batch_size_));
    pushed_.store(pushed_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    for (std::size_t i = n; i < batch_size_; ++i) {
      const EdgeRecord& lost = batch_[i];
      LineState& line = *lines_[lost.line];
      // Records refused in a row are contiguous per line: nothing newer is pushed while
      // anything is pending. So one span of seqnos covers all that is pending.
      const std::uint32_t first = lost.line_seqno;
      const std::uint32_t last = lost.kind == RecordKind::gap ? lost.global_seqno : lost.line_seqno;
      if (line.pending_ring == 0 && line.pending_kernel == 0) line.pending_first = first;
      line.pending_last = last;
      if (lost.kind == RecordKind::gap) {
        line.pending_kernel += lost.count;  // already counted in kernel_lost
      } else {
        ++line.pending_ring;
        bump(line.counters->ring_dropped, 1);
      }
      pending_any_ = true;
    }
    batch_size_ = 0;
  }
  wakes_.store(wakes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  wake_.set();
}

}  // namespace gpioirq::gpio
