#include "mqtt/mqtt_sink.hpp"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/unique_fd.hpp"
#include "loop/callback_completion.hpp"
#include "loop/timer.hpp"
#include "mqtt/ha_discovery.hpp"
#include "mqtt/mqtt_client.hpp"
#include "mqtt/spool.hpp"

namespace gpioirq::mqtt {

namespace {

constexpr std::uint64_t kNsPerMs = 1'000'000;
constexpr const char* kSwVersion = "0.1.0";

// The wall clock now as RFC 3339 UTC with milliseconds: 2026-11-30T20:15:09.123Z.
std::string wall_time_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  ::gmtime_r(&ts.tv_sec, &utc);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1'000'000);
  return buf;
}

// <state_dir>/mqtt, made 0750 (and state_dir too) when missing.
std::filesystem::path spool_dir(const std::string& state_dir) {
  if (state_dir.empty()) throw std::invalid_argument("mqtt: the daemon's state_dir is empty");
  const std::filesystem::path dir = std::filesystem::path(state_dir) / "mqtt";
  for (const std::filesystem::path& p : {std::filesystem::path(state_dir), dir}) {
    if (::mkdir(p.c_str(), 0750) != 0 && errno != EEXIST) {
      throw std::system_error(errno, std::generic_category(), "mqtt: mkdir " + p.string());
    }
  }
  return dir;
}

// The device of an events topic: its last level but one (<prefix>/<device>/events), so
// that a spool written under another prefix still names its devices.
std::string device_of_events_topic(std::string_view topic) {
  constexpr std::string_view kEvents = "/events";
  if (topic.ends_with(kEvents)) topic.remove_suffix(kEvents.size());
  const auto slash = topic.rfind('/');
  return std::string(slash == std::string_view::npos ? topic : topic.substr(slash + 1));
}

MqttClientConfig client_config(const config::MqttConfig& cfg, const std::string& hostname,
                               const std::string& prefix) {
  MqttClientConfig c;
  c.url = cfg.url;
  c.ca_file = cfg.ca_file;
  c.cert_file = cfg.cert_file;
  c.key_file = cfg.key_file;
  c.client_id = cfg.client_id.empty() ? "gpioirqd-" + hostname : cfg.client_id;
  c.username = cfg.username;
  c.password_file = cfg.password_file;
  c.keepalive_s = cfg.keepalive_s;
  c.qos = cfg.qos;
  c.status_topic = prefix + "/status";
  return c;
}

}  // namespace

struct MqttSink::Impl {
  struct Device {
    std::string name;
    std::string kind;
    std::string state_topic;
    std::string events_topic;
    std::uint64_t interval_ns = 0;
    bool marked = false;     // its state changed since the last state message
    bool ever_sent = false;  // a state message since the last connect
    std::uint64_t last_sent_ns = 0;
    std::string last_content;  // published_state() as last sent, to see changes
    std::uint64_t state_seq = 0;
    std::uint64_t lost_unreported = 0;   // dropped by the cap, not yet told to the source
    std::uint64_t lost_unpublished = 0;  // told, gap message not yet spooled
  };

  Impl(loop::EventLoop& l, const config::MqttConfig& c, const std::string& state_dir,
       const std::string& host, SinkSource& src)
      : loop(l),
        cfg(c),
        hostname(host),
        prefix(c.topic_prefix.empty() ? "gpioirq/" + host : c.topic_prefix),
        source(src),
        client(l, client_config(c, host, prefix)),
        spool(spool_dir(state_dir), static_cast<std::size_t>(c.spool_max_bytes)),
        turn_timer(l, [this] { end_of_turn(); }),
        state_timer(l, [this] { publish_due_states(); }),
        change_timer(l, [this] { publish_changed_states(); }),
        health_timer(l, [this] { publish_health(); }) {
    if (cfg.qos < 0 || cfg.qos > 2) throw std::invalid_argument("mqtt: qos must be 0, 1 or 2");
    if (cfg.max_in_flight == 0) throw std::invalid_argument("mqtt: max_in_flight must be > 0");
    if (cfg.state_interval_ms == 0 || cfg.health_interval_ms == 0) {
      throw std::invalid_argument("mqtt: state_interval_ms and health_interval_ms must be > 0");
    }
    for (const auto& [topic, seq] : spool.last_sequences()) events_seq[topic] = seq;
    spool.set_batched(true);
    spool.set_drop_hook([this](const SpoolEntry& e) { on_spool_drop(e); });
    sync_op.set_callback([this](int res, std::uint32_t) {
      if (res < 0) {
        note_error("spool: fdatasync " + spool.file().string() + ": " +
                   std::system_category().message(-res));
      }
    });
    client.on_connected = [this] { on_connected(); };
    client.on_disconnected = [this] { on_disconnected(); };
    client.on_acknowledged = [this](int mid) { on_acknowledged(mid); };
    discovery.discovery_prefix = cfg.discovery_prefix;
    discovery.node_id = ha_id(hostname);
    discovery.node_name = "gpioirqd on " + hostname;
    discovery.topic_prefix = prefix;
    discovery.status_topic = prefix + "/status";
    discovery.sw_version = kSwVersion;
    for (SinkSource::PublishedDevice& d : source.published_devices()) {
      device(d.name, d.kind);
      discovered.push_back(std::move(d));
    }
  }

