// Good files: defaults, lines by offset and by name, paths, and the example files.

#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.hpp"
#include "kinds/kind.hpp"

namespace {

namespace fs = std::filesystem;
using namespace gpioirq::config;

// A parsed Config with each kind's settings beside it (settings_of), as the checks read them.
struct Parsed : Config {
  explicit Parsed(Config c)
      : Config(std::move(c)),
        encoders(settings_of<EncoderConfig>(*this)),
        buttons(settings_of<ButtonConfig>(*this)),
        counters(settings_of<CounterConfig>(*this)),
        imus(settings_of<ImuConfig>(*this)),
        polls(settings_of<PollConfig>(*this)) {}

  std::vector<EncoderConfig> encoders;
  std::vector<ButtonConfig> buttons;
  std::vector<CounterConfig> counters;
  std::vector<ImuConfig> imus;
  std::vector<PollConfig> polls;
};

Parsed parse(std::string_view text, std::string_view file) {
  return Parsed(gpioirq::kinds::parse_config(text, file));
}

Parsed load(const std::string& path) {
  return Parsed(gpioirq::kinds::load_config(path));
}

constexpr std::string_view minimal = R"(
[[chip]]
name = "gpio0"
path = "/dev/gpiochip0"

[[encoder]]
name = "knob"
chip = "gpio0"
a = 17
b = "GPIO27"

[[button]]
name = "start"
chip = "gpio0"
line = "GPIO22"

[[counter]]
name = "flow"
chip = "gpio0"
line = 5

[[imu]]
name = "imu0"
i2c_bus = "/dev/i2c-1"
chip = "gpio0"
data_ready = 4

[[poll]]
name = "temp"
path = "/sys/class/thermal/thermal_zone0/temp"
)";

}  // namespace

TEST_CASE("every example file in config/ is valid", "[config][examples]") {
  const fs::path dir = fs::path(GPIOIRQ_SOURCE_DIR) / "config";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".toml") continue;
    INFO(entry.path().string());
    CHECK_NOTHROW(load(entry.path().string()));
    ++files;
  }
  CHECK(files >= 2);
}

TEST_CASE("the demo runs on one sim chip with every kind of device", "[config][examples]") {
  const Parsed c = load((fs::path(GPIOIRQ_SOURCE_DIR) / "config" / "demo.toml").string());
  REQUIRE(c.chips.size() == 1);
  CHECK(c.chips[0].backend == Backend::sim);
  CHECK(c.encoders.size() == 1);
  CHECK(c.encoders[0].sim_rate_hz >= 1000);
  CHECK(c.buttons.size() == 2);
  CHECK(c.counters.size() == 1);
  REQUIRE(c.imus.size() == 2);
  CHECK(c.imus[0].i2c_bus == "sim");
  CHECK(c.imus[0].rate_hz == 1000);
  // 250 Hz for the default 200 ms is 50 frames: the unwritten block_records shrinks to half.
  CHECK(c.imus[1].rate_hz == 250);
  CHECK(c.imus[1].block_records == 25);
  REQUIRE(c.polls.size() == 1);
  // It must run without root: nothing under /run or /var.
  CHECK(c.daemon.socket_path.starts_with("/tmp/"));
  CHECK(c.daemon.log_dir.starts_with("/tmp/"));
  CHECK(fs::exists(c.polls[0].path));
}

TEST_CASE("keys left out take their documented defaults", "[config][defaults]") {
  const Parsed c = parse(minimal, "/etc/gpioirqd.toml");
  CHECK(c.file == "/etc/gpioirqd.toml");
  CHECK(c.daemon == DaemonConfig{});
  CHECK(c.daemon.log_dir == "/var/log/gpioirqd");
  CHECK(c.daemon.socket_path == "/run/gpioirqd/control.sock");
  CHECK(c.daemon.rt_priority == 80);
  CHECK(c.daemon.rotate_size_bytes == 64ull << 20);
  CHECK(c.daemon.ring_capacity == 65536);

  REQUIRE(c.chips.size() == 1);
  CHECK(c.chips[0].backend == Backend::gpiod);
  CHECK(c.chips[0].label.empty());

  REQUIRE(c.encoders.size() == 1);
  const EncoderConfig& e = c.encoders[0];
  CHECK(e.counts_per_period == 4);
  CHECK(e.div == 1);
  CHECK_FALSE(e.min);
  CHECK_FALSE(e.max);
  CHECK(e.mode == RangeMode::clamp);
  CHECK_FALSE(e.detent_events);
  CHECK(e.line == LineSettings{});
  CHECK(e.sim_rate_hz == 0);

  REQUIRE(c.buttons.size() == 1);
  CHECK(c.buttons[0].kind == ButtonKind::button);
  CHECK(c.buttons[0].debounce_ms == 20);
  CHECK(c.buttons[0].long_press_ms == 1000);
  CHECK(c.buttons[0].double_click_ms == 400);

  REQUIRE(c.counters.size() == 1);
  CHECK(c.counters[0].edge == EdgeKind::rising);
  CHECK(c.counters[0].scale == 1.0);
  CHECK(c.counters[0].unit == "pulses");

  REQUIRE(c.imus.size() == 1);
  const ImuConfig& m = c.imus[0];
  CHECK(m.driver == "mpu6050");
  CHECK(m.address == 0x68);
  CHECK(m.trigger == ImuTrigger::data_ready);
  CHECK(m.rate_hz == 1000);
  CHECK(m.format == ImuFormat::extended);
  CHECK(m.accel_range_g == 2);
  CHECK(m.gyro_range_dps == 250);
  CHECK(m.dlpf == 1);

  REQUIRE(c.polls.size() == 1);
  CHECK(c.polls[0].interval_ms == 1000);
  CHECK(c.polls[0].scale == 1.0);
  CHECK(c.polls[0].unit.empty());
}

