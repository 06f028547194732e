#include "config/loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
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
// clang-format off
constexpr std::string_view daemon_keys[] = {
    "log_dir",   "socket_path",       "socket_group",         "rt_priority", "cpu",
    "mlock",     "flush_interval_ms", "rotate_size_mb",       "rotate_keep", "event_log_format",
    "log_edges", "ring_capacity",     "time_sync_interval_ms", "log_buffer_max_mb",
    "loop_priority", "loop_spin_us", "state_dir", "state_save_interval_ms"};
constexpr std::string_view mqtt_keys[] = {
    "url", "ca_file", "cert_file", "key_file", "client_id", "username", "password_file",
    "topic_prefix", "qos", "keepalive_s", "state_interval_ms", "rate_limit_ms",
    "health_interval_ms", "spool_max_mb", "max_in_flight", "homeassistant", "discovery_prefix"};
// clang-format on
constexpr std::string_view metrics_keys[] = {"textfile", "textfile_interval_ms"};
constexpr std::string_view chip_keys[] = {"name", "backend", "path", "label", "sim_num_lines"};
constexpr std::string_view backend_names[] = {"gpiod", "sim"};
constexpr Backend backend_values[] = {Backend::gpiod, Backend::sim};
constexpr std::string_view bias_names[] = {"as-is", "disabled", "pull-up", "pull-down"};
constexpr Bias bias_values[] = {Bias::as_is, Bias::disabled, Bias::pull_up, Bias::pull_down};
constexpr std::string_view clock_names[] = {"monotonic", "realtime", "hte"};
constexpr EventClock clock_values[] = {EventClock::monotonic, EventClock::realtime,
                                       EventClock::hte};
constexpr std::string_view format_names[] = {"csv", "jsonl"};
constexpr LogFormat format_values[] = {LogFormat::csv, LogFormat::jsonl};

// sockaddr_un::sun_path is 108 bytes including the terminating NUL.
constexpr std::size_t max_socket_path = 107;
// gpiolib keeps a chip's line count in a u16.
constexpr std::int64_t max_line_offset = 65535;
// GPIO_MAX_NAME_SIZE is 32 including the NUL.
constexpr std::size_t max_line_name = 31;
constexpr std::size_t max_name = 64;
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

}  // namespace

// What every table of one file shares: the chips read so far (in config.chips), the one
// name space of devices, the lines in use, the file's directory.
struct LoaderState {
  explicit LoaderState(std::string_view file_name)
      : file(file_name),
        config_file(fs::absolute(fs::path(file_name)).lexically_normal()),
        base_dir(config_file.parent_path()) {}

  std::string resolve(const std::string& path) const {
    fs::path p(path);
    if (p.is_relative()) p = base_dir / p;
    p = p.lexically_normal();
    if (!p.has_filename() && p != p.root_path()) p = p.parent_path();
    return p.string();
  }

  std::optional<std::string> path_key(const TableReader& r, std::string_view key) const {
    if (auto s = r.string(key)) return resolve(*s);
    return std::nullopt;
  }

  std::string file;
  fs::path config_file;
  fs::path base_dir;
  Config config;
  std::map<std::string, NameUse, std::less<>> names;
  std::vector<LineUse> lines;
};

namespace {

// Device names share one namespace: they name streams in status, monitor and file names.
void register_device(LoaderState& state, const TableReader& r, const std::string& name,
                     std::string what) {
  SourcePlace place = r.place();
  auto [it, inserted] = state.names.try_emplace(name, NameUse{std::move(what), place});
  if (!inserted)
    r.fail("name", "duplicate name " + single_quoted(name) + " (first defined at " +
                       format_place(it->second.place) + " as " + it->second.what + ")");
}

}  // namespace

DeviceReader::DeviceReader(const toml::table& table, std::string_view file, std::string subject,
                           LoaderState& state)
    : TableReader(table, file, std::move(subject)), state_(state) {}

std::string DeviceReader::name(std::span<const std::string_view> keys, std::string_view what) {
  device_name_ = read_name(*this, keys);
  register_device(state_, *this, device_name_, std::string(what));
  return device_name_;
}

const ChipConfig& DeviceReader::chip() {
  const TableReader& r = *this;
  r.require("chip");
  const std::string name = *r.string("chip");
  for (const ChipConfig& chip : state_.config.chips)
    if (chip.name == name) return chip;
  if (state_.config.chips.empty())
    r.fail("chip", "chip " + single_quoted(name) + " is not defined (the file has no [[chip]])");
  std::vector<std::string_view> chip_names;
  for (const ChipConfig& chip : state_.config.chips) chip_names.push_back(chip.name);
  std::string problem = "chip " + single_quoted(name) + " is not defined";
  if (auto near = nearest_name(name, chip_names))
    problem += "; did you mean " + single_quoted(*near) + "?";
  r.fail("chip", problem);
}

