#include "sinks/frame_file_header.hpp"

#include <algorithm>
#include <cstring>

#include "devices/imu_frame.hpp"

namespace gpioirq::sinks {

namespace {

// Byte offsets (docs/FILE-FORMATS.md).
constexpr std::size_t kOffVersion = 8;
constexpr std::size_t kOffHeaderSize = 10;
constexpr std::size_t kOffLayout = 12;
constexpr std::size_t kOffFrameSize = 14;
constexpr std::size_t kOffRate = 16;
constexpr std::size_t kOffActualRate = 20;
constexpr std::size_t kOffStartMono = 24;
constexpr std::size_t kOffStartReal = 32;
constexpr std::size_t kOffAccelRange = 40;
constexpr std::size_t kOffGyroRange = 42;
constexpr std::size_t kOffTrigger = 44;
constexpr std::size_t kOffDlpf = 45;
constexpr std::size_t kOffI2cAddress = 46;
constexpr std::size_t kOffDriver = 48;
constexpr std::size_t kOffDevice = kOffDriver + kFrameFileDriverBytes;
static_assert(kOffDevice + kFrameFileDeviceBytes == kFrameFileHeaderSize);

template <typename T>
void put_le(std::uint8_t* p, T v) noexcept {
  auto u = static_cast<std::make_unsigned_t<T>>(v);
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::uint8_t>(u >> (8 * i));
}

template <typename T>
T get_le(const std::uint8_t* p) noexcept {
  std::make_unsigned_t<T> u = 0;
  for (std::size_t i = sizeof(T); i > 0; --i) u = static_cast<decltype(u)>((u << 8) | p[i - 1]);
  return static_cast<T>(u);
}

void put_text(std::uint8_t* p, std::size_t field, std::string_view s) {
  const std::string t = truncate_utf8(s, field);
  std::memcpy(p, t.data(), t.size());  // the rest stays 0
}

std::string get_text(const std::uint8_t* p, std::size_t field) {
  const auto* c = reinterpret_cast<const char*>(p);
  return std::string(c, std::find(c, c + field, '\0'));
}

void set(std::string* error, std::string msg) {
  if (error != nullptr) *error = std::move(msg);
}

}  // namespace

bool same_identity(const FrameFileHeader& a, const FrameFileHeader& b) noexcept {
  return a.layout == b.layout && a.frame_size == b.frame_size && a.rate_hz == b.rate_hz &&
         a.accel_range_g == b.accel_range_g && a.gyro_range_dps == b.gyro_range_dps &&
         a.trigger == b.trigger && a.dlpf == b.dlpf && a.i2c_address == b.i2c_address &&
         truncate_utf8(a.driver, kFrameFileDriverBytes) == truncate_utf8(b.driver, kFrameFileDriverBytes) &&
         truncate_utf8(a.device, kFrameFileDeviceBytes) == truncate_utf8(b.device, kFrameFileDeviceBytes);
}

std::string truncate_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  // Back off over continuation bytes (10xxxxxx) to the start of the cut character.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

std::array<std::uint8_t, kFrameFileHeaderSize> encode_frame_file_header(const FrameFileHeader& h) {
  std::array<std::uint8_t, kFrameFileHeaderSize> b{};
  std::uint8_t* p = b.data();
  std::memcpy(p, kFrameFileMagic.data(), kFrameFileMagic.size());
  put_le<std::uint16_t>(p + kOffVersion, kFrameFileVersion);
  put_le<std::uint16_t>(p + kOffHeaderSize, static_cast<std::uint16_t>(kFrameFileHeaderSize));
  put_le<std::uint16_t>(p + kOffLayout, h.layout == config::ImuFormat::seed ? kLayoutSeed : kLayoutExtended);
  put_le<std::uint16_t>(p + kOffFrameSize, h.frame_size);
  put_le<std::uint32_t>(p + kOffRate, h.rate_hz);
  put_le<std::uint32_t>(p + kOffActualRate, h.actual_rate_mhz);
  put_le<std::int64_t>(p + kOffStartMono, h.start_monotonic_ns);
  put_le<std::int64_t>(p + kOffStartReal, h.start_realtime_ns);
  put_le<std::uint16_t>(p + kOffAccelRange, h.accel_range_g);
  put_le<std::uint16_t>(p + kOffGyroRange, h.gyro_range_dps);
  p[kOffTrigger] = h.trigger == config::ImuTrigger::data_ready ? 0 : 1;
  p[kOffDlpf] = h.dlpf;
  put_le<std::uint16_t>(p + kOffI2cAddress, h.i2c_address);
  put_text(p + kOffDriver, kFrameFileDriverBytes, h.driver);
  put_text(p + kOffDevice, kFrameFileDeviceBytes, h.device);
  return b;
}

std::optional<FrameFileHeader> decode_frame_file_header(std::span<const std::uint8_t> in,
                                                        std::string* error) {
  if (in.size() < kFrameFileMagic.size() ||
      std::memcmp(in.data(), kFrameFileMagic.data(), kFrameFileMagic.size()) != 0) {
    set(error, "not a gpioirq IMU frame file (bad magic)");
    return std::nullopt;
  }
  if (in.size() < kFrameFileHeaderSize) {
    set(error, "header cut short (" + std::to_string(in.size()) + " of " +
                   std::to_string(kFrameFileHeaderSize) + " bytes)");
    return std::nullopt;
  }
  const std::uint8_t* p = in.data();
  FrameFileHeader h;
  h.format_version = get_le<std::uint16_t>(p + kOffVersion);
  h.header_size = get_le<std::uint16_t>(p + kOffHeaderSize);
  if (h.format_version != kFrameFileVersion) {
    set(error, "unsupported format version " + std::to_string(h.format_version) +
                   " (this reader knows version " + std::to_string(kFrameFileVersion) + ")");
    return std::nullopt;
  }
  if (h.header_size < kFrameFileHeaderSize) {
    set(error, "header_size " + std::to_string(h.header_size) + " is too small");
    return std::nullopt;
  }
  const auto layout = get_le<std::uint16_t>(p + kOffLayout);
  h.frame_size = get_le<std::uint16_t>(p + kOffFrameSize);
  if (layout == kLayoutSeed) {
    h.layout = config::ImuFormat::seed;
  } else if (layout == kLayoutExtended) {
    h.layout = config::ImuFormat::extended;
  } else {
    set(error, "unknown frame layout " + std::to_string(layout));
    return std::nullopt;
  }
  if (h.frame_size != devices::frame_size(h.layout)) {
    set(error, "frame size " + std::to_string(h.frame_size) + " does not match layout " +
                   std::string(layout_name(h.layout)));
    return std::nullopt;
  }
  h.rate_hz = get_le<std::uint32_t>(p + kOffRate);
  h.actual_rate_mhz = get_le<std::uint32_t>(p + kOffActualRate);
  h.start_monotonic_ns = get_le<std::int64_t>(p + kOffStartMono);
  h.start_realtime_ns = get_le<std::int64_t>(p + kOffStartReal);
  h.accel_range_g = get_le<std::uint16_t>(p + kOffAccelRange);
  h.gyro_range_dps = get_le<std::uint16_t>(p + kOffGyroRange);
  if (p[kOffTrigger] > 1) {
    set(error, "unknown trigger " + std::to_string(p[kOffTrigger]));
    return std::nullopt;
  }
  h.trigger = p[kOffTrigger] == 0 ? config::ImuTrigger::data_ready : config::ImuTrigger::timer;
  h.dlpf = p[kOffDlpf];
  h.i2c_address = get_le<std::uint16_t>(p + kOffI2cAddress);
  h.driver = get_text(p + kOffDriver, kFrameFileDriverBytes);
  h.device = get_text(p + kOffDevice, kFrameFileDeviceBytes);
  return h;
}

std::string_view layout_name(config::ImuFormat f) noexcept {
  return f == config::ImuFormat::seed ? "seed" : "extended";
}

std::string_view trigger_name(config::ImuTrigger t) noexcept {
  return t == config::ImuTrigger::data_ready ? "data_ready" : "timer";
}

}  // namespace gpioirq::sinks
