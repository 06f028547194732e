#include "devices/i2c_device.hpp"

#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace gpioirq::devices {

namespace {

int smbus(int fd, std::uint8_t read_write, std::uint8_t command, std::uint32_t size,
          i2c_smbus_data* data) noexcept {
  i2c_smbus_ioctl_data args{};
  args.read_write = read_write;
  args.command = command;
  args.size = size;
  args.data = data;
  if (::ioctl(fd, I2C_SMBUS, &args) < 0) return -errno;
  return 0;
}

}  // namespace

I2cDevice::I2cDevice(const std::string& bus_path, std::uint16_t address) : address_(address) {
  fd_.reset(::open(bus_path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd_)
    throw std::system_error(errno, std::generic_category(), "cannot open I2C bus " + bus_path);
  if (::ioctl(fd_.get(), I2C_SLAVE, static_cast<unsigned long>(address)) < 0) {
    const int err = errno;
    char addr[8];
    std::snprintf(addr, sizeof addr, "0x%02x", address);
    throw std::system_error(err, std::generic_category(),
                            "cannot select I2C address " + std::string(addr) + " on " + bus_path +
                                (err == EBUSY ? " (a kernel driver owns it)" : ""));
  }
}

int I2cDevice::read_block(std::uint8_t reg, std::span<std::uint8_t> out) noexcept {
  if (out.empty() || out.size() > kMaxBlock) return -EINVAL;
  i2c_smbus_data data;
  // With I2C_SMBUS_I2C_BLOCK_DATA (not _BROKEN) i2c-dev takes the length from block[0].
  data.block[0] = static_cast<std::uint8_t>(out.size());
  const int rc = smbus(fd_.get(), I2C_SMBUS_READ, reg, I2C_SMBUS_I2C_BLOCK_DATA, &data);
  if (rc < 0) return rc;
  const std::size_t n = data.block[0] < out.size() ? data.block[0] : out.size();
  std::memcpy(out.data(), &data.block[1], n);
  return static_cast<int>(n);
}

int I2cDevice::read_byte(std::uint8_t reg) noexcept {
  i2c_smbus_data data;
  const int rc = smbus(fd_.get(), I2C_SMBUS_READ, reg, I2C_SMBUS_BYTE_DATA, &data);
  return rc < 0 ? rc : data.byte;
}

int I2cDevice::write_byte(std::uint8_t reg, std::uint8_t value) noexcept {
  i2c_smbus_data data;
  data.byte = value;
  return smbus(fd_.get(), I2C_SMBUS_WRITE, reg, I2C_SMBUS_BYTE_DATA, &data);
}

}  // namespace gpioirq::devices