LineRef DeviceReader::line(std::string_view key, const ChipConfig& chip) {
  const TableReader& r = *this;
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
  for (const LineUse& use : state_.lines)
    if (use.chip == ref.chip && use.line == ref.line)
      r.fail(key, "line " + line_text(ref.line) + " of chip " + single_quoted(ref.chip) +
                      " is already used by " + use.user + " (at " + format_place(use.place) + ")");
  state_.lines.push_back(LineUse{ref.chip, ref.line, user, ref.place});
  return ref;
}

LineSettings DeviceReader::line_settings() {
  const TableReader& r = *this;
  LineSettings s;
  assign(s.bias, r.choice("bias", bias_names, bias_values));
  assign(s.active_low, r.boolean("active_low"));
  assign(s.clock, r.choice("clock", clock_names, clock_values));
  return s;
}

void DeviceReader::sim_rate(const ChipConfig& chip, double& rate, double max) {
  const TableReader& r = *this;
  if (chip.backend != Backend::sim)
    r.forbid("sim_rate_hz", "applies only to devices on a sim chip, and chip " +
                                single_quoted(chip.name) + " has backend \"gpiod\"");
  assign(rate, r.number("sim_rate_hz", 0, max));
}

std::optional<std::string> DeviceReader::path(std::string_view key) {
  return state_.path_key(*this, key);
}

namespace {

class Loader {
 public:
  Loader(std::string_view file_name, std::span<const DeviceSection> sections)
      : state_(file_name), sections_(sections) {}

  Config run(const toml::table& root) {
    state_.config.file = state_.config_file.string();
    // daemon, chip and each kind's table, in that order: the "did you mean" candidates.
    std::vector<std::string_view> top_keys = {"daemon", "chip"};
    for (const DeviceSection& section : sections_) top_keys.push_back(section.table);
    top_keys.push_back("mqtt");
    top_keys.push_back("metrics");
    TableReader top(root, state_.file, "");
    top.reject_unknown_keys(top_keys);
    read_daemon(root);
    read_metrics(root);
    each_table(root, "chip", [&](const toml::table& t, std::size_t i) { read_chip(t, i); });
    // Config::devices: by section (kind) in the order given, then in file order.
    for (const DeviceSection& section : sections_)
      each_table(root, section.table,
                 [&](const toml::table& t, std::size_t i) { read_device(section, t, i); });
    // After the devices: [mqtt.rate_limit_ms] names them.
    read_mqtt(root);
    return std::move(state_.config);
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
      throw ConfigError(format_place(place_from(n->source(), state_.file)) + ": " + k +
                        ": expected an array of tables ([[" + k + "]]), found " + found);
    }
    std::size_t index = 0;
    for (const toml::node& element : *array) {
      ++index;
      const toml::table* table = element.as_table();
      if (!table)
        throw ConfigError(format_place(place_from(element.source(), state_.file)) + ": " + k +
                          " #" + std::to_string(index) + ": expected a table, found " +
                          std::string(type_phrase(element.type())));
      read(*table, index);
    }
  }

  std::optional<std::string> path_key(const TableReader& r, std::string_view key) const {
    return state_.path_key(r, key);
  }

  // A device table: its kind's parse reads it; the loader only files the result.
  void read_device(const DeviceSection& section, const toml::table& t, std::size_t index) {
    const std::string table(section.table);
    DeviceReader r(t, state_.file, table + " #" + std::to_string(index), state_);
    std::shared_ptr<const DeviceSettings> settings = section.parse(r);
    // A parse that forgot name() (or returned nothing) is a bug in that kind, not in the file.
    if (r.device_name().empty() || settings == nullptr)
      throw std::logic_error("the parse of [[" + table +
                             "]] returned without reading 'name' (DeviceReader::name) or "
                             "without settings");
    state_.config.devices.push_back(
        DeviceConfig{table, r.device_name(), r.place(), std::move(settings)});
  }

  void read_daemon(const toml::table& root) {
    const toml::node* n = root.get("daemon");
    if (!n) return;
    const toml::table* t = n->as_table();
    if (!t)
      throw ConfigError(format_place(place_from(n->source(), state_.file)) +
                        ": daemon: expected a table ([daemon]), found " +
                        std::string(type_phrase(n->type())));
    TableReader r(*t, state_.file, "daemon");
    r.reject_unknown_keys(daemon_keys);
    DaemonConfig& d = state_.config.daemon;
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
    // The state file (totals and positions across restarts) is kept only where the file
    // names a state_dir, so that a configuration without one runs as before.
    if (auto dir = path_key(r, "state_dir")) {
      d.state_dir = *dir;
      d.keep_state = true;
    }
    assign(d.state_save_interval_ms, r.integer("state_save_interval_ms", 100, 86'400'000));
  }

