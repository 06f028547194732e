#include "devices/mpu6050.hpp"

#include <cerrno>
#include <cmath>
#include <stdexcept>
#include <string>

#include "devices/i2c_device.hpp"

namespace gpioirq::devices::mpu6050 {

namespace {

std::uint8_t range_bits(int value, const int (&allowed)[4], const std::string& what,
                        const std::string& name) {
  for (int i = 0; i < 4; ++i)
    if (allowed[i] == value) return static_cast<std::uint8_t>(i << 3);  // FS_SEL bits 4:3
  throw std::invalid_argument("imu '" + name + "': " + what + " must be " +
                              std::to_string(allowed[0]) + ", " + std::to_string(allowed[1]) +
                              ", " + std::to_string(allowed[2]) + " or " +
                              std::to_string(allowed[3]));
}

std::int16_t be16(const std::uint8_t* p) noexcept {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>((p[0] << 8) | p[1]));
}

}  // namespace

std::uint32_t base_rate_hz(int dlpf) noexcept {
  return (dlpf == 0 || dlpf == 7) ? 8000 : 1000;
}

std::uint8_t sample_rate_divider(const config::ImuConfig& cfg) {
  const std::uint32_t base = base_rate_hz(cfg.dlpf);
  // Timer-triggered reads may be faster than the chip samples (the loader allows up to
  // 10 kHz): then the chip runs flat out and some reads repeat a sample.
  if (cfg.trigger == config::ImuTrigger::timer && cfg.rate_hz > base) return 0;
  if (cfg.rate_hz == 0 || cfg.rate_hz > base)
    throw std::invalid_argument("imu '" + cfg.name + "': rate_hz must be 1.." +
                                std::to_string(base) + " with dlpf " + std::to_string(cfg.dlpf));
  const long div = std::lround(static_cast<double>(base) / cfg.rate_hz) - 1;
  return static_cast<std::uint8_t>(div < 0 ? 0 : (div > 255 ? 255 : div));
}

double actual_rate_hz(const config::ImuConfig& cfg) {
  return static_cast<double>(base_rate_hz(cfg.dlpf)) / (1 + sample_rate_divider(cfg));
}

std::vector<RegWrite> setup_sequence(const config::ImuConfig& cfg) {
  if (cfg.dlpf < 0 || cfg.dlpf > 7)
    throw std::invalid_argument("imu '" + cfg.name + "': dlpf must be 0..7");
  static constexpr int kAccel[4] = {2, 4, 8, 16};
  static constexpr int kGyro[4] = {250, 500, 1000, 2000};
  const std::uint8_t accel = range_bits(cfg.accel_range_g, kAccel, "accel_range_g", cfg.name);
  const std::uint8_t gyro = range_bits(cfg.gyro_range_dps, kGyro, "gyro_range_dps", cfg.name);
  const std::uint8_t div = sample_rate_divider(cfg);
  return {
      {kPwrMgmt1, kPwrMgmt1ClockPllX},
      {kSmplrtDiv, div},
      {kConfig, static_cast<std::uint8_t>(cfg.dlpf)},
      {kGyroConfig, gyro},
      {kAccelConfig, accel},
      {kIntPinCfg, kIntPinCfgRdClear},
      {kIntEnable,
       cfg.trigger == config::ImuTrigger::data_ready ? kIntEnableDataReady : std::uint8_t{0}},
  };
}

Sample parse_sample(std::span<const std::uint8_t, kSampleBytes> b) noexcept {
  const std::uint8_t* p = b.data();
  return Sample{be16(p),     be16(p + 2),  be16(p + 4), be16(p + 6),
                be16(p + 8), be16(p + 10), be16(p + 12)};
}

double accel_lsb_per_g(int range_g) noexcept {
  return 32768.0 / range_g;
}
double gyro_lsb_per_dps(int range_dps) noexcept {
  return 131.0 * 250.0 / range_dps;
}
double temp_celsius(std::int16_t raw) noexcept {
  return raw / 340.0 + 36.53;
}

int apply_setup(I2cDevice& dev, const std::vector<RegWrite>& writes) noexcept {
  for (const RegWrite& w : writes) {
    const int rc = dev.write_byte(w.reg, w.value);
    if (rc < 0) return rc;
  }
  return 0;
}

int read_sample(I2cDevice& dev, Sample& out) noexcept {
  std::uint8_t block[kSampleBytes];
  const int n = dev.read_block(kAccelXoutH, block);
  if (n < 0) return n;
  if (n != static_cast<int>(kSampleBytes)) return -EIO;
  out = parse_sample(std::span<const std::uint8_t, kSampleBytes>(block));
  return 0;
}

}  // namespace gpioirq::devices::mpu6050
