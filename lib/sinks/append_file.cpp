#include "sinks/append_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <optional>
#include <utility>

#include "sinks/rotation.hpp"

namespace gpioirq::sinks {

namespace {

constexpr std::uint64_t kNsPerMs = 1'000'000;
// Ticks still run without periodic syncs: they retry failed writes and flush.
constexpr std::uint32_t kDefaultTickMs = 1000;
// One write op never exceeds this (the loop takes an unsigned length).
constexpr std::size_t kMaxWrite = std::size_t{1} << 30;
// Writeback is started once this much has been written since the last start.
constexpr std::uint64_t kWritebackChunk = std::uint64_t{4} << 20;

// O_NOFOLLOW: a symbolic link at the name is refused (ELOOP), never written through; a
// file with other hard links is refused too (EMLINK): both are what a user who could
// write log_dir once may have planted to aim a root daemon's writes elsewhere. Not a
// regular file (a FIFO, a device node): EINVAL.
// A file of ours takes the group of its directory: the daemon gives log_dir to the socket
// group (share_log_dir), whose members read the logs, and files made later (rotation,
// reopen) must follow. (A set-group-ID directory would do it, but a hardened unit's
// RestrictSUIDSGID= forbids making one.) If the group cannot be given (the daemon is not a
// member), the file keeps the daemon's group: still written, only not readable by it.
int open_rw(const std::string& path, mode_t mode) noexcept {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  core::UniqueFd file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -errno;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  if (st.st_nlink > 1) return -EMLINK;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  struct stat dir_st {};
  if (st.st_uid == ::geteuid() && ::stat(dir.empty() ? "." : dir.c_str(), &dir_st) == 0 &&
      dir_st.st_gid != st.st_gid) {
    // A failure is not an error of the log (see above); the result is read only because
    // _FORTIFY_SOURCE (Debian's build flags) insists.
    const int chown_result = ::fchown(fd, static_cast<uid_t>(-1), dir_st.st_gid);
    static_cast<void>(chown_result);
  }
  return file.release();
}

std::int64_t file_size(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -errno;
  return st.st_size;
}

}  // namespace

AppendFile::AppendFile(loop::EventLoop& loop, AppendFileOptions options, FileFormatHooks* hooks)
    : loop_(loop),
      options_(std::move(options)),
      hooks_(hooks),
      write_op_([this](int res, std::uint32_t) { on_write(res); }),
      sync_op_([this](int res, std::uint32_t) { on_sync(res); }),
      retire_op_([this](int res, std::uint32_t) {
        retiring_fd_.reset();
        if (res < 0) {
          ++status_.sync_errors;
          fail(-res);
        } else {
          ++status_.syncs;
        }
      }),
      writeback_op_([this](int res, std::uint32_t) {
        if (res == 0) ++status_.writebacks;
        if (res == -EINVAL || res == -EOPNOTSUPP || res == -ESPIPE) writeback_unsupported_ = true;
      }),
      tick_(loop, [this] { on_tick(); }) {
  options_.buffer_bytes = std::max<std::size_t>(options_.buffer_bytes, 64);
  options_.max_buffer_bytes = std::max(options_.max_buffer_bytes, options_.buffer_bytes);
}

AppendFile::~AppendFile() { close(); }

int AppendFile::open() {
  if (!closed_) return 0;
  active_.clear();
  job_.clear();
  preamble_.clear();
  active_.reserve(options_.buffer_bytes);
  job_.reserve(options_.buffer_bytes);
  active_limit_ = options_.buffer_bytes;
  job_pos_ = 0;
  job_active_ = retry_wait_ = flush_requested_ = dirty_ = reopen_needed_ = false;
  sync_req_gen_ = 0;
  const int r = open_file(OpenKind::first);
  if (r < 0) {
    fail(-r);
    return r;
  }
  closed_ = false;
  status_.open = true;
  const std::uint32_t tick_ms =
      options_.sync_interval_ms > 0 ? options_.sync_interval_ms : kDefaultTickMs;
  tick_.start_periodic(std::uint64_t{tick_ms} * kNsPerMs);
  return 0;
}

int AppendFile::open_file(OpenKind kind) {
  const bool after_rotation = kind == OpenKind::rotated;
  int fd = open_rw(options_.path, options_.file_mode);
  if (fd < 0) return fd;
  core::UniqueFd file(fd);
  std::int64_t size = file_size(file.get());
  if (size < 0) return static_cast<int>(size);

  auto reopen_after_rotating = [&](std::uint32_t keep) -> int {
    file.reset();
    if (const int r = rotate_files(options_.path, keep); r < 0) {
      ++status_.rotation_errors;
      fail(-r);
    }
    fd = open_rw(options_.path, options_.file_mode);
    if (fd < 0) return fd;
    file.reset(fd);
    size = file_size(file.get());
    return size < 0 ? static_cast<int>(size) : 0;
  };

  if (!after_rotation && size > 0) {
    if (hooks_ != nullptr) {
      const FileFormatHooks::Verdict v = hooks_->inspect_existing(file.get(), static_cast<std::uint64_t>(size));
      if (!v.compatible) {
        // Someone else's file, or ours in another layout: keep it as path.1 even when the
        // retention count is 0, rather than destroy data we did not write.
        status_.rotated_away_at_open = true;
        if (const int r = reopen_after_rotating(std::max<std::uint32_t>(options_.rotate_keep, 1)); r < 0) return r;
      } else {
        if (v.keep_bytes < static_cast<std::uint64_t>(size)) {
          if (::ftruncate(file.get(), static_cast<off_t>(v.keep_bytes)) != 0) return -errno;
          status_.cut_bytes += static_cast<std::uint64_t>(size) - v.keep_bytes;
          size = static_cast<std::int64_t>(v.keep_bytes);
        }
        if (v.start_new_file && size > 0) {
          // The previous run's data is kept as path.1 even when the retention count is 0.
          ++status_.rotations;
          if (const int r = reopen_after_rotating(std::max<std::uint32_t>(options_.rotate_keep, 1)); r < 0) return r;
        }
      }
    }
    if (size > 0 && options_.rotate_size_bytes > 0 &&
        static_cast<std::uint64_t>(size) >= options_.rotate_size_bytes) {
      ++status_.rotations;
      if (const int r = reopen_after_rotating(options_.rotate_keep); r < 0) return r;
    }
  }

  fd_ = std::move(file);
  status_.file_bytes = static_cast<std::uint64_t>(size);
  writeback_from_ = static_cast<std::uint64_t>(size);
  data_in_file_ = static_cast<std::uint64_t>(size);
  preamble_.clear();
  // A file begun by rotation or reopen says so (the event log then starts with a TIME).
  if (size == 0 && hooks_ != nullptr) hooks_->preamble(preamble_, kind != OpenKind::first);
  return 0;
}

void AppendFile::rotate() {
  // The old file's last fdatasync runs through the loop; retire_op_ keeps its fd open
  // until then. If a previous one is still running (two rotations within one sync), the
  // old file is just closed: the kernel's writeback still writes it out.
  writeback_op_.abandon();  // it names the old file's fd
  core::UniqueFd old = std::move(fd_);
  if (!retire_op_.in_flight()) {
    retiring_fd_ = std::move(old);
    if (loop_.fdatasync(retiring_fd_.get(), retire_op_) < 0) retiring_fd_.reset();
  }
  old.reset();
  dirty_ = false;
  ++status_.rotations;
  if (const int r = rotate_files(options_.path, options_.rotate_keep); r < 0) {
    ++status_.rotation_errors;
    fail(-r);
  }
  if (const int r = open_file(OpenKind::rotated); r < 0) {
    ++status_.rotation_errors;
    fail(-r);
    reopen_needed_ = true;
  }
}

bool AppendFile::append(std::string_view record) noexcept {
  const std::size_t n = record.size();
  if (closed_ || n > options_.max_buffer_bytes) {
    ++status_.refused;
    status_.refused_bytes += n;
    return false;
  }
  if (active_.size() + n > active_limit_) {
    if (!job_active_ && !retry_wait_) start_job();
    // Still no room: a write is in flight (or waiting to be retried). Grow rather than
    // lose records, up to the cap.
    if (active_.size() + n > active_limit_ && active_limit_ < options_.max_buffer_bytes) {
      active_limit_ = std::min(options_.max_buffer_bytes, std::max(2 * active_limit_, active_.size() + n));
      ++status_.buffer_grows;
    }
    if (active_.size() + n > active_limit_) {
      ++status_.refused;
      status_.refused_bytes += n;
      return false;
    }
  }
  if (active_.capacity() < active_.size() + n) {
    try {
      active_.reserve(active_limit_);
    } catch (const std::bad_alloc&) {
      active_limit_ = active_.capacity();
      ++status_.refused;
      status_.refused_bytes += n;
      return false;
    }
  }
  active_.insert(active_.end(), record.begin(), record.end());
  ++status_.appends;
  status_.appended_bytes += n;
  if (active_.size() >= options_.buffer_bytes / 2 && !job_active_) pump();
  return true;
}

std::size_t AppendFile::room() const noexcept {
  return closed_ || active_.size() >= active_limit_ ? 0 : active_limit_ - active_.size();
}

std::size_t AppendFile::unwritten_record_bytes() const noexcept {
  std::size_t job_left = 0;
  if (job_active_) job_left = job_.size() - (job_pos_ > preamble_.size() ? job_pos_ - preamble_.size() : 0);
  return active_.size() + job_left;
}

void AppendFile::flush() noexcept {
  flush_requested_ = true;
  pump();
}

void AppendFile::on_tick() noexcept {
  if (!job_active_) check_truncation();
  ++tick_gen_;
  retry_wait_ = false;
  flush_requested_ = true;
  if (options_.sync_interval_ms > 0) sync_req_gen_ = tick_gen_;
  pump();
}

bool AppendFile::sync_may_start() const noexcept {
  // Everything appended before the requesting tick has been written: a job started at or
  // after that tick has completed, or nothing is waiting at all.
  return done_gen_ >= sync_req_gen_ || (!job_active_ && active_.empty() && preamble_.empty());
}

void AppendFile::pump() noexcept {
  if (closed_) return;
  if (!write_op_.in_flight()) {
    if (job_active_) {
      if (!retry_wait_) submit_job();
    } else if (flush_requested_ || active_.size() >= options_.buffer_bytes / 2) {
      if (!retry_wait_ && (!active_.empty() || !preamble_.empty())) start_job();
      flush_requested_ = false;
    }
  }
  if (sync_req_gen_ != 0 && !sync_op_.in_flight() && sync_may_start()) {
    if (dirty_ && fd_) {
      if (const int r = loop_.fdatasync(fd_.get(), sync_op_); r < 0) {
        ++status_.sync_errors;
        fail(-r);
        return;  // asked again on the next tick
      }
      dirty_ = false;
    }
    sync_req_gen_ = 0;
  }
}

void AppendFile::start_job() noexcept {
  if (reopen_needed_) {
    int r = -ENOMEM;
    try {
      // Whatever is at the path now is looked at as at a first open (it may be anyone's).
      r = open_file(OpenKind::reopened);
    } catch (...) {
    }
    if (r < 0) {
      ++status_.rotation_errors;
      fail(-r);
      retry_wait_ = true;
      return;
    }
    reopen_needed_ = false;
  }
  check_truncation();
  if (options_.rotate_size_bytes > 0 && data_in_file_ > 0 &&
      status_.file_bytes + preamble_.size() + active_.size() > options_.rotate_size_bytes) {
    try {
      rotate();
    } catch (...) {  // only allocation failure in a hook can get here
      fail(ENOMEM);
      reopen_needed_ = true;
    }
    if (reopen_needed_) {
      retry_wait_ = true;
      return;
    }
  }
  std::swap(active_, job_);  // job_ was empty; both keep their reserved capacity
  active_.clear();
  // The buffer to fill next is the one the last write emptied: it may hold what it has
  // (grown or not); it grows again only if this write is slow too.
  active_limit_ = std::max(options_.buffer_bytes, std::min(active_.capacity(), options_.max_buffer_bytes));
  job_pos_ = 0;
  job_active_ = true;
  job_gen_ = tick_gen_;
  submit_job();
}

void AppendFile::submit_job() noexcept {
  const char* p = nullptr;
  std::size_t len = 0;
  if (job_pos_ < preamble_.size()) {
    p = preamble_.data() + job_pos_;
    len = preamble_.size() - job_pos_;
  } else {
    const std::size_t off = job_pos_ - preamble_.size();
    p = job_.data() + off;
    len = job_.size() - off;
  }
  submitted_len_ = static_cast<unsigned>(std::min(len, kMaxWrite));
  // The offset is ignored for an O_APPEND file: the kernel writes at the end.
  const int r = loop_.write(fd_.get(), p, submitted_len_, status_.file_bytes, write_op_);
  if (r < 0) {
    ++status_.write_errors;
    fail(-r);
    retry_wait_ = true;
  }
}

void AppendFile::advance(std::size_t written) noexcept {
  const std::size_t before = job_pos_;
  job_pos_ += written;
  const std::size_t p = preamble_.size();
  data_in_file_ += std::max(job_pos_, p) - std::max(before, p);
  ++status_.writes;
  status_.written_bytes += written;
  status_.file_bytes += written;
  if (job_pos_ >= job_size()) {
    preamble_.clear();
    job_.clear();
    job_pos_ = 0;
    job_active_ = false;
    done_gen_ = job_gen_;
  }
}

void AppendFile::start_writeback() noexcept {
  if (writeback_unsupported_ || writeback_op_.in_flight() || !fd_) return;
  const std::uint64_t end = status_.file_bytes;
  if (end < writeback_from_ + kWritebackChunk) return;
  const std::uint64_t len = std::min<std::uint64_t>(end - writeback_from_, std::uint64_t{1} << 30);
  if (loop_.start_writeback(fd_.get(), writeback_from_, static_cast<unsigned>(len), writeback_op_) < 0) return;
  writeback_from_ += len;
}

void AppendFile::on_write(int res) noexcept {
  if (res == -EINTR) {
    submit_job();
    return;
  }
  if (res <= 0) {
    // 0 for a non-empty write cannot happen on a regular file; treat it as an I/O error.
    ++status_.write_errors;
    fail(res < 0 ? -res : EIO);
    retry_wait_ = true;  // same bytes, same offset, on the next tick
  } else {
    if (static_cast<unsigned>(res) < submitted_len_) ++status_.short_writes;
    dirty_ = true;
    status_.healthy = true;
    advance(static_cast<std::size_t>(res));
    start_writeback();
  }
  pump();
}

void AppendFile::on_sync(int res) noexcept {
  if (res < 0) {
    ++status_.sync_errors;
    fail(-res);
    dirty_ = true;
  } else {
    ++status_.syncs;
    status_.healthy = true;
  }
  pump();
}

void AppendFile::fail(int err) noexcept {
  status_.last_error = err;
  status_.healthy = false;
}

int AppendFile::write_job_blocking() noexcept {
  while (job_active_) {
    const char* p = nullptr;
    std::size_t len = 0;
    if (job_pos_ < preamble_.size()) {
      p = preamble_.data() + job_pos_;
      len = preamble_.size() - job_pos_;
    } else {
      const std::size_t off = job_pos_ - preamble_.size();
      p = job_.data() + off;
      len = job_.size() - off;
    }
    const ssize_t r = ::write(fd_.get(), p, std::min(len, kMaxWrite));  // O_APPEND: at the end
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = r < 0 ? errno : EIO;
      ++status_.write_errors;
      fail(err);
      return -err;
    }
    if (static_cast<std::size_t>(r) < len) ++status_.short_writes;
    dirty_ = true;
    advance(static_cast<std::size_t>(r));
  }
  return 0;
}