  // [mqtt]: the broker and what is published (docs/CONFIGURATION.md, docs/MQTT.md). Only the
  // form is checked here (no file is opened, no name resolved): the daemon's sink checks
  // the files when it starts.
  void read_mqtt(const toml::table& root) {
    const toml::node* n = root.get("mqtt");
    if (!n) return;
    const toml::table* t = n->as_table();
    if (!t)
      throw ConfigError(format_place(place_from(n->source(), state_.file)) +
                        ": mqtt: expected a table ([mqtt]), found " +
                        std::string(type_phrase(n->type())));
    TableReader r(*t, state_.file, "mqtt");
    r.reject_unknown_keys(mqtt_keys);
    MqttConfig m;
    m.place = r.place();
    r.require("url", " (the broker, such as \"mqtt://192.168.1.10\")");
    m.url = *r.string("url");
    const bool tls = check_broker_url(r, m.url);
    if (tls) {
      r.require("ca_file", " (an mqtts:// broker is verified against a CA)");
    } else {
      const std::string reason =
          "applies only to mqtts:// brokers, and url is " + double_quoted(m.url);
      r.forbid("ca_file", reason);
      r.forbid("cert_file", reason);
      r.forbid("key_file", reason);
    }
    assign(m.ca_file, path_key(r, "ca_file"));
    if (r.has("cert_file") != r.has("key_file")) {
      if (r.has("cert_file"))
        r.fail("cert_file", "a client certificate needs its key: give 'key_file' too");
      r.fail("key_file", "a client key needs its certificate: give 'cert_file' too");
    }
    assign(m.cert_file, path_key(r, "cert_file"));
    assign(m.key_file, path_key(r, "key_file"));
    assign(m.client_id, r.string("client_id"));
    assign(m.username, r.string("username"));
    if (!r.has("username")) r.forbid("password_file", "applies only with 'username'");
    assign(m.password_file, path_key(r, "password_file"));
    if (auto prefix = r.string("topic_prefix")) {
      check_topic_prefix(r, "topic_prefix", *prefix);
      m.topic_prefix = *prefix;
    }
    assign(m.qos, r.integer("qos", 0, 2));
    assign(m.keepalive_s, r.integer("keepalive_s", 5, 65535));
    assign(m.state_interval_ms, r.integer("state_interval_ms", 10, 3'600'000));
    read_rate_limits(r, m);
    assign(m.health_interval_ms, r.integer("health_interval_ms", 1000, 86'400'000));
    if (auto mb = r.integer("spool_max_mb", 1, 4096))
      m.spool_max_bytes = static_cast<std::uint64_t>(*mb) << 20;
    assign(m.max_in_flight, r.integer("max_in_flight", 1, 65535));
    assign(m.homeassistant, r.boolean("homeassistant"));
    if (auto prefix = r.string("discovery_prefix")) {
      check_topic_prefix(r, "discovery_prefix", *prefix);
      m.discovery_prefix = *prefix;
    }
    state_.config.mqtt = std::move(m);
  }

