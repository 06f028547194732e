#pragma once
// AppendFile: an append-only log file written through the EventLoop (io_uring), for the
// loop thread only.
//
// - Batching: append() copies whole records into the active buffer; no syscall per
//   record. A write starts when the active buffer is half full, on flush(), and on every
//   tick (sync_interval_ms). At most one write is in flight: while it runs, appends fill
//   the other buffer (double buffering).
// - Bounded memory: two buffers of buffer_bytes, allocated at open(). While a write is in
//   flight, the buffer being filled may grow (doubling) up to max_buffer_bytes, so that a
//   disk stall of a few tens of milliseconds at a high record rate costs memory for a
//   while instead of records; a quiet log never grows. A record that does not fit even
//   then is refused (append() returns false) and counted; the caller turns that into a
//   loss record. A slow or failing disk therefore costs records, never unbounded memory,
//   and never blocks the loop.
// - The file is opened O_APPEND: every write lands at the file's end whatever offset the
//   loop passes, so a file truncated underneath (logrotate's copytruncate) continues at
//   its new end instead of growing a hole of NUL bytes up to the old one. A short write
//   continues where it stopped and a failed write (nothing written) is retried on the
//   next tick, so a retry never duplicates bytes. A truncation is noticed before the next
//   write (fstat) and the file begins again the way a new file does (the hooks'
//   preamble). Errors are counted in status(), never thrown.
// - Links are never followed: the file is opened O_NOFOLLOW and must be a regular file
//   with one link, so a symbolic or hard link planted at the name cannot redirect the
//   writes (open() fails: -ELOOP, -EMLINK, -EINVAL; open_error_text() says it in words).
//   Rotation renames names, never through links: rename(2) replaces a link at the new
//   name rather than following it.
// - Outside rotation: reopen() opens the path anew (after the file was moved away by
//   logrotate, or deleted), first writing what is buffered to the old file when it still
//   has a name; file_at_path() tells, with one fstat and one lstat, whether the path still
//   names the open file.
// - Writeback is started (sync_file_range, SYNC_FILE_RANGE_WRITE, through the loop) after
//   every few MiB written, so that the data reaches the disk steadily and the next
//   fdatasync has little left to do: one fdatasync of a second's worth of a busy log (100+
//   MB) held up the writes behind it long enough to fill the buffers. It is only a hint;
//   durability still comes from fdatasync.
// - fdatasync through the loop every sync_interval_ms, after the data appended before the
//   tick has been written, and only if something was written since the last one; and
//   synchronously in flush_and_sync_blocking() / close() at shutdown.
// - Rotation by size (rotate_size_bytes, rotate_keep; naming in rotation.hpp) happens
//   between two writes, so a record is never split across files. The renames and the
//   open of the new file are synchronous (rare metadata operations); the old file's final
//   fdatasync goes through the loop.
// - A FileFormatHooks object supplies what each new file starts with (a CSV header line,
//   a binary header) and inspects an existing file at open() (header check, cutting a
//   crash-damaged tail).
//
// The EventLoop must outlive the AppendFile.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"
#include "loop/callback_completion.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer.hpp"

namespace gpioirq::sinks {

class FileFormatHooks {
 public:
  struct Verdict {
    bool compatible = true;        // false: rotate the file away, start a new one
    std::uint64_t keep_bytes = 0;  // when compatible: the length to keep (cut the rest)
    // When compatible and something is kept: cut, then still rotate it away and start a
    // new file (a file whose header describes one run only, such as an IMU's).
    bool start_new_file = false;
  };

  virtual ~FileFormatHooks() = default;