void AppendFile::withdraw_write() noexcept {
  if (!write_op_.in_flight()) return;
  const std::uint64_t before = status_.file_bytes;
  const std::optional<int> res = write_op_.abandon();
  if (res.has_value()) {
    // The write came back (done, failed or cancelled before it ran): its result says what
    // is in the file. Guessing from the file's size instead is wrong when the file was
    // truncated underneath while the write waited in io-wq: the write then lands at the new
    // end and the size looks unchanged, and writing those bytes again duplicates them.
    if (*res > 0) {
      if (static_cast<unsigned>(*res) < submitted_len_) ++status_.short_writes;
      dirty_ = true;
      advance(static_cast<std::size_t>(*res));
    } else if (*res < 0 && *res != -ECANCELED && *res != -EINTR) {
      ++status_.write_errors;
      fail(-*res);
    }
    return;
  }
  // The ring failed while waiting: the result is lost. O_APPEND put whatever the write
  // wrote at the end of the file, so the file's growth says how much that was.
  struct stat st {};
  if (!fd_ || ::fstat(fd_.get(), &st) != 0) return;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // Shorter than before: truncated meanwhile; what is there now can only be this write's.
  const std::uint64_t grown = size >= before ? size - before : size;
  const auto written = static_cast<std::size_t>(std::min<std::uint64_t>(grown, submitted_len_));
  if (written == 0) return;
  dirty_ = true;
  advance(written);
  if (size < before) status_.file_bytes = size;
}

