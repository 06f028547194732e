#pragma once
// MPU-6050 pieces: register map, the start-up register sequence as a pure function of
// ImuConfig, parsing of the 14-byte sample block, and unit scales. The bus access is
// I2cDevice (i2c_device.hpp); read_sample() ties the two for the RT thread.

#include <cstdint>
#include <span>
#include <vector>

#include "config/schema.hpp"

namespace gpioirq::devices {

class I2cDevice;

namespace mpu6050 {

// Register addresses (MPU-6000/MPU-6050 Register Map and Descriptions, rev 4.2).
inline constexpr std::uint8_t kSmplrtDiv = 0x19;
inline constexpr std::uint8_t kConfig = 0x1A;
inline constexpr std::uint8_t kGyroConfig = 0x1B;
inline constexpr std::uint8_t kAccelConfig = 0x1C;
inline constexpr std::uint8_t kIntPinCfg = 0x37;
inline constexpr std::uint8_t kIntEnable = 0x38;
inline constexpr std::uint8_t kIntStatus = 0x3A;
inline constexpr std::uint8_t kAccelXoutH = 0x3B;  // 14 bytes: ax ay az temp gx gy gz
inline constexpr std::uint8_t kTempOutH = 0x41;
inline constexpr std::uint8_t kGyroXoutH = 0x43;
inline constexpr std::uint8_t kSignalPathReset = 0x68;
inline constexpr std::uint8_t kUserCtrl = 0x6A;
inline constexpr std::uint8_t kPwrMgmt1 = 0x6B;
inline constexpr std::uint8_t kPwrMgmt2 = 0x6C;
inline constexpr std::uint8_t kWhoAmI = 0x75;

inline constexpr std::uint8_t kWhoAmIValue = 0x68;
inline constexpr std::uint8_t kPwrMgmt1ClockPllX = 0x01;  // SLEEP cleared, PLL with X gyro
inline constexpr std::uint8_t kIntPinCfgRdClear = 0x10;   // any read clears INT_STATUS
inline constexpr std::uint8_t kIntEnableDataReady = 0x01;
inline constexpr std::size_t kSampleBytes = 14;

struct RegWrite {
  std::uint8_t reg;
  std::uint8_t value;
  friend bool operator==(const RegWrite&, const RegWrite&) = default;
};

// Raw sample, as the chip gives it (big-endian int16 each).
struct Sample {
  std::int16_t ax, ay, az;
  std::int16_t temp;
  std::int16_t gx, gy, gz;
  friend bool operator==(const Sample&, const Sample&) = default;
};

// Gyro output rate: 8 kHz with the DLPF off (dlpf 0 or 7), 1 kHz with it on (1..6).
std::uint32_t base_rate_hz(int dlpf) noexcept;
// SMPLRT_DIV for rate_hz: sample rate = base / (1 + div), div rounded to the nearest,
// within 0..255. With trigger = timer and rate_hz above the base rate: 0 (the chip at its
// fastest). Throws std::invalid_argument if rate_hz is 0, or above the base rate with
// trigger = data_ready.
std::uint8_t sample_rate_divider(const config::ImuConfig& cfg);
// The chip's real sample rate with that divider (may differ from rate_hz if rate_hz
// does not divide the base rate).
double actual_rate_hz(const config::ImuConfig& cfg);

// Start-up writes in order: PWR_MGMT_1 (wake, PLL clock), SMPLRT_DIV, CONFIG (DLPF),
// GYRO_CONFIG, ACCEL_CONFIG, INT_PIN_CFG (active high, push-pull, 50 us pulse, read
// clears), INT_ENABLE (data ready when trigger = data_ready, else 0).
// No device reset: PWR_MGMT_1 = 0x80 needs a 100 ms wait, and every register that
// matters is written here anyway. Throws std::invalid_argument for an accel range not
// 2/4/8/16, a gyro range not 250/500/1000/2000, a dlpf not 0..7, or a bad rate.
std::vector<RegWrite> setup_sequence(const config::ImuConfig& cfg);

// Parse the block read at ACCEL_XOUT_H. noexcept, no allocation.
Sample parse_sample(std::span<const std::uint8_t, kSampleBytes> block) noexcept;

// Unit scales.
double accel_lsb_per_g(int range_g) noexcept;     // 16384 at 2 g
double gyro_lsb_per_dps(int range_dps) noexcept;  // 131 at 250 dps
double temp_celsius(std::int16_t raw) noexcept;   // raw / 340 + 36.53

// Write the setup sequence; returns 0 or the first -errno. Start-up only.
int apply_setup(I2cDevice& dev, const std::vector<RegWrite>& writes) noexcept;
// One I2C block read of the 14-byte sample. RT-safe: noexcept, no allocation.
// Returns 0 or -errno (-EIO for a short read).
int read_sample(I2cDevice& dev, Sample& out) noexcept;

}  // namespace mpu6050
}  // namespace gpioirq::devices