  Device& device(std::string_view name, std::string_view kind) {
    auto it = devices.find(name);
    if (it == devices.end()) {
      Device d;
      d.name = std::string(name);
      d.kind = std::string(kind);
      d.state_topic = prefix + "/" + d.name + "/state";
      d.events_topic = prefix + "/" + d.name + "/events";
      const auto limit = cfg.rate_limit_ms.find(d.name);
      d.interval_ns =
          (limit != cfg.rate_limit_ms.end() ? limit->second : cfg.state_interval_ms) * kNsPerMs;
      it = devices.emplace(d.name, std::move(d)).first;
    } else if (it->second.kind.empty()) {
      it->second.kind = std::string(kind);
    }
    return it->second;
  }

  bool connected() const { return client.state() == MqttClient::State::connected; }

  void note_error(std::string what) { last_error = std::move(what); }

  // ---- events topics: spool first, then from the spool's head ----

  void add_event(Device& d, nlohmann::json payload) {
    const std::uint64_t seq = ++events_seq[d.events_topic];
    payload["kind"] = d.kind;
    payload["time"] = wall_time_now();
    payload["seq"] = seq;
    const std::string text = payload.dump();
    ++events;
    const auto qos = static_cast<std::uint8_t>(cfg.qos);
    if (qos == 0 && connected() && spool.empty()) {
      // QoS 0 promises nothing past the connection: spooled only while it is down.
      if (client.publish(d.events_topic, text, 0, false) != 0) return;
    }
    try {
      spool.append(d.events_topic, text, qos, false, seq);
    } catch (const std::exception& e) {
      ++dropped;
      note_error(e.what());
      return;
    }
    request_turn();
  }

  void request_turn() {
    if (!turn_timer.active()) turn_timer.start_once(0);
  }

  // After the appends of one loop turn: one write for them, losses told, the head sent.
  void end_of_turn() {
    report_losses();
    if (connected()) spool_gap_messages();
    try {
      spool.flush();
    } catch (const std::exception& e) {
      note_error(e.what());
    }
    pump();
  }

  void pump() {
    if (!connected()) return;
    const auto& entries = spool.entries();
    while (in_flight.size() < cfg.max_in_flight) {
      // Looked up each time: a QoS 0 message is acknowledged inside publish(), which may
      // trim the spool under an iterator.
      const auto it =
          std::lower_bound(entries.begin(), entries.end(), next_send_id,
                           [](const SpoolEntry& e, std::uint64_t id) { return e.id < id; });
      if (it == entries.end()) break;
      const std::uint64_t id = it->id;
      next_send_id = id + 1;
      sending_id = id;
      const int mid = client.publish(it->topic, it->payload, it->qos, it->retain);
      sending_id = 0;
      const bool acked = std::find(acked_while_sending.begin(), acked_while_sending.end(), mid) !=
                         acked_while_sending.end();
      acked_while_sending.clear();
      if (mid == 0) {
        next_send_id = id;  // refused: sent again at the next turn or connect
        break;
      }
      ++events_sent;
      if (acked) {
        acknowledge_entry(id);
      } else {
        in_flight[mid] = id;
      }
    }
  }

