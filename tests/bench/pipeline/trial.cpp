#include "trial.hpp"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "alloc_hook.hpp"
#include "app/daemon.hpp"
#include "gpio/ingest_thread.hpp"
#include "kinds/kind.hpp"
#include "proc_stats.hpp"

namespace gpioirq::bench {
namespace {

// What the RT thread tells about itself, through IngestThread::on_rt_thread_ready and a
// thread_local whose destructor runs when the thread ends.
std::atomic<int> g_rt_starts{0};
std::atomic<bool> g_rt_alive{false};
std::atomic<clockid_t> g_rt_clock{};
std::atomic<std::uint64_t> g_rt_cpu_at_exit_ns{0};
std::atomic<std::uint64_t> g_rt_exit_mono_ns{0};
std::atomic<std::uint64_t> g_rt_start_mono_ns{0};

struct RtExitProbe {
  bool armed = false;
  ~RtExitProbe() {
    if (!armed) return;
    g_rt_alive.store(false);
    g_rt_cpu_at_exit_ns.store(clock_ns(CLOCK_THREAD_CPUTIME_ID));
    g_rt_exit_mono_ns.store(clock_ns(CLOCK_MONOTONIC));
    set_thread_kind(ThreadKind::other);
  }
};
thread_local RtExitProbe tl_rt_probe;

void on_rt_ready() noexcept {
  tl_rt_probe.armed = true;  // first use: constructs it and registers its destructor
  clockid_t id{};
  if (::pthread_getcpuclockid(::pthread_self(), &id) == 0) g_rt_clock.store(id);
  g_rt_start_mono_ns.store(clock_ns(CLOCK_MONOTONIC));
  g_rt_starts.fetch_add(1);
  g_rt_alive.store(true);
  set_thread_kind(ThreadKind::rt);  // from here on, whatever it allocates is counted
}

struct LogCounts {
  std::uint64_t edge_rows = 0, event_rows = 0;
  std::uint64_t gap_rows = 0, log_full_lost = 0, ring_full_lost = 0, kernel_lost = 0, imu_lost = 0;
  std::uint64_t bytes = 0;
  int files = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> imu_gaps;  // (ts_ns, lost)
};

// Counts the event log's rows (every events.csv* in the directory). The CSV columns are
// in docs/FILE-FORMATS.md: 1 type, 11 kind (GAP reason), 15 lost.
LogCounts count_log(const std::filesystem::path& dir) {
  LogCounts c;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("events.csv", 0) != 0) continue;
    ++c.files;
    c.bytes += entry.file_size();
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("EDGE,", 0) == 0) {
        ++c.edge_rows;
      } else if (line.rfind("EVENT,", 0) == 0) {
        ++c.event_rows;
      } else if (line.rfind("GAP,", 0) == 0) {
        ++c.gap_rows;
        std::string field[16];
        std::size_t start = 0;
        for (int i = 0; i < 16; ++i) {
          const auto comma = line.find(',', start);
          field[i] = line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
        const std::uint64_t lost = field[14].empty() ? 0 : std::stoull(field[14]);
        if (field[10] == "log_full") c.log_full_lost += lost;
        else if (field[10] == "ring_full") c.ring_full_lost += lost;
        else if (field[10] == "kernel_fifo") c.kernel_lost += lost;
        else {
          c.imu_lost += lost;
          c.imu_gaps.emplace_back(field[1].empty() ? 0 : std::stoull(field[1]), lost);
        }
      }
    }
  }
  return c;
}

// The benchmark's own sampler thread, on a small stack: with mlockall(MCL_FUTURE) a
// default 8 MiB stack would be locked and counted in the RSS the benchmark reports.
class SmallThread {
 public:
  static constexpr std::size_t kStack = 256 * 1024;
  explicit SmallThread(std::function<void()> f) : f_(std::move(f)) {
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    ::pthread_attr_setstacksize(&attr, kStack);
    const int err = ::pthread_create(&tid_, &attr, &SmallThread::entry, this);
    ::pthread_attr_destroy(&attr);
    if (err) throw std::system_error(err, std::system_category(), "pthread_create");
  }
  void join() { ::pthread_join(tid_, nullptr); }

 private:
  static void* entry(void* self) {
    static_cast<SmallThread*>(self)->f_();
    return nullptr;
  }
  std::function<void()> f_;
  pthread_t tid_{};
};

// A parsed device's settings are shared and const: an edit replaces them with an edited copy.
template <typename T, typename Edit>
void edit_settings(config::Config& cfg, Edit&& edit) {
  for (auto& d : cfg.devices) {
    const auto* s = dynamic_cast<const config::SettingsOf<T>*>(d.settings.get());
    if (s == nullptr) continue;
    T copy = s->value;
    edit(copy);
    d.settings = std::make_shared<const config::SettingsOf<T>>(std::move(copy));
  }
}

