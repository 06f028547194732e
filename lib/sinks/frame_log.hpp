#pragma once
// FrameLog: one binary file per IMU: a FrameFileHeader, then the frames exactly as the
// RT thread encoded them (devices/imu_frame.hpp), appended in blocks through an
// AppendFile. Loop thread only. Format: docs/FILE-FORMATS.md.
//
// open() continues an existing file when its header matches this IMU (same identity,
// see same_identity()); the start time pair in the header then stays that of the file's
// first session. A file whose header belongs to another IMU or layout, or is not ours,
// is rotated away (it becomes path.1) and a new file begun. Crash repair on open: a
// partial trailing frame is cut off (ftruncate), and so is a run of trailing frames that
// fail validation (zero-filled blocks a crash can leave after the file size was
// updated but not the data); status().cut_bytes says how much. A header cut short by a
// crash (the magic, or a prefix of it, but fewer than header_size bytes) is cut too and
// written again.
//
// Each file begun by rotation starts with a new header carrying a new start time pair.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "config/schema.hpp"
#include "loop/event_loop.hpp"
#include "sinks/append_file.hpp"
#include "sinks/frame_file_header.hpp"

namespace gpioirq::sinks {

struct FrameLogOptions {
  std::string path;
  // Identity of the IMU; start_* are filled in when a file is begun.
  FrameFileHeader header;
  std::size_t buffer_bytes = 64 * 1024;  // each of AppendFile's two buffers
  std::uint32_t sync_interval_ms = 1000;
  std::uint64_t rotate_size_bytes = 64ull << 20;  // 0: never
  std::uint32_t rotate_keep = 5;
};

// The options the config asks for; path = <log_dir>/<imu name>.imu.
FrameLogOptions frame_log_options(const config::DaemonConfig& daemon, const config::ImuConfig& imu);

struct FrameLogStatus {
  AppendFileStatus file;           // file.cut_bytes: bytes cut off at open()
  std::uint64_t frames = 0;        // frames accepted since open()
  std::uint64_t frames_refused = 0;
  std::uint64_t misaligned = 0;    // append_frames() calls with a partial frame (refused)
};

class FrameLog final : private FileFormatHooks {
 public:
  FrameLog(loop::EventLoop& loop, FrameLogOptions options);
  ~FrameLog() override;
  FrameLog(const FrameLog&) = delete;
  FrameLog& operator=(const FrameLog&) = delete;

  // Returns 0 or -errno.
  int open();

  // Appends whole frames (size a multiple of frame_size()), all or none. false: refused
  // and counted; the caller reports them (a GAP record with reason log_full).
  bool append_frames(std::span<const std::uint8_t> frames) noexcept;
  // Frames accepted and not (wholly) in the file yet: those a failing disk still holds
  // back; after close(), the frames it lost (the last ones accepted).
  std::uint64_t unwritten_frames() const noexcept;

  // See AppendFile::reopen(): a new file begins with a new header (and start time pair);
  // the frame counter carries on. 1: reopened, 0: unchanged, -errno: the open failed.
  int reopen() { return file_.reopen(); }
  AppendFile::PathCheck path_check() const noexcept { return file_.path_check(); }

  void flush() noexcept { file_.flush(); }
  int flush_and_sync_blocking() noexcept { return file_.flush_and_sync_blocking(); }
  int close() noexcept { return file_.close(); }

  std::size_t frame_size() const noexcept { return options_.header.frame_size; }
  FrameLogStatus status() const noexcept;
  const FrameLogOptions& options() const noexcept { return options_; }

 private:
  Verdict inspect_existing(int fd, std::uint64_t size) override;
  void preamble(std::string& out, bool after_rotation) override;

  FrameLogOptions options_;
  AppendFile file_;
  FrameLogStatus counts_;
};

}  // namespace gpioirq::sinks
