#include "app/daemon.hpp"

#include <sched.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/event_fanout.hpp"
#include "app/mqtt_source.hpp"
#include "config/config_diff.hpp"
#include "config/config_error.hpp"
#include "config/nearest_name.hpp"
#include "control/control_server.hpp"
#include "control/peer_credentials.hpp"
#include "gpio/gpiod_source.hpp"
#include "gpio/sim_source.hpp"
#include "loop/event_loop.hpp"
#include "loop/flag_waiter.hpp"
#include "loop/signal_set.hpp"
#include "loop/timer.hpp"
#include "mqtt/mqtt_sink.hpp"
#include "sinks/event_log.hpp"
#include "sinks/log_dir.hpp"
#include "sinks/previous_run.hpp"

namespace gpioirq::app {
namespace {

std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

constexpr std::uint64_t kMs = 1'000'000;
// Reading /proc and /sys for the lines' IRQ threads costs a scan of every process: a
// status query does it at most this often.
constexpr std::uint64_t kIrqRefreshNs = 3000 * kMs;

// A line's IRQ in status: flat fields, so that `gpioirqctl status` shows them as columns.
void add_irq_fields(nlohmann::json& line, const LineIrqState& s) {
  if (!s.irq) {
    line["irq"] = nullptr;
    line["irq_note"] = s.note;
    return;
  }
  const irqinfo::LineIrq& irq = *s.irq;
  line["irq"] = irq.desc.irq;
  line["irq_chip"] = irq.desc.chip_name;
  // null, not "", when unknown or empty (a controller that does not route it): an empty
  // cell would shift the columns of the status table for scripts that split on blanks.
  line["irq_effective_affinity"] =
      irq.effective_affinity && !irq.effective_affinity->empty()
          ? nlohmann::json(irqinfo::format_cpu_list(*irq.effective_affinity))
          : nlohmann::json();
  if (irq.thread) {
    line["irq_thread"] = irq.thread->comm;
    line["irq_thread_pid"] = irq.thread->pid;
    line["irq_thread_policy"] = irq.thread->policy;
    line["irq_thread_priority"] = irq.thread->rt_priority;
    line["irq_thread_cpus"] = irqinfo::format_cpu_list(irq.thread->allowed_cpus);
    line["irq_thread_last_cpu"] = irq.thread->last_cpu;
    line["irq_note"] = nullptr;
  } else {
    line["irq_thread"] = nullptr;
    line["irq_note"] = "no irq/" + std::to_string(irq.desc.irq) +
                       "- thread in /proc (a non-threaded IRQ, or not allowed to look)";
  }
}

// A message about [mqtt] that says so once.
std::string mqtt_message(std::string_view what) {
  return what.starts_with("mqtt") ? std::string(what) : "mqtt: " + std::string(what);
}

// Whether [mqtt] changed, where it is written in the file aside.
bool mqtt_changed(std::optional<config::MqttConfig> a, std::optional<config::MqttConfig> b) {
  if (a) a->place = {};
  if (b) b->place = {};
  return a != b;
}

const config::ChipConfig& find_chip(const config::Config& cfg, const std::string& name) {
  for (const auto& c : cfg.chips)
    if (c.name == name) return c;
  throw std::runtime_error("no chip named '" + name + "'");
}

nlohmann::json histogram_json(const core::Histogram& h, bool buckets) {
  nlohmann::json j = {{"count", h.count()},
                      {"p50_ns", h.quantile(0.5)},
                      {"p99_ns", h.quantile(0.99)},
                      {"p999_ns", h.quantile(0.999)},
                      {"max_ns", h.max()}};
  if (buckets) {
    nlohmann::json b = nlohmann::json::array();
    for (unsigned i = 0; i < core::Histogram::kBuckets; ++i)
      if (h.bucket_count(i))
        b.push_back({core::Histogram::bucket_lower(i), core::Histogram::bucket_upper(i),
                     h.bucket_count(i)});
    j["buckets"] = std::move(b);
  }
  return j;
}

nlohmann::json fd_limit_json(const control::FdLimit& limit) {
  return {{"wanted", limit.wanted}, {"got", limit.got}, {"refused", limit.refused}};
}

nlohmann::json file_json(const std::string& path, const sinks::AppendFileStatus& f) {
  return {{"path", path},
          {"bytes", f.file_bytes},
          {"healthy", f.healthy},
          {"open", f.open},
          {"reopens", f.reopens},
          {"truncations", f.truncations},
          {"cut_bytes", f.cut_bytes},
          {"write_errors", f.write_errors},
          {"last_error", f.last_error}};
}

// A lifecycle event of a device (down, up) for the live sinks; its row is a marker.
sinks::DeviceEvent lifecycle_event(const kinds::Device& d, std::uint64_t ts_ns,
                                   std::string_view event) {
  sinks::DeviceEvent ev;
  ev.ts_ns = ts_ns;
  ev.device = d.name();
  ev.kind = d.kind().name();
  ev.event = event;
  ev.cls = sinks::EventClass::lifecycle;
  ev.row = sinks::DeviceEvent::Row::none;
  return ev;
}

// A device's metric samples, kept per family so that each family prints as one block
// (its HELP/TYPE header, then every device's samples) in the kind's family order.
class FamilySamples final : public kinds::MetricsOut {
 public:
  explicit FamilySamples(std::size_t families) : lines_(families) {}
  void set_device(const std::string& name) { device_ = &name; }
  void sample(std::size_t family, std::string_view extra_labels, double v) override {
    if (family >= lines_.size()) return;  // a kind's bug: no family to print it under
    lines_[family] += fmt::format("{{device=\"{}\"{}}} {}\n", *device_, extra_labels, v);
  }
  // name{device="x"...} value lines: the sample text after the family name, one per line.
  const std::string& samples(std::size_t family) const { return lines_[family]; }