  // Called at open() for an existing non-empty file (fd open O_RDWR, size > 0).
  // Synchronous reads are fine: this runs at start-up or reload.
  virtual Verdict inspect_existing(int fd, std::uint64_t size) = 0;
  // Appends what a new (empty) file starts with; after_rotation tells a rotation from a
  // first open.
  virtual void preamble(std::string& out, bool after_rotation) = 0;
};

struct AppendFileOptions {
  std::string path;
  std::size_t buffer_bytes = 256 * 1024;  // each of the two buffers; a write starts at half
  std::uint32_t sync_interval_ms = 1000;  // 0: no periodic fdatasync (ticks still run)
  std::uint64_t rotate_size_bytes = 0;    // 0: never rotate
  std::uint32_t rotate_keep = 5;          // rotated files kept: path.1 .. path.N
  mode_t file_mode = 0640;
  std::size_t max_buffer_bytes = 0;  // each buffer may grow to this while a write lags; 0: buffer_bytes
};

struct AppendFileStatus {
  std::uint64_t file_bytes = 0;      // bytes written to the current file
  std::size_t buffered_bytes = 0;    // accepted, not yet written
  std::size_t buffer_limit = 0;      // most bytes that can be buffered (2 x max_buffer_bytes)
  std::size_t buffer_memory = 0;     // bytes the two buffers hold allocated now
  std::uint64_t buffer_grows = 0;    // times a buffer grew past its size (a write was slow)
  std::uint64_t appends = 0;         // records accepted
  std::uint64_t appended_bytes = 0;
  std::uint64_t refused = 0;         // records refused (buffers full, or record too big)
  std::uint64_t refused_bytes = 0;
  std::uint64_t writes = 0;          // write ops that wrote something
  std::uint64_t written_bytes = 0;
  std::uint64_t short_writes = 0;
  std::uint64_t write_errors = 0;
  std::uint64_t syncs = 0;           // fdatasyncs that succeeded
  std::uint64_t writebacks = 0;      // early writebacks started (sync_file_range) that succeeded
  std::uint64_t sync_errors = 0;
  std::uint64_t rotations = 0;
  std::uint64_t rotation_errors = 0;  // rename/open failures while rotating or reopening
  std::uint64_t reopens = 0;          // reopen() calls that opened the path anew
  std::uint64_t truncations = 0;  // the file was found shorter than written (truncated underneath)
  std::uint64_t cut_bytes = 0;       // cut off a damaged tail at open()
  bool rotated_away_at_open = false;  // open() found an incompatible file and rotated it
  int last_error = 0;                // errno of the last failure, 0 if none
  bool healthy = true;               // false from a failure until the next success
  bool open = false;
};

class AppendFile {
 public:
  AppendFile(loop::EventLoop& loop, AppendFileOptions options, FileFormatHooks* hooks = nullptr);
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  // close(): whatever is buffered is written and synced, blocking.
  ~AppendFile();

  // Opens (creating) the file, inspects an existing one through the hooks, rotates it
  // first if it is incompatible or already at rotate_size_bytes, allocates the buffers
  // and starts the tick. Synchronous; for start-up and reload. Returns 0 or -errno.
  int open();

  // Appends one record, whole or not at all. false: refused and counted (buffers full,
  // record larger than buffer_bytes, or not open).
  bool append(std::string_view record) noexcept;
  // Bytes that append() would accept right now without starting a write.
  std::size_t room() const noexcept;
  // Bytes of accepted records not yet in the file (a new file's preamble not counted):
  // after a close() whose writes failed, the records lost.
  std::size_t unwritten_record_bytes() const noexcept;

  // Starts writing what is buffered, if no write is in flight (else right after it).
  void flush() noexcept;

  // Shutdown/reload path: withdraws the ops in flight, then writes everything buffered
  // with pwrite(2) and calls fdatasync(2), blocking. The file stays open. Returns 0 or
  // the first -errno.
  int flush_and_sync_blocking() noexcept;
  // flush_and_sync_blocking(), then stops the tick and closes the file; later appends are
  // refused. Returns its result.
  int close() noexcept;

  // Opens the path anew if it no longer names the open file (moved, deleted, replaced) or
  // no file is open (an earlier open failed). What is buffered is written first to the
  // old file if it still has a name (logrotate moved it: the old file ends where the new
  // one begins), else it goes to the new file (a deleted file's data is gone with it; the
  // buffered part is not). The old file's last fdatasync runs through the loop.
  // Synchronous, blocking writes of what is buffered; for the rare reopen request.
  // Returns 1: reopened, 0: the path still names the open file (nothing done), -errno:
  // the open failed (retried before each later write; appends are kept meanwhile, up to
  // the buffer limit).
  int reopen();

