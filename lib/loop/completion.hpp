#pragma once
// Completion: the object behind one io_uring submission (seastar's kernel_completion).
// Its address is the SQE's user_data; when the CQE arrives the EventLoop calls complete().
//
// Owner rules:
// - A Completion has at most one operation in flight; submitting another while one is in
//   flight fails with -EBUSY. complete() is called exactly once per accepted submission
//   (also after EventLoop::cancel(), then usually with -ECANCELED), unless the op is
//   withdrawn with abandon() or the loop is destroyed first.
// - It is not copyable or movable: the kernel holds its address.
// - complete() may submit again on the same Completion (it is no longer in flight then),
//   may call EventLoop::stop(), and may destroy this or any other Completion.
// - Destroying a Completion with an op in flight calls abandon(), which blocks until the
//   kernel has let go of the op. Classes whose op writes into buffers they own should call
//   abandon() first thing in their own destructor, before those buffers are destroyed.

#include <cstdint>
#include <optional>

namespace gpioirq::loop {

class EventLoop;

class Completion {
 public:
  Completion() = default;
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  // True from a successful submission until just before complete() runs.
  bool in_flight() const noexcept { return loop_ != nullptr; }

  // Withdraws the in-flight op, if any, without calling complete(): cancels it and waits
  // (dispatching nothing) until its CQE has arrived. Afterwards the kernel no longer touches
  // this op's buffers. Other CQEs reaped meanwhile are kept for the loop's next round.
  // Returns the op's result (what complete() would have got as res) when one was in flight
  // and came back, so that a caller knows whether e.g. a withdrawn write was done;
  // std::nullopt when nothing was in flight or the ring failed while waiting.
  std::optional<int> abandon() noexcept;

 protected:
  virtual ~Completion();

  // res is cqe->res: the op's result, or -errno. cqe_flags is cqe->flags.
  virtual void complete(int res, std::uint32_t cqe_flags) = 0;

 private:
  friend class EventLoop;
  EventLoop* loop_ = nullptr;   // the loop that owns the op while in flight
  Completion* prev_ = nullptr;  // the loop's intrusive list of in-flight completions
  Completion* next_ = nullptr;
};

}  // namespace gpioirq::loop
