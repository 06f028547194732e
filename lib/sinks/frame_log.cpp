#include "sinks/frame_log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/imu_frame.hpp"
#include "devices/mpu6050.hpp"
#include "sinks/log_records.hpp"

namespace gpioirq::sinks {

namespace {

// Frames read per pread while looking for the last valid one.
constexpr std::size_t kScanFrames = 4096;

bool pread_all(int fd, std::uint8_t* buf, std::size_t len, std::uint64_t offset) noexcept {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t r = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

bool frame_valid(config::ImuFormat layout, std::span<const std::uint8_t> frame) noexcept {
  return layout == config::ImuFormat::seed ? devices::decode_seed(frame).has_value()
                                           : devices::decode_extended(frame).has_value();
}

}  // namespace

FrameLogOptions frame_log_options(const config::DaemonConfig& daemon, const config::ImuConfig& imu) {
  FrameLogOptions o;
  o.path = daemon.log_dir + "/" + imu.name + ".imu";
  FrameFileHeader& h = o.header;
  h.layout = imu.format;
  h.frame_size = static_cast<std::uint16_t>(devices::frame_size(imu.format));
  h.rate_hz = imu.rate_hz;
  if (imu.driver == "mpu6050") {
    try {
      h.actual_rate_mhz = static_cast<std::uint32_t>(devices::mpu6050::actual_rate_hz(imu) * 1000.0 + 0.5);
    } catch (const std::exception&) {
      h.actual_rate_mhz = 0;  // the config check reports a bad rate; the file says "unknown"
    }
  }
  h.accel_range_g = static_cast<std::uint16_t>(imu.accel_range_g);
  h.gyro_range_dps = static_cast<std::uint16_t>(imu.gyro_range_dps);
  h.trigger = imu.trigger;
  h.dlpf = static_cast<std::uint8_t>(imu.dlpf);
  h.i2c_address = imu.address;
  h.driver = imu.driver;
  h.device = imu.name;
  o.buffer_bytes = std::max<std::size_t>(o.buffer_bytes, 4 * std::size_t{imu.block_records} * h.frame_size);
  o.sync_interval_ms = daemon.flush_interval_ms;
  o.rotate_size_bytes = daemon.rotate_size_bytes;
  o.rotate_keep = daemon.rotate_keep;
  return o;
}

FrameLog::FrameLog(loop::EventLoop& loop, FrameLogOptions options)
    : options_(std::move(options)),
      file_(loop,
            AppendFileOptions{options_.path, options_.buffer_bytes, options_.sync_interval_ms,
                              options_.rotate_size_bytes, options_.rotate_keep, 0640},
            this) {
  options_.header.frame_size = static_cast<std::uint16_t>(devices::frame_size(options_.header.layout));
}

FrameLog::~FrameLog() { close(); }

int FrameLog::open() { return file_.open(); }

bool FrameLog::append_frames(std::span<const std::uint8_t> frames) noexcept {
  const std::size_t fs = frame_size();
  const std::size_t n = frames.size() / fs;
  if (frames.size() % fs != 0) {
    ++counts_.misaligned;
    counts_.frames_refused += n;
    return false;
  }
  if (!file_.append(std::string_view(reinterpret_cast<const char*>(frames.data()), frames.size()))) {
    counts_.frames_refused += n;
    return false;
  }
  counts_.frames += n;
  return true;
}

std::uint64_t FrameLog::unwritten_frames() const noexcept {
  const std::size_t fs = frame_size();
  return (file_.unwritten_record_bytes() + fs - 1) / fs;  // a frame written in part is not in the file
}

FrameLogStatus FrameLog::status() const noexcept {
  FrameLogStatus s = counts_;
  s.file = file_.status();
  return s;
}

FileFormatHooks::Verdict FrameLog::inspect_existing(int fd, std::uint64_t size) {
  std::array<std::uint8_t, kFrameFileHeaderSize> head{};
  const auto head_len = static_cast<std::size_t>(std::min<std::uint64_t>(size, head.size()));
  if (!pread_all(fd, head.data(), head_len, 0)) return Verdict{false, 0};
  if (head_len < kFrameFileHeaderSize) {
    // A crash while the header was being written leaves a prefix of it: start again.
    const std::size_t m = std::min(head_len, kFrameFileMagic.size());
    const bool prefix = std::memcmp(head.data(), kFrameFileMagic.data(), m) == 0;
    return prefix ? Verdict{true, 0} : Verdict{false, 0};
  }
  const auto h = decode_frame_file_header(head);
  if (!h || !same_identity(*h, options_.header) || h->header_size > size) return Verdict{false, 0};

  const std::size_t fs = h->frame_size;
  const std::uint64_t data = size - h->header_size;
  std::uint64_t keep = h->header_size + (data - data % fs);

  // Trailing frames that do not validate (zero-filled by a crash) are cut as well.
  std::vector<std::uint8_t> chunk;
  while (keep > h->header_size) {
    const std::uint64_t frames_left = (keep - h->header_size) / fs;
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(frames_left, kScanFrames));
    const std::uint64_t start = keep - count * fs;
    chunk.resize(count * fs);
    if (!pread_all(fd, chunk.data(), chunk.size(), start)) break;
    std::size_t valid_end = 0;  // bytes of chunk up to and including the last valid frame
    for (std::size_t i = count; i > 0; --i) {
      if (frame_valid(h->layout, std::span<const std::uint8_t>(chunk).subspan((i - 1) * fs, fs))) {
        valid_end = i * fs;
        break;
      }
    }
    keep = start + valid_end;
    if (valid_end > 0) break;
  }
  // A new run starts a new file: the header's time pair and the frame counter (from 0)
  // describe one run, and after a reboot CLOCK_MONOTONIC starts over, so appending would
  // give the new frames the old run's time base. The previous file, cut of what a crash
  // left, is kept as path.1; one without a single frame is simply written over.
  if (keep <= h->header_size) return Verdict{true, 0, false};
  return Verdict{true, keep, true};
}

void FrameLog::preamble(std::string& out, bool /*after_rotation*/) {
  FrameFileHeader h = options_.header;
  const TimeEntry t = read_time_pair();
  h.start_monotonic_ns = static_cast<std::int64_t>(t.monotonic_ns);
  h.start_realtime_ns = t.realtime_ns;
  const auto bytes = encode_frame_file_header(h);
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace gpioirq::sinks