TEST_CASE("an empty file is a valid configuration with nothing to watch", "[config][defaults]") {
  const Parsed c = parse("", "/etc/empty.toml");
  CHECK(c.daemon == DaemonConfig{});
  CHECK(c.chips.empty());
  CHECK(c.encoders.empty());
}

TEST_CASE("lines are given by offset or by name", "[config][lines]") {
  const Parsed c = parse(minimal, "/etc/gpioirqd.toml");
  const EncoderConfig& e = c.encoders[0];
  CHECK(e.a.chip == "gpio0");
  REQUIRE(std::holds_alternative<std::uint32_t>(e.a.line));
  CHECK(std::get<std::uint32_t>(e.a.line) == 17);
  REQUIRE(std::holds_alternative<std::string>(e.b.line));
  CHECK(std::get<std::string>(e.b.line) == "GPIO27");
  CHECK(std::get<std::string>(c.buttons[0].line.line) == "GPIO22");
  CHECK(std::get<std::uint32_t>(c.counters[0].line.line) == 5);
  REQUIRE(c.imus[0].data_ready);
  CHECK(std::get<std::uint32_t>(c.imus[0].data_ready->line) == 4);
  // Places point at the values, for messages the daemon gives later.
  CHECK(e.a.place.file == "/etc/gpioirqd.toml");
  CHECK(e.a.place.line == 9);
  CHECK(e.a.place.column == 5);
  CHECK(e.place.line == 6);
  CHECK(e.place.column == 1);
}

TEST_CASE("every value given is carried into the structs", "[config][values]") {
  const Parsed c = parse(R"(
[daemon]
socket_group = "gpio"
cpu = 1
mlock = false
flush_interval_ms = 250
rotate_size_mb = 3
rotate_keep = 0
event_log_format = "jsonl"
log_edges = false
ring_capacity = 1024
time_sync_interval_ms = 500
log_buffer_max_mb = 3
loop_priority = 40
loop_spin_us = 25

[[chip]]
name = "exp"
label = "mcp23017"

[[encoder]]
name = "k"
chip = "exp"
a = 0
b = 1
bias = "pull-down"
active_low = true
clock = "hte"
counts_per_period = 2
div = 4
min = -5
max = 5
mode = "wrap"
detent_events = true

[[button]]
name = "door"
chip = "exp"
line = 2
kind = "switch"
kernel_debounce_us = 500

[[imu]]
name = "imu"
i2c_bus = "/dev/i2c-10"
address = 0x69
trigger = "timer"
rate_hz = 333
dlpf = 0
format = "seed"
accel_range_g = 16
gyro_range_dps = 2000
buffer_ms = 1000
block_records = 333

[[poll]]
name = "p"
path = "/proc/loadavg"
scale = -2
offset = 1.5
)",
                         "/x.toml");
  CHECK(c.daemon.socket_group == "gpio");
  CHECK(c.daemon.cpu == 1);
  CHECK_FALSE(c.daemon.mlock);
  CHECK(c.daemon.flush_interval_ms == 250);
  CHECK(c.daemon.rotate_size_bytes == 3u << 20);
  CHECK(c.daemon.rotate_keep == 0);
  CHECK(c.daemon.event_log_format == LogFormat::jsonl);
  CHECK_FALSE(c.daemon.log_edges);
  CHECK(c.daemon.ring_capacity == 1024);
  CHECK(c.daemon.time_sync_interval_ms == 500);
  CHECK(c.daemon.log_buffer_max_bytes == 3u << 20);
  CHECK(c.daemon.loop_priority == 40);
  CHECK(c.daemon.loop_spin_us == 25);
  CHECK(c.chips[0].label == "mcp23017");
  CHECK(c.chips[0].path.empty());
  const EncoderConfig& e = c.encoders[0];
  CHECK(e.line.bias == Bias::pull_down);
  CHECK(e.line.active_low);
  CHECK(e.line.clock == EventClock::hte);
  CHECK(e.counts_per_period == 2);
  CHECK(e.div == 4);
  CHECK(e.min == -5);
  CHECK(e.max == 5);
  CHECK(e.mode == RangeMode::wrap);
  CHECK(c.buttons[0].kind == ButtonKind::switch_);
  CHECK(c.buttons[0].kernel_debounce_us == 500);
  const ImuConfig& m = c.imus[0];
  CHECK(m.i2c_bus == "/dev/i2c-10");
  CHECK(m.address == 0x69);
  CHECK(m.trigger == ImuTrigger::timer);
  CHECK_FALSE(m.data_ready);
  CHECK(m.rate_hz == 333);
  CHECK(m.dlpf == 0);
  CHECK(m.format == ImuFormat::seed);
  CHECK(m.accel_range_g == 16);
  CHECK(m.gyro_range_dps == 2000);
  CHECK(c.polls[0].scale == -2.0);
  CHECK(c.polls[0].offset == 1.5);
}