  void on_acknowledged(int mid) {
    const auto it = in_flight.find(mid);
    if (it == in_flight.end()) {
      // A QoS 0 message is acknowledged as soon as it is written, which can be inside the
      // publish() that returns its id: matched after it returns. Otherwise status, state,
      // health or discovery.
      if (sending_id != 0) acked_while_sending.push_back(mid);
      return;
    }
    const std::uint64_t id = it->second;
    in_flight.erase(it);
    acknowledge_entry(id);
    request_turn();
  }

  void acknowledge_entry(std::uint64_t id) {
    ++events_acknowledged;
    try {
      spool.acknowledge(id);
    } catch (const std::exception& e) {
      note_error(e.what());
    }
  }

  void on_spool_drop(const SpoolEntry& e) {
    // Handed to the library already: it still delivers it (after a reconnect too).
    if (e.id < next_send_id) return;
    Device& d = device(device_of_events_topic(e.topic), {});
    ++d.lost_unreported;
    ++spool_dropped;
    request_turn();
  }

  // Told outside the spool's append: the source writes a GAP row, which may come back here.
  void report_losses() {
    for (auto& [name, d] : devices) {
      if (d.lost_unreported == 0) continue;
      const std::uint64_t n = d.lost_unreported;
      d.lost_unreported = 0;
      d.lost_unpublished += n;
      source.spool_dropped(name, n);
    }
  }

  void spool_gap_messages() {
    for (auto& [name, d] : devices) {
      if (d.lost_unpublished == 0) continue;
      const std::uint64_t n = d.lost_unpublished;
      d.lost_unpublished = 0;
      add_event(d, {{"ts_ns", loop::Timer::now_ns()},
                    {"name", name},
                    {"event", "gap"},
                    {"reason", "mqtt_spool_full"},
                    {"lost", n}});
    }
  }

  // ---- connection ----

  void on_connected() {
    if (cfg.homeassistant) publish_discovery(source.published_devices());
    for (auto& [name, d] : devices) d.ever_sent = false;
    publish_all_states();
    publish_health();
    // The backlog handed over first: a gap message appended to a full spool then pushes
    // out entries the library has already (not lost), rather than unsent ones.
    pump();
    report_losses();
    spool_gap_messages();
    try {
      spool.flush();
    } catch (const std::exception& e) {
      note_error(e.what());
    }
    pump();
  }

  void on_disconnected() {
    if (cfg.qos == 0) {
      // The library keeps no QoS 0 message over a reconnect: sent again from the spool.
      in_flight.clear();
      next_send_id = 0;
    }
    // QoS 1/2: the library sends its unacknowledged messages again after the reconnect,
    // with their message ids; the spool goes on behind them.
  }

  // ---- state topics ----

  void mark(Device& d) {
    if (d.marked) return;
    d.marked = true;
    schedule_state(d);
  }

  std::uint64_t due_ns(const Device& d) const {
    return d.ever_sent ? d.last_sent_ns + d.interval_ns : 0;
  }

  void schedule_state(const Device& d) {
    const std::uint64_t now = loop::Timer::now_ns();
    const std::uint64_t due = due_ns(d);
    if (due <= now) {
      if (!state_timer.active() || next_state_due > now) {
        next_state_due = now;
        state_timer.start_once(0);
      }
    } else if (!state_timer.active() || due < next_state_due) {
      next_state_due = due;
      state_timer.start_once(due - now);
    }
  }

  void publish_due_states() {
    if (!connected()) return;  // all of them at the connect
    const std::uint64_t now = loop::Timer::now_ns();
    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    for (auto& [name, d] : devices) {
      if (!d.marked) continue;
      const std::uint64_t due = due_ns(d);
      if (due <= now) {
        publish_state(d, now, false);
      } else {
        next = std::min(next, due);
      }
    }
    if (next != std::numeric_limits<std::uint64_t>::max()) {
      next_state_due = next;
      state_timer.start_once(next - now);
    }
  }

  // Content that changed without a mark (a rate decaying, a value polled): looked at every
  // state_interval_ms.
  void publish_changed_states() {
    if (!connected()) return;
    const std::uint64_t now = loop::Timer::now_ns();
    for (auto& [name, d] : devices) {
      if (d.marked || due_ns(d) > now) continue;
      publish_state(d, now, true);
    }
  }

  void publish_all_states() {
    const std::uint64_t now = loop::Timer::now_ns();
    for (auto& [name, d] : devices) publish_state(d, now, false);
  }

