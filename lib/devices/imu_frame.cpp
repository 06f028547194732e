#include "devices/imu_frame.hpp"

namespace gpioirq::devices {

namespace {

void put_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
std::uint16_t get_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
void put_le16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
std::uint16_t get_le16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
void put_le32(std::uint8_t* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t get_le32(const std::uint8_t* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void put_le64(std::uint8_t* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint64_t get_le64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint16_t u16(std::int16_t v) noexcept {
  return static_cast<std::uint16_t>(v);
}
std::int16_t i16(std::uint16_t v) noexcept {
  return static_cast<std::int16_t>(v);
}

bool seed_marker(const std::uint8_t* p) noexcept {
  return (p[0] & 0xC0) == 0x40;
}

bool seed_valid_at(std::span<const std::uint8_t> d, std::size_t o) noexcept {
  if (d.size() - o < kSeedFrameSize || !seed_marker(&d[o])) return false;
  if (d.size() - o < 2 * kSeedFrameSize) return true;  // last whole frame: marker only
  const std::uint8_t* next = &d[o + kSeedFrameSize];
  if (!seed_marker(next)) return false;
  const auto c0 = static_cast<std::uint16_t>(get_be16(&d[o]) & kSeedCounterMask);
  const auto c1 = static_cast<std::uint16_t>(get_be16(next) & kSeedCounterMask);
  return c1 == ((c0 + 1) & kSeedCounterMask);
}

}  // namespace

std::uint16_t fletcher16(std::span<const std::uint8_t> data) noexcept {
  std::uint32_t a = 0, b = 0;
  for (std::uint8_t x : data) {
    a = (a + x) % 255;
    b = (b + a) % 255;
  }
  return static_cast<std::uint16_t>((b << 8) | a);
}

void encode_seed(std::uint32_t frame_index, const mpu6050::Sample& s,
                 std::span<std::uint8_t, kSeedFrameSize> out) noexcept {
  std::uint8_t* p = out.data();
  put_be16(p, seed_count_word(frame_index));
  put_be16(p + 2, u16(s.ax));
  put_be16(p + 4, u16(s.ay));
  put_be16(p + 6, u16(s.az));
}

void encode_extended(const ExtendedFrame& f,
                     std::span<std::uint8_t, kExtendedFrameSize> out) noexcept {
  std::uint8_t* p = out.data();
  put_le16(p, kExtendedMagic);
  put_le16(p + 2, f.flags);
  put_le32(p + 4, f.counter);
  put_le64(p + 8, f.ts_ns);
  const mpu6050::Sample& s = f.sample;
  const std::int16_t v[7] = {s.ax, s.ay, s.az, s.temp, s.gx, s.gy, s.gz};
  for (int i = 0; i < 7; ++i) put_le16(p + 16 + 2 * i, u16(v[i]));
  put_le16(p + 30, fletcher16(std::span<const std::uint8_t>(p, 30)));
}

std::optional<SeedFrame> decode_seed(std::span<const std::uint8_t> in) noexcept {
  if (in.size() < kSeedFrameSize || !seed_marker(in.data())) return std::nullopt;
  const std::uint8_t* p = in.data();
  return SeedFrame{static_cast<std::uint16_t>(get_be16(p) & kSeedCounterMask), i16(get_be16(p + 2)),
                   i16(get_be16(p + 4)), i16(get_be16(p + 6))};
}

std::optional<ExtendedFrame> decode_extended(std::span<const std::uint8_t> in) noexcept {
  if (in.size() < kExtendedFrameSize) return std::nullopt;
  const std::uint8_t* p = in.data();
  if (get_le16(p) != kExtendedMagic) return std::nullopt;
  if (get_le16(p + 30) != fletcher16(in.first(30))) return std::nullopt;
  ExtendedFrame f;
  f.flags = get_le16(p + 2);
  f.counter = get_le32(p + 4);
  f.ts_ns = get_le64(p + 8);
  std::int16_t v[7];
  for (int i = 0; i < 7; ++i) v[i] = i16(get_le16(p + 16 + 2 * i));
  f.sample = mpu6050::Sample{v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
  return f;
}

std::size_t find_frame_start(config::ImuFormat format, std::span<const std::uint8_t> data,
                             std::size_t from) noexcept {
  const std::size_t size = frame_size(format);
  for (std::size_t o = from; o < data.size() && data.size() - o >= size; ++o) {
    if (format == config::ImuFormat::seed) {
      if (seed_valid_at(data, o)) return o;
    } else if (decode_extended(data.subspan(o))) {
      return o;
    }
  }
  return data.size();
}

}  // namespace gpioirq::devices