  // Whether the path still names the open file (same device and inode, not a link):
  // `same` also when nothing is open or it cannot be told (stat errors other than
  // ENOENT); else `moved` while the open file still has a name elsewhere (renamed), or
  // `deleted`. Two syscalls; for a periodic check.
  enum class PathCheck : std::uint8_t { same, moved, deleted };
  PathCheck path_check() const noexcept;
  bool file_at_path() const noexcept { return path_check() == PathCheck::same; }

  const AppendFileStatus& status() const noexcept;
  const std::string& path() const noexcept { return options_.path; }
  const AppendFileOptions& options() const noexcept { return options_; }

 private:
  enum class OpenKind : std::uint8_t { first, rotated, reopened };
  int open_file(OpenKind kind);
  void withdraw_write() noexcept;
  int write_pending_blocking() noexcept;
  void keep_unwritten_for_next_file();
  void check_truncation() noexcept;
  void rotate();
  void on_tick() noexcept;
  void pump() noexcept;
  void start_job() noexcept;
  void submit_job() noexcept;
  void on_write(int res) noexcept;
  void on_sync(int res) noexcept;
  void advance(std::size_t written) noexcept;
  void start_writeback() noexcept;
  void fail(int err) noexcept;
  int write_job_blocking() noexcept;
  std::size_t job_size() const noexcept { return preamble_.size() + job_.size(); }
  std::size_t job_remaining() const noexcept { return job_size() - job_pos_; }
  bool sync_may_start() const noexcept;

  loop::EventLoop& loop_;
  AppendFileOptions options_;
  FileFormatHooks* hooks_;
  core::UniqueFd fd_;
  core::UniqueFd retiring_fd_;  // the previous file, until its final fdatasync is done

  std::vector<char> active_;  // filled by append()
  std::size_t active_limit_ = 0;  // active_ may hold this much now (grows while writes lag)
  // The write in progress: preamble_ (a new file's start) then job_; job_pos_ bytes of it
  // are written.
  std::string preamble_;
  std::vector<char> job_;
  std::size_t job_pos_ = 0;
  unsigned submitted_len_ = 0;     // length of the write in flight
  bool job_active_ = false;
  bool retry_wait_ = false;        // the last write failed: retry on the next tick
  bool flush_requested_ = false;
  bool dirty_ = false;             // written since the last fdatasync was started
  bool reopen_needed_ = false;     // no usable fd (open failed during a rotation)
  // Written data from this offset on has not been handed to the kernel's writeback yet.
  std::uint64_t writeback_from_ = 0;
  bool writeback_unsupported_ = false;  // the file system refused sync_file_range
  bool closed_ = true;
  std::uint64_t data_in_file_ = 0;  // bytes beyond the preamble in the current file
  // Tick generations order fdatasyncs after the writes of the data appended before them.
  std::uint64_t tick_gen_ = 0;
  std::uint64_t job_gen_ = 0;
  std::uint64_t done_gen_ = 0;      // generation of the last job fully written
  std::uint64_t sync_req_gen_ = 0;  // 0: no fdatasync requested

  mutable AppendFileStatus status_;

  // Last: destroyed first, so no op in flight outlives the buffers it points into.
  loop::CallbackCompletion write_op_;
  loop::CallbackCompletion sync_op_;
  loop::CallbackCompletion retire_op_;
  loop::CallbackCompletion writeback_op_;
  loop::Timer tick_;
};

// A sentence for a user about an open() failure of a log file: "is a symbolic link ..."
// for -ELOOP, "has other hard links" for -EMLINK, "is not a regular file" for -EINVAL,
// else strerror.
std::string open_error_text(int negative_errno);

}  // namespace gpioirq::sinks