  // mqtt://HOST[:PORT] or mqtts://HOST[:PORT], HOST a name, an IPv4 address or an IPv6
  // address in brackets. Returns whether it is mqtts.
  static bool check_broker_url(const TableReader& r, const std::string& url) {
    const std::string expected =
        "expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (HOST a name, an IPv4 address or an "
        "IPv6 address in brackets), found " +
        double_quoted(url);
    std::string_view rest(url);
    bool tls = false;
    if (rest.starts_with("mqtt://")) {
      rest.remove_prefix(7);
    } else if (rest.starts_with("mqtts://")) {
      rest.remove_prefix(8);
      tls = true;
    } else {
      r.fail("url", expected);
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    std::string_view host = rest, port;
    bool has_port = false;
    if (rest.starts_with("[")) {
      const std::size_t close = rest.find(']');
      if (close == std::string_view::npos) r.fail("url", expected);
      host = rest.substr(1, close - 1);
      if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != host.npos)
        r.fail("url", expected);
      if (close + 1 < rest.size()) {
        if (rest[close + 1] != ':') r.fail("url", expected);
        port = rest.substr(close + 2);
        has_port = true;
      }
    } else {
      if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        has_port = true;
      }
      const bool name_chars = std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.';
      });
      if (host.empty() || !name_chars || host.front() == '.' || host.front() == '-')
        r.fail("url", expected);
    }
    if (has_port) {
      const bool digits = !port.empty() && port.size() <= 5 &&
                          port.find_first_not_of("0123456789") == std::string_view::npos;
      const long value = digits ? std::stol(std::string(port)) : 0;
      if (value < 1 || value > 65535)
        r.fail("url",
               "expected a port from 1 to 65535 after the host, found " + double_quoted(url));
    }
    return tls;
  }

  // A topic prefix is where every topic begins: MQTT wildcards cannot be published to,
  // an empty level at either end would make "a//b", and '$' topics belong to the broker.
  static void check_topic_prefix(const TableReader& r, std::string_view key,
                                 const std::string& prefix) {
    const std::string found = ", found " + double_quoted(prefix);
    if (prefix.find_first_of("+#") != std::string::npos)
      r.fail(key, "expected a topic without the wildcards '+' and '#'" + found);
    if (prefix.front() == '/' || prefix.back() == '/')
      r.fail(key, "expected a topic that neither begins nor ends with '/'" + found);
    if (prefix.front() == '$')
      r.fail(key,
             "expected a topic that does not begin with '$' (the broker's own topics)" + found);
  }

  // [mqtt.rate_limit_ms]: device name -> its state topic at most this often.
  void read_rate_limits(const TableReader& mqtt, MqttConfig& m) {
    const toml::node* n = mqtt.get("rate_limit_ms");
    if (!n) return;
    const toml::table* t = n->as_table();
    if (!t)
      mqtt.fail("rate_limit_ms",
                "expected a table of device names and milliseconds "
                "([mqtt.rate_limit_ms]), found " +
                    std::string(type_phrase(n->type())));
    TableReader r(*t, state_.file, "mqtt.rate_limit_ms");
    std::vector<std::string_view> device_names;
    for (const DeviceConfig& d : state_.config.devices) device_names.push_back(d.name);
    for (auto&& [key, value] : *t) {
      (void)value;
      const std::string name(key.str());
      if (!state_.names.contains(name)) {
        std::string problem = "device " + single_quoted(name) + " is not defined";
        if (auto near = nearest_name(name, device_names))
          problem += "; did you mean " + single_quoted(*near) + "?";
        r.fail(name, problem);
      }
      m.rate_limit_ms[name] = static_cast<std::uint32_t>(*r.integer(name, 10, 3'600'000));
    }
  }

  // [metrics]: the Prometheus text as a node_exporter textfile (docs/METRICS.md).
  void read_metrics(const toml::table& root) {
    const toml::node* n = root.get("metrics");
    if (!n) return;
    const toml::table* t = n->as_table();
    if (!t)
      throw ConfigError(format_place(place_from(n->source(), state_.file)) +
                        ": metrics: expected a table ([metrics]), found " +
                        std::string(type_phrase(n->type())));
    TableReader r(*t, state_.file, "metrics");
    r.reject_unknown_keys(metrics_keys);
    MetricsConfig& m = state_.config.metrics;
    if (auto path = path_key(r, "textfile")) {
      // node_exporter's textfile collector reads only *.prom: any other name would be
      // written and never scraped.
      if (!path->ends_with(".prom") || fs::path(*path).filename() == ".prom")
        r.fail("textfile",
               "expected a file name ending in \".prom\" (node_exporter's textfile "
               "collector reads only *.prom), found " +
                   double_quoted(*r.string("textfile")));
      m.textfile = *path;
    }
    assign(m.textfile_interval_ms, r.integer("textfile_interval_ms", 100, 3'600'000));
  }

  void read_chip(const toml::table& t, std::size_t index) {
    TableReader r(t, state_.file, "chip #" + std::to_string(index));
    ChipConfig chip;
    chip.name = read_name(r, chip_keys);
    chip.place = r.place();
    for (const ChipConfig& other : state_.config.chips)
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
      for (const ChipConfig& other : state_.config.chips) {
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
    state_.config.chips.push_back(std::move(chip));
  }

  LoaderState state_;
  std::span<const DeviceSection> sections_;
};

}  // namespace

Config parse(std::string_view text, std::string_view file_name,
             std::span<const DeviceSection> sections) {
  toml::table root;
  try {
    root = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(syntax_message(e, file_name));
  }
  return Loader(file_name, sections).run(root);
}

Config load(const std::string& path, std::span<const DeviceSection> sections) {
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
  return parse(text, path, sections);
}

}  // namespace gpioirq::config
