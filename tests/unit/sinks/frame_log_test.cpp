#include <catch2/catch_test_macros.hpp>

#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "devices/imu_frame.hpp"
#include "loop_helpers.hpp"
#include "sinks/frame_decoder.hpp"
#include "sinks/frame_file_header.hpp"
#include "sinks/frame_log.hpp"
#include "sinks/log_records.hpp"
#include "sinks/rotation.hpp"
#include "temp_dir.hpp"

using namespace gpioirq;
using namespace gpioirq::sinks;
using sinks_test::read_file;
using sinks_test::run_until;

namespace {

FrameFileHeader identity(config::ImuFormat layout) {
  FrameFileHeader h;
  h.layout = layout;
  h.frame_size = static_cast<std::uint16_t>(devices::frame_size(layout));
  h.rate_hz = 1000;
  h.actual_rate_mhz = 1'000'000;
  h.accel_range_g = 2;
  h.gyro_range_dps = 250;
  h.trigger = config::ImuTrigger::data_ready;
  h.dlpf = 1;
  h.i2c_address = 0x68;
  h.driver = "mpu6050";
  h.device = "imu0";
  return h;
}

devices::ExtendedFrame ext_frame(std::uint32_t counter) {
  devices::ExtendedFrame f;
  f.flags = devices::kFlagDataReady;
  f.counter = counter;
  f.ts_ns = 1'000'000ull * (counter + 1);
  const auto i = static_cast<std::int16_t>(counter);
  f.sample = devices::mpu6050::Sample{static_cast<std::int16_t>(i * 10), static_cast<std::int16_t>(-i),
                                      16384, -1000, i, static_cast<std::int16_t>(2 * i),
                                      static_cast<std::int16_t>(-3 * i)};
  return f;
}

void put_ext(std::vector<std::uint8_t>& out, std::uint32_t counter) {
  std::array<std::uint8_t, devices::kExtendedFrameSize> b{};
  devices::encode_extended(ext_frame(counter), b);
  out.insert(out.end(), b.begin(), b.end());
}

void put_seed(std::vector<std::uint8_t>& out, std::uint32_t index, std::int16_t v) {
  std::array<std::uint8_t, devices::kSeedFrameSize> b{};
  devices::encode_seed(index, devices::mpu6050::Sample{v, static_cast<std::int16_t>(-v), 100, 0, 0, 0, 0}, b);
  out.insert(out.end(), b.begin(), b.end());
}

std::vector<std::uint8_t> ext_frames(std::uint32_t first, std::uint32_t count) {
  std::vector<std::uint8_t> v;
  for (std::uint32_t c = first; c < first + count; ++c) put_ext(v, c);
  return v;
}

FrameLogOptions options_for(const sinks_test::TempDir& dir, config::ImuFormat layout) {
  FrameLogOptions o;
  o.path = dir.file("imu0.imu");
  o.header = identity(layout);
  return o;
}

std::string decode(const std::string& path, FrameDecodeSummary* summary = nullptr) {
  std::ostringstream out;
  const FrameDecodeSummary s = decode_frame_file(path, out);
  if (summary != nullptr) *summary = s;
  return out.str();
}

void append_bytes(const std::string& path, std::string_view bytes) {
  std::string all = read_file(path);
  all += bytes;
  sinks_test::write_file(path, all);
}

}  // namespace

TEST_CASE("Frame file header round trip", "[framelog][header]") {
  FrameFileHeader h = identity(config::ImuFormat::extended);
  h.start_monotonic_ns = 123456789;
  h.start_realtime_ns = -5;  // before the epoch still round-trips
  h.trigger = config::ImuTrigger::timer;
  const auto bytes = encode_frame_file_header(h);
  CHECK(std::memcmp(bytes.data(), "GIRQIMU\n", 8) == 0);
  CHECK(bytes[8] == 1);     // format_version, little-endian
  CHECK(bytes[10] == 128);  // header_size
  CHECK(bytes[12] == 2);    // layout extended
  CHECK(bytes[14] == 32);   // frame size
  const auto back = decode_frame_file_header(bytes);
  REQUIRE(back);
  CHECK(*back == h);

  // Names longer than their fields are cut at a character boundary.
  h.device = std::string(63, 'x') + "\xc3\xa9";  // 'é' would straddle byte 64
  const auto cut = decode_frame_file_header(encode_frame_file_header(h));
  REQUIRE(cut);
  CHECK(cut->device == std::string(63, 'x'));
  CHECK(same_identity(*cut, h));

  std::string error;
  auto bad = bytes;
  bad[0] = 'X';
  CHECK_FALSE(decode_frame_file_header(bad, &error));
  CHECK(error.find("magic") != std::string::npos);
  bad = bytes;
  bad[8] = 2;
  CHECK_FALSE(decode_frame_file_header(bad, &error));
  CHECK(error.find("version 2") != std::string::npos);
  bad = bytes;
  bad[14] = 8;  // seed size with the extended layout
  CHECK_FALSE(decode_frame_file_header(bad, &error));
  CHECK_FALSE(decode_frame_file_header(std::span<const std::uint8_t>(bytes).first(100), &error));
  CHECK(error.find("cut short") != std::string::npos);
}

