#pragma once
// EventLog: the daemon's one event log, CSV or JSON Lines (docs/FILE-FORMATS.md), written
// through an AppendFile (batched io_uring writes, bounded buffer, fdatasync interval,
// rotation). Loop thread only.
//
// Every record call formats into a reused buffer and appends the whole line, or refuses
// it when the buffer is full (returns false). Refused records are never silent: the next
// record that fits is preceded by a GAP record (reason log_full) counting them, written
// in the same append so the two go together; a loss still pending at close() gets its GAP
// record there.
//
// Each file starts with the CSV header line (CSV only); a file begun by rotation also
// starts with a TIME record, so that every file can be read on its own. TIME records are
// also written every time_sync_interval_ms and after every START/STOP/RELOAD/REOPEN marker.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/schema.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer.hpp"
#include "sinks/append_file.hpp"
#include "sinks/log_records.hpp"
#include "sinks/record_format.hpp"

namespace gpioirq::sinks {

struct EventLogOptions {
  std::string path;
  config::LogFormat format = config::LogFormat::csv;
  std::size_t buffer_bytes = 512 * 1024;  // each of AppendFile's two buffers
  std::size_t max_buffer_bytes = 16u << 20;  // each may grow to this while a write lags
  std::uint32_t sync_interval_ms = 1000;
  std::uint64_t rotate_size_bytes = 64ull << 20;  // 0: never
  std::uint32_t rotate_keep = 5;
  std::uint32_t time_sync_interval_ms = 10000;  // 0: TIME only with markers and new files
  std::string version;  // written in START/STOP/RELOAD
};

// The options the daemon config asks for; path = <log_dir>/events.csv or events.jsonl.
EventLogOptions event_log_options(const config::DaemonConfig& daemon, std::string version);

struct EventLogStatus {
  AppendFileStatus file;
  std::uint64_t edges = 0;    // records written, by type
  std::uint64_t events = 0;
  std::uint64_t gaps = 0;     // GAP records, including the log's own log_full ones
  std::uint64_t times = 0;
  std::uint64_t markers = 0;
  std::uint64_t lost = 0;          // records refused (buffer full) since open()
  std::uint64_t lost_pending = 0;  // of those, not yet reported in a GAP record
};

class EventLog final : private FileFormatHooks {
 public:
  EventLog(loop::EventLoop& loop, EventLogOptions options);
  ~EventLog() override;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Opens the file (see AppendFile::open: an existing file in the other format, or not a
  // log of ours, is rotated away; a partial last line left by a crash is cut) and starts
  // the TIME timer. Returns 0 or -errno.
  int open();

  // false: refused (and counted, and reported later in a log_full GAP record).
  bool edge(const EdgeEntry& e) noexcept;
  bool event(const EventEntry& e) noexcept;
  bool gap(const GapEntry& e) noexcept;
  bool time(const TimeEntry& e) noexcept;
  // A START/STOP/RELOAD marker stamped now with options.version, followed by a TIME record.
  bool marker(MarkerType type, std::string_view info = {}) noexcept;

  // See AppendFile::reopen(). When the file was opened anew, a REOPEN marker with `info`
  // (and its TIME record) is the first thing in the new file after its header. Returns
  // 1: reopened, 0: the path still names the open file, -errno: the open failed.
  int reopen(std::string_view info);
  AppendFile::PathCheck path_check() const noexcept { return file_.path_check(); }

  // See AppendFile. close() first writes the GAP record of a pending loss.
  void flush() noexcept { file_.flush(); }
  // Bytes of records accepted but not on disk (after close(): those it could not write).
  std::size_t unwritten_bytes() const noexcept { return file_.unwritten_record_bytes(); }
  int flush_and_sync_blocking() noexcept { return file_.flush_and_sync_blocking(); }
  int close() noexcept;

  EventLogStatus status() const noexcept;
  const EventLogOptions& options() const noexcept { return options_; }

 private:
  Verdict inspect_existing(int fd, std::uint64_t size) override;
  void preamble(std::string& out, bool after_rotation) override;

  template <typename Entry>
  bool write(const Entry& e, std::uint64_t ts_ns, std::uint64_t& counter) noexcept;
  void format_lost_gap(std::uint64_t to_ts_ns);

  EventLogOptions options_;
  AppendFile file_;
  FormatBuffer scratch_;
  std::uint64_t last_ts_ = 0;       // ts of the last record written
  std::uint64_t lost_from_ts_ = 0;  // last_ts_ when the pending loss began
  EventLogStatus counts_;
  loop::Timer time_timer_;
};

}  // namespace gpioirq::sinks
