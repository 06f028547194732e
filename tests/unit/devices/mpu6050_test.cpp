#include "devices/mpu6050.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "devices/i2c_device.hpp"

using Catch::Matchers::WithinAbs;
using gpioirq::config::ImuConfig;
using gpioirq::config::ImuTrigger;
namespace mpu = gpioirq::devices::mpu6050;
using W = mpu::RegWrite;

TEST_CASE("mpu6050: default config gives the documented start-up sequence", "[mpu6050]") {
  ImuConfig c;  // 1000 Hz, dlpf 1, 2 g, 250 dps, data-ready trigger
  CHECK(mpu::setup_sequence(c) == std::vector<W>{{0x6B, 0x01},
                                                 {0x19, 0x00},
                                                 {0x1A, 0x01},
                                                 {0x1B, 0x00},
                                                 {0x1C, 0x00},
                                                 {0x37, 0x10},
                                                 {0x38, 0x01}});
  CHECK(mpu::actual_rate_hz(c) == 1000.0);
}

TEST_CASE("mpu6050: rate divider, filter and ranges follow the config", "[mpu6050]") {
  SECTION("200 Hz, dlpf 3, 8 g, 2000 dps, timer trigger") {
    ImuConfig c;
    c.rate_hz = 200;
    c.dlpf = 3;
    c.accel_range_g = 8;
    c.gyro_range_dps = 2000;
    c.trigger = ImuTrigger::timer;
    CHECK(mpu::setup_sequence(c) == std::vector<W>{{0x6B, 0x01},
                                                   {0x19, 4},
                                                   {0x1A, 3},
                                                   {0x1B, 0x18},
                                                   {0x1C, 0x10},
                                                   {0x37, 0x10},
                                                   {0x38, 0x00}});
  }
  SECTION("DLPF off: 8 kHz base") {
    ImuConfig c;
    c.dlpf = 0;
    c.rate_hz = 1000;
    c.accel_range_g = 4;
    c.gyro_range_dps = 500;
    const auto seq = mpu::setup_sequence(c);
    CHECK(seq[1] == W{0x19, 7});
    CHECK(seq[3] == W{0x1B, 0x08});
    CHECK(seq[4] == W{0x1C, 0x08});
    CHECK(mpu::actual_rate_hz(c) == 1000.0);
  }
  SECTION("a rate the chip cannot hit exactly: nearest divider, actual rate reported") {
    ImuConfig c;
    c.rate_hz = 300;
    CHECK(mpu::sample_rate_divider(c) == 2);
    CHECK_THAT(mpu::actual_rate_hz(c), WithinAbs(333.333, 0.001));
    c.rate_hz = 2;
    CHECK(mpu::sample_rate_divider(c) == 255);  // slowest the chip can go
  }
  SECTION("timer trigger faster than the chip: the chip runs at its fastest") {
    ImuConfig c;
    c.trigger = ImuTrigger::timer;
    c.rate_hz = 10000;
    CHECK(mpu::sample_rate_divider(c) == 0);
    CHECK(mpu::actual_rate_hz(c) == 1000.0);
  }
}

TEST_CASE("mpu6050: invalid settings are refused", "[mpu6050]") {
  ImuConfig c;
  c.accel_range_g = 3;
  CHECK_THROWS_AS(mpu::setup_sequence(c), std::invalid_argument);
  c = ImuConfig{};
  c.gyro_range_dps = 100;
  CHECK_THROWS_AS(mpu::setup_sequence(c), std::invalid_argument);
  c = ImuConfig{};
  c.dlpf = 8;
  CHECK_THROWS_AS(mpu::setup_sequence(c), std::invalid_argument);
  c = ImuConfig{};
  c.rate_hz = 2000;  // above the 1 kHz base with the DLPF on
  CHECK_THROWS_AS(mpu::setup_sequence(c), std::invalid_argument);
  c.rate_hz = 0;
  CHECK_THROWS_AS(mpu::setup_sequence(c), std::invalid_argument);
}

TEST_CASE("mpu6050: the 14-byte block parses as big-endian ax ay az temp gx gy gz", "[mpu6050]") {
  const std::array<std::uint8_t, 14> block = {0x40, 0x00, 0xC0, 0x00, 0x00, 0x01, 0xF2,
                                              0x30, 0x7F, 0xFF, 0x80, 0x00, 0xFF, 0xFF};
  const mpu::Sample s = mpu::parse_sample(block);
  CHECK(s == mpu::Sample{16384, -16384, 1, -3536, 32767, -32768, -1});
  CHECK_THAT(s.ax / mpu::accel_lsb_per_g(2), WithinAbs(1.0, 1e-12));
  CHECK_THAT(mpu::temp_celsius(s.temp), WithinAbs(26.13, 0.01));
  CHECK(mpu::gyro_lsb_per_dps(2000) == 16.375);
  CHECK(mpu::accel_lsb_per_g(16) == 2048.0);
}

TEST_CASE("i2c device: a missing bus is a start-up error naming it", "[mpu6050]") {
  try {
    gpioirq::devices::I2cDevice dev("/dev/i2c-does-not-exist", 0x68);
    FAIL("opened a bus that does not exist");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK(std::string(e.what()).find("/dev/i2c-does-not-exist") != std::string::npos);
  }
  gpioirq::devices::I2cDevice closed;
  std::array<std::uint8_t, 14> buf{};
  CHECK(closed.read_block(0x3B, buf) == -EBADF);
  CHECK(closed.read_block(0x3B, std::span<std::uint8_t>()) == -EINVAL);
  mpu::Sample s{};
  CHECK(mpu::read_sample(closed, s) == -EBADF);
}