 private:
  std::vector<std::string> lines_;
  const std::string* device_ = nullptr;
};

}  // namespace

Daemon::Daemon(config::Config cfg) : cfg_(std::move(cfg)) {
  started_mono_ns_ = clock_ns(CLOCK_MONOTONIC);
  loop_ = std::make_unique<loop::EventLoop>(512);
  // Signals first, so that every thread made later inherits the blocked mask.
  signals_ = std::make_unique<loop::SignalSet>(
      *loop_, std::initializer_list<int>{SIGTERM, SIGINT, SIGHUP, SIGUSR1}, [this](int signo) {
        if (signo == SIGUSR1) {
          try {
            reopen_logs("SIGUSR1", false);
          } catch (const std::exception& e) {
            spdlog::error("reopen: {}", e.what());
          }
        } else if (signo == SIGHUP) {
          try {
            reload();
          } catch (const std::exception&) {
            // reload() logged it; the old config runs on
          }
        } else {
          spdlog::info("signal {}: stopping", signo);
          loop_->stop();
        }
      });
  std::optional<gid_t> socket_group;
  if (!cfg_.daemon.socket_group.empty()) {
    // A configuration error (exit 78: systemd does not restart it over and over), found
    // before any file is touched. --check-config does not look at the machine.
    socket_group = control::lookup_group(cfg_.daemon.socket_group);
    if (!socket_group)
      throw config::ConfigError("daemon.socket_group: there is no group '" +
                                cfg_.daemon.socket_group +
                                "' on this system; create it (groupadd " +
                                cfg_.daemon.socket_group + ") or name another");
  }
  if (const std::string problem = sinks::prepare_log_dir(cfg_.daemon.log_dir); !problem.empty())
    throw config::ConfigError(problem);
  if (socket_group)
    if (const std::string problem = sinks::share_log_dir(cfg_.daemon.log_dir, *socket_group);
        !problem.empty())
      spdlog::warn("{}: members of socket_group '{}' cannot read the log files", problem,
                   cfg_.daemon.socket_group);
  // Before any file is opened: an unfit state_dir is a configuration error (exit 78).
  load_state_file();
  event_log_ =
      std::make_unique<sinks::EventLog>(*loop_, sinks::event_log_options(cfg_.daemon, kVersion));
  run_marker_ = std::make_unique<sinks::RunMarker>(cfg_.daemon.log_dir);
  previous_run_unstopped_ = run_marker_->previous_run_unstopped();
  if (const int err = run_marker_->mark_running(); err < 0)
    spdlog::warn(
        "cannot make the run marker in {}: {} (a kill -9 will not be reported by the next run)",
        cfg_.daemon.log_dir, std::strerror(-err));
  if (const int err = event_log_->open(); err < 0)
    kinds::throw_log_open_error("the event log", event_log_->options().path, err);
  ingest_ = std::make_unique<gpio::IngestThread>(
      cfg_.daemon.ring_capacity,
      gpio::RtRequest{cfg_.daemon.rt_priority, cfg_.daemon.cpu, cfg_.daemon.mlock});
  drain_buffer_.resize(256);
  // Before the devices: a device may emit (a DOWN line) from the moment it is made.
  fanout_ = std::make_unique<EventFanout>(*event_log_, cfg_.daemon.log_edges);
  make_mqtt();
  for (const kinds::Kind* kind : kinds::registry()) kinds_.push_back(Slot{kind, {}});
  std::vector<kinds::Device*> made;
  build_devices(cfg_, made);

  control::ServerOptions server;
  server.socket_path = cfg_.daemon.socket_path;
  server.socket_group = cfg_.daemon.socket_group;
  server.raise_fd_limit = true;  // at start(): 1024 clients need more than a default 1024 fds
  control_ = std::make_unique<control::ControlServer>(*loop_, *this, server);
  monitor_sink_ = std::make_unique<MonitorSink>(*control_);
  fanout_->add(*monitor_sink_);
}

void Daemon::make_mqtt() {
  if (!cfg_.mqtt) return;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  mqtt_source_ = std::make_unique<MqttSource>(
      [this](const std::function<void(const kinds::Device&)>& visit) {
        for_each_device([&](const kinds::Device& d) { visit(d); });
      },
      [this] { return status(); }, *event_log_);
  try {
    mqtt_sink_ = std::make_unique<mqtt::MqttSink>(*loop_, *cfg_.mqtt, cfg_.daemon.state_dir,
                                                  std::string(host), *mqtt_source_);
  } catch (const std::exception& e) {
    // A file [mqtt] names that cannot be used (the CA, the password file) or a state
    // directory the spool cannot live in: fix the configuration or the machine, like a
    // log_dir that cannot be made.
    throw config::ConfigError(mqtt_message(e.what()));
  }
  fanout_->add(*mqtt_sink_);
}

void Daemon::stop_mqtt() {
  if (!mqtt_sink_) return;
  // The loop runs on below: nothing may start again what is being stopped (a reload from
  // a client, a device coming back), and the flush tick's work is the stop's own.
  control_->stop();
  flush_timer_.reset();
  device_timer_.reset();
  for (TimerSlot& t : timers_)  // the devices have finished: their deadlines and polls too
    if (t.timer) t.timer->cancel();
  // The loop runs a little longer (2 s at most in all): first until the broker has
  // acknowledged the events still spooled (the devices' last ones, decided at their
  // finish), then, after stop(), until the final states, `offline` and the DISCONNECT are
  // out and the broker has closed the connection. What is not acknowledged by then stays
  // in the spool for the next run.
  const std::uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + 2000 * kMs;
  auto pump_while = [&](auto&& busy) {
    while (busy(mqtt_sink_->status()) && clock_ns(CLOCK_MONOTONIC) < deadline) loop_->run_once(20);
  };
  pump_while([](const nlohmann::json& s) {
    return s.value("state", std::string()) == "connected" &&
           (s.value("spooled", std::uint64_t{0}) > 0 || s.value("in_flight", std::uint64_t{0}) > 0);
  });
  // The final states next, acknowledged before the DISCONNECT: the library sends QoS 1
  // messages beyond its in-flight window only as acknowledgements come back, and drops what
  // it still holds at a disconnect (seen: a counter's last state missing behind 300 buttons').
  mqtt_sink_->publish_final_states();
  pump_while([](const nlohmann::json& s) {
    return s.value("state", std::string()) == "connected" &&
           s.value("in_flight", std::uint64_t{0}) > 0;
  });
  mqtt_sink_->stop();
  pump_while(
      [](const nlohmann::json& s) { return s.value("state", std::string()) != "disconnected"; });
  mqtt_sink_->sync();
}

Daemon::~Daemon() {
  if (ingest_) ingest_->stop();
}

sinks::EventOut& Daemon::events() {
  return *fanout_;
}

template <typename F>
void Daemon::for_each_device(F f) {
  for (Slot& slot : kinds_)
    for (auto& d : slot.devices) f(*d);
}

void Daemon::request_lines(kinds::Device& d) {
  std::optional<kinds::LineRequest> request = d.line_request();
  if (!request || request->lines.empty()) return;
  const config::ChipConfig& chip = find_chip(cfg_, request->lines.front().first->chip);
  std::vector<std::uint32_t> offsets;
  std::string chip_path;
  if (chip.backend == config::Backend::gpiod) {
    try {
      chip_path = gpio::resolve_chip_path(chip);
    } catch (const std::exception& e) {
      throw kinds::DeviceUnavailable(e.what());
    }
  }
  for (const auto& [ref, role] : request->lines) {
    if (const auto* offset = std::get_if<std::uint32_t>(&ref->line)) {
      offsets.push_back(*offset);
    } else if (chip.backend == config::Backend::gpiod) {
      try {
        offsets.push_back(gpio::resolve_line_offset(chip_path, std::get<std::string>(ref->line)));
      } catch (const std::exception& e) {
        throw kinds::DeviceUnavailable(e.what());
      }
    } else {
      throw std::runtime_error(d.name() + ": the sim chip '" + chip.name +
                               "' has no line names; use offsets");
    }
  }
  const config::LineSettings& settings = request->settings;
  if (chip.backend == config::Backend::gpiod) {
    std::vector<gpio::LineRequestSpec> specs;
    for (auto offset : offsets)
      specs.push_back({offset, settings.bias, settings.active_low, request->edge, settings.clock,
                       request->kernel_debounce_us});
    try {
      d.state.source = std::make_unique<gpio::GpiodSource>(chip_path, specs);
    } catch (const std::exception& e) {
      throw kinds::DeviceUnavailable(d.name() + ": requesting lines on " + chip_path + ": " +
                                     e.what());
    }
  } else {
    auto sim = std::make_unique<gpio::SimSource>(chip.name + "/" + d.name());
    for (auto offset : offsets) {
      sim->set_edge(offset, request->edge);
      sim->set_active_low(offset, settings.active_low);
    }
    d.simulate(*sim, offsets);
    sim->start();
    d.state.source = std::move(sim);
  }
  d.state.offsets = offsets;
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const auto id = ingest_->add_line(*d.state.source, offsets[i], request->hook);
    d.state.lines.push_back(id);
    if (routes_.size() <= id) {
      routes_.resize(id + 1u);
      line_info_.resize(id + 1u);
      line_irq_.resize(id + 1u);
    }
    routes_[id] = Route{&d, i};
    line_info_[id] = LineInfo{d.name(), std::string(request->lines[i].second), chip.name,
                              offsets[i], settings.clock};
    LineIrqState& irq = line_irq_[id];
    irq = LineIrqState{};
    if (chip.backend == config::Backend::gpiod) {
      // Right after the request, while its IRQs are the only new ones with our label at
      // these offsets (irqs_taken() sets aside those of the lines requested before).
      irq.irq = irqinfo::IrqReader().find_line_irq(gpio::kConsumerLabel, offsets[i], irqs_taken(),
                                                   irq.note);
      if (!irq.irq)
        spdlog::info("{}: IRQ of line {} not found: {}", d.name(), offsets[i], irq.note);
    } else {
      irq.note = "sim_chip";  // one word: scripts split the status table on blanks
    }
  }
}

void Daemon::build_devices(const config::Config& cfg, std::vector<kinds::Device*>& made) {
  // Each device is kept even when it is not there (it is then down and waited for); a
  // configuration problem found while attaching it still throws. A device already running
  // (kept by a reload) is not made again.
  for (const config::DeviceConfig& c : cfg.devices) {
    if (has_stream(c.name)) continue;
    const auto slot = std::find_if(kinds_.begin(), kinds_.end(),
                                   [&](const Slot& s) { return s.kind->name() == c.kind; });
    if (slot == kinds_.end())
      throw std::logic_error("device '" + c.name + "': no kind '" + c.kind + "'");
    slot->devices.push_back(slot->kind->make(c, *this));
    kinds::Device& d = *slot->devices.back();
    restore_device(d);
    try {
      attach_or_mark_down(d);
    } catch (...) {
      slot->devices.pop_back();
      throw;
    }
    made.push_back(&d);
  }
}

