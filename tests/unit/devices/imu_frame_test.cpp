#include "devices/imu_frame.hpp"

#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cstdint>
#include <vector>

using gpioirq::config::ImuFormat;
using namespace gpioirq::devices;
using Bytes = std::vector<std::uint8_t>;

namespace {

mpu6050::Sample sample(int i) {
  return mpu6050::Sample{static_cast<std::int16_t>(1000 + i),
                         static_cast<std::int16_t>(-2000 - i),
                         16384,
                         static_cast<std::int16_t>(-521),
                         7,
                         static_cast<std::int16_t>(-8),
                         static_cast<std::int16_t>(i * 3)};
}

void append_seed(Bytes& out, std::uint32_t index, const mpu6050::Sample& s) {
  std::array<std::uint8_t, kSeedFrameSize> f;
  encode_seed(index, s, f);
  out.insert(out.end(), f.begin(), f.end());
}

void append_extended(Bytes& out, std::uint32_t counter) {
  ExtendedFrame f;
  f.flags = kFlagDataReady;
  f.counter = counter;
  f.ts_ns = 1'000'000'000ull * counter + 123;
  f.sample = sample(static_cast<int>(counter));
  std::array<std::uint8_t, kExtendedFrameSize> b;
  encode_extended(f, b);
  out.insert(out.end(), b.begin(), b.end());
}

}  // namespace

TEST_CASE("seed frame: byte layout as in the seed, counter from 0x4000", "[frame]") {
  std::array<std::uint8_t, 8> f{};
  encode_seed(0, mpu6050::Sample{0x0102, -2, 0x7FFF, 0, 0, 0, 0}, f);
  CHECK(f == std::array<std::uint8_t, 8>{0x40, 0x00, 0x01, 0x02, 0xFF, 0xFE, 0x7F, 0xFF});
  encode_seed(5, mpu6050::Sample{}, f);
  CHECK(f[0] == 0x40);
  CHECK(f[1] == 0x05);
}

TEST_CASE("seed frame: the counter wraps in 14 bits and never clobbers the marker", "[frame]") {
  CHECK(seed_count_word(0) == 0x4000);
  CHECK(seed_count_word(0x3FFF) == 0x7FFF);
  CHECK(seed_count_word(0x4000) == 0x4000);
  CHECK(seed_count_word(0xFFFFFFFF) == 0x7FFF);
  std::array<std::uint8_t, 8> f{};
  for (std::uint32_t i : {0u, 1u, 0x3FFEu, 0x3FFFu, 0x4000u, 0x4001u, 123456789u}) {
    encode_seed(i, sample(1), f);
    CHECK((f[0] & 0xC0) == 0x40);
    const auto d = decode_seed(f);
    REQUIRE(d);
    CHECK(d->counter == (i & 0x3FFF));
    CHECK(d->ax == 1001);
    CHECK(d->ay == -2001);
    CHECK(d->az == 16384);
  }
}

TEST_CASE("extended frame: round trip and little-endian layout", "[frame]") {
  ExtendedFrame f;
  f.flags = kFlagDataReady | kFlagGapBefore;
  f.counter = 0xA1B2C3D4;
  f.ts_ns = 0x0102030405060708ull;
  f.sample = mpu6050::Sample{-1, 2, -32768, 32767, 5, -6, 7};
  std::array<std::uint8_t, 32> b{};
  encode_extended(f, b);
  CHECK(b[0] == 'G');
  CHECK(b[1] == 'Q');
  CHECK(b[2] == 0x03);
  CHECK(b[4] == 0xD4);
  CHECK(b[7] == 0xA1);
  CHECK(b[8] == 0x08);
  CHECK(b[15] == 0x01);
  CHECK(b[16] == 0xFF);
  CHECK(b[17] == 0xFF);
  const auto d = decode_extended(b);
  REQUIRE(d);
  CHECK(*d == f);
  // Any corrupted byte is caught by the check.
  for (std::size_t i = 0; i < 32; ++i) {
    auto c = b;
    c[i] ^= 0x10;
    CHECK_FALSE(decode_extended(c));
  }
  CHECK_FALSE(decode_extended(std::span<const std::uint8_t>(b).first(31)));
}

TEST_CASE("frame scanner: skips garbage and a crash-truncated frame (extended)", "[frame]") {
  Bytes data = {0x47, 0x51, 0x00, 0x13, 0x99};  // garbage with a fake magic
  const std::size_t first = data.size();
  for (std::uint32_t i = 0; i < 4; ++i) append_extended(data, i);
  Bytes cut;
  append_extended(cut, 4);
  data.insert(data.end(), cut.begin(), cut.begin() + 13);  // crash mid-frame
  const std::size_t restart = data.size();
  for (std::uint32_t i = 0; i < 3; ++i) append_extended(data, 100 + i);

  CHECK(find_frame_start(ImuFormat::extended, data, 0) == first);
  // Read as gpioirqctl decode would: frame by frame, rescanning when one is not valid.
  std::vector<std::uint32_t> counters;
  std::size_t skipped = 0;
  std::size_t o = 0;
  while (o < data.size()) {
    if (auto f = decode_extended(std::span<const std::uint8_t>(data).subspan(o))) {
      counters.push_back(f->counter);
      o += kExtendedFrameSize;
    } else {
      const std::size_t next = find_frame_start(ImuFormat::extended, data, o + 1);
      skipped += next - o;
      o = next;
    }
  }
  CHECK(counters == std::vector<std::uint32_t>{0, 1, 2, 3, 100, 101, 102});
  CHECK(skipped == first + 13);
  CHECK(find_frame_start(ImuFormat::extended, data, restart + 1) == restart + kExtendedFrameSize);
  CHECK(find_frame_start(ImuFormat::extended, data, data.size() - kExtendedFrameSize + 1) ==
        data.size());
  // A trailing partial frame is never a frame.
  Bytes tail(data.begin(), data.end() - 1);
  CHECK(find_frame_start(ImuFormat::extended, tail, restart + kExtendedFrameSize * 2) ==
        tail.size());
}

TEST_CASE("frame scanner: seed frames resync on marker plus counter continuity", "[frame]") {
  // Garbage whose first byte carries a marker pattern but no continuing counter.
  Bytes data = {0x41, 0x22, 0x40, 0x00, 0x40, 0x05, 0x00, 0x01, 0x02};
  const std::size_t first = data.size();
  for (std::uint32_t i = 0x3FFD; i < 0x4003; ++i) append_seed(data, i, sample(0));  // wraps
  CHECK(find_frame_start(ImuFormat::seed, data, 0) == first);
  Bytes cut;
  append_seed(cut, 0x4003, sample(0));
  data.insert(data.end(), cut.begin(), cut.begin() + 5);
  const std::size_t restart = data.size();
  for (std::uint32_t i = 0; i < 3; ++i) append_seed(data, i, sample(static_cast<int>(i)));
  CHECK(find_frame_start(ImuFormat::seed, data, first + 6 * kSeedFrameSize) == restart);
  const auto d = decode_seed(std::span<const std::uint8_t>(data).subspan(restart));
  REQUIRE(d);
  CHECK(d->counter == 0);
  CHECK(whole_frames_bytes(ImuFormat::seed, 8 * 5 + 3) == 40);
  CHECK(whole_frames_bytes(ImuFormat::extended, 32 * 2 + 31) == 64);
}