int AppendFile::write_pending_blocking() noexcept {
  withdraw_write();
  if (!job_active_) check_truncation();
  if (int r = write_job_blocking(); r < 0) return r;
  if (!active_.empty() || !preamble_.empty()) {
    std::swap(active_, job_);
    active_.clear();
    job_pos_ = 0;
    job_active_ = true;
    job_gen_ = tick_gen_;
    if (int r = write_job_blocking(); r < 0) return r;
  }
  retry_wait_ = false;
  return 0;
}

int AppendFile::flush_and_sync_blocking() noexcept {
  if (closed_) return -EBADF;
  // Withdraw what is in flight; the write's outcome is taken from its completion.
  withdraw_write();
  sync_op_.abandon();
  retire_op_.abandon();
  writeback_op_.abandon();
  retiring_fd_.reset();
  if (reopen_needed_) {
    int r = -ENOMEM;
    try {
      r = open_file(OpenKind::reopened);
    } catch (...) {
    }
    if (r < 0) {
      fail(-r);
      return r;
    }
    reopen_needed_ = false;
  }
  if (int r = write_pending_blocking(); r < 0) return r;
  if (dirty_) {
    if (::fdatasync(fd_.get()) != 0) {
      const int err = errno;
      ++status_.sync_errors;
      fail(err);
      return -err;
    }
    ++status_.syncs;
    dirty_ = false;
  }
  sync_req_gen_ = 0;
  return 0;
}