void Daemon::attach(kinds::Device& d) {
  d.open();
  request_lines(d);
  d.attached();
  if (gpio::RtTimerHook* timer = d.rt_timer();
      timer != nullptr &&
      std::find(rt_timer_added_.begin(), rt_timer_added_.end(), &d) == rt_timer_added_.end()) {
    ingest_->add_timer(*timer);
    rt_timer_added_.push_back(&d);
  }
  ++d.state.times_attached;
}

void Daemon::attach_or_mark_down(kinds::Device& d) {
  try {
    attach(d);
  } catch (const kinds::DeviceUnavailable& e) {
    mark_down(d, e.what());
  }
}

void Daemon::mark_down(kinds::Device& d, const std::string& reason) {
  kinds::DeviceState& s = d.state;
  s.down = true;
  s.down_reason = reason;
  s.down_since_ns = clock_ns(CLOCK_MONOTONIC);
  ++s.times_down;
  event_log_->marker(sinks::MarkerType::down, d.name() + ": " + reason);
  spdlog::warn("{} is down, waiting for its device: {}", d.name(), reason);
  fanout_->emit(lifecycle_event(d, s.down_since_ns, "down"),
                [&](nlohmann::json& f) { f["reason"] = reason; });
}

void Daemon::detach(kinds::Device& d) {
  kinds::DeviceState& s = d.state;
  if (s.source) ingest_->remove_source(*s.source);
  for (auto id : s.lines) routes_[id] = Route{};
  s.lines.clear();
  s.offsets.clear();
  s.source.reset();
}

void Daemon::take_failed_streams_down() {
  sources_failed_seen_ = ingest_->sources_failed();
  std::vector<std::pair<kinds::Device*, int>> failed;
  for_each_device([&](kinds::Device& d) {
    if (!d.kind().can_be_down() || !d.state.source) return;
    for (auto id : d.state.lines)
      if (const int err = ingest_->counters(id).source_error.load(std::memory_order_relaxed)) {
        failed.emplace_back(&d, err);
        return;
      }
  });
  if (failed.empty()) return;
  ingest_->stop();
  drain_stopped();  // every edge read from it before it went has its row
  drain_all_devices();
  for (auto [d, err] : failed) {
    const std::string what = d->state.source->describe() + ": " + std::strerror(err);
    detach(*d);
    mark_down(*d, what);
  }
  start_ingest();
}