  // only_if_changed: skipped when published_state() is what was last sent.
  void publish_state(Device& d, std::uint64_t now, bool only_if_changed) {
    nlohmann::json st = source.published_state(d.name, now);
    d.marked = false;
    if (!st.is_object()) return;
    std::string content = st.dump();
    if (only_if_changed && content == d.last_content) return;
    if (!st.contains("ts_ns")) st["ts_ns"] = now;
    st["time"] = wall_time_now();
    st["seq"] = d.state_seq + 1;
    if (client.publish(d.state_topic, st.dump(), cfg.qos, true) == 0) {
      d.marked = true;  // at the next connect
      return;
    }
    ++d.state_seq;
    ++states;
    d.ever_sent = true;
    d.last_sent_ns = now;
    d.last_content = std::move(content);
  }

  void publish_health() {
    if (!connected()) return;
    nlohmann::json h = source.health();
    if (!h.is_object()) h = nlohmann::json::object();
    h["ts_ns"] = loop::Timer::now_ns();
    h["time"] = wall_time_now();
    h["seq"] = health_seq + 1;
    if (client.publish(prefix + "/health", h.dump(), cfg.qos, true) != 0) ++health_seq;
  }

  // ---- Home Assistant ----

  void publish_discovery(const std::vector<SinkSource::PublishedDevice>& now_configured) {
    for (const DiscoveryMessage& m : ha_discovery_messages(discovery, now_configured)) {
      client.publish(m.topic, m.payload, 1, true);
    }
  }

  loop::EventLoop& loop;
  const config::MqttConfig cfg;
  const std::string hostname;
  const std::string prefix;
  SinkSource& source;
  MqttClient client;
  Spool spool;
  // The flush tick's fdatasync goes through the loop, on a dup of the spool's file (kept
  // open until the op is done, even if compaction replaces the file meanwhile).
  core::UniqueFd sync_fd;
  std::uint64_t sync_generation = 0;
  loop::CallbackCompletion sync_op;  // after sync_fd: withdrawn before the fd closes
  loop::Timer turn_timer;
  loop::Timer state_timer;
  loop::Timer change_timer;
  loop::Timer health_timer;
  std::uint64_t next_state_due = 0;
  DiscoveryNode discovery;
  std::vector<SinkSource::PublishedDevice> discovered;  // what discovery was last sent for

  std::map<std::string, Device, std::less<>> devices;
  std::map<std::string, std::uint64_t, std::less<>> events_seq;  // per events topic
  std::unordered_map<int, std::uint64_t> in_flight;  // the library's message id -> spool id
  std::uint64_t next_send_id = 0;        // spool ids below it were handed to the library
  std::uint64_t sending_id = 0;          // inside client.publish() for this spool id
  std::vector<int> acked_while_sending;  // ids acknowledged inside publish()
  std::uint64_t health_seq = 0;
  bool started = false;
  bool final_states_published = false;  // by publish_final_states(), for stop()

  std::string last_error;  // the sink's own (spool); the client's is separate
  std::uint64_t events = 0;
  std::uint64_t events_sent = 0;  // handed to the library from the spool (never twice)
  std::uint64_t events_acknowledged = 0;
  std::uint64_t states = 0;
  std::uint64_t dropped = 0;        // events the spool could not take
  std::uint64_t spool_dropped = 0;  // events the spool's cap dropped, never sent
};

MqttSink::MqttSink(loop::EventLoop& loop, const config::MqttConfig& cfg,
                   const std::string& state_dir, const std::string& hostname, SinkSource& source)
    : impl_(std::make_unique<Impl>(loop, cfg, state_dir, hostname, source)) {}

MqttSink::~MqttSink() = default;

void MqttSink::start() {
  Impl& s = *impl_;
  if (s.started) return;
  s.started = true;
  s.final_states_published = false;
  s.change_timer.start_periodic(std::uint64_t{s.cfg.state_interval_ms} * kNsPerMs);
  s.health_timer.start_periodic(std::uint64_t{s.cfg.health_interval_ms} * kNsPerMs);
  s.client.start();
}

void MqttSink::publish_final_states() {
  Impl& s = *impl_;
  if (!s.connected() || s.final_states_published) return;
  s.publish_all_states();
  s.publish_health();
  s.pump();
  s.final_states_published = true;
}

