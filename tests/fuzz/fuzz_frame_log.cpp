// Fuzz target: the IMU frame file's reader at open, the other part of lib/sinks that reads
// a file back: FrameLog::open() on a <imu>.imu file a previous run, a crash or someone else
// left (FrameLog::inspect_existing + AppendFile::open: continue, cut a crash-damaged tail,
// rotate away).
//
// Input: byte 0 chooses the IMU (even: demo.toml's imu0, extended layout; odd: its imu1,
// seed layout); the rest is the file's content before the daemon starts. The daemon opens
// the file, appends one frame and closes it. Whatever the old content, this must hold:
//  - nothing of the old file is lost but a damaged tail: when its header is this IMU's
//    and it holds valid frames, imu0.imu.1 is the old file up to and including its last
//    frame that validates (what a crash leaves after it: a partial frame, zero-filled or
//    invalid frames, is what may be cut); a file that is not this IMU's is kept whole as
//    path.1; only a file with no frame at all (or a cut-short header) is written over;
//  - the new file is this IMU's: `gpioirqctl decode` reads it back as exactly the one frame
//    written, with no byte skipped.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "devices/imu_frame.hpp"
#include "fuzz_support.hpp"
#include "loop/event_loop.hpp"
#include "sinks/frame_decoder.hpp"
#include "sinks/frame_file_header.hpp"
#include "sinks/frame_log.hpp"
#include "sinks/rotation.hpp"

using gpioirq_fuzz::check;
using namespace gpioirq;
using namespace gpioirq::sinks;

namespace {

// The two IMUs of config/demo.toml, whose files are the seeds (corpus/fuzz_frame_log/).
FrameFileHeader identity(config::ImuFormat layout) {
  const bool seed = layout == config::ImuFormat::seed;
  FrameFileHeader h;
  h.layout = layout;
  h.frame_size = static_cast<std::uint16_t>(devices::frame_size(layout));
  h.rate_hz = seed ? 250 : 1000;
  h.actual_rate_mhz = h.rate_hz * 1000;
  h.accel_range_g = 2;
  h.gyro_range_dps = 250;
  h.trigger = seed ? config::ImuTrigger::timer : config::ImuTrigger::data_ready;
  h.dlpf = 1;
  h.i2c_address = 0x68;
  h.driver = "mpu6050";
  h.device = seed ? "imu1" : "imu0";
  return h;
}

std::vector<std::uint8_t> one_frame(config::ImuFormat layout) {
  std::vector<std::uint8_t> out(devices::frame_size(layout));
  const devices::mpu6050::Sample s{1, 2, 3, 4, 5, 6, 7};
  if (layout == config::ImuFormat::seed) {
    devices::encode_seed(0, s, std::span<std::uint8_t, devices::kSeedFrameSize>(out));
  } else {
    devices::ExtendedFrame f;
    f.flags = devices::kFlagDataReady;
    f.ts_ns = 123456789;
    f.sample = s;
    devices::encode_extended(f, std::span<std::uint8_t, devices::kExtendedFrameSize>(out));
  }
  return out;
}

loop::EventLoop& event_loop() {
  static const auto loop = std::make_unique<loop::EventLoop>(64);
  return *loop;
}

bool frame_valid(config::ImuFormat layout, std::span<const std::uint8_t> frame) {
  return layout == config::ImuFormat::seed ? devices::decode_seed(frame).has_value()
                                           : devices::decode_extended(frame).has_value();
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto layout = (data[0] & 1) == 0 ? config::ImuFormat::extended : config::ImuFormat::seed;
  const std::string before(reinterpret_cast<const char*>(data) + 1, size - 1);

  gpioirq_fuzz::empty_scratch_dir();
  FrameLogOptions o;
  o.path =
      gpioirq_fuzz::scratch_dir().file(layout == config::ImuFormat::seed ? "imu1.imu" : "imu0.imu");
  o.header = identity(layout);
  o.buffer_bytes = 4096;
  o.rotate_size_bytes = 0;  // the size rule is not what is tried here
  if (!before.empty()) gpioirq_fuzz::write_file(o.path, before);

  FrameLogStatus status;
  {
    FrameLog log(event_loop(), o);
    check(log.open() == 0, "FrameLog::open failed");
    check(log.append_frames(one_frame(layout)), "FrameLog refused the frame");
    status = log.status();
    check(log.close() == 0, "FrameLog::close failed");
  }

  // What the old file is, judged here independently of FrameLog: this IMU's header, and
  // the end of its last whole frame that validates.
  const std::size_t fs = devices::frame_size(layout);
  const auto old_header = decode_frame_file_header(bytes(before));
  const bool ours = old_header && same_identity(*old_header, o.header) &&
                    old_header->header_size <= before.size();
  std::size_t last_valid_end = 0;
  if (ours) {
    for (std::size_t at = old_header->header_size; at + fs <= before.size(); at += fs)
      if (frame_valid(layout, bytes(before).subspan(at, fs))) last_valid_end = at + fs;
  }

  std::string after, rotated;
  check(gpioirq_fuzz::read_file(o.path, after), "no frame file after close");
  const bool was_rotated = gpioirq_fuzz::read_file(rotated_path(o.path, 1), rotated);
  if (ours && last_valid_end > 0) {
    check(was_rotated, "a file with this IMU's frames was not kept as path.1");
    check(rotated == before.substr(0, last_valid_end),
          "path.1 is not the old file up to its last valid frame");
  } else if (ours || (before.size() < kFrameFileHeaderSize &&
                      std::string_view(kFrameFileMagic.data(), kFrameFileMagic.size())
                              .substr(0, before.size()) == std::string_view(before).substr(0, 8))) {
    // No frame to keep, or a header a crash cut short (a prefix of the magic): written over.
    check(!was_rotated, "a file without frames was rotated away");
  } else {
    check(was_rotated && rotated == before, "someone else's file was not kept whole as path.1");
  }

  std::ostringstream csv;
  FrameDecodeSummary s;
  try {
    s = decode_frame_bytes(bytes(after), csv);
  } catch (const std::exception& e) {
    gpioirq_fuzz::fail("the new frame file does not decode", e.what());
  }
  check(same_identity(s.header, o.header), "the new file's header is not this IMU's");
  check(s.frames == 1 && s.skipped_bytes == 0 && s.trailing_bytes == 0,
        "the new file does not hold exactly the frame written", csv.str());
  check(status.frames == 1, "frames counted != 1");
  return 0;
}