bool Daemon::device_may_be_back(const kinds::Device& d) const {
  if (!d.resources_present()) return false;
  const std::vector<const config::LineRef*> refs = d.config().settings->line_refs();
  if (refs.empty()) return true;
  try {
    const config::ChipConfig& chip = find_chip(cfg_, refs.front()->chip);
    if (chip.backend == config::Backend::gpiod) gpio::resolve_chip_path(chip);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void Daemon::retry_down_streams() {
  // Cheap checks first, so that the RT thread is stopped (for well under a millisecond;
  // the kernel queues edges meanwhile) only when a device looks back.
  std::vector<kinds::Device*> ready;
  for_each_device([&](kinds::Device& d) {
    if (d.kind().can_be_down() && d.state.down && device_may_be_back(d)) ready.push_back(&d);
  });
  if (ready.empty()) return;
  ingest_->stop();
  drain_stopped();
  for (kinds::Device* d : ready) {
    kinds::DeviceState& s = d->state;
    try {
      attach(*d);
    } catch (const std::exception& e) {
      detach(*d);  // lines requested before the failure
      if (s.down_reason != e.what()) {
        s.down_reason = e.what();
        spdlog::warn("{} is still down: {}", d->name(), s.down_reason);
      }
      continue;
    }
    s.down = false;
    const std::string info =
        d->name() + ": " + (s.source ? s.source->describe() : std::string("attached"));
    event_log_->marker(sinks::MarkerType::up, info);
    spdlog::info("{} is up again ({})", d->name(), info);
    fanout_->emit(lifecycle_event(*d, clock_ns(CLOCK_MONOTONIC), "up"), [](nlohmann::json&) {});
  }
  start_ingest();
}

loop::Timer& Daemon::add_timer(kinds::Device& owner, std::function<void()> callback) {
  // A slot that a removed device's timer left empty is used again, so that reloads do not
  // grow the table.
  auto timer = std::make_unique<loop::Timer>(*loop_, std::move(callback));
  std::size_t slot = 0;
  while (slot < timers_.size() && timers_[slot].timer) ++slot;
  if (slot == timers_.size()) timers_.emplace_back();
  timers_[slot] = TimerSlot{std::move(timer), &owner};
  owner.state.timer_slots.push_back(slot);
  return *timers_[slot].timer;
}

void Daemon::drain_pending() {
  // Edges the RT thread already read but the loop has not dispatched happened before now:
  // a device's deadline (a button's long press or click) handles them first.
  drain(kMaxRecordsPerWake);
}

void Daemon::start_ingest() {
  for_each_device([](kinds::Device& d) { d.before_rt_start(); });
  place_rt_thread();
  const int cpu_before = granted_.cpu;
  ingest_->start();
  granted_.cpu = ingest_->granted().cpu;
  // A reload or a device back may move the RT thread (the IRQ threads moved): the io
  // workers follow. At the first start run() does it, after the loop's priority.
  if (io_workers_placed_ && granted_.cpu != cpu_before) keep_io_workers_off_rt_cpu();
}

std::set<int> Daemon::irqs_taken() const {
  std::set<int> taken;
  for (std::size_t id = 0; id < line_irq_.size(); ++id)
    if (routes_[id].device && line_irq_[id].irq) taken.insert(line_irq_[id].irq->desc.irq);
  return taken;
}

void Daemon::refresh_line_irqs() const {
  irq_refreshed_ns_ = clock_ns(CLOCK_MONOTONIC);
  const irqinfo::IrqReader reader;
  if (irqs_taken().empty()) return;
  const auto pids = reader.irq_thread_pids();
  for (std::size_t id = 0; id < line_irq_.size(); ++id)
    if (routes_[id].device && line_irq_[id].irq)
      line_irq_[id].irq = reader.refresh(line_irq_[id].irq->desc, pids);
}

std::set<int> Daemon::irq_thread_cpus() const {
  const auto online = irqinfo::IrqReader().online_cpus().value_or(std::set<int>{});
  std::set<int> cpus;
  for (std::size_t id = 0; id < line_irq_.size(); ++id)
    if (routes_[id].device && line_irq_[id].irq)
      for (int cpu : irqinfo::confined_cpus(*line_irq_[id].irq, online)) cpus.insert(cpu);
  return cpus;
}

std::string Daemon::irq_cpu_risk() const {
  const int cpu = cfg_.daemon.cpu;
  if (cpu < 0) return {};
  const auto online = irqinfo::IrqReader().online_cpus().value_or(std::set<int>{});
  std::string lines;
  for (std::size_t id = 0; id < line_irq_.size(); ++id) {
    if (!routes_[id].device || !line_irq_[id].irq || !line_irq_[id].irq->thread) continue;
    if (!irqinfo::confined_cpus(*line_irq_[id].irq, online).count(cpu)) continue;
    const auto& t = *line_irq_[id].irq->thread;
    lines += (lines.empty() ? "" : ", ") + line_info_[id].device + "/" + line_info_[id].role +
             " (" + t.comm + ", " + t.policy + " " + std::to_string(t.rt_priority) + ")";
  }
  if (lines.empty()) return {};
  return "daemon.cpu = " + std::to_string(cpu) + " is where the IRQ threads of " + lines +
         " must run: while the RT thread runs there they wait, and the kernel merges the edges "
         "that come meanwhile into one event before any reader sees them (not counted as "
         "lost); leave cpu unset or choose a CPU outside " +
         irqinfo::format_cpu_list(irq_thread_cpus());
}

void Daemon::place_rt_thread() {
  // Before each RT start (start, reload, a device back): the lines' IRQ threads may have
  // been moved since (irq affinity, taskset), and lines may have come or gone.
  refresh_line_irqs();
  const auto online = irqinfo::IrqReader().online_cpus().value_or(std::set<int>{});
  const std::set<int> irq_cpus = irq_thread_cpus();
  if (cfg_.daemon.cpu >= 0) {
    rt_placement_ = "daemon.cpu";
    ingest_->set_rt_cpu(cfg_.daemon.cpu);
    if (const std::string risk = irq_cpu_risk(); !risk.empty()) spdlog::warn("{}", risk);
    return;
  }
  const bool any_irq = std::any_of(line_irq_.begin(), line_irq_.end(),
                                   [](const LineIrqState& s) { return s.irq.has_value(); });
  const int cpu = irqinfo::default_rt_cpu(irq_cpus, online);
  ingest_->set_rt_cpu(cpu);
  if (cpu >= 0)
    rt_placement_ = "off CPU " + irqinfo::format_cpu_list(irq_cpus) + " where the IRQ threads run";
  else if (!any_irq)
    rt_placement_ = "any CPU: no GPIO IRQ found";
  else if (online.size() < 2)
    rt_placement_ = "any CPU: one CPU online";
  else if (irq_cpus.empty())
    rt_placement_ = "any CPU: the IRQ threads may run on every CPU";
  else
    rt_placement_ = "any CPU: the IRQ threads are held to every CPU";
}

void Daemon::on_wake() {
  drain(kMaxRecordsPerWake);
  if (ingest_->sources_failed() != sources_failed_seen_) take_failed_streams_down();
}

void Daemon::drain_stopped() {
  // GAP records the full ring refused at the RT thread's last flush are offered again
  // as the ring empties, so that no loss goes unreported at a stop or a reload.
  do drain(~std::size_t{0});
  while (ingest_->offer_pending_stopped());
  drain(~std::size_t{0});
}

void Daemon::drain_all_devices() {
  for_each_device([](kinds::Device& d) { d.drain_all(); });
}

void Daemon::drain(std::size_t max_records) {
  std::size_t taken = 0;
  for (;;) {
    const std::size_t n = ingest_->ring().pop_batch(drain_buffer_);
    if (n == 0) break;
    // The clocks are read once per batch, after it left the ring, so that the latency
    // (kernel timestamp to the loop holding the record) is never counted short, also for
    // records the RT thread pushed while this drain was running.
    const std::uint64_t now_mono = clock_ns(CLOCK_MONOTONIC);
    const std::uint64_t now_real = clock_ns(CLOCK_REALTIME);
    for (std::size_t i = 0; i < n; ++i) dispatch(drain_buffer_[i], now_mono, now_real);
    records_dispatched_ += n;
    taken += n;
    if (n < drain_buffer_.size()) break;
    if (taken >= max_records) {
      // Leave the rest for the next round so that file writes, timers and clients are
      // served in between even while edges come faster than the loop decodes them.
      ingest_->wake().set();
      break;
    }
  }
  for_each_device([](kinds::Device& d) { d.after_drain(); });
}

void Daemon::dispatch(const gpio::EdgeRecord& r, std::uint64_t now_mono, std::uint64_t now_real) {
  if (r.line >= routes_.size()) return;
  const Route& route = routes_[r.line];
  const LineInfo& info = line_info_[r.line];
  if (!route.device) return;
  kinds::Device& d = *route.device;
  kinds::DeviceState& s = d.state;

  if (r.kind == gpio::RecordKind::gap) {
    const auto reason = static_cast<gpio::GapReason>(r.level);
    sinks::GapEntry gap;
    gap.ts_ns = now_mono;
    gap.reason = reason == gpio::GapReason::ring_full ? sinks::GapReason::ring_full
                                                      : sinks::GapReason::kernel_fifo;
    gap.device = d.name();
    gap.line = info.role;
    gap.chip = info.chip;
    gap.offset = info.offset;
    gap.lost = r.count;
    // Both kinds carry the span of line seqnos missing: lost strictly between from and to.
    gap.unit = sinks::GapUnit::line_seqno;
    gap.from = r.line_seqno - 1;
    gap.to = std::uint64_t{r.global_seqno} + 1;
    (reason == gpio::GapReason::ring_full ? s.gaps_ring : s.gaps_kernel) += r.count;
    sinks::DeviceEvent ev;
    ev.ts_ns = r.timestamp_ns;
    ev.device = d.name();
    ev.kind = d.kind().name();
    ev.event = "gap";
    ev.cls = sinks::EventClass::loss;
    ev.row = sinks::DeviceEvent::Row::gap;
    ev.gap = &gap;
    fanout_->emit(ev, [&](nlohmann::json& f) { f["lost"] = r.count; });
    d.on_gap(r, route.line_index);
    return;
  }

  const std::uint64_t now = info.clock == config::EventClock::realtime ? now_real : now_mono;
  const std::uint64_t latency = now > r.timestamp_ns ? now - r.timestamp_ns : 0;
  s.latency.record(latency);
  latency_all_.record(latency);

  sinks::EdgeEntry edge;
  edge.ts_ns = r.timestamp_ns;
  edge.device = d.name();
  edge.line = info.role;
  edge.chip = info.chip;
  edge.offset = info.offset;
  edge.edge = r.level ? sinks::EdgeDirection::rising : sinks::EdgeDirection::falling;
  edge.line_seqno = r.line_seqno;
  edge.seqno = r.global_seqno;
  fanout_->edge(edge);

  d.on_edge(r, route.line_index);
}

void Daemon::apply_loop_priority() {
  // After the RT thread has started (so it never inherits this priority instead of its
  // own) and before the loop's io-wq workers that write the logs are created, so that
  // they inherit it: a SCHED_OTHER loop on a busy machine was measured off the CPU for
  // 65-200 ms at 1 M edges/s, long enough to overflow the edge ring.
  gpio::RtGranted loop;
  gpio::apply_thread_rt(gpio::RtRequest{cfg_.daemon.loop_priority, -1, false}, loop);
  loop_priority_ = loop.priority;
  if (!loop.refused.empty()) granted_.refused += "loop thread: " + loop.refused;
}

void Daemon::keep_io_workers_off_rt_cpu() {
  // The loop's io-wq workers do the log writes and fdatasyncs inside the kernel; measured
  // here, one could hold the RT thread's CPU for 4-6 ms. With the RT thread pinned, they
  // get every other CPU this process may use.
  io_workers_off_rt_cpu_ = false;
  if (granted_.cpu < 0) return;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (::sched_getaffinity(0, sizeof cpus, &cpus) != 0) return;
  CPU_CLR(static_cast<unsigned>(granted_.cpu), &cpus);
  if (CPU_COUNT(&cpus) == 0) return;  // one CPU only: nothing to move them to
  if (const int r = loop_->set_worker_cpus(cpus); r < 0) {
    granted_.refused += "io worker affinity away from CPU " + std::to_string(granted_.cpu) + ": " +
                        std::strerror(-r) + "\n";
    return;
  }
  io_workers_off_rt_cpu_ = true;
}

int Daemon::run(const RunOptions& options) {
  // mlockall after everything is allocated and before the RT thread runs.
  gpio::RtGranted mlock;
  gpio::apply_mlock(gpio::RtRequest{0, -1, cfg_.daemon.mlock}, mlock);
  start_ingest();
  granted_ = ingest_->granted();
  granted_.mlocked = mlock.mlocked;
  granted_.refused += mlock.refused;
  apply_loop_priority();
  keep_io_workers_off_rt_cpu();
  io_workers_placed_ = true;
  loop_->set_spin_before_sleep(cfg_.daemon.loop_spin_us);
  if (!granted_.refused.empty()) {
    std::string refused = granted_.refused;
    if (!refused.empty() && refused.back() == '\n') refused.pop_back();
    spdlog::warn("running without full real-time treatment: {}", refused);
  }

  wake_waiter_ = std::make_unique<loop::FlagWaiter>(*loop_, ingest_->wake(), [this] { on_wake(); });
  wake_waiter_->start();
  signals_->start();
  control_->start();
  if (const auto& fds = control_->fd_limit(); !fds.enough())
    spdlog::warn("open file limit {} (wanted {}: {}); serving at most {} control clients", fds.got,
                 fds.wanted, fds.refused, control_->client_limit());
  for_each_device([](kinds::Device& d) { d.start(); });

  if (previous_run_unstopped_) {
    // Killed (SIGKILL), crashed or the power lost: what that run had read but not yet
    // written, and the edges the kernel still held for it, are gone and cannot be counted.
    // Said here, so that the loss is not silent.
    spdlog::warn(
        "the previous run ended without a STOP record (killed or crashed): what it had not yet "
        "written to {} is lost",
        event_log_->options().path);
    event_log_->marker(
        sinks::MarkerType::start,
        cfg_.file +
            "; the previous run ended without a STOP record (killed or crashed): what it "
            "had read but not yet written is lost, uncounted");
  } else {
    event_log_->marker(sinks::MarkerType::start, cfg_.file);
  }
  started_ = true;
  write_state_markers();

  flush_timer_ = std::make_unique<loop::Timer>(*loop_, [this] {
    drain_all_devices();  // the event log keeps its own sync interval
    // The MQTT spool's fdatasync, at the log's interval.
    if (mqtt_sink_) mqtt_sink_->sync();
    const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
    for_each_device([now](kinds::Device& d) { d.on_flush(now); });
    // A log file moved or deleted from outside (without a reopen request) would otherwise
    // take every later record with it: two stats per file per tick find it.
    try {
      reopen_logs("found moved or deleted", true);
    } catch (const std::exception& e) {
      spdlog::error("reopen: {}", e.what());
    }
  });
  flush_timer_->start_periodic(std::uint64_t{cfg_.daemon.flush_interval_ms} * kMs);
  if (state_file_) {
    state_timer_ = std::make_unique<loop::Timer>(*loop_, [this] { save_state_file(); });
    state_timer_->start_periodic(std::uint64_t{cfg_.daemon.state_save_interval_ms} * kMs);
  }
  device_timer_ = std::make_unique<loop::Timer>(*loop_, [this] { retry_down_streams(); });
  device_timer_->start_periodic(kDeviceRetryMs * kMs);
  start_metrics_textfile();

  std::uint64_t watchdog_us = 0;
  if (options.notify_systemd && sd_watchdog_enabled(0, &watchdog_us) > 0 && watchdog_us > 0) {
    watchdog_timer_ = std::make_unique<loop::Timer>(*loop_, [] { sd_notify(0, "WATCHDOG=1"); });
    watchdog_timer_->start_periodic(watchdog_us * 1000 / 2);
  }
  if (options.run_seconds > 0) {
    end_timer_ = std::make_unique<loop::Timer>(*loop_, [this] { loop_->stop(); });
    end_timer_->start_once(static_cast<std::uint64_t>(options.run_seconds * 1e9));
  }
  if (options.notify_systemd) sd_notify(0, "READY=1\nSTATUS=running");
  // "N encoders, N buttons, ...": every kind in registry order.
  std::string counts;
  for (const Slot& slot : kinds_) {
    if (!counts.empty()) counts += ", ";
    counts += fmt::format("{} {}", slot.devices.size(), slot.kind->plural());
  }
  spdlog::info("gpioirqd {} running: {}; socket {}; logs in {}", kVersion, counts,
               cfg_.daemon.socket_path, cfg_.daemon.log_dir);

  if (mqtt_sink_) mqtt_sink_->start();
  loop_->run();

  if (options.notify_systemd) sd_notify(0, "STOPPING=1");
  shutdown();
  return 0;
}

void Daemon::shutdown() {
  ingest_->stop();  // its last flush hands over everything it read
  drain_stopped();
  drain_all_devices();
  const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
  for_each_device([now](kinds::Device& d) { d.on_flush(now); });
  save_state_file();  // every pulse read is in it
  // Devices' own files (IMU frame logs) are closed here, before the event log, so that
  // the frames their last writes lost get GAP rows.
  for_each_device([](kinds::Device& d) { d.finish(kinds::Finish::stop); });
  stop_mqtt();  // after the devices' last events (a button's pending click), so they go out
  event_log_->marker(sinks::MarkerType::stop);
  // The run's last figures, for the scrapes after it.
  if (metrics_textfile_) write_metrics_textfile();
  control_->stop();
  event_log_->close();  // flushes and fdatasyncs
  if (const std::size_t left = event_log_->unwritten_bytes(); left > 0)
    // The event log is where losses are written down; when it cannot take its own last
    // records (the disk still full), the journal is the only place left to say so.
    spdlog::error(
        "the event log {} could not be written at the stop: {} bytes of its last records are lost "
        "({})",
        event_log_->options().path, left, std::strerror(event_log_->status().file.last_error));
  run_marker_->mark_stopped();  // last: everything is on disk
}

nlohmann::json Daemon::reopen_logs(const std::string& reason, bool only_lost) {
  nlohmann::json reopened = nlohmann::json::array(), unchanged = nlohmann::json::array(),
                 failed = nlohmann::json::array();
  // A file renamed away is usually about to get its rotating tool's reopen request
  // (logrotate's postrotate, after its `create`); the check leaves that a moment, while
  // the records keep going to the renamed file. A deleted file is reopened at once.
  constexpr std::uint64_t kMovedGraceNs = 1'000'000'000;
  using PathCheck = sinks::AppendFile::PathCheck;
  auto reopen = [&](const std::string& path, auto&& path_check, auto&& do_reopen) {
    if (only_lost) {
      const PathCheck state = path_check();
      if (state == PathCheck::same) {
        moved_seen_ns_.erase(path);
        return;
      }
      if (state == PathCheck::moved) {
        const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
        const auto seen = moved_seen_ns_.try_emplace(path, now).first;
        if (now - seen->second < kMovedGraceNs) return;
      }
      ++log_files_found_moved_;
      spdlog::warn("log file {} was moved or deleted; opening it anew", path);
    }
    moved_seen_ns_.erase(path);
    const int r = do_reopen();
    if (r == 1) {
      reopened.push_back(path);
      spdlog::info("reopened {} ({})", path, reason);
    } else if (r == 0) {
      unchanged.push_back(path);
    } else {
      failed.push_back({{"path", path}, {"error", sinks::open_error_text(r)}});
      spdlog::error("reopening {} ({}): {}; its records wait in memory (up to the buffer limit)",
                    path, reason, sinks::open_error_text(r));
    }
  };
  // The event log first, so that the devices' files' REOPEN markers go to the new one.
  const std::string& event_path = event_log_->options().path;
  reopen(
      event_path, [&] { return event_log_->path_check(); },
      [&] { return event_log_->reopen("reopened " + event_path + " (" + reason + ")"); });
  for_each_device([&](kinds::Device& d) {
    for (kinds::LogFile* log : d.logs()) {
      const std::string& path = log->path();
      reopen(
          path, [&] { return log->path_check(); },
          [&] {
            const int r = log->reopen();
            if (r == 1)
              event_log_->marker(sinks::MarkerType::reopen,
                                 "reopened " + path + " (" + reason + ")");
            return r;
          });
    }
  });
  return {{"reopened", std::move(reopened)},
          {"unchanged", std::move(unchanged)},
          {"failed", std::move(failed)}};
}

void Daemon::retire(kinds::Device& d) {
  kinds::DeviceState& s = d.state;
  if (s.source) ingest_->remove_source(*s.source);
  for (auto id : s.lines) routes_[id] = Route{};
  if (const auto added = std::find(rt_timer_added_.begin(), rt_timer_added_.end(), &d);
      added != rt_timer_added_.end()) {
    ingest_->remove_timer(*d.rt_timer());
    rt_timer_added_.erase(added);
  }
  d.finish(kinds::Finish::retired);
  for (const std::size_t slot : s.timer_slots)
    timers_[slot] = TimerSlot{};  // its destructor withdraws it
  s.timer_slots.clear();
}

void Daemon::reload() {
  config::Config next;
  try {
    next = kinds::load_config(cfg_.file);
  } catch (const std::exception& e) {
    ++reload_failures_;
    last_reload_error_ = e.what();
    spdlog::error("reload refused, the running configuration stays: {}", e.what());
    throw;
  }
  const config::ConfigDiff diff = config::diff(cfg_, next);
  if (diff.daemon_changed)
    spdlog::warn("reload: [daemon] settings changed; they take effect at the next restart");
  if (mqtt_changed(cfg_.mqtt, next.mqtt))
    spdlog::warn("reload: [mqtt] settings changed; they take effect at the next restart");
  ingest_->stop();
  drain_stopped();  // hand everything read so far, and every GAP, to the old devices
  drain_all_devices();
  // A changed device is made anew and restored from this save; one the reload adds keeps
  // the entry the file still has for it, to be restored from.
  save_state_file(&diff.added);
  auto gone = [&](const std::string& name) {
    return std::find(diff.changed.begin(), diff.changed.end(), name) != diff.changed.end() ||
           std::find(diff.removed.begin(), diff.removed.end(), name) != diff.removed.end();
  };
  // An unchanged device stays as it is: the same object, lines, timers and figures.
  for (Slot& slot : kinds_) {
    for (auto it = slot.devices.begin(); it != slot.devices.end();) {
      if (gone((*it)->name())) {
        retire(**it);
        it = slot.devices.erase(it);
      } else {
        ++it;
      }
    }
  }
  const config::DaemonConfig kept_daemon = cfg_.daemon;
  const bool metrics_changed = !(cfg_.metrics == next.metrics);
  const std::optional<config::MqttConfig> kept_mqtt = cfg_.mqtt;
  cfg_ = std::move(next);
  cfg_.daemon = kept_daemon;
  cfg_.mqtt = kept_mqtt;
  if (metrics_changed) start_metrics_textfile();
  std::vector<kinds::Device*> made;
  try {
    build_devices(cfg_, made);
  } catch (const std::exception& e) {
    // A chip or bus of a new or changed device is not there: what did open runs, the
    // rest is reported (the file itself was valid, so there is nothing to roll back to).
    ++reload_failures_;
    last_reload_error_ = e.what();
    spdlog::error("reload: {}", e.what());
  }
  for (kinds::Device* d : made) d->start();
  start_ingest();
  write_state_markers();
  if (mqtt_sink_) mqtt_sink_->devices_changed();
  ++reloads_;
  const std::string info = std::to_string(diff.unchanged.size()) + " unchanged, " +
                           std::to_string(diff.changed.size()) + " changed, " +
                           std::to_string(diff.added.size()) + " added, " +
                           std::to_string(diff.removed.size()) + " removed";
  event_log_->marker(sinks::MarkerType::reload, info);
  spdlog::info("reloaded {}: {}", cfg_.file, info);
}

nlohmann::json Daemon::status() const {
  const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
  if (now - irq_refreshed_ns_ >= kIrqRefreshNs) refresh_line_irqs();
  nlohmann::json lines = nlohmann::json::array();
  for (std::size_t id = 0; id < routes_.size(); ++id) {
    if (!routes_[id].device) continue;
    const auto& c = ingest_->counters(static_cast<std::uint16_t>(id));
    const auto& info = line_info_[id];
    nlohmann::json line = {{"device", info.device},
                           {"role", info.role},
                           {"chip", info.chip},
                           {"offset", info.offset},
                           {"edges", c.edges.load()},
                           {"kernel_lost", c.kernel_lost.load()},
                           {"ring_dropped", c.ring_dropped.load()},
                           {"last_ts_ns", c.last_timestamp_ns.load()}};
    add_irq_fields(line, id < line_irq_.size() ? line_irq_[id] : LineIrqState{});
    lines.push_back(std::move(line));
  }
  nlohmann::json rt = {
      {"priority", granted_.priority},   {"cpu", granted_.cpu},
      {"mlocked", granted_.mlocked},     {"io_workers_off_rt_cpu", io_workers_off_rt_cpu_},
      {"loop_priority", loop_priority_}, {"refused", granted_.refused},
      {"placement", rt_placement_},      {"irq_cpus", irqinfo::format_cpu_list(irq_thread_cpus())},
      {"irq_cpu_risk", irq_cpu_risk()}};
  nlohmann::json loop_stats = {{"spin_us", loop_->spin_before_sleep_us()},
                               {"kernel_entries", loop_->kernel_entries()},
                               {"spins_found_work", loop_->spins_found_work()},
                               {"spins_ran_out", loop_->spins_ran_out()}};
  const auto server = control_ ? control_->stats() : control::ServerStats{};
  nlohmann::json log = nlohmann::json::object();
  if (event_log_) {
    const sinks::EventLogStatus ls = event_log_->status();
    log = {{"bytes", ls.file.file_bytes},
           {"edges", ls.edges},
           {"events", ls.events},
           {"gaps", ls.gaps},
           {"lost", ls.lost},
           {"write_errors", ls.file.write_errors},
           {"sync_errors", ls.file.sync_errors},
           {"healthy", ls.file.healthy},
           {"buffer_memory", ls.file.buffer_memory},
           {"buffer_grows", ls.file.buffer_grows},
           {"reopens", ls.file.reopens},
           {"truncations", ls.file.truncations},
           {"cut_bytes", ls.file.cut_bytes}};
  }
  // Every log file: the event log, then each device's own (an IMU's frames).
  nlohmann::json files = nlohmann::json::array();
  if (event_log_) files.push_back(file_json(event_log_->options().path, event_log_->status().file));
  for (const Slot& slot : kinds_)
    for (const auto& d : slot.devices)
      for (const kinds::LogFile* f : d->logs())
        files.push_back(file_json(f->path(), f->file_status()));
  // Every device whose chip, line or bus is missing, and why (waited for, retried).
  nlohmann::json down = nlohmann::json::array();
  std::uint64_t outages = 0;
  for (const Slot& slot : kinds_) {
    if (!slot.kind->can_be_down()) continue;
    for (const auto& d : slot.devices) {
      const kinds::DeviceState& s = d->state;
      outages += s.times_down;
      if (s.down)
        down.push_back({{"name", d->name()},
                        {"reason", s.down_reason},
                        {"down_s", static_cast<double>(now - s.down_since_ns) / 1e9},
                        {"times_down", s.times_down}});
    }
  }
  nlohmann::json body = {
      {"version", kVersion},
      {"pid", ::getpid()},
      {"devices_down", std::move(down)},
      {"previous_run_unstopped", previous_run_unstopped_},
      {"device_outages", outages},
      {"uptime_s", static_cast<double>(now - started_mono_ns_) / 1e9},
      {"config", cfg_.file},
      {"log_dir", cfg_.daemon.log_dir},
      {"event_log", event_log_ ? event_log_->options().path : std::string()},
      {"log", log},
      {"files", files},
      {"files_found_moved", log_files_found_moved_},
      {"socket", cfg_.daemon.socket_path},
      {"rt", rt},
      {"loop", loop_stats},
      {"ring",
       {{"capacity", ingest_->ring().capacity()},
        {"high_water", ingest_->ring().high_water()},
        {"records", ingest_->records_pushed()},
        {"rt_wakes", ingest_->wakes()},
        {"loop_wakes", wake_waiter_ ? wake_waiter_->wakes() : 0}}},
      {"reloads", reloads_},
      {"timers", std::count_if(timers_.begin(), timers_.end(),
                               [](const TimerSlot& t) { return t.timer != nullptr; })},
      {"reload_failures", reload_failures_},
      {"last_reload_error", last_reload_error_},
      {"lines", lines},
      {"latency", histogram_json(latency_all_, false)},
      {"control",
       {{"clients", server.clients},
        {"monitors", server.monitors},
        {"accepted", server.accepted},
        {"requests", server.requests},
        {"error_replies", server.error_replies},
        {"client_limit", control_ ? control_->client_limit() : 0},
        {"fd_limit", control_ ? fd_limit_json(control_->fd_limit()) : nlohmann::json()}}}};
  if (state_file_) body["state"] = state_status();
  // A kind's own member (poll: "polls"), present even when it has no device.
  for (const Slot& slot : kinds_) {
    const std::string_view key = slot.kind->status_key();
    if (key.empty()) continue;
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& d : slot.devices) entries.push_back(d->status_entry());
    body[std::string(key)] = std::move(entries);
  }
  if (mqtt_sink_) body["mqtt"] = mqtt_sink_->status();
  return body;
}

bool Daemon::has_stream(const std::string& name) const {
  for (const Slot& slot : kinds_)
    for (const auto& d : slot.devices)
      if (d->name() == name) return true;
  return false;
}

nlohmann::json Daemon::handle(std::string_view cmd, const nlohmann::json& request,
                              const control::PeerCredentials&) {
  const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
  // `names` narrows a command to some streams; a name that is no stream is an error, not
  // an empty answer (and never a reset of everything).
  // The server has checked the argument types (control::validate_request); this handler
  // is also called directly, so a wrong type is a clear refusal here too, never a
  // json::type_error.
  std::vector<std::string> names;
  if (const auto it = request.find("names"); it != request.end()) {
    if (!it->is_array())
      throw control::CommandError("argument 'names' must be an array of strings");
    for (const auto& n : *it) {
      if (!n.is_string())
        throw control::CommandError("argument 'names' must be an array of strings");
      names.push_back(n.get<std::string>());
    }
  }
  for (const auto& n : names)
    if (!has_stream(n)) throw control::CommandError("unknown stream '" + n + "'");
  auto wanted = [&](const std::string& name) {
    return names.empty() || std::find(names.begin(), names.end(), name) != names.end();
  };
  if (cmd == "status") {
    nlohmann::json body = status();
    if (!names.empty()) {
      nlohmann::json lines = nlohmann::json::array();
      for (auto& line : body["lines"])
        if (wanted(line["device"].get<std::string>())) lines.push_back(line);
      body["lines"] = std::move(lines);
      for (const Slot& slot : kinds_) {
        const std::string key(slot.kind->status_key());
        if (key.empty()) continue;
        nlohmann::json entries = nlohmann::json::array();
        for (auto& entry : body[key])
          if (wanted(entry["name"].get<std::string>())) entries.push_back(entry);
        body[key] = std::move(entries);
      }
    }
    return body;
  }
  // A kind's list command (encoders, buttons, counters, imu): its devices' status objects;
  // kinds that share one (counters: counter then poll) in registry order.
  bool listed = false;
  nlohmann::json list = nlohmann::json::array();
  for (const Slot& slot : kinds_) {
    if (slot.kind->list_command().empty() || slot.kind->list_command() != cmd) continue;
    listed = true;
    for (const auto& d : slot.devices)
      if (wanted(d->name())) list.push_back(d->status(now));
  }
  if (listed) return {{std::string(cmd), std::move(list)}};
  if (cmd == "devices") {
    // Every device by kind; a kind without a (wanted) device is left out. JSON object
    // members have no order (nlohmann sorts them), so `kinds` names the kinds present in
    // registry order: the order a client shows them in.
    nlohmann::json by_kind = nlohmann::json::object();
    nlohmann::json kind_order = nlohmann::json::array();
    for (const Slot& slot : kinds_) {
      nlohmann::json entries = nlohmann::json::array();
      for (const auto& d : slot.devices) {
        if (!wanted(d->name())) continue;
        nlohmann::json j = d->status(now);
        j["name"] = d->name();
        j["down"] = d->state.down;
        if (d->state.down) j["down_reason"] = d->state.down_reason;
        j["lost"] = d->lost();
        j["summary"] = d->summary(now);
        entries.push_back(std::move(j));
      }
      if (entries.empty()) continue;
      by_kind[std::string(slot.kind->name())] = std::move(entries);
      kind_order.push_back(slot.kind->name());
    }
    return {{"devices", std::move(by_kind)}, {"kinds", std::move(kind_order)}};
  }
  if (cmd == "latency") {
    bool buckets = true;
    if (const auto it = request.find("buckets"); it != request.end()) {
      if (!it->is_boolean()) throw control::CommandError("argument 'buckets' must be a boolean");
      buckets = it->get<bool>();
    }
    nlohmann::json a = nlohmann::json::array();
    for (const Slot& slot : kinds_) {
      if (!slot.kind->in_latency_report()) continue;
      for (const auto& d : slot.devices) {
        if (!wanted(d->name())) continue;
        nlohmann::json j = histogram_json(d->state.latency, buckets);
        j["name"] = d->name();
        a.push_back(std::move(j));
      }
    }
    nlohmann::json all = histogram_json(latency_all_, buckets);
    return {{"latency", a}, {"all", all}};
  }
  if (cmd == "reset") {
    for_each_device([&](kinds::Device& d) {
      if (wanted(d.name())) d.reset();
    });
    if (names.empty()) {
      latency_all_.reset();
      ingest_->ring().reset_high_water();
    }
    save_state_file();  // a restart must not bring the old totals back
    return {{"reset", true}};
  }
  if (cmd == "set") return set_device_value(request);
  if (cmd == "reopen") return reopen_logs("gpioirqctl reopen", false);
  if (cmd == "reload") {
    try {
      reload();
    } catch (const std::exception& e) {
      throw control::CommandError(std::string("reload refused, the running configuration stays: ") +
                                  e.what());
    }
    return {{"reloaded", cfg_.file}, {"reloads", reloads_}};
  }
  // ControlServer subscribes the client after this reply; events come from publish().
  if (cmd == "monitor") return nlohmann::json::object();
  throw control::CommandError("unknown command '" + std::string(cmd) + "'");
}

void Daemon::load_state_file() {
  if (!cfg_.daemon.keep_state) return;
  state_file_ = std::make_unique<state::StateFile>(cfg_.daemon.state_dir);
  if (const std::string problem = state_file_->prepare(); !problem.empty())
    throw config::ConfigError(problem);
  boot_id_ = state::read_boot_id();
  state::LoadedState loaded = state_file_->load();
  switch (loaded.outcome) {
    case state::LoadedState::Outcome::missing:
      spdlog::info("no state file {} yet: every device starts from zero", state_file_->path());
      break;
    case state::LoadedState::Outcome::corrupt:
      spdlog::warn("the state file {}: every device starts from zero", loaded.problem);
      state_notes_.push_back("the state file " + loaded.problem +
                             ": every device starts from zero");
      break;
    case state::LoadedState::Outcome::loaded:
      saved_devices_ = std::move(loaded.devices);
      saved_realtime_ns_ = loaded.saved_realtime_ns;
      saved_boot_id_ = std::move(loaded.saved_boot_id);
      break;
  }
}

void Daemon::restore_device(kinds::Device& d) {
  if (!state_file_) return;
  const auto entry = saved_devices_.find(d.name());
  if (entry == saved_devices_.end()) return;
  // Not restored: the device starts from zero, and the journal and the log say why.
  auto from_zero = [&](const std::string& why) {
    std::string note = d.name() + ": " + why + ": started from zero";
    spdlog::warn("{}", note);
    state_notes_.push_back(std::move(note));
  };
  const std::string saved_kind = (*entry)["kind"].get<std::string>();
  if (saved_kind != d.kind().name()) {
    from_zero(fmt::format("saved as a {}, now a {}", saved_kind, d.kind().name()));
    return;
  }
  std::string words;
  try {
    words = d.restore_state((*entry)["state"]);
  } catch (const std::exception& e) {
    from_zero(fmt::format("its saved state was not used ({})", e.what()));
    return;
  }
  if (words.empty()) return;  // a kind that keeps nothing
  ++devices_restored_;
  const auto now = static_cast<std::int64_t>(clock_ns(CLOCK_REALTIME));
  const std::int64_t unwatched_s = saved_realtime_ns_ > 0 && now > saved_realtime_ns_
                                       ? (now - saved_realtime_ns_) / 1'000'000'000
                                       : 0;
  std::string note = fmt::format("{}: {} restored; not watched for {} s (saved {}{})", d.name(),
                                 words, unwatched_s, state::utc_text(saved_realtime_ns_),
                                 !saved_boot_id_.empty() && saved_boot_id_ != boot_id_
                                     ? ", before the machine restarted"
                                     : "");
  spdlog::info("{}", note);
  state_notes_.push_back(std::move(note));
}

void Daemon::write_state_markers() {
  if (!started_) return;  // run() writes them after its START marker
  for (const std::string& note : state_notes_) event_log_->marker(sinks::MarkerType::restore, note);
  state_notes_.clear();
}

void Daemon::save_state_file(const std::vector<std::string>* about_to_be_added) {
  if (!state_file_) return;
  // Only the devices configured now: one a reload removed is dropped here.
  nlohmann::json devices = nlohmann::json::object();
  for_each_device([&](kinds::Device& d) {
    nlohmann::json saved = d.save_state();
    if (!saved.is_null())
      devices[d.name()] = {{"kind", d.kind().name()}, {"state", std::move(saved)}};
  });
  if (about_to_be_added)
    for (const std::string& name : *about_to_be_added)
      if (const auto kept = saved_devices_.find(name);
          kept != saved_devices_.end() && !devices.contains(name))
        devices[name] = *kept;
  const auto now = static_cast<std::int64_t>(clock_ns(CLOCK_REALTIME));
  if (const int err = state_file_->save(devices, now, boot_id_); err < 0) {
    ++state_save_errors_;
    const std::string error = std::strerror(-err);
    if (state_last_error_ != error)  // once per kind of failure, not every interval
      spdlog::error("saving the state file {}: {}; a restart would start from the last save",
                    state_file_->path(), error);
    state_last_error_ = error;
    return;
  }
  if (!state_last_error_.empty())
    spdlog::info("the state file {} is saved again", state_file_->path());
  state_last_error_.clear();
  ++state_saves_;
  saved_devices_ = std::move(devices);
  saved_realtime_ns_ = now;
  saved_boot_id_ = boot_id_;
}

nlohmann::json Daemon::state_status() const {
  return {
      {"path", state_file_->path()},     {"save_interval_ms", cfg_.daemon.state_save_interval_ms},
      {"saves", state_saves_},           {"save_errors", state_save_errors_},
      {"last_error", state_last_error_}, {"restored", devices_restored_}};
}

nlohmann::json Daemon::set_device_value(const nlohmann::json& request) {
  const auto name_it = request.find("name");
  if (name_it == request.end() || !name_it->is_string())
    throw control::CommandError("set needs \"name\": the device's name");
  const auto value_it = request.find("value");
  if (value_it == request.end() || !value_it->is_number())
    throw control::CommandError("set needs \"value\": a number");
  const std::string name = name_it->get<std::string>();
  kinds::Device* device = nullptr;
  std::vector<std::string_view> names;
  for (Slot& slot : kinds_)
    for (auto& d : slot.devices) {
      names.push_back(d->name());
      if (d->name() == name) device = d.get();
    }
  if (!device) {
    std::string message = "unknown device '" + name + "'";
    if (const auto near = config::nearest_name(name, names))
      message += "; did you mean '" + std::string(*near) + "'?";
    throw control::CommandError(message);
  }
  try {
    device->set_value(value_it->get<double>());
  } catch (const std::invalid_argument& e) {
    throw control::CommandError(std::string("set ") + name + ": " + e.what());
  }
  event_log_->marker(sinks::MarkerType::set,
                     fmt::format("{}: set to {} by gpioirqctl set", name, value_it->dump()));
  save_state_file();
  nlohmann::json status = device->status(clock_ns(CLOCK_MONOTONIC));
  status["name"] = device->name();
  return {{"set", std::move(status)}, {"kind", device->kind().name()}};
}

// ----- [metrics] textfile ---------------------------------------------------------------

void Daemon::start_metrics_textfile() {
  metrics_textfile_timer_.reset();
  metrics_textfile_.reset();
  if (cfg_.metrics.textfile.empty()) return;
  metrics_textfile_ = std::make_unique<MetricsTextfile>(cfg_.metrics.textfile);
  metrics_textfile_timer_ =
      std::make_unique<loop::Timer>(*loop_, [this] { write_metrics_textfile(); });
  metrics_textfile_timer_->start_periodic(std::uint64_t{cfg_.metrics.textfile_interval_ms} * kMs);
  write_metrics_textfile();  // at once, not an interval later
}

void Daemon::write_metrics_textfile() {
  // What `gpioirqctl metrics` replies: the daemon's families, then the control socket's.
  metrics_textfile_->write(metrics_text() + control_->stats().metrics_text(),
                           clock_ns(CLOCK_MONOTONIC));
}

std::string Daemon::metrics_text() {
  std::string out;
  auto line = [&](const std::string& name, const std::string& labels, double value) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += fmt::format(" {}\n", value);  // shortest exact form: 7017, 0.222
  };
  const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
  out +=
      "# HELP gpioirq_edges_total Edge events read from the kernel per line.\n# TYPE "
      "gpioirq_edges_total counter\n";
  for (std::size_t id = 0; id < routes_.size(); ++id) {
    if (!routes_[id].device) continue;
    const auto& c = ingest_->counters(static_cast<std::uint16_t>(id));
    const std::string l =
        "device=\"" + line_info_[id].device + "\",line=\"" + line_info_[id].role + "\"";
    line("gpioirq_edges_total", l, static_cast<double>(c.edges.load()));
  }
  out +=
      "# HELP gpioirq_device_down 1 while a device's chip, line or bus is missing.\n"
      "# TYPE gpioirq_device_down gauge\n";
  for (const Slot& slot : kinds_)
    if (slot.kind->can_be_down())
      for (const auto& d : slot.devices)
        line("gpioirq_device_down", "device=\"" + d->name() + "\"", d->state.down ? 1 : 0);
  out += "# HELP gpioirq_lost_total Edges lost, by reason.\n# TYPE gpioirq_lost_total counter\n";
  for (std::size_t id = 0; id < routes_.size(); ++id) {
    if (!routes_[id].device) continue;
    const auto& c = ingest_->counters(static_cast<std::uint16_t>(id));
    const std::string l =
        "device=\"" + line_info_[id].device + "\",line=\"" + line_info_[id].role + "\"";
    line("gpioirq_lost_total", l + ",reason=\"kernel_fifo\"",
         static_cast<double>(c.kernel_lost.load()));
    line("gpioirq_lost_total", l + ",reason=\"ring_full\"",
         static_cast<double>(c.ring_dropped.load()));
  }
  // Each kind's families, in registry order, their headers even without a device.
  for (const Slot& slot : kinds_) {
    const std::span<const kinds::MetricFamily> families = slot.kind->metric_families();
    if (families.empty()) continue;
    FamilySamples samples(families.size());
    for (const auto& d : slot.devices) {
      samples.set_device(d->name());
      d->metrics(samples, now);
    }
    for (std::size_t f = 0; f < families.size(); ++f) {
      const kinds::MetricFamily& family = families[f];
      if (!family.help.empty()) out += fmt::format("# HELP {} {}\n", family.name, family.help);
      out += fmt::format("# TYPE {} {}\n", family.name, family.type);
      // Each sample line is the family's name, then the labels and the value.
      const std::string& text = samples.samples(f);
      for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t end = text.find('\n', pos) + 1;
        out += family.name;
        out.append(text, pos, end - pos);
        pos = end;
      }
    }
  }
  out +=
      "# HELP gpioirq_latency_seconds Kernel edge timestamp to loop dispatch.\n# TYPE "
      "gpioirq_latency_seconds summary\n";
  for (double q : {0.5, 0.99, 0.999})
    line("gpioirq_latency_seconds", "quantile=\"" + std::to_string(q).substr(0, 5) + "\"",
         static_cast<double>(latency_all_.quantile(q)) / 1e9);
  line("gpioirq_latency_seconds_count", "", static_cast<double>(latency_all_.count()));
  out +=
      "# HELP gpioirq_ring_high_water Largest backlog a drain found in the edge ring.\n"
      "# TYPE gpioirq_ring_high_water gauge\n";
  line("gpioirq_ring_high_water", "", static_cast<double>(ingest_->ring().high_water()));
  out +=
      "# HELP gpioirq_uptime_seconds Seconds since the daemon started.\n"
      "# TYPE gpioirq_uptime_seconds gauge\n";
  line("gpioirq_uptime_seconds", "", static_cast<double>(now - started_mono_ns_) / 1e9);
  if (metrics_textfile_) {
    out +=
        "# HELP gpioirq_metrics_textfile_write_errors_total Failed writes of the [metrics] "
        "textfile.\n# TYPE gpioirq_metrics_textfile_write_errors_total counter\n";
    line("gpioirq_metrics_textfile_write_errors_total", "",
         static_cast<double>(metrics_textfile_->failures()));
  }
  if (mqtt_sink_) out += mqtt_metrics_text(mqtt_sink_->status());
  return out;
}

}  // namespace gpioirq::app
