#include "sinks/log_records.hpp"

#include <ctime>

namespace gpioirq::sinks {

std::string_view to_string(EdgeDirection e) noexcept {
  return e == EdgeDirection::rising ? "rising" : "falling";
}

std::string_view to_string(GapReason r) noexcept {
  switch (r) {
    case GapReason::kernel_fifo: return "kernel_fifo";
    case GapReason::ring_full: return "ring_full";
    case GapReason::imu_overrun: return "imu_overrun";
    case GapReason::log_full: return "log_full";
    case GapReason::mqtt_spool_full: return "mqtt_spool_full";
  }
  return "unknown";
}

std::string_view to_string(GapUnit u) noexcept {
  switch (u) {
    case GapUnit::line_seqno: return "line_seqno";
    case GapUnit::seqno: return "seqno";
    case GapUnit::frame: return "frame";
    case GapUnit::ts_ns: return "ts_ns";
  }
  return "unknown";
}

std::string_view to_string(MarkerType t) noexcept {
  switch (t) {
    case MarkerType::start: return "START";
    case MarkerType::stop: return "STOP";
    case MarkerType::reload: return "RELOAD";
    case MarkerType::down: return "DOWN";
    case MarkerType::up: return "UP";
    case MarkerType::reopen: return "REOPEN";
    case MarkerType::restore: return "RESTORE";
    case MarkerType::set: return "SET";
  }
  return "MARKER";
}

namespace {
std::int64_t ns_of(clockid_t clock) noexcept {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

TimeEntry read_time_pair() noexcept {
  const std::int64_t m0 = ns_of(CLOCK_MONOTONIC);
  const std::int64_t rt = ns_of(CLOCK_REALTIME);
  const std::int64_t m1 = ns_of(CLOCK_MONOTONIC);
  return TimeEntry{static_cast<std::uint64_t>(m0 + (m1 - m0) / 2), rt};
}

}  // namespace gpioirq::sinks