void AppendFile::keep_unwritten_for_next_file() {
  // The unwritten rest of the job, then active_, become active_: the next file gets them
  // after its own preamble (the old file's preamble, written or not, stays behind).
  if (job_active_) {
    const std::size_t done = job_pos_ > preamble_.size() ? job_pos_ - preamble_.size() : 0;
    active_.insert(active_.begin(), job_.begin() + static_cast<std::ptrdiff_t>(done), job_.end());
    job_.clear();
    job_pos_ = 0;
    job_active_ = false;
    done_gen_ = job_gen_;
  }
  preamble_.clear();
  active_limit_ = std::max(active_limit_, active_.size());
}

int AppendFile::reopen() {
  if (closed_) return -EBADF;
  if (!reopen_needed_ && file_at_path()) return 0;
  // The write in flight finishes first (it belongs to the old file).
  withdraw_write();
  writeback_op_.abandon();  // they name the old fd
  sync_op_.abandon();
  core::UniqueFd old = std::move(fd_);
  bool old_has_name = false;
  if (old) {
    struct stat st {};
    old_has_name = ::fstat(old.get(), &st) == 0 && st.st_nlink > 0;
  }
  if (old_has_name) {
    // Moved away (logrotate): it keeps everything accepted up to now.
    fd_ = std::move(old);
    const int r = write_pending_blocking();
    old = std::move(fd_);
    if (r < 0)
      keep_unwritten_for_next_file();  // e.g. its disk is full: the new file takes the rest
  } else {
    keep_unwritten_for_next_file();
  }
  retry_wait_ = false;
  if (old && dirty_ && !retire_op_.in_flight()) {
    retiring_fd_ = std::move(old);
    if (loop_.fdatasync(retiring_fd_.get(), retire_op_) < 0) retiring_fd_.reset();
  }
  old.reset();
  dirty_ = false;
  ++status_.reopens;
  const int r = open_file(OpenKind::reopened);
  if (r < 0) {
    ++status_.rotation_errors;
    fail(-r);
    reopen_needed_ = true;  // tried again before each write
    return r;
  }
  reopen_needed_ = false;
  status_.healthy = true;
  status_.last_error = 0;
  flush_requested_ = true;
  pump();
  return 1;
}

