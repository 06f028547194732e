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

#include "config/config_diff.hpp"
#include "config/config_error.hpp"
#include "control/control_server.hpp"
#include "control/peer_credentials.hpp"
#include "gpio/gpiod_source.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/kind.hpp"
#include "loop/event_loop.hpp"
#include "loop/flag_waiter.hpp"
#include "loop/signal_set.hpp"
#include "loop/timer.hpp"
#include "sinks/event_log.hpp"
#include "sinks/frame_log.hpp"
#include "sinks/log_dir.hpp"
#include "sinks/previous_run.hpp"

namespace gpioirq::app {
namespace {

std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

constexpr std::uint64_t kMs = 1'000'000;
enum SimShape { kSimNone, kSimQuadrature, kSimPulses, kSimButton };

const char* button_event_name(devices::ButtonEventKind k) {
  switch (k) {
    case devices::ButtonEventKind::press: return "press";
    case devices::ButtonEventKind::release: return "release";
    case devices::ButtonEventKind::long_press: return "long_press";
    case devices::ButtonEventKind::click: return "click";
    case devices::ButtonEventKind::double_click: return "double_click";
    case devices::ButtonEventKind::open: return "open";
    case devices::ButtonEventKind::close: return "close";
  }
  return "?";
}

// A device that is not there (chip, line, bus): its stream waits for it, down, instead of
// ending the daemon. Anything else thrown while building a stream is a configuration
// problem and stays fatal.
struct DeviceUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

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
        b.push_back({core::Histogram::bucket_lower(i), core::Histogram::bucket_upper(i), h.bucket_count(i)});
    j["buckets"] = std::move(b);
  }
  return j;
}

nlohmann::json fd_limit_json(const control::FdLimit& limit) {
  return {{"wanted", limit.wanted}, {"got", limit.got}, {"refused", limit.refused}};
}

// A log file that cannot be opened. A link or a non-regular file at a log name is refused
// as a configuration error (exit 78): restarting will not remove it, the user must.
[[noreturn]] void throw_open_error(const std::string& what, const std::string& path, int err) {
  const std::string message = "opening " + what + " " + path + ": " + sinks::open_error_text(err);
  if (err == -ELOOP || err == -EMLINK || err == -EINVAL) throw config::ConfigError(message);
  throw std::runtime_error(message);
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

std::span<const std::uint8_t> as_u8(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
}

}  // namespace

