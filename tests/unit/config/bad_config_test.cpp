// Every kind of bad file gets one clear line naming file:line:column, the key, what was
// expected and what was found. The messages are the user interface, so they are compared
// exactly.

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <string_view>

#include "config/loader.hpp"
#include "kinds/kind.hpp"

namespace {

using gpioirq::config::ConfigError;

std::string error_of(std::string_view text) {
  try {
    (void)gpioirq::kinds::parse_config(text, "x.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

struct BadFile {
  const char* what;
  const char* text;
  const char* message;
};

// One row per bad file; messages kept whole on one line so they can be searched for.
// clang-format off
// Most rows start with this chip so that line 1..3 are the same everywhere.
#define GPIO_CHIP "[[chip]]\nname = \"gpio0\"\npath = \"/dev/gpiochip0\"\n"
#define SIM_CHIP "[[chip]]\nname = \"sim0\"\nbackend = \"sim\"\nsim_num_lines = 8\n"

const BadFile bad_files[] = {
    // Unknown keys, with and without a suggestion.
    {"misspelt encoder key",
     GPIO_CHIP "[[encoder]]\nname = \"spindle\"\nchip = \"gpio0\"\na = 1\nb = 2\ncounts_per_perid = 4\n",
     "x.toml:9:1: encoder 'spindle': key 'counts_per_perid' is unknown; did you mean 'counts_per_period'?"},
    {"unknown key far from any",
     GPIO_CHIP "[[button]]\nname = \"b\"\nchip = \"gpio0\"\nline = 1\ncolour = \"red\"\n",
     "x.toml:8:1: button 'b': key 'colour' is unknown"},
    {"misspelt top-level table", "[deamon]\nrt_priority = 10\n",
     "x.toml:1:2: key 'deamon' is unknown; did you mean 'daemon'?"},
    {"plural top-level array", "[[encoders]]\nname = \"x\"\n",
     "x.toml:1:3: key 'encoders' is unknown; did you mean 'encoder'?"},
    {"abbreviated daemon key", "[daemon]\nrt_prio = 10\n",
     "x.toml:2:1: daemon: key 'rt_prio' is unknown; did you mean 'rt_priority'?"},
    {"misspelt name key gets the suggestion, not 'missing name'",
     GPIO_CHIP "[[button]]\nnmae = \"b\"\nchip = \"gpio0\"\nline = 1\n",
     "x.toml:5:1: button #1: key 'nmae' is unknown; did you mean 'name'?"},
    {"first unknown key in file order", "[daemon]\nzzz = 1\naaa = 2\n",
     "x.toml:2:1: daemon: key 'zzz' is unknown"},

    // Wrong types.
    {"string for an integer", "[daemon]\nrt_priority = \"high\"\n",
     "x.toml:2:15: daemon.rt_priority: expected an integer from 0 to 99, found a string"},
    {"float for an integer",
     GPIO_CHIP "[[button]]\nname = \"b\"\nchip = \"gpio0\"\nline = 1\ndebounce_ms = 2.5\n",
     "x.toml:8:15: button 'b'.debounce_ms: expected an integer from 0 to 10000, found a floating-point number"},
    {"boolean for a line",
     GPIO_CHIP "[[encoder]]\nname = \"knob\"\nchip = \"gpio0\"\na = true\nb = 2\n",
     "x.toml:7:5: encoder 'knob'.a: expected an integer line offset or a line name string, found a boolean"},
    {"integer for a boolean", "[daemon]\nmlock = 1\n",
     "x.toml:2:9: daemon.mlock: expected a boolean (true or false), found an integer"},
    {"integer for an enum", "[daemon]\nevent_log_format = 1\n",
     "x.toml:2:20: daemon.event_log_format: expected one of \"csv\", \"jsonl\", found an integer"},
    {"table instead of array of tables", "[encoder]\nname = \"x\"\n",
     "x.toml:1:1: encoder: expected an array of tables ([[encoder]]), found a table ([encoder])"},
    {"daemon as a value", "daemon = 3\n",
     "x.toml:1:10: daemon: expected a table ([daemon]), found an integer"},
    {"array element not a table", "poll = [1]\n",
     "x.toml:1:9: poll #1: expected a table, found an integer"},
    {"chip given as a number", GPIO_CHIP "[[counter]]\nname = \"c\"\nchip = 0\nline = 1\n",
     "x.toml:6:8: counter 'c'.chip: expected a non-empty string, found an integer"},

    // Values out of range or not among the choices.
    {"priority too high", "[daemon]\nrt_priority = 120\n",
     "x.toml:2:15: daemon.rt_priority: expected an integer from 0 to 99, found 120"},
    {"negative line offset", GPIO_CHIP "[[counter]]\nname = \"c\"\nchip = \"gpio0\"\nline = -1\n",
     "x.toml:7:8: counter 'c'.line: expected an integer line offset from 0 to 65535 or a line name string, found -1"},
    {"enum value with a suggestion",
     GPIO_CHIP "[[button]]\nname = \"b\"\nchip = \"gpio0\"\nline = 1\nbias = \"pullup\"\n",
     "x.toml:8:8: button 'b'.bias: expected one of \"as-is\", \"disabled\", \"pull-up\", \"pull-down\", found \"pullup\"; did you mean \"pull-up\"?"},
    {"underscore for hyphen in trigger",
     "[[imu]]\nname = \"i\"\ni2c_bus = \"sim\"\ntrigger = \"data_ready\"\n",
     "x.toml:4:11: imu 'i'.trigger: expected one of \"data-ready\", \"timer\", found \"data_ready\"; did you mean \"data-ready\"?"},
    {"ring capacity not a power of two", "[daemon]\nring_capacity = 5000\n",
     "x.toml:2:17: daemon.ring_capacity: expected a power of two from 1024 to 16777216, found 5000"},
    {"log buffer cap out of range", "[daemon]\nlog_buffer_max_mb = 0\n",
     "x.toml:2:21: daemon.log_buffer_max_mb: expected an integer from 1 to 1024, found 0"},
    {"loop priority not below the RT thread's", "[daemon]\nrt_priority = 50\nloop_priority = 50\n",
     "x.toml:3:17: daemon.loop_priority: expected a priority below rt_priority (50), found 50"},
    {"loop spin out of range", "[daemon]\nloop_spin_us = 5000\n",
     "x.toml:2:16: daemon.loop_spin_us: expected an integer from 0 to 1000, found 5000"},
    {"metrics textfile not a .prom file", "[metrics]\ntextfile = \"/var/lib/node_exporter/gpioirq.txt\"\n",
     "x.toml:2:12: metrics.textfile: expected a file name ending in \".prom\" (node_exporter's textfile collector reads only *.prom), found \"/var/lib/node_exporter/gpioirq.txt\""},
    {"metrics textfile named only .prom", "[metrics]\ntextfile = \"/tmp/.prom\"\n",
     "x.toml:2:12: metrics.textfile: expected a file name ending in \".prom\" (node_exporter's textfile collector reads only *.prom), found \"/tmp/.prom\""},
    {"metrics textfile interval out of range", "[metrics]\ntextfile = \"/tmp/g.prom\"\ntextfile_interval_ms = 10\n",
     "x.toml:3:24: metrics.textfile_interval_ms: expected an integer from 100 to 3600000, found 10"},
    {"misspelt metrics key", "[metrics]\ntextfle = \"/tmp/g.prom\"\n",
     "x.toml:2:1: metrics: key 'textfle' is unknown; did you mean 'textfile'?"},
    {"metrics as a value", "metrics = 1\n",
     "x.toml:1:11: metrics: expected a table ([metrics]), found an integer"},
    {"misspelt metrics table", "[metric]\ntextfile = \"/tmp/g.prom\"\n",
     "x.toml:1:2: key 'metric' is unknown; did you mean 'metrics'?"},
    {"counts per period not 1, 2 or 4",
     GPIO_CHIP "[[encoder]]\nname = \"k\"\nchip = \"gpio0\"\na = 1\nb = 2\ncounts_per_period = 3\n",
     "x.toml:9:21: encoder 'k'.counts_per_period: expected 1, 2 or 4, found 3"},
    {"detent_events not a boolean",
     GPIO_CHIP "[[encoder]]\nname = \"k\"\nchip = \"gpio0\"\na = 1\nb = 2\ndetent_events = 1\n",
     "x.toml:9:17: encoder 'k'.detent_events: expected a boolean (true or false), found an integer"},
    {"I2C address shown in hex",
     "[[imu]]\nname = \"i\"\ni2c_bus = \"/dev/i2c-1\"\ntrigger = \"timer\"\naddress = 0x80\n",
     "x.toml:5:11: imu 'i'.address: expected an integer from 0x8 to 0x77, found 0x80"},
    {"IMU rate the MPU-6050 cannot make",
     GPIO_CHIP "[[imu]]\nname = \"i\"\ni2c_bus = \"/dev/i2c-1\"\nchip = \"gpio0\"\ndata_ready = 4\nrate_hz = 300\n",
     "x.toml:9:11: imu 'i'.rate_hz: expected 1000 divided by a whole number from 1 to 256 (the MPU-6050's sample rates with dlpf = 1), found 300"},
    {"IMU block larger than its buffer",
     "[[imu]]\nname = \"i\"\ni2c_bus = \"sim\"\ntrigger = \"timer\"\nrate_hz = 100\nbuffer_ms = 100\nblock_records = 20\n",
     "x.toml:7:17: imu 'i'.block_records: expected at most 10 (the frames buffer_ms = 100 holds at rate_hz = 100), found 20"},
    {"IMU buffer too short for its rate",
     "[[imu]]\nname = \"i\"\ni2c_bus = \"sim\"\ntrigger = \"timer\"\nrate_hz = 50\nbuffer_ms = 20\n",
     "x.toml:6:13: imu 'i'.buffer_ms: expected at least 40 so that two frames fit at rate_hz = 50, found 20"},
    {"min not below max",
     GPIO_CHIP "[[encoder]]\nname = \"k\"\nchip = \"gpio0\"\na = 1\nb = 2\nmin = 10\nmax = 10\n",
     "x.toml:10:7: encoder 'k'.max: expected an integer greater than min (10), found 10"},
    {"wrap without both bounds",
     GPIO_CHIP "[[encoder]]\nname = \"k\"\nchip = \"gpio0\"\na = 1\nb = 2\nmax = 10\nmode = \"wrap\"\n",
     "x.toml:10:8: encoder 'k'.mode: \"wrap\" needs both 'min' and 'max'"},
    {"counter scale of zero",
     GPIO_CHIP "[[counter]]\nname = \"c\"\nchip = \"gpio0\"\nline = 1\nscale = 0\n",
     "x.toml:8:9: counter 'c'.scale: expected a non-zero number, found 0"},
    {"counter debounce out of range",
     GPIO_CHIP "[[counter]]\nname = \"c\"\nchip = \"gpio0\"\nline = 1\nmin_pulse_us = 2000000\n",
     "x.toml:8:16: counter 'c'.min_pulse_us: expected an integer from 0 to 1000000, found 2000000"},
    {"counter debounce with both edges",
     GPIO_CHIP "[[counter]]\nname = \"c\"\nchip = \"gpio0\"\nline = 1\nedge = \"both\"\nmin_pulse_us = 500\n",
     "x.toml:9:16: counter 'c'.min_pulse_us: expected edge = \"rising\" or \"falling\" with a debounce (a pulse is timed from its edge to the opposite one), found edge = \"both\""},
    {"counter device class not lowercase",
     GPIO_CHIP "[[counter]]\nname = \"c\"\nchip = \"gpio0\"\nline = 1\ndevice_class = \"Water\"\n",
     "x.toml:8:16: counter 'c'.device_class: expected a Home Assistant device class: at most 32 of a-z and _ (\"water\", \"gas\", \"energy\"), found \"Water\""},
    {"state save interval too short", "[daemon]\nstate_save_interval_ms = 10\n",
     "x.toml:2:26: daemon.state_save_interval_ms: expected an integer from 100 to 86400000, found 10"},
    {"state_dir not a string", "[daemon]\nstate_dir = 3\n",
     "x.toml:2:13: daemon.state_dir: expected a non-empty string, found an integer"},
    {"not-a-number rate",
     SIM_CHIP "[[counter]]\nname = \"c\"\nchip = \"sim0\"\nline = 1\nsim_rate_hz = nan\n",
     "x.toml:9:15: counter 'c'.sim_rate_hz: expected a number from 0 to 1e+07, found nan"},
    {"socket path too long for a UNIX address",
     "[daemon]\nsocket_path = \"/run/gpioirqd/a-very-long-directory-name/a-very-long-directory-name/a-very-long-directory-name/control-x.sock\"\n",
     "x.toml:2:15: daemon.socket_path: expected a path of at most 107 bytes (the limit of a UNIX socket address), found 109 bytes in /run/gpioirqd/a-very-long-directory-name/a-very-long-directory-name/a-very-long-directory-name/control-x.sock"},
    {"name with a space",
     GPIO_CHIP "[[button]]\nname = \"my button\"\nchip = \"gpio0\"\nline = 1\n",
     "x.toml:5:8: button #1.name: expected a name of 1 to 64 letters, digits, '_', '-' or '.', found \"my button\""},
    // A name is a file name in log_dir (an IMU's NAME.imu): no path steps, no hidden files.
    {"name with a slash (a path out of log_dir)",
     "[[imu]]\nname = \"../../etc/x\"\ni2c_bus = \"sim\"\ntrigger = \"timer\"\n",
     "x.toml:2:8: imu #1.name: expected a name of 1 to 64 letters, digits, '_', '-' or '.', found \"../../etc/x\""},
    {"name that is '..'",
     "[[imu]]\nname = \"..\"\ni2c_bus = \"sim\"\ntrigger = \"timer\"\n",
     "x.toml:2:8: imu #1.name: expected a name that neither begins with '.' nor holds '..' (names become file names in log_dir), found \"..\""},
    {"name holding '..'",
     GPIO_CHIP "[[button]]\nname = \"a..b\"\nchip = \"gpio0\"\nline = 1\n",
     "x.toml:5:8: button #1.name: expected a name that neither begins with '.' nor holds '..' (names become file names in log_dir), found \"a..b\""},
    {"name of a hidden file",
     "[[imu]]\nname = \".imu0\"\ni2c_bus = \"sim\"\ntrigger = \"timer\"\n",
     "x.toml:2:8: imu #1.name: expected a name that neither begins with '.' nor holds '..' (names become file names in log_dir), found \".imu0\""},

    // Names and lines used twice, chips that do not exist.
    {"duplicate name across device kinds",
     GPIO_CHIP "[[encoder]]\nname = \"knob\"\nchip = \"gpio0\"\na = 1\nb = 2\n[[button]]\nname = \"knob\"\nchip = \"gpio0\"\nline = 3\n",
     "x.toml:10:8: button 'knob'.name: duplicate name 'knob' (first defined at x.toml:4:1 as an encoder)"},
    {"duplicate chip name", GPIO_CHIP "[[chip]]\nname = \"gpio0\"\npath = \"/dev/gpiochip1\"\n",
     "x.toml:5:8: chip 'gpio0'.name: duplicate chip name 'gpio0' (first defined at x.toml:1:1)"},
    {"two chips on one device", GPIO_CHIP "[[chip]]\nname = \"again\"\npath = \"/dev/gpiochip0\"\n",
     "x.toml:6:8: chip 'again'.path: \"/dev/gpiochip0\" is already chip 'gpio0' (at x.toml:1:1)"},
    {"same line offset in two devices",
     GPIO_CHIP "[[encoder]]\nname = \"knob\"\nchip = \"gpio0\"\na = 1\nb = 2\n[[counter]]\nname = \"flow\"\nchip = \"gpio0\"\nline = 2\n",
     "x.toml:12:8: counter 'flow'.line: line 2 of chip 'gpio0' is already used by encoder 'knob'.b (at x.toml:8:5)"},
    {"same line name in two devices",
     GPIO_CHIP "[[button]]\nname = \"b1\"\nchip = \"gpio0\"\nline = \"GPIO17\"\n[[button]]\nname = \"b2\"\nchip = \"gpio0\"\nline = \"GPIO17\"\n",
     "x.toml:11:8: button 'b2'.line: line \"GPIO17\" of chip 'gpio0' is already used by button 'b1'.line (at x.toml:7:8)"},
    {"encoder with both phases on one line",
     GPIO_CHIP "[[encoder]]\nname = \"k\"\nchip = \"gpio0\"\na = 3\nb = 3\n",
     "x.toml:8:5: encoder 'k'.b: line 3 of chip 'gpio0' is already used by encoder 'k'.a (at x.toml:7:5)"},
    {"chip not defined, with a suggestion",
     GPIO_CHIP "[[button]]\nname = \"b\"\nchip = \"gpio1\"\nline = 1\n",
     "x.toml:6:8: button 'b'.chip: chip 'gpio1' is not defined; did you mean 'gpio0'?"},
    {"chip not defined, no chips at all", "[[button]]\nname = \"b\"\nchip = \"gpio0\"\nline = 1\n",
     "x.toml:3:8: button 'b'.chip: chip 'gpio0' is not defined (the file has no [[chip]])"},

    // Missing keys.
    {"encoder without its b line",
     GPIO_CHIP "[[encoder]]\nname = \"knob\"\nchip = \"gpio0\"\na = 1\n",
     "x.toml:4:1: encoder 'knob': missing required key 'b'"},
    {"device without a name", "[[poll]]\npath = \"/proc/loadavg\"\n",
     "x.toml:1:1: poll #1: missing required key 'name'"},
    {"poll without a path", "[[poll]]\nname = \"p\"\n",
     "x.toml:1:1: poll 'p': missing required key 'path'"},
    {"data-ready IMU without its line",
     GPIO_CHIP "[[imu]]\nname = \"i\"\ni2c_bus = \"/dev/i2c-1\"\nchip = \"gpio0\"\n",
     "x.toml:4:1: imu 'i': missing required key 'data_ready' (trigger = \"data-ready\" needs the line wired to the IMU's INT pin)"},
    {"gpiod chip with neither path nor label", "[[chip]]\nname = \"c\"\n",
     "x.toml:1:1: chip 'c': a gpiod chip needs 'path' (such as \"/dev/gpiochip0\") or 'label'"},

    // Keys that make no sense in their situation.
    {"gpiod chip with both path and label",
     "[[chip]]\nname = \"c\"\npath = \"/dev/gpiochip0\"\nlabel = \"pinctrl-bcm2711\"\n",
     "x.toml:4:9: chip 'c'.label: give either 'path' or 'label', not both"},
    {"sim chip with a path",
     "[[chip]]\nname = \"s\"\nbackend = \"sim\"\npath = \"/dev/gpiochip0\"\n",
     "x.toml:4:8: chip 's'.path: applies only to gpiod chips; a sim chip has no device"},
    {"sim_num_lines on a gpiod chip",
     "[[chip]]\nname = \"c\"\npath = \"/dev/gpiochip0\"\nsim_num_lines = 8\n",
     "x.toml:4:17: chip 'c'.sim_num_lines: applies only to sim chips (backend = \"sim\")"},
    {"sim rate on a gpiod chip",
     GPIO_CHIP "[[encoder]]\nname = \"k\"\nchip = \"gpio0\"\na = 1\nb = 2\nsim_rate_hz = 1000\n",
     "x.toml:9:15: encoder 'k'.sim_rate_hz: applies only to devices on a sim chip, and chip 'gpio0' has backend \"gpiod\""},
    {"offset beyond a sim chip", SIM_CHIP "[[button]]\nname = \"b\"\nchip = \"sim0\"\nline = 8\n",
     "x.toml:8:8: button 'b'.line: expected a line offset from 0 to 7 (sim chip 'sim0' has 8 lines), found 8"},
    {"line name on a sim chip",
     SIM_CHIP "[[button]]\nname = \"b\"\nchip = \"sim0\"\nline = \"GPIO4\"\n",
     "x.toml:8:8: button 'b'.line: expected a line offset from 0 to 7, found a string (lines of sim chip 'sim0' have no names)"},
    {"kernel debounce on a sim chip",
     SIM_CHIP "[[button]]\nname = \"b\"\nchip = \"sim0\"\nline = 1\nkernel_debounce_us = 100\n",
     "x.toml:9:22: button 'b'.kernel_debounce_us: needs a gpiod chip; the sim backend has no kernel debounce"},
    {"long press on a switch",
     GPIO_CHIP "[[button]]\nname = \"b\"\nchip = \"gpio0\"\nline = 1\nkind = \"switch\"\nlong_press_ms = 500\n",
     "x.toml:9:17: button 'b'.long_press_ms: applies only to kind = \"button\"; a switch reports open and close"},
    {"timer IMU with a data-ready line",
     GPIO_CHIP "[[imu]]\nname = \"i\"\ni2c_bus = \"/dev/i2c-1\"\ntrigger = \"timer\"\nchip = \"gpio0\"\ndata_ready = 4\n",
     "x.toml:9:14: imu 'i'.data_ready: applies only with trigger = \"data-ready\"; a timer-triggered IMU has no line"},
    {"I2C bus that is not /dev/i2c-N",
     "[[imu]]\nname = \"i\"\ni2c_bus = \"i2c-1\"\ntrigger = \"timer\"\n",
     "x.toml:3:11: imu 'i'.i2c_bus: expected \"/dev/i2c-N\" or \"sim\", found \"i2c-1\""},
    {"simulated IMU on a real data-ready line",
     GPIO_CHIP "[[imu]]\nname = \"i\"\ni2c_bus = \"sim\"\nchip = \"gpio0\"\ndata_ready = 4\n",
     "x.toml:6:11: imu 'i'.i2c_bus: \"sim\" (a simulated IMU) needs its data_ready line on a sim chip, and chip 'gpio0' has backend \"gpiod\""},
    {"real I2C bus with a simulated data-ready line",
     SIM_CHIP "[[imu]]\nname = \"i\"\ni2c_bus = \"/dev/i2c-1\"\nchip = \"sim0\"\ndata_ready = 4\n",
     "x.toml:7:11: imu 'i'.i2c_bus: expected \"sim\": the data_ready line is on sim chip 'sim0', found \"/dev/i2c-1\""},

    // TOML syntax errors, as toml++ describes them, at its place.
    {"value missing", "[daemon]\nrt_priority =\n",
     "x.toml:2:14: TOML syntax error while parsing key-value pair: expected value, saw '\\n'"},
    {"key given twice", "[daemon]\ncpu = 1\ncpu = 2\n",
     "x.toml:3:7: TOML syntax error while parsing key-value pair: cannot redefine existing integer 'cpu'"},
    {"unterminated string", "[daemon]\nlog_dir = \"/var/log\n",
     "x.toml:2:20: TOML syntax error while parsing string: unescaped control characters other than TAB (U+0009) are explicitly prohibited"},

    // Line breaks and control characters from the file are escaped: the message stays one
    // line (found by tests/fuzz/fuzz_config; regressions/fuzz_config/).
    {"toml++ quoting a line break it read", "[daemon]\nmlock = fal\n",
     "x.toml:2:12: TOML syntax error while parsing boolean: expected 'false', saw 'fal\\n'"},
    {"a line break and a control character in an unknown key", "[daemon]\n\"a\\nb\\u0001\" = 1\n",
     "x.toml:2:1: daemon: key 'a\\nb\\x01' is unknown"},
};
// clang-format on

}  // namespace

TEST_CASE("every bad file gets its exact one-line message", "[config][errors]") {
  for (const BadFile& bad : bad_files) {
    INFO(bad.what);
    INFO(bad.text);
    const std::string message = error_of(bad.text);
    CHECK(message == bad.message);
    CHECK(message.find('\n') == std::string::npos);
  }
}

TEST_CASE("an unreadable file names the file and the system's reason", "[config][errors]") {
  std::string message;
  try {
    (void)gpioirq::kinds::load_config("/nonexistent/gpioirqd.toml");
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message == "/nonexistent/gpioirqd.toml: cannot read: No such file or directory");

  message.clear();
  try {
    (void)gpioirq::kinds::load_config("/");
  } catch (const ConfigError& e) {
    message = e.what();
  }
  CHECK(message == "/: cannot read: Is a directory");
}

TEST_CASE("a config error is a runtime_error and carries EX_CONFIG", "[config][errors]") {
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, ConfigError>);
  STATIC_REQUIRE(gpioirq::config::config_error_exit_code == 78);
}
