#pragma once
// The record types of the event log, as plain data handed to EventLog. Strings are views:
// they only need to live for the duration of the call that formats them. Column meanings
// and the on-disk forms are specified in docs/FILE-FORMATS.md.

#include <cstdint>
#include <optional>
#include <string_view>

namespace gpioirq::sinks {

enum class EdgeDirection : std::uint8_t { rising, falling };

// One kernel edge event.
struct EdgeEntry {
  std::uint64_t ts_ns = 0;     // the kernel's timestamp (the line's event clock)
  std::string_view device;     // device the line belongs to ("knob"); may be empty
  std::string_view line;       // line name or role ("a", "GPIO17"); may be empty
  std::string_view chip;       // chip name from the config
  std::uint32_t offset = 0;    // line offset on the chip
  EdgeDirection edge = EdgeDirection::rising;
  std::uint32_t line_seqno = 0;  // kernel per-line sequence number
  std::uint64_t seqno = 0;       // kernel per-request ("global") sequence number
};

// A numeric value of an EVENT: none, an exact integer, or a real.
class EventValue {
 public:
  enum class Kind : std::uint8_t { none, integer, real };

  constexpr EventValue() noexcept = default;
  static constexpr EventValue integer(std::int64_t v) noexcept { return EventValue(v); }
  static constexpr EventValue real(double v) noexcept { return EventValue(v); }

  constexpr Kind kind() const noexcept { return kind_; }
  constexpr std::int64_t as_integer() const noexcept { return i_; }
  constexpr double as_real() const noexcept { return d_; }

 private:
  constexpr explicit EventValue(std::int64_t v) noexcept : kind_(Kind::integer), i_(v) {}
  constexpr explicit EventValue(double v) noexcept : kind_(Kind::real), d_(v) {}

  Kind kind_ = Kind::none;
  std::int64_t i_ = 0;
  double d_ = 0;
};

// A decoded device event. `kind` is one of the names listed in docs/FILE-FORMATS.md
// (press, release, click, double_click, long_press, open, close, position, count,
// frequency, poll); devices own the meaning of value/value2 per kind.
struct EventEntry {
  std::uint64_t ts_ns = 0;  // CLOCK_MONOTONIC (the timestamp of the edge that caused it)
  std::string_view device;
  std::string_view kind;
  EventValue value;
  EventValue value2;
  std::string_view unit;  // unit of value (e.g. "counts", "Hz", "l/min"); may be empty
};

enum class GapReason : std::uint8_t {
  kernel_fifo,      // the kernel's line-event FIFO overflowed (seqno jump)
  ring_full,        // the RT thread found the edge ring full
  imu_overrun,      // IMU samples lost (RingIO full, read errors, missed ticks)
  log_full,         // the log's own bounded buffer refused records (disk too slow or failing)
  mqtt_spool_full,  // the MQTT spool reached its cap and dropped its oldest messages
};

// What GapEntry::from/to count.
enum class GapUnit : std::uint8_t { line_seqno, seqno, frame, ts_ns };

// `lost` records were lost strictly between `from` and `to` (the last one seen before
// the loss and the first one seen after it, in `unit`). No `from` (an empty field): the
// loss began at the very first record (an IMU's frame 0).
struct GapEntry {
  std::uint64_t ts_ns = 0;  // CLOCK_MONOTONIC, when the loss was detected
  GapReason reason = GapReason::kernel_fifo;
  std::string_view device;  // may be empty
  std::string_view line;    // may be empty
  std::string_view chip;    // may be empty
  std::optional<std::uint32_t> offset;
  std::uint64_t lost = 0;
  GapUnit unit = GapUnit::seqno;
  std::optional<std::uint64_t> from = 0;
  std::uint64_t to = 0;
};

// A CLOCK_MONOTONIC / CLOCK_REALTIME pair read back to back, so that monotonic
// timestamps in the log can be placed in wall-clock time.
struct TimeEntry {
  std::uint64_t monotonic_ns = 0;
  std::int64_t realtime_ns = 0;  // ns since the Unix epoch
};

// down/up: a device's chip, line or bus went away (or was missing at start) / came back.
// reopen: a log file was opened anew (rotated from outside, or found moved or deleted).
enum class MarkerType : std::uint8_t { start, stop, reload, down, up, reopen, restore, set };

struct MarkerEntry {
  MarkerType type = MarkerType::start;
  std::uint64_t monotonic_ns = 0;
  std::int64_t realtime_ns = 0;
  std::string_view version;  // "0.1.0"
  std::string_view info;     // free text: config file, reload result; may be empty
};

std::string_view to_string(EdgeDirection e) noexcept;
std::string_view to_string(GapReason r) noexcept;
std::string_view to_string(GapUnit u) noexcept;
std::string_view to_string(
    MarkerType t) noexcept;  // "START", "STOP", "RELOAD", "REOPEN", "RESTORE", "SET"

// Reads CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_MONOTONIC and pairs the realtime reading
// with the midpoint of the two monotonic ones.
TimeEntry read_time_pair() noexcept;

}  // namespace gpioirq::sinks
