#include "config/loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <map>
#include <system_error>
#include <vector>

#include <toml++/toml.h>

#include "config/nearest_name.hpp"
#include "config/table_reader.hpp"
#include "core/unique_fd.hpp"

namespace gpioirq::config {

namespace {

namespace fs = std::filesystem;

// Key lists double as the "did you mean" candidates, so keep them complete and in the order
// of docs/CONFIGURATION.md.
constexpr std::string_view top_keys[] = {"daemon",  "chip", "encoder", "button",
                                         "counter", "imu",  "poll"};
constexpr std::string_view daemon_keys[] = {
    "log_dir",   "socket_path",       "socket_group",         "rt_priority", "cpu",
    "mlock",     "flush_interval_ms", "rotate_size_mb",       "rotate_keep", "event_log_format",
    "log_edges", "ring_capacity",     "time_sync_interval_ms", "log_buffer_max_mb",
    "loop_priority", "loop_spin_us"};
constexpr std::string_view chip_keys[] = {"name", "backend", "path", "label", "sim_num_lines"};
constexpr std::string_view encoder_keys[] = {
    "name", "chip", "a",   "b",    "bias",       "active_low", "clock", "counts_per_period",
    "div",  "min",  "max", "mode", "sim_rate_hz"};
constexpr std::string_view button_keys[] = {"name",
                                            "chip",
                                            "line",
                                            "bias",
                                            "active_low",
                                            "clock",
                                            "kind",
                                            "debounce_ms",
                                            "kernel_debounce_us",
                                            "long_press_ms",
                                            "double_click_ms",
                                            "sim_rate_hz"};
constexpr std::string_view counter_keys[] = {"name",       "chip",  "line",       "bias",
                                             "active_low", "clock", "edge",       "window_ms",
                                             "scale",      "unit",  "sim_rate_hz"};
constexpr std::string_view imu_keys[] = {
    "name",          "driver", "i2c_bus",       "address",        "trigger", "chip",
    "data_ready",    "bias",   "active_low",    "clock",          "rate_hz", "buffer_ms",
    "block_records", "format", "accel_range_g", "gyro_range_dps", "dlpf"};
constexpr std::string_view poll_keys[] = {"name", "path", "interval_ms", "scale", "offset", "unit"};

constexpr std::string_view backend_names[] = {"gpiod", "sim"};
constexpr Backend backend_values[] = {Backend::gpiod, Backend::sim};
constexpr std::string_view bias_names[] = {"as-is", "disabled", "pull-up", "pull-down"};
constexpr Bias bias_values[] = {Bias::as_is, Bias::disabled, Bias::pull_up, Bias::pull_down};
constexpr std::string_view clock_names[] = {"monotonic", "realtime", "hte"};
constexpr EventClock clock_values[] = {EventClock::monotonic, EventClock::realtime,
                                       EventClock::hte};
constexpr std::string_view edge_names[] = {"rising", "falling", "both"};
constexpr EdgeKind edge_values[] = {EdgeKind::rising, EdgeKind::falling, EdgeKind::both};
constexpr std::string_view format_names[] = {"csv", "jsonl"};
constexpr LogFormat format_values[] = {LogFormat::csv, LogFormat::jsonl};
constexpr std::string_view mode_names[] = {"wrap", "clamp"};
constexpr RangeMode mode_values[] = {RangeMode::wrap, RangeMode::clamp};
constexpr std::string_view kind_names[] = {"button", "switch"};
constexpr ButtonKind kind_values[] = {ButtonKind::button, ButtonKind::switch_};
constexpr std::string_view trigger_names[] = {"data-ready", "timer"};
constexpr ImuTrigger trigger_values[] = {ImuTrigger::data_ready, ImuTrigger::timer};
constexpr std::string_view imu_format_names[] = {"seed", "extended"};
constexpr ImuFormat imu_format_values[] = {ImuFormat::seed, ImuFormat::extended};
constexpr std::string_view driver_names[] = {"mpu6050"};
constexpr int driver_values[] = {0};

constexpr std::int64_t counts_per_period_values[] = {1, 2, 4};
constexpr std::int64_t accel_range_values[] = {2, 4, 8, 16};
constexpr std::int64_t gyro_range_values[] = {250, 500, 1000, 2000};

// sockaddr_un::sun_path is 108 bytes including the terminating NUL.
constexpr std::size_t max_socket_path = 107;
// gpiolib keeps a chip's line count in a u16.
constexpr std::int64_t max_line_offset = 65535;
// GPIO_MAX_NAME_SIZE is 32 including the NUL.
constexpr std::size_t max_line_name = 31;
constexpr std::size_t max_name = 64;
// Loose "finite and sane" bounds for scale factors and offsets.
constexpr double max_magnitude = 1e12;
constexpr std::size_t max_file_size = 4u << 20;

std::string single_quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}
std::string double_quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string line_text(const std::variant<std::uint32_t, std::string>& line) {
  if (const auto* offset = std::get_if<std::uint32_t>(&line)) return std::to_string(*offset);
  return double_quoted(std::get<std::string>(line));
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool valid_i2c_bus(std::string_view bus) {
  constexpr std::string_view prefix = "/dev/i2c-";
  if (!bus.starts_with(prefix) || bus.size() == prefix.size()) return false;
  for (char c : bus.substr(prefix.size()))
    if (c < '0' || c > '9') return false;
  return true;
}

std::string syntax_message(const toml::parse_error& e, std::string_view file_name) {
  SourcePlace place = place_from(e.source(), file_name);
  std::string description(e.description());
  constexpr std::string_view error_while = "Error while ";
  if (description.starts_with(error_while))
    description = "TOML syntax error while " + description.substr(error_while.size());
  else
    description = "TOML syntax error: " + description;
  return format_place(place) + ": " + description;
}

struct NameUse {
  std::string what;  // "an encoder"
  SourcePlace place;
};

struct LineUse {
  std::string chip;
  std::variant<std::uint32_t, std::string> line;
  std::string user;  // "encoder 'knob'.a"
  SourcePlace place;
};

class Loader {
 public:
  explicit Loader(std::string_view file_name)
      : file_(file_name),
        config_file_(fs::absolute(fs::path(file_name)).lexically_normal()),
        base_dir_(config_file_.parent_path()) {}

  Config run(const toml::table& root) {
    config_.file = config_file_.string();
    TableReader top(root, file_, "");
    top.reject_unknown_keys(top_keys);
    read_daemon(root);
    each_table(root, "chip", [&](const toml::table& t, std::size_t i) { read_chip(t, i); });
    each_table(root, "encoder", [&](const toml::table& t, std::size_t i) { read_encoder(t, i); });
    each_table(root, "button", [&](const toml::table& t, std::size_t i) { read_button(t, i); });
    each_table(root, "counter", [&](const toml::table& t, std::size_t i) { read_counter(t, i); });
    each_table(root, "imu", [&](const toml::table& t, std::size_t i) { read_imu(t, i); });
    each_table(root, "poll", [&](const toml::table& t, std::size_t i) { read_poll(t, i); });
    return std::move(config_);
  }

 private:
  template <typename F>
  void each_table(const toml::table& root, std::string_view kind, F&& read) {
    const toml::node* n = root.get(kind);
    if (!n) return;
    const std::string k(kind);
    const toml::array* array = n->as_array();
    if (!array) {
      std::string found(type_phrase(n->type()));
      if (n->is_table()) found += " ([" + k + "])";
      throw ConfigError(format_place(place_from(n->source(), file_)) + ": " + k +
                        ": expected an array of tables ([[" + k + "]]), found " + found);
    }
    std::size_t index = 0;
    for (const toml::node& element : *array) {
      ++index;
      const toml::table* table = element.as_table();
      if (!table)
        throw ConfigError(format_place(place_from(element.source(), file_)) + ": " + k + " #" +
                          std::to_string(index) + ": expected a table, found " +
                          std::string(type_phrase(element.type())));
      read(*table, index);
    }
  }

  std::string resolve(const std::string& path) const {
    fs::path p(path);
    if (p.is_relative()) p = base_dir_ / p;
    p = p.lexically_normal();
    if (!p.has_filename() && p != p.root_path()) p = p.parent_path();
    return p.string();
  }

  std::optional<std::string> path_key(const TableReader& r, std::string_view key) const {
    if (auto s = r.string(key)) return resolve(*s);
    return std::nullopt;
  }

  // Reads 'name' early so that every later message can say which table it is about, then
  // refuses unknown keys (before "missing 'name'", so a misspelt 'nmae' gets its suggestion).
  std::string read_name(TableReader& r, std::span<const std::string_view> keys) {
    const std::string kind = r.subject().substr(0, r.subject().find(' '));
    if (const toml::node* n = r.get("name"); n && n->is_string()) {
      const std::string& name = n->as_string()->get();
      if (!valid_name(name))
        r.fail("name", "expected a name of 1 to " + std::to_string(max_name) +
                           " letters, digits, '_', '-' or '.', found " + double_quoted(name));
      // A name becomes a file name in log_dir (an IMU's NAME.imu): no hidden files, no
      // "." or "..", nothing that reads as a path step.
      if (name.front() == '.' || name.find("..") != std::string::npos)
        r.fail("name",
               "expected a name that neither begins with '.' nor holds '..' (names become file "
               "names in log_dir), found " +
                   double_quoted(name));
      r.set_subject(kind + " " + single_quoted(name));
    }
    r.reject_unknown_keys(keys);
    r.require("name");
    return *r.string("name");
  }

  // Device names share one namespace: they name streams in status, monitor and file names.
  void register_device(const TableReader& r, const std::string& name, std::string what) {
    SourcePlace place = r.place();
    auto [it, inserted] = names_.try_emplace(name, NameUse{std::move(what), place});
    if (!inserted)
      r.fail("name", "duplicate name " + single_quoted(name) + " (first defined at " +
                         format_place(it->second.place) + " as " + it->second.what + ")");
  }

  const ChipConfig& read_chip_ref(const TableReader& r) {
    const std::string name = *r.string("chip");
    for (const ChipConfig& chip : config_.chips)
      if (chip.name == name) return chip;
    if (config_.chips.empty())
      r.fail("chip", "chip " + single_quoted(name) + " is not defined (the file has no [[chip]])");
    std::vector<std::string_view> chip_names;
    for (const ChipConfig& chip : config_.chips) chip_names.push_back(chip.name);
    std::string problem = "chip " + single_quoted(name) + " is not defined";
    if (auto near = nearest_name(name, chip_names))
      problem += "; did you mean " + single_quoted(*near) + "?";
    r.fail("chip", problem);
  }

  LineRef read_line(const TableReader& r, std::string_view key, const ChipConfig& chip) {
    const toml::node* n = r.get(key);
    LineRef ref{chip.name, std::uint32_t{0}, r.place_of(key)};
    const bool sim = chip.backend == Backend::sim;
    const std::int64_t last =
        sim ? static_cast<std::int64_t>(chip.sim_num_lines) - 1 : max_line_offset;
    if (const auto* offset = n->as_integer()) {
      const std::int64_t v = offset->get();
      if (v < 0 || v > last) {
        if (sim)
          r.fail(key, "expected a line offset from 0 to " + std::to_string(last) + " (sim chip " +
                          single_quoted(chip.name) + " has " + std::to_string(chip.sim_num_lines) +
                          " lines), found " + std::to_string(v));
        r.fail(key, "expected an integer line offset from 0 to " + std::to_string(last) +
                        " or a line name string, found " + std::to_string(v));
      }
      ref.line = static_cast<std::uint32_t>(v);
    } else if (const auto* name = n->as_string()) {
      if (sim)
        r.fail(key, "expected a line offset from 0 to " + std::to_string(last) +
                        ", found a string (lines of sim chip " + single_quoted(chip.name) +
                        " have no names)");
      const std::string& s = name->get();
      if (s.empty() || s.size() > max_line_name)
        r.fail(key, "expected a line name of 1 to " + std::to_string(max_line_name) +
                        " characters, found " + double_quoted(s));
      ref.line = s;
    } else {
      r.fail(key, "expected an integer line offset or a line name string, found " +
                      std::string(type_phrase(n->type())));
    }
    const std::string user = r.subject() + "." + std::string(key);
    for (const LineUse& use : lines_)
      if (use.chip == ref.chip && use.line == ref.line)
        r.fail(key, "line " + line_text(ref.line) + " of chip " + single_quoted(ref.chip) +
                        " is already used by " + use.user + " (at " + format_place(use.place) +
                        ")");
    lines_.push_back(LineUse{ref.chip, ref.line, user, ref.place});
    return ref;
  }

  LineSettings read_line_settings(const TableReader& r) {
    LineSettings s;
    assign(s.bias, r.choice("bias", bias_names, bias_values));
    assign(s.active_low, r.boolean("active_low"));
    assign(s.clock, r.choice("clock", clock_names, clock_values));
    return s;
  }

  void read_sim_rate(const TableReader& r, const ChipConfig& chip, double& rate, double max) {
    if (chip.backend != Backend::sim)
      r.forbid("sim_rate_hz", "applies only to devices on a sim chip, and chip " +
                                  single_quoted(chip.name) + " has backend \"gpiod\"");
    assign(rate, r.number("sim_rate_hz", 0, max));
  }

  void read_daemon(const toml::table& root) {
    const toml::node* n = root.get("daemon");
    if (!n) return;
    const toml::table* t = n->as_table();
    if (!t)
      throw ConfigError(format_place(place_from(n->source(), file_)) +
                        ": daemon: expected a table ([daemon]), found " +
                        std::string(type_phrase(n->type())));
    TableReader r(*t, file_, "daemon");
    r.reject_unknown_keys(daemon_keys);
    DaemonConfig& d = config_.daemon;
    assign(d.log_dir, path_key(r, "log_dir"));
    if (auto socket = path_key(r, "socket_path")) {
      if (socket->size() > max_socket_path)
        r.fail("socket_path", "expected a path of at most " + std::to_string(max_socket_path) +
                                  " bytes (the limit of a UNIX socket address), found " +
                                  std::to_string(socket->size()) + " bytes in " + *socket);
      d.socket_path = *socket;
    }
    assign(d.socket_group, r.string("socket_group", true));
    assign(d.rt_priority, r.integer("rt_priority", 0, 99));
    assign(d.cpu, r.integer("cpu", -1, 1023));
    assign(d.mlock, r.boolean("mlock"));
    assign(d.flush_interval_ms, r.integer("flush_interval_ms", 1, 3'600'000));
    if (auto mb = r.integer("rotate_size_mb", 1, 65536))
      d.rotate_size_bytes = static_cast<std::uint64_t>(*mb) << 20;
    assign(d.rotate_keep, r.integer("rotate_keep", 0, 1000));
    assign(d.event_log_format, r.choice("event_log_format", format_names, format_values));
    assign(d.log_edges, r.boolean("log_edges"));
    if (const toml::node* ring = r.get("ring_capacity")) {
      constexpr std::int64_t lo = 1024, hi = 1 << 24;
      const std::string expected = "expected a power of two from 1024 to 16777216";
      const auto* v = ring->as_integer();
      if (!v)
        r.fail("ring_capacity", expected + ", found " + std::string(type_phrase(ring->type())));
      const std::int64_t value = v->get();
      if (value < lo || value > hi || (value & (value - 1)) != 0)
        r.fail("ring_capacity", expected + ", found " + std::to_string(value));
      d.ring_capacity = static_cast<std::uint32_t>(value);
    }
    assign(d.time_sync_interval_ms, r.integer("time_sync_interval_ms", 100, 86'400'000));
    if (auto mb = r.integer("log_buffer_max_mb", 1, 1024))
      d.log_buffer_max_bytes = static_cast<std::uint64_t>(*mb) << 20;
    assign(d.loop_priority, r.integer("loop_priority", 0, 98));
    // The RT thread must be able to preempt the loop: that is the design's whole point.
    if (d.loop_priority > 0 && d.rt_priority > 0 && d.loop_priority >= d.rt_priority)
      r.fail("loop_priority", "expected a priority below rt_priority (" + std::to_string(d.rt_priority) +
                                  "), found " + std::to_string(d.loop_priority));
    assign(d.loop_spin_us, r.integer("loop_spin_us", 0, 1000));
  }

  void read_chip(const toml::table& t, std::size_t index) {
    TableReader r(t, file_, "chip #" + std::to_string(index));
    ChipConfig chip;
    chip.name = read_name(r, chip_keys);
    chip.place = r.place();
    for (const ChipConfig& other : config_.chips)
      if (other.name == chip.name)
        r.fail("name", "duplicate chip name " + single_quoted(chip.name) + " (first defined at " +
                           format_place(other.place) + ")");
    assign(chip.backend, r.choice("backend", backend_names, backend_values));
    if (chip.backend == Backend::gpiod) {
      r.forbid("sim_num_lines", "applies only to sim chips (backend = \"sim\")");
      if (r.has("path") && r.has("label"))
        r.fail("label", "give either 'path' or 'label', not both");
      if (!r.has("path") && !r.has("label"))
        r.fail_table("a gpiod chip needs 'path' (such as \"/dev/gpiochip0\") or 'label'");
      assign(chip.path, path_key(r, "path"));
      assign(chip.label, r.string("label"));
      for (const ChipConfig& other : config_.chips) {
        if (other.backend != Backend::gpiod) continue;
        if (!chip.path.empty() && other.path == chip.path)
          r.fail("path", double_quoted(chip.path) + " is already chip " +
                             single_quoted(other.name) + " (at " + format_place(other.place) + ")");
        if (!chip.label.empty() && other.label == chip.label)
          r.fail("label", "label " + double_quoted(chip.label) + " is already chip " +
                              single_quoted(other.name) + " (at " + format_place(other.place) +
                              ")");
      }
    } else {
      const std::string reason = "applies only to gpiod chips; a sim chip has no device";
      r.forbid("path", reason);
      r.forbid("label", reason);
      assign(chip.sim_num_lines, r.integer("sim_num_lines", 1, 4096));
    }
    config_.chips.push_back(std::move(chip));
  }

  void read_encoder(const toml::table& t, std::size_t index) {
    TableReader r(t, file_, "encoder #" + std::to_string(index));
    EncoderConfig e;
    e.name = read_name(r, encoder_keys);
    e.place = r.place();
    register_device(r, e.name, "an encoder");
    r.require("chip");
    r.require("a");
    r.require("b");
    const ChipConfig& chip = read_chip_ref(r);
    e.a = read_line(r, "a", chip);
    e.b = read_line(r, "b", chip);
    e.line = read_line_settings(r);
    assign(e.counts_per_period, r.integer_one_of("counts_per_period", counts_per_period_values));
    assign(e.div, r.integer("div", 1, 1'000'000));
    constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min();
    constexpr std::int64_t hi = std::numeric_limits<std::int64_t>::max();
    e.min = r.integer("min", lo, hi);
    e.max = r.integer("max", lo, hi);
    if (e.min && e.max && *e.min >= *e.max)
      r.fail("max", "expected an integer greater than min (" + std::to_string(*e.min) +
                        "), found " + std::to_string(*e.max));
    assign(e.mode, r.choice("mode", mode_names, mode_values));
    if (e.mode == RangeMode::wrap && !(e.min && e.max))
      r.fail("mode", "\"wrap\" needs both 'min' and 'max'");
    read_sim_rate(r, chip, e.sim_rate_hz, 10'000'000);
    config_.encoders.push_back(std::move(e));
  }

  void read_button(const toml::table& t, std::size_t index) {
    TableReader r(t, file_, "button #" + std::to_string(index));
    ButtonConfig b;
    b.name = read_name(r, button_keys);
    b.place = r.place();
    register_device(r, b.name, "a button");
    r.require("chip");
    r.require("line");
    const ChipConfig& chip = read_chip_ref(r);
    b.line = read_line(r, "line", chip);
    b.settings = read_line_settings(r);
    assign(b.kind, r.choice("kind", kind_names, kind_values));
    assign(b.debounce_ms, r.integer("debounce_ms", 0, 10'000));
    if (chip.backend == Backend::sim)
      r.forbid("kernel_debounce_us", "needs a gpiod chip; the sim backend has no kernel debounce");
    assign(b.kernel_debounce_us, r.integer("kernel_debounce_us", 0, 1'000'000));
    if (b.kind == ButtonKind::switch_) {
      const std::string reason =
          "applies only to kind = \"button\"; a switch reports open and close";
      r.forbid("long_press_ms", reason);
      r.forbid("double_click_ms", reason);
    }
    assign(b.long_press_ms, r.integer("long_press_ms", 10, 600'000));
    assign(b.double_click_ms, r.integer("double_click_ms", 0, 10'000));
    read_sim_rate(r, chip, b.sim_rate_hz, 1000);
    config_.buttons.push_back(std::move(b));
  }

  void read_counter(const toml::table& t, std::size_t index) {
    TableReader r(t, file_, "counter #" + std::to_string(index));
    CounterConfig c;
    c.name = read_name(r, counter_keys);
    c.place = r.place();
    register_device(r, c.name, "a counter");
    r.require("chip");
    r.require("line");
    const ChipConfig& chip = read_chip_ref(r);
    c.line = read_line(r, "line", chip);
    c.settings = read_line_settings(r);
    assign(c.edge, r.choice("edge", edge_names, edge_values));
    assign(c.window_ms, r.integer("window_ms", 10, 3'600'000));
    if (auto scale = r.number("scale", -max_magnitude, max_magnitude)) {
      if (*scale == 0) r.fail("scale", "expected a non-zero number, found 0");
      c.scale = *scale;
    }
    assign(c.unit, r.string("unit", true));
    read_sim_rate(r, chip, c.sim_rate_hz, 10'000'000);
    config_.counters.push_back(std::move(c));
  }

  void read_imu(const toml::table& t, std::size_t index) {
    TableReader r(t, file_, "imu #" + std::to_string(index));
    ImuConfig m;
    m.name = read_name(r, imu_keys);
    m.place = r.place();
    register_device(r, m.name, "an IMU");
    r.require("i2c_bus");
    r.choice("driver", driver_names, driver_values);
    assign(m.trigger, r.choice("trigger", trigger_names, trigger_values));
    const ChipConfig* chip = nullptr;
    if (m.trigger == ImuTrigger::data_ready) {
      r.require("data_ready",
                " (trigger = \"data-ready\" needs the line wired to the IMU's INT pin)");
      r.require("chip");
      chip = &read_chip_ref(r);
      m.data_ready = read_line(r, "data_ready", *chip);
      m.settings = read_line_settings(r);
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
                                    " holds at rate_hz = " + std::to_string(m.rate_hz) +
                                    "), found " + std::to_string(*block));
      m.block_records = static_cast<std::uint32_t>(*block);
    } else {
      m.block_records =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(m.block_records, buffered / 2));
    }
    assign(m.format, r.choice("format", imu_format_names, imu_format_values));
    assign(m.accel_range_g, r.integer_one_of("accel_range_g", accel_range_values));
    assign(m.gyro_range_dps, r.integer_one_of("gyro_range_dps", gyro_range_values));
    config_.imus.push_back(std::move(m));
  }

  void read_poll(const toml::table& t, std::size_t index) {
    TableReader r(t, file_, "poll #" + std::to_string(index));
    PollConfig p;
    p.name = read_name(r, poll_keys);
    p.place = r.place();
    register_device(r, p.name, "a poll source");
    r.require("path");
    p.path = *path_key(r, "path");
    assign(p.interval_ms, r.integer("interval_ms", 10, 86'400'000));
    assign(p.scale, r.number("scale", -max_magnitude, max_magnitude));
    assign(p.offset, r.number("offset", -max_magnitude, max_magnitude));
    assign(p.unit, r.string("unit", true));
    config_.polls.push_back(std::move(p));
  }

  std::string file_;
  fs::path config_file_;
  fs::path base_dir_;
  Config config_;
  std::map<std::string, NameUse, std::less<>> names_;
  std::vector<LineUse> lines_;
};

}  // namespace

Config parse(std::string_view text, std::string_view file_name) {
  toml::table root;
  try {
    root = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(syntax_message(e, file_name));
  }
  return Loader(file_name).run(root);
}

Config load(const std::string& path) {
  auto fail = [&](int error) {
    throw ConfigError(path + ": cannot read: " + std::generic_category().message(error));
  };
  core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail(errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(errno);
  if (S_ISDIR(st.st_mode)) fail(EISDIR);
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_file_size)
      throw ConfigError(path + ": cannot read: larger than " + std::to_string(max_file_size >> 20) +
                        " MiB, not a configuration file");
  }
  return parse(text, path);
}

}  // namespace gpioirq::config