std::string hot_encoder(const config::Config& cfg) {
  const auto encoders = config::settings_of<config::EncoderConfig>(cfg);
  for (auto& e : encoders)
    if (e.name == "knob") return e.name;
  if (encoders.empty())
    throw std::runtime_error(cfg.file + ": the benchmark needs an encoder on a sim chip");
  return encoders.front().name;
}

// Edges per second the sim's quadrature generator makes for a configured rate: below
// 12.5k edges/s it adds 2 bounce edges after every 16th edge (gpio/sim_source.cpp).
double quadrature_edges_per_s(double rate) {
  if (rate <= 0) return 0;
  const auto step = static_cast<std::uint64_t>(1e9 / rate);
  return step > 4 * 20'000 ? rate * 18.0 / 16.0 : rate;
}

}  // namespace

nlohmann::json run_trial(const TrialSpec& spec) {
  spdlog::set_level(spdlog::level::warn);
  // Watchdog: a loop that never returns from draining the ring never runs its end timer
  // either; SIGALRM's default action ends the trial, and main.cpp reports it.
  ::alarm(static_cast<unsigned>(spec.seconds * 3 + 15));
  gpio::IngestThread::on_rt_thread_ready.store(&on_rt_ready);

  std::string tmpl = (std::filesystem::path(spec.dir_base) / "gpioirq-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  const std::filesystem::path dir = tmpl;

  config::Config cfg = kinds::load_config(spec.config);
  cfg.daemon.log_dir = dir.string();
  cfg.daemon.socket_path = (dir / "control.sock").string();
  if (spec.mlock >= 0) cfg.daemon.mlock = spec.mlock == 1;
  if (spec.log_edges >= 0) cfg.daemon.log_edges = spec.log_edges == 1;
  if (spec.rt_cpu >= -1) cfg.daemon.cpu = spec.rt_cpu;
  std::string hot_name;
  if (spec.kind == TrialSpec::Kind::rate) {
    hot_name = hot_encoder(cfg);
    edit_settings<config::EncoderConfig>(cfg, [&](auto& e) {
      if (e.name == hot_name) e.sim_rate_hz = spec.rate;
    });
    cfg.daemon.rotate_size_bytes = 0;  // keep every row, to count them
  } else if (spec.kind == TrialSpec::Kind::idle) {
    // Nothing that ticks: no generators, no IMUs (their timer or data-ready), no polls.
    edit_settings<config::EncoderConfig>(cfg, [](auto& e) { e.sim_rate_hz = 0; });
    edit_settings<config::ButtonConfig>(cfg, [](auto& b) { b.sim_rate_hz = 0; });
    edit_settings<config::CounterConfig>(cfg, [](auto& c) { c.sim_rate_hz = 0; });
    std::erase_if(cfg.devices, [](const config::DeviceConfig& d) {
      return dynamic_cast<const config::SettingsOf<config::ImuConfig>*>(d.settings.get()) ||
             dynamic_cast<const config::SettingsOf<config::PollConfig>*>(d.settings.get());
    });
  }

  nlohmann::json out;
  out["kind"] = spec.kind == TrialSpec::Kind::rate ? "rate" : spec.kind == TrialSpec::Kind::idle ? "idle" : "demo";
  out["rate"] = spec.rate;
  out["seconds"] = spec.seconds;
  out["log_edges"] = cfg.daemon.log_edges;
  out["rt_cpu"] = cfg.daemon.cpu;
  out["mlock"] = cfg.daemon.mlock;
  out["log_dir"] = dir.string();

  if (spec.loop_fifo > 0) {
    sched_param sp{};
    sp.sched_priority = spec.loop_fifo;
    if (const int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp))
      throw std::system_error(err, std::system_category(), "SCHED_FIFO for the loop thread");
  }
  out["loop_fifo"] = spec.loop_fifo;

  clockid_t main_clock{};
  ::pthread_getcpuclockid(::pthread_self(), &main_clock);

  const std::uint64_t t_construct = clock_ns(CLOCK_MONOTONIC);
  const AllocCount rt_before = allocations(ThreadKind::rt);
  nlohmann::json status, imu;
  {
    app::Daemon daemon(cfg);
    const std::uint64_t t_constructed = clock_ns(CLOCK_MONOTONIC);
    out["construct_s"] = static_cast<double>(t_constructed - t_construct) / 1e9;

    // The window sampler: thread CPU and RSS in steady state, away from start and stop.
    const double window_end = std::max(spec.warmup + 0.1, spec.seconds - 0.25);
    nlohmann::json window;
    SmallThread sampler([&] {
      using namespace std::chrono;
      const auto t0 = steady_clock::now();
      std::this_thread::sleep_until(t0 + duration<double>(spec.warmup));
      const std::uint64_t w0 = clock_ns(CLOCK_MONOTONIC), p0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID),
                          l0 = clock_ns(main_clock);
      const bool rt_ok = g_rt_alive.load();
      const std::uint64_t r0 = rt_ok ? clock_ns(g_rt_clock.load()) : 0;
      std::this_thread::sleep_until(t0 + duration<double>(window_end));
      const std::uint64_t w1 = clock_ns(CLOCK_MONOTONIC), p1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID),
                          l1 = clock_ns(main_clock);
      const std::uint64_t r1 = rt_ok && g_rt_alive.load() ? clock_ns(g_rt_clock.load()) : 0;
      const double span = static_cast<double>(w1 - w0);
      window = {{"seconds", span / 1e9},
                {"process_cpu_s", static_cast<double>(p1 - p0) / 1e9},
                {"process_util", static_cast<double>(p1 - p0) / span},
                {"loop_util", static_cast<double>(l1 - l0) / span},
                {"rt_util", r1 ? static_cast<double>(r1 - r0) / span : -1.0},
                {"vmrss_kib", status_kib("VmRSS")},
                {"vmhwm_kib", status_kib("VmHWM")}};
      if (spec.kind == TrialSpec::Kind::demo) {
        nlohmann::json parts = nlohmann::json::array();
        for (const auto& p : rss_breakdown())
          if (p.rss_kib > 0 && parts.size() < 10)
            parts.push_back({{"what", p.what}, {"rss_kib", p.rss_kib}, {"size_kib", p.size_kib}, {"maps", p.maps}});
        window["rss_parts"] = parts;
      }
    });

    const std::uint64_t p_run0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), l_run0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    const AllocCount loop_before = allocations(ThreadKind::loop);
    const std::uint64_t t_run = clock_ns(CLOCK_MONOTONIC);
    set_thread_kind(ThreadKind::loop);
    daemon.run(app::RunOptions{spec.seconds, false});
    set_thread_kind(ThreadKind::other);
    const std::uint64_t t_end = clock_ns(CLOCK_MONOTONIC);
    const AllocCount loop_after = allocations(ThreadKind::loop);
    const std::uint64_t p_run = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - p_run0,
                        l_run = clock_ns(CLOCK_THREAD_CPUTIME_ID) - l_run0;
    sampler.join();

    status = daemon.status();
    imu = daemon.handle("imu", nlohmann::json::object(), control::PeerCredentials{});
    const AllocCount rt_after = allocations(ThreadKind::rt);

    out["window"] = window;
    out["run_s"] = static_cast<double>(t_end - t_run) / 1e9;
    out["process_cpu_s"] = static_cast<double>(p_run) / 1e9;
    out["loop_cpu_s"] = static_cast<double>(l_run) / 1e9;
    out["rt_cpu_s"] = static_cast<double>(g_rt_cpu_at_exit_ns.load()) / 1e9;
    out["rt_starts"] = g_rt_starts.load();
    out["rt_allocs"] = rt_after.count - rt_before.count;
    out["rt_alloc_bytes"] = rt_after.bytes - rt_before.bytes;
    out["loop_allocs"] = loop_after.count - loop_before.count;
    // The sim's generators start inside the constructor; counting from its end makes the
    // "kept up" check below lenient by at most construct_s.
    out["rt_active_s"] = static_cast<double>(g_rt_exit_mono_ns.load() - t_constructed) / 1e9;
  }

  // Edges per line as the RT thread counted them, split into the hot encoder, IMU
  // data-ready lines (counted, never logged as EDGE rows) and the rest.
  std::uint64_t edges = 0, hot = 0, imu_edges = 0, kernel_lost = 0, ring_dropped = 0;
  for (const auto& l : status["lines"]) {
    const std::string device = l["device"];
    const std::uint64_t e = l["edges"];
    edges += e;
    if (device == hot_name) hot += e;
    for (const auto& m : imu["imu"])
      if (m["name"] == device) imu_edges += e;
    kernel_lost += l["kernel_lost"].get<std::uint64_t>();
    ring_dropped += l["ring_dropped"].get<std::uint64_t>();
  }
  std::uint64_t imu_frames = 0, imu_written = 0, imu_overruns = 0;
  for (const auto& m : imu["imu"]) {
    imu_frames += m["frames"].get<std::uint64_t>();
    imu_written += m["written"].get<std::uint64_t>();
    imu_overruns += m["overruns"].get<std::uint64_t>();
  }
  const LogCounts log = count_log(dir);
  std::filesystem::remove_all(dir);

  out["edges"] = edges;
  out["edges_hot"] = hot;
  out["edges_logged_expected"] = edges - imu_edges;
  out["kernel_lost"] = kernel_lost;
  out["ring_dropped"] = ring_dropped;
  out["imu_frames"] = imu_frames;
  out["imu_written"] = imu_written;
  out["imu_overruns"] = imu_overruns;
  out["log"] = {{"files", log.files},         {"bytes", log.bytes},
                {"edge_rows", log.edge_rows}, {"event_rows", log.event_rows},
                {"gap_rows", log.gap_rows},   {"log_full_lost", log.log_full_lost},
                {"ring_full_lost", log.ring_full_lost}, {"kernel_fifo_lost", log.kernel_lost},
                {"imu_lost", log.imu_lost}};
  out["latency"] = status["latency"];
  out["ring"] = status["ring"];
  out["imus"] = imu["imu"];
  out["rt"] = status["rt"];

  const double edges_d = static_cast<double>(edges);
  out["rt_ns_per_edge"] = edges ? out["rt_cpu_s"].get<double>() * 1e9 / edges_d : 0.0;
  out["loop_ns_per_edge"] = edges ? out["loop_cpu_s"].get<double>() * 1e9 / edges_d : 0.0;
  out["other_ns_per_edge"] =
      edges ? (out["process_cpu_s"].get<double>() - out["loop_cpu_s"].get<double>() - out["rt_cpu_s"].get<double>()) *
                  1e9 / edges_d
            : 0.0;
  out["loop_allocs_per_edge"] = edges ? static_cast<double>(out["loop_allocs"].get<std::uint64_t>()) / edges_d : 0.0;

  // Verdict: no loss anywhere, every edge counted is in the log, and the pipeline kept
  // up with the generator (the sim makes edges lazily when read, so falling behind shows
  // as fewer edges than the rate asks for, not as loss).
  nlohmann::json why = nlohmann::json::array();
  if (kernel_lost) why.push_back("kernel_lost " + std::to_string(kernel_lost));
  if (ring_dropped) why.push_back("ring_dropped " + std::to_string(ring_dropped));
  if (log.log_full_lost) why.push_back("log_full lost " + std::to_string(log.log_full_lost));
  if (log.ring_full_lost || log.kernel_lost) why.push_back("GAP rows in the log");
  // IMU overruns: those the loop reported within 100 ms of the RT thread's start are
  // ticks of a timer-triggered IMU that elapsed between the Daemon's constructor (which
  // arms the timerfd) and the RT thread's first read; reported apart, see the docs.
  std::uint64_t imu_startup = 0, imu_steady = 0;
  for (const auto& [ts, lost] : log.imu_gaps)
    (ts < g_rt_start_mono_ns.load() + 100'000'000 ? imu_startup : imu_steady) += lost;
  out["imu_overruns_startup"] = imu_startup;
  out["imu_overruns_steady"] = imu_overruns - std::min(imu_overruns, imu_startup);
  // Kept apart from the edge verdict: a missed IMU tick is a loss of its own stream (its
  // frames), not of the edges the rate search is about; both are reported.
  const std::uint64_t imu_steady_lost = imu_overruns - std::min(imu_overruns, imu_startup);
  if (cfg.daemon.log_edges && log.edge_rows != edges - imu_edges)
    why.push_back("EDGE rows " + std::to_string(log.edge_rows) + " != edges counted " + std::to_string(edges - imu_edges));
  if (spec.kind == TrialSpec::Kind::rate) {
    const double expected = quadrature_edges_per_s(spec.rate) * out["rt_active_s"].get<double>();
    out["edges_hot_expected"] = expected;
    out["kept_up"] = expected > 0 ? static_cast<double>(hot) / expected : 1.0;
    out["carried_rate"] = static_cast<double>(hot) / out["rt_active_s"].get<double>();
    if (out["kept_up"].get<double>() < 0.99)
      why.push_back("fell behind: " + std::to_string(hot) + " of " + std::to_string(std::llround(expected)) +
                    " edges due");
  }
  if (out["rt_starts"].get<int>() != 1) why.push_back("RT thread hook not seen exactly once");
  out["edges_pass"] = why.empty();
  out["pass"] = why.empty() && imu_steady_lost == 0;
  if (imu_steady_lost) why.push_back("imu overruns " + std::to_string(imu_steady_lost));
  out["why"] = why;
  return out;
}

}  // namespace gpioirq::bench