void MqttSink::stop() {
  Impl& s = *impl_;
  publish_final_states();
  s.started = false;
  s.turn_timer.cancel();
  s.state_timer.cancel();
  s.change_timer.cancel();
  s.health_timer.cancel();
  s.client.stop();
  // At the end of a run: the spool on disk before the daemon exits (the event log's close
  // syncs the same way).
  try {
    s.spool.sync();
  } catch (const std::exception& e) {
    s.note_error(e.what());
  }
}

void MqttSink::sync() {
  Impl& s = *impl_;
  try {
    s.spool.flush();
  } catch (const std::exception& e) {
    s.note_error(e.what());
  }
  if (s.sync_op.in_flight()) return;  // the last one still runs: the next tick
  if (!s.sync_fd || s.sync_generation != s.spool.generation()) {
    s.sync_fd.reset(::dup(s.spool.fd()));
    s.sync_generation = s.spool.generation();
    if (!s.sync_fd) {
      s.note_error("spool: dup for fdatasync: " + std::system_category().message(errno));
      return;
    }
  }
  const int rc = s.loop.fdatasync(s.sync_fd.get(), s.sync_op);
  if (rc < 0) s.note_error("spool: fdatasync: " + std::system_category().message(-rc));
}

void MqttSink::devices_changed() {
  Impl& s = *impl_;
  std::vector<SinkSource::PublishedDevice> now_configured = s.source.published_devices();
  std::set<std::string, std::less<>> names;
  for (const SinkSource::PublishedDevice& d : now_configured) {
    names.insert(d.name);
    s.device(d.name, d.kind);
  }
  for (const SinkSource::PublishedDevice& gone : s.discovered) {
    if (names.contains(gone.name)) continue;
    if (s.connected()) {
      if (s.cfg.homeassistant)
        for (const DiscoveryMessage& m : ha_discovery_removal(s.discovery, gone))
          s.client.publish(m.topic, m.payload, 1, true);
      // An empty retained payload clears the state topic.
      s.client.publish(s.prefix + "/" + gone.name + "/state", "", s.cfg.qos, true);
    }
    // Its events stay in the spool until sent; only its state slot goes.
    if (const auto it = s.devices.find(gone.name); it != s.devices.end() &&
                                                   it->second.lost_unreported == 0 &&
                                                   it->second.lost_unpublished == 0) {
      s.devices.erase(it);
    }
  }
  if (s.connected()) {
    if (s.cfg.homeassistant) s.publish_discovery(now_configured);
    s.publish_all_states();
  }
  s.discovered = std::move(now_configured);
}

nlohmann::json MqttSink::status() const {
  const Impl& s = *impl_;
  const MqttClient::Counters& c = s.client.counters();
  const char* state = "disconnected";
  switch (s.client.state()) {
    case MqttClient::State::disconnected:
      state = "disconnected";
      break;
    case MqttClient::State::resolving:
      state = "resolving";
      break;
    case MqttClient::State::connecting:
      state = "connecting";
      break;
    case MqttClient::State::connected:
      state = "connected";
      break;
  }
  return {{"broker", s.cfg.url},
          {"state", state},
          {"last_error", s.last_error.empty() ? s.client.last_error() : s.last_error},
          {"published", c.published},
          {"acknowledged", c.acknowledged},
          {"in_flight", c.in_flight()},
          {"dropped", c.dropped + s.dropped},
          {"events", s.events},
          {"events_sent", s.events_sent},
          {"events_acknowledged", s.events_acknowledged},
          {"states", s.states},
          {"spooled", s.spool.entries().size()},
          {"spool_bytes", s.spool.live_bytes()},
          {"spool_dropped", s.spool_dropped},
          {"connect_attempts", c.connect_attempts},
          {"connects", c.connects},
          {"disconnects", c.disconnects}};
}

bool MqttSink::wants(std::string_view /*device*/) const noexcept {
  return true;
}

bool MqttSink::wants_class(sinks::EventClass cls) const noexcept {
  return cls != sinks::EventClass::state;
}

void MqttSink::on_event(const sinks::DeviceEvent& ev, const nlohmann::json& line) {
  Impl& s = *impl_;
  if (ev.cls == sinks::EventClass::state) return on_mark(ev);
  s.add_event(s.device(ev.device, ev.kind), line);
}

void MqttSink::on_mark(const sinks::DeviceEvent& ev) {
  Impl& s = *impl_;
  s.mark(s.device(ev.device, ev.kind));
}

}  // namespace gpioirq::mqtt
