#include "sinks/event_log.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

namespace gpioirq::sinks {

namespace {

constexpr std::uint64_t kNsPerMs = 1'000'000;

std::string_view view(const FormatBuffer& b) noexcept { return {b.data(), b.size()}; }

ssize_t pread_full(int fd, char* buf, std::size_t len, std::uint64_t offset) noexcept {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t r = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace

EventLogOptions event_log_options(const config::DaemonConfig& daemon, std::string version) {
  EventLogOptions o;
  o.format = daemon.event_log_format;
  o.path = daemon.log_dir + (o.format == config::LogFormat::csv ? "/events.csv" : "/events.jsonl");
  o.sync_interval_ms = daemon.flush_interval_ms;
  o.rotate_size_bytes = daemon.rotate_size_bytes;
  o.rotate_keep = daemon.rotate_keep;
  o.time_sync_interval_ms = daemon.time_sync_interval_ms;
  o.max_buffer_bytes = std::max<std::size_t>(daemon.log_buffer_max_bytes, o.buffer_bytes);
  o.version = std::move(version);
  return o;
}

EventLog::EventLog(loop::EventLoop& loop, EventLogOptions options)
    : options_(std::move(options)),
      file_(loop,
            AppendFileOptions{options_.path, options_.buffer_bytes, options_.sync_interval_ms,
                              options_.rotate_size_bytes, options_.rotate_keep, 0640, options_.max_buffer_bytes},
            this),
      time_timer_(loop, [this] { time(read_time_pair()); }) {}

EventLog::~EventLog() { close(); }

int EventLog::open() {
  const int r = file_.open();
  if (r < 0) return r;
  if (options_.time_sync_interval_ms > 0) {
    time_timer_.start_periodic(std::uint64_t{options_.time_sync_interval_ms} * kNsPerMs);
  }
  return 0;
}

int EventLog::close() noexcept {
  time_timer_.cancel();
  if (!file_.status().open) return 0;
  if (counts_.lost_pending > 0) {
    // Make room, then report the loss that nothing after it has reported yet.
    file_.flush_and_sync_blocking();
    try {
      scratch_.clear();
      format_lost_gap(read_time_pair().monotonic_ns);
      if (file_.append(view(scratch_))) {
        counts_.lost_pending = 0;
        ++counts_.gaps;
      }
    } catch (...) {
    }
  }
  return file_.close();
}

void EventLog::format_lost_gap(std::uint64_t to_ts_ns) {
  GapEntry g;
  g.ts_ns = read_time_pair().monotonic_ns;
  g.reason = GapReason::log_full;
  g.lost = counts_.lost_pending;
  g.unit = GapUnit::ts_ns;
  g.from = lost_from_ts_;
  g.to = to_ts_ns;
  format_record(options_.format, g, scratch_);
}

template <typename Entry>
bool EventLog::write(const Entry& e, std::uint64_t ts_ns, std::uint64_t& counter) noexcept {
  try {
    scratch_.clear();
    const bool with_gap = counts_.lost_pending > 0;
    if (with_gap) format_lost_gap(ts_ns);
    format_record(options_.format, e, scratch_);
    // The GAP and the record that ends the loss go in together, or neither.
    if (file_.append(view(scratch_))) {
      if (with_gap) {
        counts_.lost_pending = 0;
        ++counts_.gaps;
      }
      last_ts_ = ts_ns;
      ++counter;
      return true;
    }
  } catch (...) {  // allocation failure formatting an unusually long name: lost like the rest
  }
  if (counts_.lost_pending == 0) lost_from_ts_ = last_ts_;
  ++counts_.lost_pending;
  ++counts_.lost;
  return false;
}

bool EventLog::edge(const EdgeEntry& e) noexcept { return write(e, e.ts_ns, counts_.edges); }
bool EventLog::event(const EventEntry& e) noexcept { return write(e, e.ts_ns, counts_.events); }
bool EventLog::gap(const GapEntry& e) noexcept { return write(e, e.ts_ns, counts_.gaps); }
bool EventLog::time(const TimeEntry& e) noexcept { return write(e, e.monotonic_ns, counts_.times); }

int EventLog::reopen(std::string_view info) {
  const int r = file_.reopen();
  if (r == 1) marker(MarkerType::reopen, info);
  return r;
}

bool EventLog::marker(MarkerType type, std::string_view info) noexcept {
  const TimeEntry t = read_time_pair();
  const MarkerEntry m{type, t.monotonic_ns, t.realtime_ns, options_.version, info};
  const bool ok = write(m, m.monotonic_ns, counts_.markers);
  return time(t) && ok;
}

EventLogStatus EventLog::status() const noexcept {
  EventLogStatus s = counts_;
  s.file = file_.status();
  return s;
}

FileFormatHooks::Verdict EventLog::inspect_existing(int fd, std::uint64_t size) {
  // The first line tells the format: the exact CSV header, or a JSON object.
  const std::string_view header = csv_header();
  std::string first(std::min<std::uint64_t>(size, header.size()), '\0');
  if (pread_full(fd, first.data(), first.size(), 0) != static_cast<ssize_t>(first.size())) {
    return Verdict{false, 0};
  }
  const bool ours = options_.format == config::LogFormat::csv
                        ? header.substr(0, first.size()) == first
                        : first.front() == '{';
  if (!ours) return Verdict{false, 0};

  // Keep everything up to the end of the last whole record: a crash may have left half a
  // record. In JSON Lines that is the last '\n'. In CSV a quoted field may hold a line
  // break (a config path in a START record can), so it is the last '\n' outside quotes,
  // which takes reading the file from its start (once, at open).
  std::array<char, 64 * 1024> chunk{};
  if (options_.format == config::LogFormat::csv) {
    bool quoted = false;
    std::uint64_t keep = 0;
    for (std::uint64_t at = 0; at < size;) {
      const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), size - at));
      if (pread_full(fd, chunk.data(), len, at) != static_cast<ssize_t>(len)) {
        return Verdict{true, size};  // unreadable: leave it as it is
      }
      for (std::size_t i = 0; i < len; ++i) {
        if (chunk[i] == '"') quoted = !quoted;  // "" inside a quoted field toggles twice
        if (chunk[i] == '\n' && !quoted) keep = at + i + 1;
      }
      at += len;
    }
    return Verdict{true, keep};  // 0: not one whole record: start the file again
  }
  std::uint64_t end = size;
  while (end > 0) {
    const std::uint64_t start = end > chunk.size() ? end - chunk.size() : 0;
    const auto len = static_cast<std::size_t>(end - start);
    if (pread_full(fd, chunk.data(), len, start) != static_cast<ssize_t>(len)) {
      return Verdict{true, size};  // unreadable: leave it as it is
    }
    for (std::size_t i = len; i > 0; --i) {
      if (chunk[i - 1] == '\n') return Verdict{true, start + i};
    }
    end = start;
  }
  return Verdict{true, 0};  // not one whole line: start the file again
}

void EventLog::preamble(std::string& out, bool after_rotation) {
  if (options_.format == config::LogFormat::csv) out += csv_header();
  if (after_rotation) {
    // Not scratch_: a rotation happens inside append(), which is reading scratch_.
    FormatBuffer time_line;
    format_record(options_.format, read_time_pair(), time_line);
    out.append(time_line.data(), time_line.size());
    ++counts_.times;
  }
}

}  // namespace gpioirq::sinks