TEST_CASE("the MPU-6050 runs at 8 kHz / n with its filter off", "[config][values]") {
  const Parsed c = parse(R"(
[[chip]]
name = "g"
path = "/dev/gpiochip0"
[[imu]]
name = "i"
i2c_bus = "/dev/i2c-1"
chip = "g"
data_ready = 4
dlpf = 0
rate_hz = 4000
)",
                         "/x.toml");
  CHECK(c.imus[0].rate_hz == 4000);
}

TEST_CASE("relative paths are taken relative to the config file's directory", "[config][paths]") {
  const Parsed c = parse(R"(
[daemon]
log_dir = "logs/"
socket_path = "../run/ctl.sock"
[[poll]]
name = "p"
path = "./data/value"
)",
                         "/srv/gpio/conf/gpioirqd.toml");
  CHECK(c.daemon.log_dir == "/srv/gpio/conf/logs");
  CHECK(c.daemon.socket_path == "/srv/gpio/run/ctl.sock");
  CHECK(c.polls[0].path == "/srv/gpio/conf/data/value");
}

TEST_CASE("state_dir: kept only when given, relative to the file; counter debounce and class",
          "[config][values]") {
  const Parsed none = parse("[daemon]\n", "/srv/gpio/conf/gpioirqd.toml");
  CHECK_FALSE(none.daemon.keep_state);
  CHECK(none.daemon.state_save_interval_ms == 10000);
  const Parsed c = parse(R"(
[daemon]
state_dir = "state"
state_save_interval_ms = 250
[[chip]]
name = "gpio0"
path = "/dev/gpiochip0"
[[counter]]
name = "water"
chip = "gpio0"
line = 3
edge = "falling"
min_pulse_us = 1500
device_class = "water"
)",
                         "/srv/gpio/conf/gpioirqd.toml");
  CHECK(c.daemon.keep_state);
  CHECK(c.daemon.state_dir == "/srv/gpio/conf/state");
  CHECK(c.daemon.state_save_interval_ms == 250);
  REQUIRE(c.counters.size() == 1);
  CHECK(c.counters[0].min_pulse_us == 1500);
  CHECK(c.counters[0].device_class == "water");
}

TEST_CASE("[metrics]: the textfile resolved like other paths, its interval; absent: none",
          "[config][metrics]") {
  const Parsed c = parse(R"(
[metrics]
textfile = "../textfile/gpioirq.prom"
textfile_interval_ms = 5000
)",
                         "/srv/gpio/conf/gpioirqd.toml");
  CHECK(c.metrics.textfile == "/srv/gpio/textfile/gpioirq.prom");
  CHECK(c.metrics.textfile_interval_ms == 5000);
  const Parsed none = parse("", "/x.toml");
  CHECK(none.metrics.textfile.empty());
  CHECK(none.metrics.textfile_interval_ms == 15000);
  CHECK(none.metrics == gpioirq::config::MetricsConfig{});
}

TEST_CASE("load() resolves against the file's directory, not the caller's", "[config][paths]") {
  char dir_template[] = "/tmp/gpioirq-config-test-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const fs::path dir(dir_template);
  fs::create_directories(dir / "etc");
  {
    std::ofstream out(dir / "etc" / "d.toml");
    out << "[daemon]\nlog_dir = \"log\"\n";
  }
  const fs::path cwd = fs::current_path();
  fs::current_path(dir);
  Config c;
  CHECK_NOTHROW(c = load("etc/d.toml"));
  fs::current_path(cwd);
  CHECK(c.daemon.log_dir == (dir / "etc" / "log").string());
  CHECK(c.file == (dir / "etc" / "d.toml").string());
  fs::remove_all(dir);
}