TEST_CASE("Decoding a known extended file gives exactly the known CSV", "[framelog][decode]") {
  FrameFileHeader h = identity(config::ImuFormat::extended);
  h.start_monotonic_ns = 111;
  h.start_realtime_ns = 222;
  const auto head = encode_frame_file_header(h);
  std::vector<std::uint8_t> file(head.begin(), head.end());
  for (std::uint32_t c : {0u, 1u, 2u, 5u}) put_ext(file, c);
  file.insert(file.end(), {0xAA, 0xAA, 0xAA});  // garbage at 128 + 4 * 32 = 256
  put_ext(file, 6);                              // at 259
  std::vector<std::uint8_t> partial;
  put_ext(partial, 7);
  file.insert(file.end(), partial.begin(), partial.begin() + 7);  // at 291

  sinks_test::TempDir dir;
  const std::string path = dir.file("known.imu");
  sinks_test::write_file(path, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  FrameDecodeSummary s;
  CHECK(decode(path, &s) ==
        "# gpioirq IMU frame file v1: device=imu0 driver=mpu6050 layout=extended frame_size=32\n"
        "# rate_hz=1000 actual_rate_mhz=1000000 trigger=data_ready accel_range_g=2 "
        "gyro_range_dps=250 dlpf=1 i2c_address=0x68\n"
        "# start_monotonic_ns=111 start_realtime_ns=222\n"
        "counter,ts_ns,ax,ay,az,temp,gx,gy,gz\n"
        "0,1000000,0,0,16384,-1000,0,0,0\n"
        "1,2000000,10,-1,16384,-1000,1,2,-3\n"
        "2,3000000,20,-2,16384,-1000,2,4,-6\n"
        "# discontinuity: counter 2 -> 5, 2 frames missing\n"
        "5,6000000,50,-5,16384,-1000,5,10,-15\n"
        "# skipped 3 bytes of invalid data at file offset 256\n"
        "6,7000000,60,-6,16384,-1000,6,12,-18\n"
        "# 7 trailing bytes (a partial frame) ignored at file offset 291\n");
  CHECK(s.frames == 5);
  CHECK(s.discontinuities == 1);
  CHECK(s.missing_frames == 2);
  CHECK(s.skipped_bytes == 3);
  CHECK(s.trailing_bytes == 7);

  // The in-memory entry point agrees.
  std::ostringstream again;
  decode_frame_bytes(file, again);
  CHECK(again.str() == decode(path));
}

TEST_CASE("Decoding a known seed file: 14-bit counter wraps without a discontinuity", "[framelog][decode]") {
  FrameFileHeader h = identity(config::ImuFormat::seed);
  h.start_monotonic_ns = 1;
  h.start_realtime_ns = 2;
  h.trigger = config::ImuTrigger::timer;
  const auto head = encode_frame_file_header(h);
  std::vector<std::uint8_t> file(head.begin(), head.end());
  put_seed(file, 16382, 1);
  put_seed(file, 16383, 2);
  put_seed(file, 16384, 3);  // counter 0
  put_seed(file, 16386, 4);  // counter 2: one missing
  std::ostringstream out;
  const auto s = decode_frame_bytes(file, out);
  CHECK(out.str() ==
        "# gpioirq IMU frame file v1: device=imu0 driver=mpu6050 layout=seed frame_size=8\n"
        "# rate_hz=1000 actual_rate_mhz=1000000 trigger=timer accel_range_g=2 "
        "gyro_range_dps=250 dlpf=1 i2c_address=0x68\n"
        "# start_monotonic_ns=1 start_realtime_ns=2\n"
        "counter,ts_ns,ax,ay,az\n"
        "16382,,1,-1,100\n"
        "16383,,2,-2,100\n"
        "0,,3,-3,100\n"
        "# discontinuity: counter 0 -> 2, 1 frames missing\n"
        "2,,4,-4,100\n");
  CHECK(s.frames == 4);
  CHECK(s.missing_frames == 1);
}

TEST_CASE("A header_size past the end of the file is an error, from a file as from memory",
          "[framelog][decode]") {
  // Found by tests/fuzz/fuzz_frame_decoder: decode_frame_file seeked past the end, read
  // nothing and reported a whole file of 0 frames; decode_frame_bytes threw.
  const auto head = encode_frame_file_header(identity(config::ImuFormat::extended));
  std::vector<std::uint8_t> file(head.begin(), head.end());
  file[10] = 0x00;  // header_size (bytes 10..11, little-endian) = 4096: a newer, longer header
  file[11] = 0x10;
  put_ext(file, 0);
  sinks_test::TempDir dir;
  const std::string path = dir.file("long-header.imu");
  sinks_test::write_file(path, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  std::ostringstream out;
  CHECK_THROWS_AS(decode_frame_file(path, out), std::runtime_error);
  CHECK_THROWS_AS(decode_frame_bytes(file, out), std::runtime_error);
}

TEST_CASE("FrameLog writes a header, then the frames as given", "[framelog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const FrameLogOptions o = options_for(dir, config::ImuFormat::extended);
  const std::uint64_t before = read_time_pair().monotonic_ns;
  FrameLog log(*loop, o);
  REQUIRE(log.open() == 0);
  REQUIRE(log.append_frames(ext_frames(0, 10)));
  CHECK_FALSE(log.append_frames(std::vector<std::uint8_t>(40)));  // not whole frames
  log.flush();
  REQUIRE(run_until(*loop, [&] { return log.status().file.buffered_bytes == 0; }));
  REQUIRE(log.close() == 0);

  const std::string bytes = read_file(o.path);
  REQUIRE(bytes.size() == 128 + 10 * 32);
  const auto h = decode_frame_file_header(
      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  REQUIRE(h);
  CHECK(same_identity(*h, o.header));
  CHECK(static_cast<std::uint64_t>(h->start_monotonic_ns) >= before);
  CHECK(h->start_realtime_ns > 1'600'000'000'000'000'000);
  const auto frames = ext_frames(0, 10);
  CHECK(std::memcmp(bytes.data() + 128, frames.data(), frames.size()) == 0);
  CHECK(log.status().frames == 10);
  CHECK(log.status().misaligned == 1);
}

TEST_CASE("Reopen cuts a partial trailing frame, keeps that run's file and starts a new one", "[framelog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const FrameLogOptions o = options_for(dir, config::ImuFormat::extended);
  {
    FrameLog log(*loop, o);
    REQUIRE(log.open() == 0);
    REQUIRE(log.append_frames(ext_frames(0, 5)));
    REQUIRE(log.close() == 0);
  }
  const std::string header = read_file(o.path).substr(0, 128);
  const auto partial = ext_frames(5, 1);
  append_bytes(o.path, std::string_view(reinterpret_cast<const char*>(partial.data()), 13));

  // The next run (counters from 0 again, a new time pair in its header) gets its own file;
  // the crashed run's file is cut to whole frames and kept beside it as path.1.
  FrameLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.cut_bytes == 13);
  CHECK(log.status().file.rotations == 1);
  const std::string old_path = o.path + ".1";
  REQUIRE(std::filesystem::exists(old_path));
  CHECK(std::filesystem::file_size(old_path) == 128 + 5 * 32);
  CHECK(read_file(old_path).substr(0, 128) == header);
  REQUIRE(log.append_frames(ext_frames(0, 5)));
  REQUIRE(log.close() == 0);

  for (const std::string& path : {old_path, o.path}) {
    INFO(path);
    FrameDecodeSummary s;
    decode(path, &s);
    CHECK(s.frames == 5);
    CHECK(s.discontinuities == 0);
    CHECK(s.trailing_bytes == 0);
    CHECK(s.skipped_bytes == 0);
  }
}

TEST_CASE("Reopen of a file with a header and no frame writes it over", "[framelog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const FrameLogOptions o = options_for(dir, config::ImuFormat::extended);
  {
    FrameLog log(*loop, o);
    REQUIRE(log.open() == 0);
    REQUIRE(log.close() == 0);
  }
  REQUIRE(std::filesystem::file_size(o.path) == 128);
  FrameLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.rotations == 0);
  CHECK_FALSE(std::filesystem::exists(o.path + ".1"));
  REQUIRE(log.append_frames(ext_frames(0, 3)));
  REQUIRE(log.close() == 0);
  FrameDecodeSummary s;
  decode(o.path, &s);
  CHECK(s.frames == 3);
  CHECK(std::filesystem::file_size(o.path) == 128 + 3 * 32);
}

TEST_CASE("Reopen cuts zero-filled trailing frames a crash can leave", "[framelog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const FrameLogOptions o = options_for(dir, config::ImuFormat::seed);
  {
    FrameLog log(*loop, o);
    REQUIRE(log.open() == 0);
    std::vector<std::uint8_t> frames;
    for (std::uint32_t i = 0; i < 10; ++i) put_seed(frames, i, 7);
    REQUIRE(log.append_frames(frames));
    REQUIRE(log.close() == 0);
  }
  append_bytes(o.path, std::string(3 * 8 + 5, '\0'));
  FrameLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.cut_bytes == 29);
  REQUIRE(log.close() == 0);
  CHECK(std::filesystem::file_size(o.path + ".1") == 128 + 10 * 8);  // kept, cut
  CHECK(std::filesystem::file_size(o.path) == 128);                   // the new run's file
}

