#include "kinds/imu/imu_config.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "config/config_error.hpp"

namespace gpioirq::kinds {

using namespace config;

namespace {

// The keys double as the "did you mean" candidates, so keep them complete and in the order
// of docs/CONFIGURATION.md.
constexpr std::string_view imu_keys[] = {
    "name",          "driver", "i2c_bus",       "address",        "trigger", "chip",
    "data_ready",    "bias",   "active_low",    "clock",          "rate_hz", "buffer_ms",
    "block_records", "format", "accel_range_g", "gyro_range_dps", "dlpf"};
constexpr std::string_view trigger_names[] = {"data-ready", "timer"};
constexpr ImuTrigger trigger_values[] = {ImuTrigger::data_ready, ImuTrigger::timer};

constexpr std::string_view imu_format_names[] = {"seed", "extended"};
constexpr ImuFormat imu_format_values[] = {ImuFormat::seed, ImuFormat::extended};

constexpr std::string_view driver_names[] = {"mpu6050"};
constexpr int driver_values[] = {0};

constexpr std::int64_t accel_range_values[] = {2, 4, 8, 16};

constexpr std::int64_t gyro_range_values[] = {250, 500, 1000, 2000};

std::string single_quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}
std::string double_quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

bool valid_i2c_bus(std::string_view bus) {
  constexpr std::string_view prefix = "/dev/i2c-";
  if (!bus.starts_with(prefix) || bus.size() == prefix.size()) return false;
  for (char c : bus.substr(prefix.size()))
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::shared_ptr<const config::DeviceSettings> parse_imu_config(config::DeviceReader& r) {
  ImuConfig m;
  m.name = r.name(imu_keys, "an IMU");
  m.place = r.place();
  r.require("i2c_bus");
  r.choice("driver", driver_names, driver_values);
  assign(m.trigger, r.choice("trigger", trigger_names, trigger_values));
  const ChipConfig* chip = nullptr;
  if (m.trigger == ImuTrigger::data_ready) {
    r.require("data_ready",
              " (trigger = \"data-ready\" needs the line wired to the IMU's INT pin)");
    r.require("chip");
    chip = &r.chip();
    m.data_ready = r.line("data_ready", *chip);
    m.settings = r.line_settings();
  } else {
    for (std::string_view key : {"data_ready", "chip", "bias", "active_low", "clock"})
      r.forbid(key,
               "applies only with trigger = \"data-ready\"; a timer-triggered IMU has no line");
  }
  m.i2c_bus = *r.string("i2c_bus");
  if (m.i2c_bus == "sim") {
    if (chip && chip->backend != Backend::sim)
      r.fail("i2c_bus",
             "\"sim\" (a simulated IMU) needs its data_ready line on a sim chip, and chip " +
                 single_quoted(chip->name) + " has backend \"gpiod\"");
  } else {
    if (!valid_i2c_bus(m.i2c_bus))
      r.fail("i2c_bus", "expected \"/dev/i2c-N\" or \"sim\", found " + double_quoted(m.i2c_bus));
    if (chip && chip->backend == Backend::sim)
      r.fail("i2c_bus", "expected \"sim\": the data_ready line is on sim chip " +
                            single_quoted(chip->name) + ", found " + double_quoted(m.i2c_bus));
  }
  assign(m.address, r.integer("address", 0x08, 0x77, true));
  assign(m.dlpf, r.integer("dlpf", 0, 6));
  if (m.trigger == ImuTrigger::data_ready) {
    // The MPU-6050 makes samples at its gyro output rate (8 kHz with the filter off,
    // 1 kHz with it on) divided by 1 + SMPLRT_DIV; data-ready fires at exactly that rate.
    const std::int64_t base = m.dlpf == 0 ? 8000 : 1000;
    if (const toml::node* n = r.get("rate_hz")) {
      const std::string expected = "expected " + std::to_string(base) +
                                   " divided by a whole number from 1 to 256 (the MPU-6050's "
                                   "sample rates with dlpf = " +
                                   std::to_string(m.dlpf) + ")";
      const auto* v = n->as_integer();
      if (!v) r.fail("rate_hz", expected + ", found " + std::string(type_phrase(n->type())));
      const std::int64_t rate = v->get();
      if (rate < 1 || base % rate != 0 || base / rate > 256)
        r.fail("rate_hz", expected + ", found " + std::to_string(rate));
      m.rate_hz = static_cast<std::uint32_t>(rate);
    }
  } else {
    assign(m.rate_hz, r.integer("rate_hz", 1, 10'000));
  }
  assign(m.buffer_ms, r.integer("buffer_ms", 10, 10'000));
  // The ring must hold a couple of frames, and a block must fit in it; an unwritten
  // block_records shrinks to half the ring so that slow IMUs work with the defaults.
  const std::uint64_t buffered = std::uint64_t{m.rate_hz} * m.buffer_ms / 1000;
  if (buffered < 2) {
    const std::uint64_t needed = (2000 + m.rate_hz - 1) / m.rate_hz;
    r.fail("buffer_ms", "expected at least " + std::to_string(needed) +
                            " so that two frames fit at rate_hz = " + std::to_string(m.rate_hz) +
                            ", found " + std::to_string(m.buffer_ms) +
                            (r.has("buffer_ms") ? "" : " (the default)"));
  }
  if (auto block = r.integer("block_records", 1, 65'536)) {
    if (static_cast<std::uint64_t>(*block) > buffered)
      r.fail("block_records", "expected at most " + std::to_string(buffered) +
                                  " (the frames buffer_ms = " + std::to_string(m.buffer_ms) +
                                  " holds at rate_hz = " + std::to_string(m.rate_hz) + "), found " +
                                  std::to_string(*block));
    m.block_records = static_cast<std::uint32_t>(*block);
  } else {
    m.block_records =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(m.block_records, buffered / 2));
  }
  assign(m.format, r.choice("format", imu_format_names, imu_format_values));
  assign(m.accel_range_g, r.integer_one_of("accel_range_g", accel_range_values));
  assign(m.gyro_range_dps, r.integer_one_of("gyro_range_dps", gyro_range_values));
  return std::make_shared<const config::SettingsOf<config::ImuConfig>>(std::move(m));
}

}  // namespace gpioirq::kinds
