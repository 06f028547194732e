#pragma once
// IMU frame encodings written by the RT thread into the IMU RingIO and then, unchanged,
// into the IMU file; plus decoding and a resync scanner for reading such files back
// (crash-truncated files, `gpioirqctl decode`).
//
// "seed" frame, 8 bytes (seed INTERRUPTS.md §3.4), all big-endian:
//   u16 count  : bit 15 = 0, bit 14 = 1 (start-of-frame marker), bits 13..0 = frame
//                counter. The counter wraps 16383 -> 0 inside its 14 bits, so the marker
//                is never clobbered (the seed's `count += 1` would reach bit 15 after
//                16384 frames); count word = 0x4000 | (n & 0x3FFF).
//   i16 ax, ay, az : the accelerometer's raw big-endian bytes (ACCEL_XOUT_H..ZOUT_L).
//
// "extended" frame, 32 bytes, all little-endian:
//   off  0  u16 magic    0x5147 (bytes 'G' 'Q')
//   off  2  u16 flags    kFlagDataReady: ts is the data-ready edge (else the timer tick);
//                        kFlagGapBefore: samples were lost just before this frame (ring
//                        full, read errors); the counter jump says how many
//   off  4  u32 counter  frame counter, +1 per sample taken (lost ones included), wraps
//   off  8  u64 ts_ns    kernel timestamp of the data-ready edge or timer expiry
//   off 16  i16 ax ay az temp gx gy gz   raw chip values
//   off 30  u16 check    Fletcher-16 over bytes 0..29 (makes resync after garbage reliable)
//
// Scanner rules (find_frame_start): an extended frame is valid where magic and check
// match. A seed frame is valid where its marker bits match and, when the next frame is
// in the data, that one's marker matches too and its counter is this counter + 1 (mod
// 2^14): 16 bits of evidence instead of 2. A frame is only ever found complete.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "config/schema.hpp"
#include "devices/mpu6050.hpp"

namespace gpioirq::devices {

inline constexpr std::size_t kSeedFrameSize = 8;
inline constexpr std::size_t kExtendedFrameSize = 32;
inline constexpr std::uint16_t kExtendedMagic = 0x5147;
inline constexpr std::uint16_t kSeedMarker = 0x4000;
inline constexpr std::uint16_t kSeedCounterMask = 0x3FFF;
inline constexpr std::uint16_t kFlagDataReady = 0x0001;
inline constexpr std::uint16_t kFlagGapBefore = 0x0002;

constexpr std::size_t frame_size(config::ImuFormat f) noexcept {
  return f == config::ImuFormat::seed ? kSeedFrameSize : kExtendedFrameSize;
}

constexpr std::uint16_t seed_count_word(std::uint32_t frame_index) noexcept {
  return static_cast<std::uint16_t>(kSeedMarker | (frame_index & kSeedCounterMask));
}

struct SeedFrame {
  std::uint16_t counter;  // 14 bits
  std::int16_t ax, ay, az;
  friend bool operator==(const SeedFrame&, const SeedFrame&) = default;
};

struct ExtendedFrame {
  std::uint16_t flags = 0;
  std::uint32_t counter = 0;
  std::uint64_t ts_ns = 0;
  mpu6050::Sample sample{};
  friend bool operator==(const ExtendedFrame&, const ExtendedFrame&) = default;
};

// Encoders: noexcept, no allocation, RT-safe.
void encode_seed(std::uint32_t frame_index, const mpu6050::Sample& s,
                 std::span<std::uint8_t, kSeedFrameSize> out) noexcept;
void encode_extended(const ExtendedFrame& f,
                     std::span<std::uint8_t, kExtendedFrameSize> out) noexcept;

// Decoders: nullopt when the bytes are too short or not a valid frame (marker / magic /
// check). They check one frame only; counter continuity is the reader's business.
std::optional<SeedFrame> decode_seed(std::span<const std::uint8_t> in) noexcept;
std::optional<ExtendedFrame> decode_extended(std::span<const std::uint8_t> in) noexcept;

std::uint16_t fletcher16(std::span<const std::uint8_t> data) noexcept;

// Offset >= from of the next valid frame start (see the rules above), or data.size() if
// there is none (a trailing partial frame is never a frame).
std::size_t find_frame_start(config::ImuFormat format, std::span<const std::uint8_t> data,
                             std::size_t from = 0) noexcept;

// Length of the longest prefix of whole frames: where to cut a file whose last frame a
// crash left partial (offsets relative to the first frame, after any file header).
constexpr std::size_t whole_frames_bytes(config::ImuFormat f, std::size_t bytes) noexcept {
  return bytes - bytes % frame_size(f);
}

}  // namespace gpioirq::devices