TEST_CASE("A header cut short by a crash is written again", "[framelog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const FrameLogOptions o = options_for(dir, config::ImuFormat::extended);
  sinks_test::write_file(o.path, "GIRQIM");
  FrameLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.cut_bytes == 6);
  REQUIRE(log.close() == 0);
  FrameDecodeSummary s;
  decode(o.path, &s);
  CHECK(s.frames == 0);
  CHECK(same_identity(s.header, o.header));
}

TEST_CASE("A file of another IMU or layout is rotated away", "[framelog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  {
    FrameLog log(*loop, options_for(dir, config::ImuFormat::seed));
    REQUIRE(log.open() == 0);
    REQUIRE(log.close() == 0);
  }
  const FrameLogOptions o = options_for(dir, config::ImuFormat::extended);
  FrameLog log(*loop, o);
  REQUIRE(log.open() == 0);
  CHECK(log.status().file.rotated_away_at_open);
  REQUIRE(log.close() == 0);
  FrameDecodeSummary old_s, new_s;
  decode(rotated_path(o.path, 1), &old_s);
  decode(o.path, &new_s);
  CHECK(old_s.header.layout == config::ImuFormat::seed);
  CHECK(new_s.header.layout == config::ImuFormat::extended);
}

TEST_CASE("FrameLog rotation: each file has its own header; counters continue across files",
          "[framelog][rotate]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  FrameLogOptions o = options_for(dir, config::ImuFormat::extended);
  o.buffer_bytes = 320;  // 10 frames
  o.rotate_size_bytes = 128 + 20 * 32;
  o.rotate_keep = 5;
  FrameLog log(*loop, o);
  REQUIRE(log.open() == 0);
  for (std::uint32_t c = 0; c < 100; c += 5) {
    REQUIRE(log.append_frames(ext_frames(c, 5)));
    log.flush();
    REQUIRE(run_until(*loop, [&] { return log.status().file.buffered_bytes == 0; }));
  }
  REQUIRE(log.close() == 0);

  std::uint64_t frames = 0;
  std::ostringstream all;
  for (std::uint32_t n = 5; n >= 1; --n) {
    const std::string p = rotated_path(o.path, n);
    if (!std::filesystem::exists(p)) continue;
    FrameDecodeSummary s;
    all << decode(p, &s);
    CHECK(s.discontinuities == 0);
    CHECK(s.trailing_bytes == 0);
    CHECK(std::filesystem::file_size(p) <= o.rotate_size_bytes);
    frames += s.frames;
  }
  FrameDecodeSummary last;
  all << decode(o.path, &last);
  frames += last.frames;
  CHECK(frames == 100);
  CHECK(log.status().file.rotations >= 4);
  // Files in order hold counters 0..99 exactly once.
  std::istringstream in(all.str());
  std::string line;
  std::uint32_t expect = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == 'c') continue;
    CHECK(std::stoul(line.substr(0, line.find(','))) == expect++);
  }
  CHECK(expect == 100);
}

TEST_CASE("FrameLog options follow the IMU config", "[framelog]") {
  config::DaemonConfig d;
  d.log_dir = "/var/log/x";
  config::ImuConfig imu;
  imu.name = "arm";
  imu.format = config::ImuFormat::seed;
  imu.rate_hz = 500;
  imu.dlpf = 1;  // 1 kHz base rate: divider 1 gives exactly 500 Hz
  imu.accel_range_g = 8;
  imu.trigger = config::ImuTrigger::timer;
  const FrameLogOptions o = frame_log_options(d, imu);
  CHECK(o.path == "/var/log/x/arm.imu");
  CHECK(o.header.layout == config::ImuFormat::seed);
  CHECK(o.header.frame_size == 8);
  CHECK(o.header.rate_hz == 500);
  CHECK(o.header.actual_rate_mhz == 500'000);
  CHECK(o.header.accel_range_g == 8);
  CHECK(o.header.trigger == config::ImuTrigger::timer);
  CHECK(o.header.device == "arm");
  CHECK(o.header.driver == "mpu6050");
  CHECK(o.header.i2c_address == 0x68);
}
