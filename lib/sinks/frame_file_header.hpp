#pragma once
// The header of a binary IMU frame file (FrameLog): 128 bytes, little-endian, byte
// layout in docs/FILE-FORMATS.md. Pure encode/decode; no I/O.
//
// Compatibility rule: magic (0..7), format_version (8..9), header_size (10..11),
// frame_layout (12..13) and frame_size (14..15) keep their places in every version, so
// any reader can find the frames (at header_size) and their size. A reader accepts the
// versions it knows; a newer version may only grow the header.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/schema.hpp"

namespace gpioirq::sinks {

inline constexpr std::array<char, 8> kFrameFileMagic = {'G', 'I', 'R', 'Q', 'I', 'M', 'U', '\n'};
inline constexpr std::uint16_t kFrameFileVersion = 1;
inline constexpr std::size_t kFrameFileHeaderSize = 128;
inline constexpr std::size_t kFrameFileDriverBytes = 16;
inline constexpr std::size_t kFrameFileDeviceBytes = 64;

// Layout ids in the file (config::ImuFormat is the in-memory form).
inline constexpr std::uint16_t kLayoutSeed = 1;
inline constexpr std::uint16_t kLayoutExtended = 2;

struct FrameFileHeader {
  std::uint16_t format_version = kFrameFileVersion;
  std::uint16_t header_size = kFrameFileHeaderSize;
  config::ImuFormat layout = config::ImuFormat::extended;
  std::uint16_t frame_size = 32;
  std::uint32_t rate_hz = 0;          // configured sample rate
  std::uint32_t actual_rate_mhz = 0;  // the chip's real rate in millihertz; 0 = unknown
  std::int64_t start_monotonic_ns = 0;  // CLOCK_MONOTONIC when the file was started
  std::int64_t start_realtime_ns = 0;   // CLOCK_REALTIME read at the same moment
  std::uint16_t accel_range_g = 0;
  std::uint16_t gyro_range_dps = 0;
  config::ImuTrigger trigger = config::ImuTrigger::data_ready;
  std::uint8_t dlpf = 0;
  std::uint16_t i2c_address = 0;
  std::string driver;  // at most 16 bytes on disk
  std::string device;  // at most 64 bytes on disk (cut at a UTF-8 character boundary)

  bool operator==(const FrameFileHeader&) const = default;
};

// The identity fields: a file may be continued only by a writer with the same identity.
bool same_identity(const FrameFileHeader& a, const FrameFileHeader& b) noexcept;

// Cuts s to at most max bytes without splitting a UTF-8 sequence.
std::string truncate_utf8(std::string_view s, std::size_t max);

std::array<std::uint8_t, kFrameFileHeaderSize> encode_frame_file_header(const FrameFileHeader& h);

// nullopt with *error set ("bad magic", "unsupported format version 3", ...) when the
// bytes are not a header this reader understands. `in` may be longer than the header.
std::optional<FrameFileHeader> decode_frame_file_header(std::span<const std::uint8_t> in,
                                                        std::string* error = nullptr);

std::string_view layout_name(config::ImuFormat f) noexcept;   // "seed" / "extended"
std::string_view trigger_name(config::ImuTrigger t) noexcept;  // "data_ready" / "timer"

}  // namespace gpioirq::sinks