Daemon::Daemon(config::Config cfg) : cfg_(std::move(cfg)) {
  started_mono_ns_ = clock_ns(CLOCK_MONOTONIC);
  loop_ = std::make_unique<loop::EventLoop>(512);
  // Signals first, so that every thread made later inherits the blocked mask.
  signals_ = std::make_unique<loop::SignalSet>(*loop_, std::initializer_list<int>{SIGTERM, SIGINT, SIGHUP, SIGUSR1},
                                               [this](int signo) {
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
  event_log_ = std::make_unique<sinks::EventLog>(*loop_, sinks::event_log_options(cfg_.daemon, kVersion));
  run_marker_ = std::make_unique<sinks::RunMarker>(cfg_.daemon.log_dir);
  previous_run_unstopped_ = run_marker_->previous_run_unstopped();
  if (const int err = run_marker_->mark_running(); err < 0)
    spdlog::warn("cannot make the run marker in {}: {} (a kill -9 will not be reported by the next run)",
                 cfg_.daemon.log_dir, std::strerror(-err));
  if (const int err = event_log_->open(); err < 0)
    throw_open_error("the event log", event_log_->options().path, err);
  ingest_ = std::make_unique<gpio::IngestThread>(
      cfg_.daemon.ring_capacity, gpio::RtRequest{cfg_.daemon.rt_priority, cfg_.daemon.cpu, cfg_.daemon.mlock});
  drain_buffer_.resize(256);
  build_streams(cfg_);

  control::ServerOptions server;
  server.socket_path = cfg_.daemon.socket_path;
  server.socket_group = cfg_.daemon.socket_group;
  server.raise_fd_limit = true;  // at start(): 1024 clients need more than a default 1024 fds
  control_ = std::make_unique<control::ControlServer>(*loop_, *this, server);
}

Daemon::~Daemon() {
  if (ingest_) ingest_->stop();
}

void Daemon::add_stream_lines(StreamBase& s, const std::vector<std::pair<config::LineRef, std::string>>& refs,
                              const config::LineSettings& settings, config::EdgeKind edge,
                              std::uint32_t debounce_us, gpio::RtLineHook* hook, Route::Kind kind,
                              double sim_rate, int sim_shape) {
  const config::ChipConfig& chip = find_chip(cfg_, refs.front().first.chip);
  std::vector<std::uint32_t> offsets;
  std::string chip_path;
  if (chip.backend == config::Backend::gpiod) {
    try {
      chip_path = gpio::resolve_chip_path(chip);
    } catch (const std::exception& e) {
      throw DeviceUnavailable(e.what());
    }
  }
  for (const auto& [ref, role] : refs) {
    if (const auto* offset = std::get_if<std::uint32_t>(&ref.line)) {
      offsets.push_back(*offset);
    } else if (chip.backend == config::Backend::gpiod) {
      try {
        offsets.push_back(gpio::resolve_line_offset(chip_path, std::get<std::string>(ref.line)));
      } catch (const std::exception& e) {
        throw DeviceUnavailable(e.what());
      }
    } else {
      throw std::runtime_error(s.name + ": the sim chip '" + chip.name + "' has no line names; use offsets");
    }
  }
  if (chip.backend == config::Backend::gpiod) {
    std::vector<gpio::LineRequestSpec> specs;
    for (auto offset : offsets)
      specs.push_back({offset, settings.bias, settings.active_low, edge, settings.clock, debounce_us});
    try {
      s.source = std::make_unique<gpio::GpiodSource>(chip_path, specs);
    } catch (const std::exception& e) {
      throw DeviceUnavailable(s.name + ": requesting lines on " + chip_path + ": " + e.what());
    }
  } else {
    auto sim = std::make_unique<gpio::SimSource>(chip.name + "/" + s.name);
    for (auto offset : offsets) {
      sim->set_edge(offset, edge);
      sim->set_active_low(offset, settings.active_low);
    }
    if (sim_shape == kSimQuadrature) sim->add_quadrature(offsets[0], offsets[1], sim_rate);
    if (sim_shape == kSimPulses) sim->add_pulses(offsets[0], sim_rate);
    if (sim_shape == kSimButton) sim->add_button(offsets[0], sim_rate);
    sim->start();
    s.source = std::move(sim);
  }
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const auto id = ingest_->add_line(*s.source, offsets[i], hook);
    s.lines.push_back(id);
    if (routes_.size() <= id) {
      routes_.resize(id + 1u);
      line_info_.resize(id + 1u);
    }
    routes_[id] = Route{kind, &s};
    line_info_[id] = LineInfo{s.name, refs[i].second, chip.name, offsets[i], settings.clock};
  }
}

void Daemon::build_streams(const config::Config& cfg) {
  // Each stream is kept even when its device is not there (it is then down and waited
  // for); a configuration problem found while attaching it still throws.
  auto add = [this](auto& streams, auto stream) {
    auto& ref = *stream;
    streams.push_back(std::move(stream));
    try {
      attach_or_mark_down(ref);
    } catch (...) {
      streams.pop_back();
      throw;
    }
  };
  auto known = [](const auto& streams, const std::string& name) {
    return std::any_of(streams.begin(), streams.end(), [&](const auto& x) { return x->name == name; });
  };
  for (const auto& c : config::settings_of<config::EncoderConfig>(cfg)) {
    if (known(encoders_, c.name)) continue;
    auto e = std::make_unique<EncoderStream>(c);
    e->name = c.name;
    add(encoders_, std::move(e));
  }
  for (const auto& c : config::settings_of<config::ButtonConfig>(cfg)) {
    if (known(buttons_, c.name)) continue;
    auto b = std::make_unique<ButtonStream>(c, false);
    b->name = c.name;
    add(buttons_, std::move(b));
  }
  for (const auto& c : config::settings_of<config::CounterConfig>(cfg)) {
    if (known(counters_, c.name)) continue;
    auto k = std::make_unique<CounterStream>(c);
    k->name = c.name;
    add(counters_, std::move(k));
  }
  for (const auto& c : config::settings_of<config::ImuConfig>(cfg)) {
    if (known(imus_, c.name)) continue;
    auto m = std::make_unique<ImuStream>(c, ingest_->wake());
    m->name = c.name;
    auto log = std::make_unique<sinks::FrameLog>(*loop_, sinks::frame_log_options(cfg_.daemon, c));
    if (const int err = log->open(); err < 0)
      throw_open_error("the IMU file", log->options().path, err);
    m->file = log->options().path;
    frame_logs_.push_back(std::move(log));
    try {
      add(imus_, std::move(m));
    } catch (...) {
      frame_logs_.pop_back();
      throw;
    }
  }
  for (const auto& c : config::settings_of<config::PollConfig>(cfg)) {
    if (known(polls_, c.name)) continue;
    auto p = std::make_unique<PollStream>(c, *loop_);
    p->name = c.name;
    polls_.push_back(std::move(p));
  }
}

void Daemon::attach(StreamBase& s) {
  if (auto* e = dynamic_cast<EncoderStream*>(&s)) {
    const auto& c = e->cfg;
    add_stream_lines(*e, {{c.a, "a"}, {c.b, "b"}}, c.line, config::EdgeKind::both, 0, e, Route::Kind::encoder,
                     c.sim_rate_hz, kSimQuadrature);
    e->line_a = e->lines[0];
    e->line_b = e->lines[1];
    e->offset_a = line_info_[e->line_a].offset;
    e->offset_b = line_info_[e->line_b].offset;
    e->init_levels();
  } else if (auto* b = dynamic_cast<ButtonStream*>(&s)) {
    const auto& c = b->cfg;
    add_stream_lines(*b, {{c.line, "line"}}, c.settings, config::EdgeKind::both, c.kernel_debounce_us, nullptr,
                     Route::Kind::button, c.sim_rate_hz, kSimButton);
    b->line = b->lines[0];
    // The button's state is the line's level when requested; after an outage whatever
    // changed meanwhile is reported by a resync (a release, say), gestures cleared.
    const int level = b->source->read_level(line_info_[b->line].offset);
    if (b->times_attached == 0)
      b->button = devices::Button(c, level == 1);
    else if (level >= 0)
      log_button_events(*b, b->button.resync(level == 1, clock_ns(c.settings.clock == config::EventClock::realtime
                                                                      ? CLOCK_REALTIME
                                                                      : CLOCK_MONOTONIC)));
  } else if (auto* k = dynamic_cast<CounterStream*>(&s)) {
    const auto& c = k->cfg;
    add_stream_lines(*k, {{c.line, "line"}}, c.settings, c.edge, 0, k, Route::Kind::counter, c.sim_rate_hz,
                     kSimPulses);
    k->line = k->lines[0];
  } else if (auto* m = dynamic_cast<ImuStream*>(&s)) {
    const auto& c = m->cfg;
    try {
      m->open_device();
    } catch (const std::exception& error) {
      throw DeviceUnavailable(error.what());
    }
    if (c.trigger == config::ImuTrigger::data_ready) {
      add_stream_lines(*m, {{*c.data_ready, "data_ready"}}, c.settings, config::EdgeKind::rising, 0, m,
                       Route::Kind::imu, c.rate_hz, kSimPulses);
    } else if (!m->timer) {
      m->make_timer();
      ingest_->add_timer(*m);
    }
  }
  ++s.times_attached;
}

void Daemon::attach_or_mark_down(StreamBase& s) {
  try {
    attach(s);
  } catch (const DeviceUnavailable& e) {
    mark_down(s, e.what());
  }
}

void Daemon::mark_down(StreamBase& s, const std::string& reason) {
  s.down = true;
  s.down_reason = reason;
  s.down_since_ns = clock_ns(CLOCK_MONOTONIC);
  ++s.times_down;
  event_log_->marker(sinks::MarkerType::down, s.name + ": " + reason);
  spdlog::warn("{} is down, waiting for its device: {}", s.name, reason);
  if (control_ && control_->wants(s.name))
    control_->publish(s.name, {{"ts_ns", s.down_since_ns}, {"name", s.name}, {"event", "down"}, {"reason", reason}});
}

void Daemon::detach(StreamBase& s) {
  if (s.source) ingest_->remove_source(*s.source);
  for (auto id : s.lines) routes_[id] = Route{};
  s.lines.clear();
  s.source.reset();
}

template <typename F>
void Daemon::for_each_stream(F f) {
  for (auto& x : encoders_) f(*x);
  for (auto& x : buttons_) f(*x);
  for (auto& x : counters_) f(*x);
  for (auto& x : imus_) f(*x);
}

void Daemon::take_failed_streams_down() {
  sources_failed_seen_ = ingest_->sources_failed();
  std::vector<std::pair<StreamBase*, int>> failed;
  for_each_stream([&](StreamBase& s) {
    if (!s.source) return;
    for (auto id : s.lines)
      if (const int err = ingest_->counters(id).source_error.load(std::memory_order_relaxed)) {
        failed.emplace_back(&s, err);
        return;
      }
  });
  if (failed.empty()) return;
  ingest_->stop();
  drain_stopped();  // every edge read from it before it went has its row
  drain_imus(true);
  for (auto [s, err] : failed) {
    const std::string what = s->source->describe() + ": " + std::strerror(err);
    detach(*s);
    mark_down(*s, what);
  }
  start_ingest();
}

bool Daemon::device_may_be_back(const StreamBase& s) const {
  const config::LineRef* ref = nullptr;
  if (const auto* e = dynamic_cast<const EncoderStream*>(&s)) ref = &e->cfg.a;
  if (const auto* b = dynamic_cast<const ButtonStream*>(&s)) ref = &b->cfg.line;
  if (const auto* k = dynamic_cast<const CounterStream*>(&s)) ref = &k->cfg.line;
  if (const auto* m = dynamic_cast<const ImuStream*>(&s)) {
    if (!m->simulated && ::access(m->cfg.i2c_bus.c_str(), F_OK) != 0) return false;
    if (m->cfg.data_ready) ref = &*m->cfg.data_ready;
  }
  if (!ref) return true;
  try {
    const config::ChipConfig& chip = find_chip(cfg_, ref->chip);
    if (chip.backend == config::Backend::gpiod) gpio::resolve_chip_path(chip);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void Daemon::retry_down_streams() {
  // Cheap checks first, so that the RT thread is stopped (for well under a millisecond;
  // the kernel queues edges meanwhile) only when a device looks back.
  std::vector<StreamBase*> ready;
  for_each_stream([&](StreamBase& s) {
    if (s.down && device_may_be_back(s)) ready.push_back(&s);
  });
  if (ready.empty()) return;
  ingest_->stop();
  drain_stopped();
  for (StreamBase* s : ready) {
    try {
      attach(*s);
    } catch (const std::exception& e) {
      detach(*s);  // lines requested before the failure
      if (s->down_reason != e.what()) {
        s->down_reason = e.what();
        spdlog::warn("{} is still down: {}", s->name, s->down_reason);
      }
      continue;
    }
    s->down = false;
    const std::string info = s->name + ": " + (s->source ? s->source->describe() : std::string("attached"));
    event_log_->marker(sinks::MarkerType::up, info);
    spdlog::info("{} is up again ({})", s->name, info);
    if (control_ && control_->wants(s->name))
      control_->publish(s->name, {{"ts_ns", clock_ns(CLOCK_MONOTONIC)}, {"name", s->name}, {"event", "up"}});
    if (auto* b = dynamic_cast<ButtonStream*>(s)) arm_button_timer(*b);
  }
  start_ingest();
}

void Daemon::arm_button_timer(ButtonStream& b) {
  // One loop timer per button, made on first use; re-armed for the FSM's next deadline.
  if (!b.timer_index) b.timer_index = add_timer([this, &b] { on_button_timer(b); });
  loop::Timer& t = *timers_[b.timer_index - 1];
  const auto deadline = b.button.next_deadline();
  if (!deadline) {
    t.cancel();
    return;
  }
  const std::uint64_t now = clock_ns(b.cfg.settings.clock == config::EventClock::realtime ? CLOCK_REALTIME
                                                                                          : CLOCK_MONOTONIC);
  t.start_once(*deadline > now ? *deadline - now : 0);
}

void Daemon::log_button_events(ButtonStream& b, const devices::ButtonEvents& events) {
  for (const auto& ev : events) {
    ++b.events[static_cast<int>(ev.kind)];
    sinks::EventEntry entry;
    entry.ts_ns = ev.ts_ns;
    entry.device = b.name;
    entry.kind = button_event_name(ev.kind);
    if (ev.kind == devices::ButtonEventKind::long_press || ev.kind == devices::ButtonEventKind::release)
      entry.value = sinks::EventValue::integer(static_cast<std::int64_t>((ev.ts_ns - ev.start_ns) / kMs));
    entry.unit = entry.value.kind() == sinks::EventValue::Kind::none ? "" : "ms";
    event_log_->event(entry);
    if (control_ && control_->wants(b.name))
      control_->publish(b.name, {{"ts_ns", ev.ts_ns}, {"name", b.name}, {"event", entry.kind}});
  }
}

void Daemon::on_button_timer(ButtonStream& b) {
  // Edges the RT thread already read but the loop has not dispatched happened before now:
  // dispatch them first, so that a release just before a long-press (or click) deadline
  // is not taken for a long press because its timer completion came first in this round.
  drain(kMaxRecordsPerWake);
  const std::uint64_t now = clock_ns(b.cfg.settings.clock == config::EventClock::realtime ? CLOCK_REALTIME
                                                                                          : CLOCK_MONOTONIC);
  log_button_events(b, b.button.on_time(now));
  arm_button_timer(b);
}

void Daemon::start_ingest() {
  for (auto& m : imus_)
    if (m->cfg.trigger == config::ImuTrigger::timer && m->timer) m->arm_timer();
  ingest_->start();
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

void Daemon::drain(std::size_t max_records) {
  const std::uint64_t now_mono = clock_ns(CLOCK_MONOTONIC);
  const std::uint64_t now_real = clock_ns(CLOCK_REALTIME);
  std::size_t taken = 0;
  for (;;) {
    const std::size_t n = ingest_->ring().pop_batch(drain_buffer_);
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
  drain_imus(false);
}

void Daemon::dispatch(const gpio::EdgeRecord& r, std::uint64_t now_mono, std::uint64_t now_real) {
  if (r.line >= routes_.size()) return;
  const Route& route = routes_[r.line];
  const LineInfo& info = line_info_[r.line];
  if (!route.stream) return;
  StreamBase& s = *route.stream;

  if (r.kind == gpio::RecordKind::gap) {
    const auto reason = static_cast<gpio::GapReason>(r.level);
    sinks::GapEntry gap;
    gap.ts_ns = now_mono;
    gap.reason = reason == gpio::GapReason::ring_full ? sinks::GapReason::ring_full : sinks::GapReason::kernel_fifo;
    gap.device = s.name;
    gap.line = info.role;
    gap.chip = info.chip;
    gap.offset = info.offset;
    gap.lost = r.count;
    // Both kinds carry the span of line seqnos missing: lost strictly between from and to.
    gap.unit = sinks::GapUnit::line_seqno;
    gap.from = r.line_seqno - 1;
    gap.to = std::uint64_t{r.global_seqno} + 1;
    (reason == gpio::GapReason::ring_full ? s.gaps_ring : s.gaps_kernel) += r.count;
    event_log_->gap(gap);
    if (control_ && control_->wants(s.name))
      control_->publish(s.name, {{"ts_ns", r.timestamp_ns}, {"name", s.name}, {"event", "gap"}, {"lost", r.count}});
    if (route.kind == Route::Kind::button) {
      auto& b = static_cast<ButtonStream&>(s);
      const int level = s.source ? s.source->read_level(info.offset) : -1;
      if (level >= 0) log_button_events(b, b.button.resync(level == 1, r.timestamp_ns));
      arm_button_timer(b);
    }
    return;
  }

  const std::uint64_t now = info.clock == config::EventClock::realtime ? now_real : now_mono;
  const std::uint64_t latency = now > r.timestamp_ns ? now - r.timestamp_ns : 0;
  s.latency.record(latency);
  latency_all_.record(latency);

  if (cfg_.daemon.log_edges) {
    sinks::EdgeEntry edge;
    edge.ts_ns = r.timestamp_ns;
    edge.device = s.name;
    edge.line = info.role;
    edge.chip = info.chip;
    edge.offset = info.offset;
    edge.edge = r.level ? sinks::EdgeDirection::rising : sinks::EdgeDirection::falling;
    edge.line_seqno = r.line_seqno;
    edge.seqno = r.global_seqno;
    event_log_->edge(edge);
  }
  const bool monitored = control_ && control_->wants(s.name);
  if (monitored)
    control_->publish(s.name, {{"ts_ns", r.timestamp_ns}, {"name", s.name}, {"line", info.role},
                               {"event", r.level ? "rising" : "falling"}, {"seqno", r.line_seqno}});

  switch (route.kind) {
    case Route::Kind::encoder: {
      auto& e = static_cast<EncoderStream&>(s);
      if (const std::uint64_t bound = e.position_error_bound(); bound != e.uncertainty_logged) {
        // The RT thread lost edges of this encoder (GAP rows say how many) and re-learnt its
        // levels: from here on the position is exact again, but may be shifted by this much.
        e.uncertainty_logged = bound;
        sinks::EventEntry ev;
        ev.ts_ns = r.timestamp_ns;
        ev.device = s.name;
        ev.kind = "position_uncertain";
        ev.value = sinks::EventValue::integer(static_cast<std::int64_t>(bound));
        ev.value2 = sinks::EventValue::integer(static_cast<std::int64_t>(e.resyncs.load(std::memory_order_relaxed)));
        event_log_->event(ev);
        spdlog::warn("encoder '{}': edges lost, levels re-learnt; its position may be off by up to {}", s.name, bound);
        if (monitored)
          control_->publish(s.name, {{"ts_ns", r.timestamp_ns}, {"name", s.name}, {"event", "position_uncertain"},
                                     {"value", bound}});
      }
      if (r.value != e.last_logged) {
        e.last_logged = r.value;
        sinks::EventEntry ev;
        ev.ts_ns = r.timestamp_ns;
        ev.device = s.name;
        ev.kind = "position";
        ev.value = sinks::EventValue::integer(r.value);
        ev.value2 = sinks::EventValue::real(e.encoder.velocity(r.timestamp_ns));
        event_log_->event(ev);
        if (monitored)
          control_->publish(s.name, {{"ts_ns", r.timestamp_ns}, {"name", s.name}, {"event", "position"}, {"value", r.value}});
      }
      break;
    }
    case Route::Kind::button: {
      auto& b = static_cast<ButtonStream&>(s);
      log_button_events(b, b.button.on_edge(r.level != 0, r.timestamp_ns));
      arm_button_timer(b);
      break;
    }
    case Route::Kind::counter: {
      auto& c = static_cast<CounterStream&>(s);
      // r.value: the RT thread's pulse count including this edge.
      if (c.counter.on_edge(r.level != 0, r.timestamp_ns) && monitored)
        control_->publish(s.name, {{"ts_ns", r.timestamp_ns}, {"name", s.name}, {"event", "count"},
                                   {"value", static_cast<std::uint64_t>(r.value) - c.reset_base}});
      break;
    }
    case Route::Kind::imu:
    case Route::Kind::none: break;
  }
}

void Daemon::log_frame_gap(ImuStream& m, sinks::GapReason reason, std::uint64_t first, std::uint64_t count) {
  sinks::GapEntry gap;
  gap.ts_ns = clock_ns(CLOCK_MONOTONIC);
  gap.reason = reason;
  gap.device = m.name;
  gap.lost = count;
  gap.unit = sinks::GapUnit::frame;
  // Exclusive bounds: the frame numbers just before and just after the lost ones.
  gap.from = first == 0 ? std::nullopt : std::optional<std::uint64_t>(first - 1);
  gap.to = first + count;
  event_log_->gap(gap);
  if (control_ && control_->wants(m.name))
    control_->publish(m.name, {{"ts_ns", gap.ts_ns}, {"name", m.name}, {"event", "gap"}, {"lost", count},
                               {"reason", sinks::to_string(reason)}});
}

void Daemon::flush_refused(ImuStream& m) {
  if (m.refused.count == 0) return;
  log_frame_gap(m, sinks::GapReason::log_full, m.refused.first, m.refused.count);
  m.refused = {};
}

void Daemon::refuse_frames(ImuStream& m, ImuStream::Run run) {
  // Consecutive refusals (a disk full for a while) make one GAP row, written when the
  // file takes frames again or at the next flush tick.
  m.frames_lost_file += run.count;
  if (m.refused.count != 0 && m.refused.first + m.refused.count == run.first) {
    m.refused.count += run.count;
    return;
  }
  flush_refused(m);
  m.refused = run;
}

void Daemon::store_frames(ImuStream& m, sinks::FrameLog& log, std::span<const std::byte> records) {
  const std::size_t n = records.size() / m.record_bytes;
  if (frame_buffer_.size() < n * m.frame_bytes) frame_buffer_.resize(n * m.frame_bytes);
  frame_runs_.clear();
  for (std::size_t k = 0; k < n; ++k) {
    const std::byte* record = records.data() + k * m.record_bytes;
    std::uint64_t number = 0;
    std::memcpy(&number, record, ImuStream::kNumberBytes);
    if (number > m.next_number) {  // samples the RT thread numbered and could not hand over
      log_frame_gap(m, sinks::GapReason::imu_overrun, m.next_number, number - m.next_number);
      m.frames_lost_overrun += number - m.next_number;
    }
    m.next_number = number + 1;
    std::memcpy(frame_buffer_.data() + k * m.frame_bytes, record + ImuStream::kNumberBytes, m.frame_bytes);
    if (!frame_runs_.empty() && frame_runs_.back().first + frame_runs_.back().count == number)
      ++frame_runs_.back().count;
    else
      frame_runs_.push_back({number, 1});
  }
  if (log.append_frames(as_u8(std::span<const std::byte>(frame_buffer_.data(), n * m.frame_bytes)))) {
    m.frames_written += n;
    flush_refused(m);
    for (const auto& run : frame_runs_) {
      if (!m.unconfirmed.empty() && m.unconfirmed.back().first + m.unconfirmed.back().count == run.first)
        m.unconfirmed.back().count += run.count;
      else
        m.unconfirmed.push_back(run);
    }
  } else {
    for (const auto& run : frame_runs_) refuse_frames(m, run);
  }
}

void Daemon::drain_imus(bool everything) {
  for (std::size_t i = 0; i < imus_.size(); ++i) {
    ImuStream& m = *imus_[i];
    if (m.finished) continue;
    sinks::FrameLog& log = *frame_logs_[i];
    const std::size_t block = m.record_bytes * m.cfg.block_records;
    if (ring_buffer_.size() < block) ring_buffer_.resize(block);
    // Whole blocks as they fill (readexactly), and what is left at a flush.
    for (;;) {
      std::span<std::byte> in(ring_buffer_.data(), block);
      if (m.ring.read_exactly(in)) {
        store_frames(m, log, in);
        continue;
      }
      if (!everything) break;
      // At most a block: the RT thread may have added records since read_exactly().
      const std::size_t whole = std::min(m.ring.available(), block) / m.record_bytes * m.record_bytes;
      if (whole == 0) break;
      store_frames(m, log, in.first(m.ring.read(in.first(whole))));
    }
    if (everything) {
      flush_refused(m);
      // The journal hears of a failing IMU file once, and once when it recovers.
      const sinks::AppendFileStatus file = log.status().file;
      if (file.healthy != m.file_healthy) {
        m.file_healthy = file.healthy;
        if (!file.healthy)
          spdlog::warn(
              "imu '{}': writing {} fails ({}): frames it cannot hold are lost, each in a GAP row",
              m.name, m.file, std::strerror(file.last_error));
        else
          spdlog::info("imu '{}': {} is written again", m.name, m.file);
      }
    }
    // Keep the numbers of just the frames the file has not written yet: those are the
    // ones a close() on a full disk loses.
    std::uint64_t keep = log.unwritten_frames(), kept = 0;
    auto it = m.unconfirmed.end();
    while (it != m.unconfirmed.begin() && kept < keep) {
      --it;
      kept += it->count;
    }
    if (kept > keep) {
      it->first += kept - keep;
      it->count -= kept - keep;
    }
    m.unconfirmed.erase(m.unconfirmed.begin(), it);
  }
}

void Daemon::finish_imu(std::size_t i) {
  // The RT thread is stopped and the ring drained (drain_imus(true)).
  ImuStream& m = *imus_[i];
  sinks::FrameLog& log = *frame_logs_[i];
  if (m.finished) return;
  flush_refused(m);
  if (m.frame_number > m.next_number) {  // numbered last, and the ring had no room for them
    log_frame_gap(m, sinks::GapReason::imu_overrun, m.next_number, m.frame_number - m.next_number);
    m.frames_lost_overrun += m.frame_number - m.next_number;
    m.next_number = m.frame_number;
  }
  log.close();
  // What the file could not write even now (a disk still full) is lost: the last frames
  // it had accepted.
  std::uint64_t lost = std::min<std::uint64_t>(log.unwritten_frames(), m.frames_written);
  m.frames_written -= lost;
  m.frames_lost_file += lost;
  for (auto it = m.unconfirmed.rbegin(); lost > 0 && it != m.unconfirmed.rend(); ++it) {
    const std::uint64_t take = std::min(lost, it->count);
    log_frame_gap(m, sinks::GapReason::log_full, it->first + it->count - take, take);
    lost -= take;
  }
  m.unconfirmed.clear();
  m.finished = true;
  // The totals a reader checks the file and the GAP rows against: frames sampled (= the
  // frame numbers 0 .. value-1) and of those lost.
  sinks::EventEntry ev;
  ev.ts_ns = clock_ns(CLOCK_MONOTONIC);
  ev.device = m.name;
  ev.kind = "frames";
  ev.value = sinks::EventValue::integer(static_cast<std::int64_t>(m.samples_due.load()));
  ev.value2 = sinks::EventValue::integer(static_cast<std::int64_t>(m.frames_lost_overrun + m.frames_lost_file));
  event_log_->event(ev);
  if (m.frames_lost_overrun + m.frames_lost_file > 0)
    spdlog::warn("imu '{}': {} frames sampled, {} lost before the file (overruns), {} refused or unwritten by the file",
                 m.name, m.samples_due.load(), m.frames_lost_overrun, m.frames_lost_file);
}

void Daemon::log_counters() {
  // Pulse counters are logged as a count and a frequency per flush interval while pulses
  // come (their edges are in the log too when log_edges is on).
  const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
  for (auto& c : counters_) {
    const std::uint64_t count = c->count();
    if (count == c->count_logged) continue;
    c->count_logged = count;
    sinks::EventEntry ev;
    ev.ts_ns = now;
    ev.device = c->name;
    ev.unit = c->cfg.unit;
    ev.kind = "count";
    ev.value = sinks::EventValue::integer(static_cast<std::int64_t>(count));
    ev.value2 = sinks::EventValue::real(static_cast<double>(count) * c->cfg.scale);
    event_log_->event(ev);
    ev.kind = "frequency";
    ev.value = sinks::EventValue::real(c->counter.frequency(now));
    ev.value2 = sinks::EventValue::real(c->counter.rate(now));
    event_log_->event(ev);
  }
}

std::size_t Daemon::add_timer(std::function<void()> callback) {
  // A slot that a removed stream's timer left empty is used again, so that reloads do not
  // grow the table.
  auto timer = std::make_unique<loop::Timer>(*loop_, std::move(callback));
  for (std::size_t i = 0; i < timers_.size(); ++i)
    if (!timers_[i]) {
      timers_[i] = std::move(timer);
      return i + 1;
    }
  timers_.push_back(std::move(timer));
  return timers_.size();
}

void Daemon::start_poll(PollStream& p) {
  p.read_op.set_callback([this, &p](int res, std::uint32_t) { on_poll_read(p, res); });
  p.deadline.set_callback([this, &p] {
    if (!p.read_op.in_flight()) return;
    // A slow device file: give up on this read (the loop never waits for it) and say so
    // now, whether or not the file honours the cancel.
    p.timed_out = true;
    loop_->cancel(p.read_op);
    report_poll(p, p.source.complete(ETIMEDOUT, {}, clock_ns(CLOCK_MONOTONIC)));
  });
  p.timer_index = add_timer([this, &p] {
    if (p.read_op.in_flight()) {
      ++p.ticks_skipped;  // the last read is still out, cancelled but not yet let go
      return;
    }
    const int fd = p.source.open_nonblocking();
    if (fd < 0) {
      report_poll(p, p.source.complete(-fd, {}, clock_ns(CLOCK_MONOTONIC)));
      return;
    }
    p.fd.reset(fd);
    p.timed_out = false;
    const int r = loop_->read(p.fd.get(), p.buffer.data(), static_cast<unsigned>(p.buffer.size()),
                              loop::EventLoop::kCurrentPosition, p.read_op);
    if (r < 0) {
      p.fd.reset();
      report_poll(p, p.source.complete(-r, {}, clock_ns(CLOCK_MONOTONIC)));
      return;
    }
    p.deadline.start_once(p.deadline_ns());
  });
  timers_[p.timer_index - 1]->start_periodic(p.cfg.interval_ms * kMs);
}

void Daemon::on_poll_read(PollStream& p, int res) {
  p.deadline.cancel();
  p.fd.reset();
  if (p.timed_out) return;  // reported when the deadline passed
  const int err = res < 0 ? -res : 0;
  const std::size_t len = res > 0 ? static_cast<std::size_t>(res) : 0;
  report_poll(p, p.source.complete(err, std::string_view(p.buffer.data(), len), clock_ns(CLOCK_MONOTONIC)));
}

void Daemon::report_poll(PollStream& p, const devices::PollReading& reading) {
  sinks::EventEntry ev;
  ev.ts_ns = clock_ns(CLOCK_MONOTONIC);
  ev.device = p.name;
  if (reading.ok()) {
    ev.kind = "poll";
    ev.value = sinks::EventValue::real(reading.value);
    ev.value2 = sinks::EventValue::real(reading.raw);
    ev.unit = p.cfg.unit;
    event_log_->event(ev);
    if (p.source.state_changed()) spdlog::info("poll '{}': reading again", p.name);
    if (control_ && control_->wants(p.name))
      control_->publish(p.name, {{"ts_ns", ev.ts_ns}, {"name", p.name}, {"event", "poll"}, {"value", reading.value}});
    return;
  }
  // A failing source is logged when its state changes, not every interval; status
  // carries the running figures (consecutive failures, last success).
  if (!p.source.state_changed()) return;
  ev.kind = "poll_error";
  ev.value = sinks::EventValue::integer(reading.error);
  ev.unit = reading.message;
  event_log_->event(ev);
  spdlog::warn("poll '{}': {}", p.name, reading.message);
  if (control_ && control_->wants(p.name))
    control_->publish(p.name, {{"ts_ns", ev.ts_ns}, {"name", p.name}, {"event", "poll_error"},
                               {"error", reading.message}});
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
  for (auto& b : buttons_) arm_button_timer(*b);
  for (auto& p : polls_) start_poll(*p);

  if (previous_run_unstopped_) {
    // Killed (SIGKILL), crashed or the power lost: what that run had read but not yet
    // written, and the edges the kernel still held for it, are gone and cannot be counted.
    // Said here, so that the loss is not silent.
    spdlog::warn("the previous run ended without a STOP record (killed or crashed): what it had not yet "
                 "written to {} is lost",
                 event_log_->options().path);
    event_log_->marker(sinks::MarkerType::start,
                       cfg_.file + "; the previous run ended without a STOP record (killed or crashed): what it "
                                   "had read but not yet written is lost, uncounted");
  } else {
    event_log_->marker(sinks::MarkerType::start, cfg_.file);
  }

  flush_timer_ = std::make_unique<loop::Timer>(*loop_, [this] {
    drain_imus(true);  // the event log keeps its own sync interval
    log_counters();
    // A log file moved or deleted from outside (without a reopen request) would otherwise
    // take every later record with it: two stats per file per tick find it.
    try {
      reopen_logs("found moved or deleted", true);
    } catch (const std::exception& e) {
      spdlog::error("reopen: {}", e.what());
    }
  });
  flush_timer_->start_periodic(std::uint64_t{cfg_.daemon.flush_interval_ms} * kMs);
  device_timer_ = std::make_unique<loop::Timer>(*loop_, [this] { retry_down_streams(); });
  device_timer_->start_periodic(kDeviceRetryMs * kMs);

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
  spdlog::info("gpioirqd {} running: {} encoders, {} buttons, {} counters, {} IMUs, {} polled; socket {}; logs in {}",
               kVersion, encoders_.size(), buttons_.size(), counters_.size(), imus_.size(), polls_.size(),
               cfg_.daemon.socket_path, cfg_.daemon.log_dir);

  loop_->run();

  if (options.notify_systemd) sd_notify(0, "STOPPING=1");
  shutdown();
  return 0;
}

void Daemon::shutdown() {
  ingest_->stop();  // its last flush hands over everything it read
  drain_stopped();
  drain_imus(true);
  log_counters();
  for (auto& b : buttons_) log_button_events(*b, b->button.on_time(~std::uint64_t{0} / 2));
  // IMU files are closed before the event log, so that the frames their last writes
  // lost get GAP rows.
  for (std::size_t i = 0; i < imus_.size(); ++i) finish_imu(i);
  event_log_->marker(sinks::MarkerType::stop);
  control_->stop();
  event_log_->close();  // flushes and fdatasyncs
  if (const std::size_t left = event_log_->unwritten_bytes(); left > 0)
    // The event log is where losses are written down; when it cannot take its own last
    // records (the disk still full), the journal is the only place left to say so.
    spdlog::error("the event log {} could not be written at the stop: {} bytes of its last records are lost ({})",
                  event_log_->options().path, left,
                  std::strerror(event_log_->status().file.last_error));
  for (auto& f : frame_logs_) f->close();
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
  // The event log first, so that the IMU files' REOPEN markers go to the new one.
  const std::string& event_path = event_log_->options().path;
  reopen(
      event_path, [&] { return event_log_->path_check(); },
      [&] { return event_log_->reopen("reopened " + event_path + " (" + reason + ")"); });
  for (auto& log : frame_logs_) {
    const std::string& path = log->options().path;
    reopen(
        path, [&] { return log->path_check(); },
        [&] {
          const int r = log->reopen();
          if (r == 1)
            event_log_->marker(sinks::MarkerType::reopen, "reopened " + path + " (" + reason + ")");
          return r;
        });
  }
  return {{"reopened", std::move(reopened)},
          {"unchanged", std::move(unchanged)},
          {"failed", std::move(failed)}};
}

void Daemon::remove_stream(StreamBase& s) {
  if (s.timer_index) timers_[s.timer_index - 1].reset();  // its destructor withdraws it
  s.timer_index = 0;
  if (s.source) ingest_->remove_source(*s.source);
  for (auto id : s.lines) routes_[id] = Route{};
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
  ingest_->stop();
  drain_stopped();  // hand everything read so far, and every GAP, to the old streams
  drain_imus(true);
  auto gone = [&](const std::string& name) {
    return std::find(diff.changed.begin(), diff.changed.end(), name) != diff.changed.end() ||
           std::find(diff.removed.begin(), diff.removed.end(), name) != diff.removed.end();
  };
  auto prune = [&](auto& streams) {
    for (auto it = streams.begin(); it != streams.end();) {
      if (gone((*it)->name)) {
        remove_stream(**it);
        it = streams.erase(it);
      } else {
        ++it;
      }
    }
  };
  prune(encoders_);
  prune(counters_);
  prune(buttons_);
  prune(polls_);
  for (std::size_t i = 0; i < imus_.size();) {
    if (gone(imus_[i]->name)) {
      remove_stream(*imus_[i]);
      ingest_->remove_timer(*imus_[i]);
      finish_imu(i);
      frame_logs_.erase(frame_logs_.begin() + static_cast<std::ptrdiff_t>(i));
      imus_.erase(imus_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  const config::DaemonConfig daemon = cfg_.daemon;
  cfg_ = std::move(next);
  cfg_.daemon = daemon;
  const std::size_t buttons_before = buttons_.size(), polls_before = polls_.size();
  try {
    build_streams(cfg_);
  } catch (const std::exception& e) {
    // A chip or bus of a new or changed stream is not there: what did open runs, the
    // rest is reported (the file itself was valid, so there is nothing to roll back to).
    ++reload_failures_;
    last_reload_error_ = e.what();
    spdlog::error("reload: {}", e.what());
  }
  for (std::size_t i = buttons_before; i < buttons_.size(); ++i) arm_button_timer(*buttons_[i]);
  for (std::size_t i = polls_before; i < polls_.size(); ++i) start_poll(*polls_[i]);
  start_ingest();
  ++reloads_;
  const std::string info = std::to_string(diff.unchanged.size()) + " unchanged, " +
                           std::to_string(diff.changed.size()) + " changed, " +
                           std::to_string(diff.added.size()) + " added, " +
                           std::to_string(diff.removed.size()) + " removed";
  event_log_->marker(sinks::MarkerType::reload, info);
  spdlog::info("reloaded {}: {}", cfg_.file, info);
}

nlohmann::json Daemon::poll_json(const PollStream& p) {
  const devices::PolledSource& src = p.source;
  return {{"name", p.name},
          {"path", p.cfg.path},
          {"reads", src.reads()},
          {"errors", src.errors()},
          {"consecutive_failures", src.consecutive_failures()},
          {"error", src.last().message},
          {"last_ok_ns", src.last_ok_ns()},
          {"reading", p.read_op.in_flight()},
          {"ticks_skipped", p.ticks_skipped}};
}

nlohmann::json Daemon::status() const {
  const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
  nlohmann::json lines = nlohmann::json::array();
  for (std::size_t id = 0; id < routes_.size(); ++id) {
    if (!routes_[id].stream) continue;
    const auto& c = ingest_->counters(static_cast<std::uint16_t>(id));
    const auto& info = line_info_[id];
    lines.push_back({{"device", info.device},
                     {"role", info.role},
                     {"chip", info.chip},
                     {"offset", info.offset},
                     {"edges", c.edges.load()},
                     {"kernel_lost", c.kernel_lost.load()},
                     {"ring_dropped", c.ring_dropped.load()},
                     {"last_ts_ns", c.last_timestamp_ns.load()}});
  }
  nlohmann::json rt = {{"priority", granted_.priority},
                       {"cpu", granted_.cpu},
                       {"mlocked", granted_.mlocked},
                       {"io_workers_off_rt_cpu", io_workers_off_rt_cpu_},
                       {"loop_priority", loop_priority_},
                       {"refused", granted_.refused}};
  nlohmann::json loop_stats = {{"spin_us", loop_->spin_before_sleep_us()},
                               {"kernel_entries", loop_->kernel_entries()},
                               {"spins_found_work", loop_->spins_found_work()},
                               {"spins_ran_out", loop_->spins_ran_out()}};
  const auto server = control_ ? control_->stats() : control::ServerStats{};
  nlohmann::json log = nlohmann::json::object();
  if (event_log_) {
    const sinks::EventLogStatus ls = event_log_->status();
    log = {{"bytes", ls.file.file_bytes},          {"edges", ls.edges},
           {"events", ls.events},                  {"gaps", ls.gaps},
           {"lost", ls.lost},                      {"write_errors", ls.file.write_errors},
           {"sync_errors", ls.file.sync_errors},   {"healthy", ls.file.healthy},
           {"buffer_memory", ls.file.buffer_memory}, {"buffer_grows", ls.file.buffer_grows},
           {"reopens", ls.file.reopens},           {"truncations", ls.file.truncations},
           {"cut_bytes", ls.file.cut_bytes}};
  }
  // Every log file: the event log, then each IMU's.
  nlohmann::json files = nlohmann::json::array();
  if (event_log_) files.push_back(file_json(event_log_->options().path, event_log_->status().file));
  for (const auto& f : frame_logs_) files.push_back(file_json(f->options().path, f->status().file));
  // Every stream whose chip, line or bus is missing, and why (waited for, retried).
  nlohmann::json down = nlohmann::json::array();
  std::uint64_t outages = 0;
  auto note_down = [&](const auto& streams) {
    for (const auto& x : streams) {
      outages += x->times_down;
      if (x->down)
        down.push_back({{"name", x->name},
                        {"reason", x->down_reason},
                        {"down_s", static_cast<double>(now - x->down_since_ns) / 1e9},
                        {"times_down", x->times_down}});
    }
  };
  note_down(encoders_);
  note_down(buttons_);
  note_down(counters_);
  note_down(imus_);
  nlohmann::json polls = nlohmann::json::array();
  for (const auto& p : polls_) polls.push_back(poll_json(*p));
  return {{"version", kVersion},
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
          {"ring", {{"capacity", ingest_->ring().capacity()},
                    {"high_water", ingest_->ring().high_water()},
                    {"records", ingest_->records_pushed()},
                    {"rt_wakes", ingest_->wakes()},
                    {"loop_wakes", wake_waiter_ ? wake_waiter_->wakes() : 0}}},
          {"reloads", reloads_},
          {"timers", std::count_if(timers_.begin(), timers_.end(), [](const auto& t) { return t != nullptr; })},
          {"reload_failures", reload_failures_},
          {"last_reload_error", last_reload_error_},
          {"lines", lines},
          {"polls", polls},
          {"latency", histogram_json(latency_all_, false)},
          {"control", {{"clients", server.clients}, {"monitors", server.monitors}, {"accepted", server.accepted},
                       {"requests", server.requests}, {"error_replies", server.error_replies},
                       {"client_limit", control_ ? control_->client_limit() : 0},
                       {"fd_limit", control_ ? fd_limit_json(control_->fd_limit()) : nlohmann::json()}}}};
}

bool Daemon::has_stream(const std::string& name) const {
  auto in = [&](const auto& streams) {
    return std::any_of(streams.begin(), streams.end(), [&](const auto& x) { return x->name == name; });
  };
  return in(encoders_) || in(buttons_) || in(counters_) || in(imus_) || in(polls_);
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
    if (!it->is_array()) throw control::CommandError("argument 'names' must be an array of strings");
    for (const auto& n : *it) {
      if (!n.is_string()) throw control::CommandError("argument 'names' must be an array of strings");
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
      nlohmann::json polls = nlohmann::json::array();
      for (auto& poll : body["polls"])
        if (wanted(poll["name"].get<std::string>())) polls.push_back(poll);
      body["polls"] = std::move(polls);
    }
    return body;
  }
  if (cmd == "encoders") {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : encoders_)
      if (wanted(e->name)) a.push_back({{"name", e->name},
                   {"position", e->encoder.position()},
                   {"counts", e->encoder.counts()},
                   {"velocity", e->encoder.velocity(now)},
                   {"transitions", e->encoder.transitions()},
                   {"invalid", e->encoder.invalid_transitions()},
                   {"lost", e->gaps_kernel + e->gaps_ring},
                   {"resyncs", e->resyncs.load(std::memory_order_relaxed)},
                   {"position_error_bound", e->position_error_bound()}});
    return {{"encoders", a}};
  }
  if (cmd == "buttons") {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& b : buttons_) {
      if (!wanted(b->name)) continue;
      nlohmann::json j = {{"name", b->name},
                          {"kind", b->cfg.kind == config::ButtonKind::button ? "button" : "switch"},
                          {"level", b->button.level()},
                          {"glitches", b->button.glitches()},
                          {"lost", b->gaps_kernel + b->gaps_ring}};
      for (int k = 0; k < 7; ++k) j[button_event_name(static_cast<devices::ButtonEventKind>(k))] = b->events[k];
      a.push_back(std::move(j));
    }
    return {{"buttons", a}};
  }
  if (cmd == "counters") {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& c : counters_)
      if (wanted(c->name)) a.push_back({{"name", c->name},
                   {"count", c->count()},
                   {"frequency_hz", c->counter.frequency(now)},
                   {"value", c->value()},
                   {"rate", c->counter.rate(now)},
                   {"unit", c->cfg.unit},
                   {"lost", c->gaps_kernel + c->gaps_ring}});
    for (const auto& p : polls_)
      if (wanted(p->name)) {
        nlohmann::json j = poll_json(*p);
        j["value"] = p->source.last().value;
        j["unit"] = p->cfg.unit;
        a.push_back(std::move(j));
      }
    return {{"counters", a}};
  }
  if (cmd == "imu") {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& m : imus_)
      if (wanted(m->name)) {
        const std::size_t i = static_cast<std::size_t>(&m - imus_.data());
        const sinks::FrameLogStatus fs = frame_logs_[i]->status();
        a.push_back({{"name", m->name},
                     {"rate_hz", m->cfg.rate_hz},
                     {"sampled", m->samples_due.load()},
                     {"frames", m->frames.load()},
                     {"written", m->frames_written},
                     {"unwritten", frame_logs_[i]->unwritten_frames()},
                     {"frames_lost_overrun", m->frames_lost_overrun},
                     {"frames_lost_file", m->frames_lost_file},
                     {"overruns", m->overruns.load()},
                     {"missed_ticks", m->missed_ticks.load()},
                     {"i2c_errors", m->i2c_errors.load()},
                     {"degraded", m->degraded.load()},
                     {"ring_high_water", m->ring.high_water()},
                     {"file", m->file},
                     {"file_healthy", fs.file.healthy},
                     {"file_write_errors", fs.file.write_errors},
                     {"file_error", fs.file.last_error ? std::strerror(fs.file.last_error) : ""}});
      }
    return {{"imu", a}};
  }
  if (cmd == "latency") {
    bool buckets = true;
    if (const auto it = request.find("buckets"); it != request.end()) {
      if (!it->is_boolean()) throw control::CommandError("argument 'buckets' must be a boolean");
      buckets = it->get<bool>();
    }
    nlohmann::json a = nlohmann::json::array();
    auto add = [&](const StreamBase& s) {
      if (!wanted(s.name)) return;
      nlohmann::json j = histogram_json(s.latency, buckets);
      j["name"] = s.name;
      a.push_back(std::move(j));
    };
    for (const auto& e : encoders_) add(*e);
    for (const auto& b : buttons_) add(*b);
    for (const auto& c : counters_) add(*c);
    nlohmann::json all = histogram_json(latency_all_, buckets);
    return {{"latency", a}, {"all", all}};
  }
  if (cmd == "reset") {
    for (auto& e : encoders_) {
      if (!wanted(e->name)) continue;
      e->encoder.reset();
      e->latency.reset();
    }
    for (auto& c : counters_) {
      if (!wanted(c->name)) continue;
      c->reset();
      c->latency.reset();
    }
    for (auto& b : buttons_) {
      if (!wanted(b->name)) continue;
      std::fill(std::begin(b->events), std::end(b->events), 0);
      b->latency.reset();
    }
    if (names.empty()) {
      latency_all_.reset();
      ingest_->ring().reset_high_water();
    }
    return {{"reset", true}};
  }
  if (cmd == "reopen") return reopen_logs("gpioirqctl reopen", false);
  if (cmd == "reload") {
    try {
      reload();
    } catch (const std::exception& e) {
      throw control::CommandError(std::string("reload refused, the running configuration stays: ") + e.what());
    }
    return {{"reloaded", cfg_.file}, {"reloads", reloads_}};
  }
  // ControlServer subscribes the client after this reply; events come from publish().
  if (cmd == "monitor") return nlohmann::json::object();
  throw control::CommandError("unknown command '" + std::string(cmd) + "'");
}

std::string Daemon::metrics_text() {
  std::string out;
  auto line = [&](const std::string& name, const std::string& labels, double value) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += fmt::format(" {}\n", value);  // shortest exact form: 7017, 0.222
  };
  const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
  out += "# HELP gpioirq_edges_total Edge events read from the kernel per line.\n# TYPE gpioirq_edges_total counter\n";
  for (std::size_t id = 0; id < routes_.size(); ++id) {
    if (!routes_[id].stream) continue;
    const auto& c = ingest_->counters(static_cast<std::uint16_t>(id));
    const std::string l = "device=\"" + line_info_[id].device + "\",line=\"" + line_info_[id].role + "\"";
    line("gpioirq_edges_total", l, static_cast<double>(c.edges.load()));
  }
  out += "# HELP gpioirq_device_down 1 while a device's chip, line or bus is missing.\n"
         "# TYPE gpioirq_device_down gauge\n";
  for_each_stream([&](const StreamBase& s) { line("gpioirq_device_down", "device=\"" + s.name + "\"", s.down ? 1 : 0); });
  out += "# HELP gpioirq_lost_total Edges lost, by reason.\n# TYPE gpioirq_lost_total counter\n";
  for (std::size_t id = 0; id < routes_.size(); ++id) {
    if (!routes_[id].stream) continue;
    const auto& c = ingest_->counters(static_cast<std::uint16_t>(id));
    const std::string l = "device=\"" + line_info_[id].device + "\",line=\"" + line_info_[id].role + "\"";
    line("gpioirq_lost_total", l + ",reason=\"kernel_fifo\"", static_cast<double>(c.kernel_lost.load()));
    line("gpioirq_lost_total", l + ",reason=\"ring_full\"", static_cast<double>(c.ring_dropped.load()));
  }
  out += "# TYPE gpioirq_encoder_position gauge\n";
  for (const auto& e : encoders_) line("gpioirq_encoder_position", "device=\"" + e->name + "\"", static_cast<double>(e->encoder.position()));
  out += "# HELP gpioirq_encoder_position_error_bound How far the position may be off after lost edges.\n"
         "# TYPE gpioirq_encoder_position_error_bound gauge\n";
  for (const auto& e : encoders_)
    line("gpioirq_encoder_position_error_bound", "device=\"" + e->name + "\"",
         static_cast<double>(e->position_error_bound()));
  out += "# TYPE gpioirq_counter_total counter\n";
  for (const auto& c : counters_) line("gpioirq_counter_total", "device=\"" + c->name + "\"", static_cast<double>(c->count()));
  out += "# TYPE gpioirq_counter_frequency_hz gauge\n";
  for (const auto& c : counters_) line("gpioirq_counter_frequency_hz", "device=\"" + c->name + "\"", c->counter.frequency(now));
  out += "# TYPE gpioirq_imu_frames_total counter\n";
  for (const auto& m : imus_) line("gpioirq_imu_frames_total", "device=\"" + m->name + "\"", static_cast<double>(m->frames.load()));
  out += "# HELP gpioirq_imu_frames_lost_total IMU frames lost, by where: before the file (overrun) or by the file.\n# TYPE gpioirq_imu_frames_lost_total counter\n";
  for (const auto& m : imus_) {
    line("gpioirq_imu_frames_lost_total", "device=\"" + m->name + "\",reason=\"overrun\"", static_cast<double>(m->frames_lost_overrun));
    line("gpioirq_imu_frames_lost_total", "device=\"" + m->name + "\",reason=\"file\"", static_cast<double>(m->frames_lost_file));
  }
  out += "# TYPE gpioirq_imu_overruns_total counter\n";
  for (const auto& m : imus_) line("gpioirq_imu_overruns_total", "device=\"" + m->name + "\"", static_cast<double>(m->overruns.load()));
  out += "# HELP gpioirq_latency_seconds Kernel edge timestamp to loop dispatch.\n# TYPE gpioirq_latency_seconds summary\n";
  for (double q : {0.5, 0.99, 0.999})
    line("gpioirq_latency_seconds", "quantile=\"" + std::to_string(q).substr(0, 5) + "\"",
         static_cast<double>(latency_all_.quantile(q)) / 1e9);
  line("gpioirq_latency_seconds_count", "", static_cast<double>(latency_all_.count()));
  out += "# TYPE gpioirq_ring_high_water gauge\n";
  line("gpioirq_ring_high_water", "", static_cast<double>(ingest_->ring().high_water()));
  out += "# TYPE gpioirq_uptime_seconds gauge\n";
  line("gpioirq_uptime_seconds", "", static_cast<double>(now - started_mono_ns_) / 1e9);
  return out;
}

}  // namespace gpioirq::app
