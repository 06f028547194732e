#pragma once
// One I2C client on /dev/i2c-N through i2c-dev, using SMBus transfers only, so that
// i2c-stub (no plain I2C_RDWR) serves it in the test VM.

#include <cstdint>
#include <span>
#include <string>

#include "core/unique_fd.hpp"

namespace gpioirq::devices {

class I2cDevice {
 public:
  static constexpr std::size_t kMaxBlock = 32;  // I2C_SMBUS_BLOCK_MAX

  I2cDevice() = default;
  // Opens the bus and selects the 7-bit address (ioctl I2C_SLAVE). Start-up only:
  // throws std::system_error naming the path and address on failure.
  I2cDevice(const std::string& bus_path, std::uint16_t address);

  bool valid() const noexcept { return fd_.valid(); }
  int fd() const noexcept { return fd_.get(); }
  std::uint16_t address() const noexcept { return address_; }

  // SMBus "I2C block read" of out.size() (1..32) bytes from register reg.
  // noexcept, no allocation; returns the number of bytes read or -errno.
  int read_block(std::uint8_t reg, std::span<std::uint8_t> out) noexcept;
  // SMBus read/write byte data. read_byte returns the value (0..255) or -errno;
  // write_byte returns 0 or -errno.
  int read_byte(std::uint8_t reg) noexcept;
  int write_byte(std::uint8_t reg, std::uint8_t value) noexcept;

 private:
  core::UniqueFd fd_;
  std::uint16_t address_ = 0;
};

}  // namespace gpioirq::devices