AppendFile::PathCheck AppendFile::path_check() const noexcept {
  if (!fd_) return PathCheck::same;
  struct stat open_file {};
  struct stat at_path {};
  if (::fstat(fd_.get(), &open_file) != 0) return PathCheck::same;
  if (open_file.st_nlink == 0) return PathCheck::deleted;  // (and perhaps made again)
  if (::lstat(options_.path.c_str(), &at_path) != 0)
    return errno == ENOENT ? PathCheck::moved : PathCheck::same;
  const bool same = open_file.st_dev == at_path.st_dev && open_file.st_ino == at_path.st_ino;
  return same ? PathCheck::same : PathCheck::moved;
}

void AppendFile::check_truncation() noexcept {
  struct stat st {};
  if (!fd_ || ::fstat(fd_.get(), &st) != 0) return;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size >= status_.file_bytes) return;
  // Truncated underneath (copytruncate): O_APPEND continues at the new end; the file
  // starts again as a new file does, so that it can be read on its own.
  ++status_.truncations;
  status_.file_bytes = size;
  writeback_from_ = std::min(writeback_from_, size);
  data_in_file_ = std::min<std::uint64_t>(data_in_file_, size);
  if (size == 0 && preamble_.empty() && hooks_ != nullptr) {
    try {
      hooks_->preamble(preamble_, true);
    } catch (...) {
      preamble_.clear();
    }
  }
}

int AppendFile::close() noexcept {
  if (closed_) return 0;
  const int r = flush_and_sync_blocking();
  tick_.cancel();
  write_op_.abandon();
  sync_op_.abandon();
  retire_op_.abandon();
  writeback_op_.abandon();
  retiring_fd_.reset();
  fd_.reset();
  closed_ = true;
  status_.open = false;
  return r;
}

const AppendFileStatus& AppendFile::status() const noexcept {
  status_.buffered_bytes = active_.size() + (job_active_ ? job_remaining() : preamble_.size());
  status_.buffer_limit = 2 * options_.max_buffer_bytes;
  status_.buffer_memory = active_.capacity() + job_.capacity();
  return status_;
}

std::string open_error_text(int negative_errno) {
  switch (-negative_errno) {
    case ELOOP:
      return "it is a symbolic link (log files are never opened through links; remove it)";
    case EMLINK:
      return "it has other hard links (log files are never written through links; remove it)";
    case EINVAL:
      return "it is not a regular file";
    default:
      return std::strerror(-negative_errno);
  }
}

}  // namespace gpioirq::sinks
