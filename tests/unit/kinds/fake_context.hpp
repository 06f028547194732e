#pragma once
// A DeviceContext for the kinds' unit tests: what the daemon lends a device, minus the
// daemon. The event loop and the timers are real (io_uring: a machine without it fails
// these tests with the loop's own message); the events a device emits are recorded, with
// their strings copied, so a test can read them after the device has moved on.
//
// Declare the FakeContext before the device under test: the device holds a reference to it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/schema.hpp"
#include "core/thread_safe_flag.hpp"
#include "kinds/device.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer.hpp"
#include "sinks/device_event.hpp"
#include "sinks/log_records.hpp"

namespace kinds_test {

// A GapEntry with its strings owned.
struct RecordedGap {
  std::uint64_t ts_ns = 0;
  gpioirq::sinks::GapReason reason = gpioirq::sinks::GapReason::kernel_fifo;
  std::string device, line, chip;
  std::optional<std::uint32_t> offset;
  std::uint64_t lost = 0;
  gpioirq::sinks::GapUnit unit = gpioirq::sinks::GapUnit::seqno;
  std::optional<std::uint64_t> from;
  std::uint64_t to = 0;
};

// A DeviceEvent with its strings owned, and the live fields it came with.
struct RecordedEvent {
  std::uint64_t ts_ns = 0;
  std::string device, kind, event;
  gpioirq::sinks::EventClass cls = gpioirq::sinks::EventClass::state;
  gpioirq::sinks::DeviceEvent::Row row = gpioirq::sinks::DeviceEvent::Row::event;
  gpioirq::sinks::EventValue value, value2;
  std::string unit;
  std::optional<RecordedGap> gap;        // set when the event came with a GapEntry
  std::optional<nlohmann::json> fields;  // set when emitted with fields (live only)
  bool live = true;                      // DeviceEvent::live
};

// Records every emit(). Nobody listens live unless a test says so (live_all or
// live_devices), as in the daemon without monitor clients.
class RecordingEvents final : public gpioirq::sinks::EventOut {
 public:
  using gpioirq::sinks::EventOut::emit;

  bool live_all = false;
  std::set<std::string, std::less<>> live_devices;
  std::vector<RecordedEvent> events;

  bool live(std::string_view device) const noexcept override {
    return live_all || live_devices.find(device) != live_devices.end();
  }

  void emit(const gpioirq::sinks::DeviceEvent& ev, const nlohmann::json* fields) override {
    RecordedEvent r;
    r.ts_ns = ev.ts_ns;
    r.device = ev.device;
    r.kind = ev.kind;
    r.event = ev.event;
    r.cls = ev.cls;
    r.row = ev.row;
    r.value = ev.value;
    r.value2 = ev.value2;
    r.unit = ev.unit;
    r.live = ev.live;
    if (ev.gap != nullptr) {
      const gpioirq::sinks::GapEntry& g = *ev.gap;
      r.gap = RecordedGap{g.ts_ns,
                          g.reason,
                          std::string(g.device),
                          std::string(g.line),
                          std::string(g.chip),
                          g.offset,
                          g.lost,
                          g.unit,
                          g.from,
                          g.to};
    }
    if (fields != nullptr) r.fields = *fields;
    events.push_back(std::move(r));
  }

  // The recorded events named `event` (e.g. "press"), in emit order.
  std::vector<RecordedEvent> named(std::string_view event) const {
    std::vector<RecordedEvent> out;
    for (const RecordedEvent& e : events)
      if (e.event == event) out.push_back(e);
    return out;
  }
};

class FakeContext final : public gpioirq::kinds::DeviceContext {
 public:
  // What daemon() returns; a test sets log_dir (a temporary directory) and the like.
  gpioirq::config::DaemonConfig daemon_config;
  RecordingEvents recorded;
  // Called by drain_pending() (a test hands the device the edges "already read" there).
  std::function<void()> on_drain_pending;
  std::size_t drain_pending_calls = 0;

  gpioirq::loop::EventLoop& loop() override { return loop_; }
  gpioirq::core::ThreadSafeFlag& rt_wake() override { return rt_wake_; }
  const gpioirq::config::DaemonConfig& daemon() const override { return daemon_config; }
  gpioirq::sinks::EventOut& events() override { return recorded; }

  // As the daemon: a slot per timer, noted in the owner's state.timer_slots.
  gpioirq::loop::Timer& add_timer(gpioirq::kinds::Device& owner,
                                  std::function<void()> cb) override {
    timers_.push_back(Slot{&owner, std::make_unique<gpioirq::loop::Timer>(loop_, std::move(cb))});
    owner.state.timer_slots.push_back(timers_.size() - 1);
    return *timers_.back().timer;
  }

  void drain_pending() override {
    ++drain_pending_calls;
    if (on_drain_pending) on_drain_pending();
  }

  // Timers added for `owner`.
  std::size_t timers_of(const gpioirq::kinds::Device& owner) const {
    std::size_t n = 0;
    for (const Slot& s : timers_)
      if (s.owner == &owner) ++n;
    return n;
  }

  // Runs loop rounds until pred() is true; false if timeout_ms passed first.
  template <typename Pred>
  bool run_until(Pred pred, int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      loop_.run_once(20);
    }
    return true;
  }

 private:
  struct Slot {
    const gpioirq::kinds::Device* owner = nullptr;
    std::unique_ptr<gpioirq::loop::Timer> timer;
  };

  // Declared before the timers, so destroyed after them: they cancel their ops on it.
  gpioirq::loop::EventLoop loop_{256};
  gpioirq::core::ThreadSafeFlag rt_wake_;
  std::vector<Slot> timers_;
};

}  // namespace kinds_test
