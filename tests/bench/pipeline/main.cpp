// bench_pipeline: the end-to-end benchmark of issue 4 ("Speed and memory") on the sim
// backend. Run through scripts/bench-pipeline.sh, which builds Release and adds the
// machine description.
//
//   bench_pipeline [options]        runs every trial, each in a fresh child process
//                                   (itself with `trial ...`), prints markdown tables
//   bench_pipeline trial [options]  one trial in this process, one JSON line on stdout
//
// Benchmarks are not tests: nothing here passes or fails the build.

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trial.hpp"

namespace {

using nlohmann::json;
using gpioirq::bench::TrialSpec;

struct Options {
  int runs = 3;
  double seconds = 3;
  double idle_seconds = 10;
  double demo_seconds = 5;
  double start_rate = 250'000;
  double max_rate = 4'000'000;
  double resolution = 1.1;  // stop bisecting when hi/lo is below this
  std::string config = GPIOIRQ_SOURCE_DIR "/config/demo.toml";
  std::string dir = "/tmp";
  std::string json_out;  // every trial's JSON, one per line
  bool skip_rate = false;
  int loop_fifo = 0;  // > 0: also search with the loop thread at SCHED_FIFO this priority
  int rt_cpu = -2;    // >= -1: every trial runs with [daemon] cpu = this
};

std::string self_exe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

std::vector<json> g_all;  // every trial run, for --json-out

json run_child(const Options& o, const std::string& kind, double rate, double seconds, int log_edges, int mlock,
               int loop_fifo = 0) {
  std::ostringstream cmd;
  cmd << "'" << self_exe() << "' trial --kind " << kind << " --rate " << std::fixed << rate << " --seconds "
      << seconds << " --log-edges " << log_edges << " --mlock " << mlock << " --config '" << o.config
      << "' --dir '" << o.dir << "' --loop-fifo " << loop_fifo << " --rt-cpu " << o.rt_cpu;
  FILE* p = ::popen(cmd.str().c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  const int rc = ::pclose(p);
  if (kind == "rate" && WIFSIGNALED(rc) && WTERMSIG(rc) == SIGALRM) {
    // The trial's watchdog (trial.cpp): the daemon did not stop on time.
    json j = {{"pass", false}, {"timed_out", true}, {"rate", rate},
              {"why", {"did not stop within its watchdog: the loop never got back to its timers"}}};
    g_all.push_back(j);
    return j;
  }
  if (rc != 0 || text.empty()) throw std::runtime_error("trial failed (status " + std::to_string(rc) + "): " + cmd.str());
  json j = json::parse(text);
  g_all.push_back(j);
  return j;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double med(const std::vector<json>& runs, const std::function<double(const json&)>& f) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(f(r));
  return median(v);
}

std::string rate_str(double r) {
  if (r >= 1e6) return fmt::format("{:.2f} M/s", r / 1e6);
  if (r >= 1e3) return fmt::format("{:.0f} k/s", r / 1e3);
  return fmt::format("{:.0f} /s", r);
}

std::string why_str(const json& r) {
  std::string s;
  for (const auto& w : r["why"]) s += (s.empty() ? "" : "; ") + w.get<std::string>();
  return s.empty() ? "ok" : s;
}

// The rate search's verdict: no edge lost anywhere (kernel, ring, event log) and the
// pipeline kept up. IMU ticks missed are reported beside it, not folded into it.
bool edges_ok(const json& r) { return r.value("edges_pass", false); }

struct Probe {
  double rate;
  bool pass;
  std::string note;
};

struct SearchResult {
  double rate = 0;        // highest rate that passed and was confirmed
  int confirmed = 0;      // passes among the confirmation runs at `rate`
  std::vector<json> confirm_runs;
  double failed_above = 0;  // lowest rate that failed
  std::string failed_why;
  std::vector<Probe> probes;
};

// Geometric search for the highest lossless rate: double up from start_rate until a
// failure (or down until a pass), bisect to `resolution`, then confirm with `runs` runs.
// A failing probe is run once more before it counts as a failure (the machine is shared:
// a burst of someone else's work can starve one run).
SearchResult search(const Options& o, int log_edges, int loop_fifo) {
  SearchResult res;
  auto probe = [&](double rate) {
    json r = run_child(o, "rate", rate, o.seconds, log_edges, -1, loop_fifo);
    std::string note = why_str(r);
    if (!edges_ok(r)) {
      json again = run_child(o, "rate", rate, o.seconds, log_edges, -1, loop_fifo);
      note += " / retry: " + why_str(again);
      if (edges_ok(again)) r = again;
    }
    const bool pass = edges_ok(r);
    res.probes.push_back({rate, pass, note});
    std::cerr << fmt::format("  log_edges={} {:>12} {} ({})\n", log_edges, rate_str(rate), pass ? "PASS" : "FAIL", note);
    if (!pass && (res.failed_above == 0 || rate < res.failed_above)) {
      res.failed_above = rate;
      res.failed_why = note;
    }
    return pass;
  };
  double lo = 0, hi = 0;
  double r = o.start_rate;
  if (probe(r)) {
    lo = r;
    while (lo * 2 <= o.max_rate) {
      if (probe(lo * 2)) {
        lo *= 2;
      } else {
        hi = lo * 2;
        break;
      }
    }
  } else {
    hi = r;
    while (hi / 2 >= 1000) {
      if (probe(hi / 2)) {
        lo = hi / 2;
        break;
      }
      hi /= 2;
    }
  }
  if (lo > 0 && hi > 0) {
    while (hi / lo > o.resolution) {
      const double mid = std::round(std::sqrt(lo * hi) / 1000) * 1000;
      if (probe(mid)) lo = mid;
      else hi = mid;
    }
  }
  // Confirm: the majority of `runs` runs must pass; else step down and try again.
  for (int attempt = 0; attempt < 8 && lo >= 1000; ++attempt) {
    res.confirm_runs.clear();
    int passes = 0;
    for (int i = 0; i < o.runs; ++i) {
      json run = run_child(o, "rate", lo, o.seconds, log_edges, -1, loop_fifo);
      passes += edges_ok(run) ? 1 : 0;
      if (!run.value("timed_out", false)) res.confirm_runs.push_back(run);
    }
    std::cerr << fmt::format("  log_edges={} confirm {}: {}/{} pass\n", log_edges, rate_str(lo), passes, o.runs);
    if (passes * 2 > o.runs) {
      res.rate = lo;
      res.confirmed = passes;
      return res;
    }
    res.failed_above = lo;
    res.failed_why = "timed out";
    for (const auto& run : res.confirm_runs)
      if (!edges_ok(run)) res.failed_why = why_str(run);
    lo = std::round(lo / 1.25 / 1000) * 1000;
  }
  return res;
}

void print_cpu_row(const std::string& label, const std::vector<json>& runs) {
  auto ns = [&](const char* k) { return med(runs, [k](const json& r) { return r[k].get<double>(); }); };
  auto util = [&](const char* k) { return med(runs, [k](const json& r) { return r["window"][k].get<double>(); }) * 100; };
  const double edges_per_s = med(runs, [](const json& r) { return r["edges"].get<double>() / r["rt_active_s"].get<double>(); });
  const double per_wake = med(runs, [](const json& r) {
    return r["ring"]["rt_wakes"].get<double>() > 0 ? r["edges"].get<double>() / r["ring"]["rt_wakes"].get<double>() : 0;
  });
  std::cout << fmt::format("| {} | {} | {:.0f} | {:.0f} | {:.0f} | {:.0f} % | {:.0f} % | {:.1f} | {:.3f} |\n", label,
                           rate_str(edges_per_s), ns("rt_ns_per_edge"), ns("loop_ns_per_edge"),
                           ns("other_ns_per_edge"), util("rt_util"), util("loop_util"), per_wake,
                           ns("loop_allocs_per_edge"));
}

int orchestrate(Options o) {
  // One directory for this whole run, removed at the end: a trial stopped by its watchdog
  // leaves its logs behind.
  std::string session = (std::filesystem::path(o.dir) / "gpioirq-bench-run-XXXXXX").string();
  if (!::mkdtemp(session.data())) throw std::runtime_error("mkdtemp " + session + " failed");
  o.dir = session;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{session};

  std::cerr << "bench_pipeline: config " << o.config << ", " << o.runs << " runs per figure, trials of " << o.seconds
            << " s; logs under " << o.dir << "\n";
  // Keys: log_edges (1, 0) as the daemon runs; 10 + log_edges with the loop at SCHED_FIFO.
  std::map<int, SearchResult> found;
  if (!o.skip_rate)
    for (int fifo : {0, o.loop_fifo}) {
      if (fifo == 0 && found.count(1)) break;
      for (int log_edges : {1, 0}) {
        std::cerr << "searching the highest lossless rate, log_edges = " << (log_edges ? "true" : "false")
                  << (fifo ? ", loop thread SCHED_FIFO " + std::to_string(fifo) : std::string()) << "\n";
        found[(fifo ? 10 : 0) + log_edges] = search(o, log_edges, fifo);
      }
    }
  auto label = [&](int key) {
    return fmt::format("`log_edges = {}`{}", key % 10 ? "true" : "false",
                       key >= 10 ? fmt::format(", loop thread SCHED_FIFO {}", o.loop_fifo) : std::string());
  };
  const std::vector<int> keys = {1, 0, 11, 10};

  std::cerr << "demo config (RSS, allocations, CPU), " << o.runs << " runs of " << o.demo_seconds << " s\n";
  std::vector<json> demo, demo_nolock;
  for (int i = 0; i < o.runs; ++i) demo.push_back(run_child(o, "demo", 0, o.demo_seconds, -1, -1));
  demo_nolock.push_back(run_child(o, "demo", 0, o.demo_seconds, -1, 0));

  std::cerr << "idle (no edges, no IMU, no polls), " << o.runs << " runs of " << o.idle_seconds << " s\n";
  std::vector<json> idle;
  for (int i = 0; i < o.runs; ++i) idle.push_back(run_child(o, "idle", 0, o.idle_seconds + 1.25, -1, -1));

  // ---- summary table
  std::uint64_t rt_allocs = 0, rt_alloc_trials = 0;
  for (const auto& r : g_all) {
    if (r.value("timed_out", false)) continue;
    rt_allocs += r["rt_allocs"].get<std::uint64_t>();
    ++rt_alloc_trials;
  }
  const double rss = med(demo, [](const json& r) { return r["window"]["vmrss_kib"].get<double>(); }) / 1024;
  const double hwm = med(demo, [](const json& r) { return r["window"]["vmhwm_kib"].get<double>(); }) / 1024;
  const double rss_nolock = demo_nolock[0]["window"]["vmrss_kib"].get<double>() / 1024;
  const double idle_pct = med(idle, [](const json& r) { return r["window"]["process_util"].get<double>(); }) * 100;
  std::vector<double> idle_all;
  for (const auto& r : idle) idle_all.push_back(r["window"]["process_util"].get<double>() * 100);
  const double demo_rt_allocs = med(demo, [](const json& r) { return r["rt_allocs"].get<double>(); });

  std::cout << "### Pipeline benchmark (sim backend, medians of " << o.runs << " runs)\n\n";
  std::cout << "| measure | goal | result | notes |\n|---|---|---|---|\n";
  for (int key : keys) {
    if (!found.count(key)) continue;
    const auto& f = found[key];
    std::string notes;
    if (f.rate > 0) {
      const auto& runs = f.confirm_runs;
      std::string imu_missed;
      for (const auto& r : runs)
        imu_missed += (imu_missed.empty() ? "" : ", ") + std::to_string(r.value("imu_overruns_steady", 0));
      notes = fmt::format("{}/{} runs at this rate without an edge lost; IMU frames missed in those runs: {}; lowest failing rate {} ({}); latency p99 {:.2f} ms, max {:.2f} ms; ring high water {:.0f}",
                          f.confirmed, o.runs, imu_missed, f.failed_above > 0 ? rate_str(f.failed_above) : "none up to max",
                          f.failed_above > 0 ? f.failed_why : "-",
                          med(runs, [](const json& r) { return r["latency"]["p99_ns"].get<double>(); }) / 1e6,
                          med(runs, [](const json& r) { return r["latency"]["max_ns"].get<double>(); }) / 1e6,
                          med(runs, [](const json& r) { return r["ring"]["high_water"].get<double>(); }));
    } else {
      notes = "no rate passed: " + f.failed_why;
    }
    std::cout << fmt::format("| highest lossless edge rate, {} | ≥ 1 M edges/s | **{}** | {} |\n", label(key),
                             f.rate > 0 ? rate_str(f.rate) : "none", notes);
  }
  for (int key : keys) {
    if (!found.count(key) || found[key].rate <= 0) continue;
    const auto& runs = found[key].confirm_runs;
    std::cout << fmt::format(
        "| CPU per edge at that rate, {} | - | RT {:.0f} ns, loop {:.0f} ns, io-wq/other {:.0f} ns | thread busy: RT {:.0f} %, loop {:.0f} % of a core |\n",
        label(key), med(runs, [](const json& r) { return r["rt_ns_per_edge"].get<double>(); }),
        med(runs, [](const json& r) { return r["loop_ns_per_edge"].get<double>(); }),
        med(runs, [](const json& r) { return r["other_ns_per_edge"].get<double>(); }),
        med(runs, [](const json& r) { return r["window"]["rt_util"].get<double>(); }) * 100,
        med(runs, [](const json& r) { return r["window"]["loop_util"].get<double>(); }) * 100);
  }
  std::cout << fmt::format(
      "| RSS, demo config (`mlock = true`) | < 16 MiB | **{:.1f} MiB** (VmHWM {:.1f} MiB) | with `mlock = false`: {:.1f} MiB; breakdown below |\n",
      rss, hwm, rss_nolock);
  std::cout << fmt::format(
      "| CPU, demo config | - | {:.2f} % of a core | RT thread {:.2f} %, loop {:.2f} %; {:.0f} edges/s |\n",
      med(demo, [](const json& r) { return r["window"]["process_util"].get<double>(); }) * 100,
      med(demo, [](const json& r) { return r["window"]["rt_util"].get<double>(); }) * 100,
      med(demo, [](const json& r) { return r["window"]["loop_util"].get<double>(); }) * 100,
      med(demo, [](const json& r) { return r["edges"].get<double>() / r["rt_active_s"].get<double>(); }));
  std::sort(idle_all.begin(), idle_all.end());
  std::string idle_list;
  for (double v : idle_all) idle_list += (idle_list.empty() ? "" : ", ") + fmt::format("{:.4f}", v);
  std::cout << fmt::format(
      "| idle CPU over {:.0f} s, no edges | < 0.1 % of a core | **{:.4f} %** | all runs: {} %; whole process (RT thread, loop, io-wq); pigpiod samples continuously (not measured here) |\n",
      o.idle_seconds, idle_pct, idle_list);
  std::cout << fmt::format(
      "| heap allocations on the RT thread after start-up | 0 | **{:.0f}** in the demo config ({:.0f} s) | {} in all {} trials of this run together |\n",
      demo_rt_allocs, o.demo_seconds, rt_allocs, rt_alloc_trials);

  // ---- CPU per edge detail
  std::cout << "\n#### CPU per edge (medians)\n\n";
  std::cout << "| trial | edges/s | RT ns/edge | loop ns/edge | other ns/edge | RT busy | loop busy | edges per RT wake | loop allocations per edge |\n";
  std::cout << "|---|---|---|---|---|---|---|---|---|\n";
  for (int key : keys)
    if (found.count(key) && found[key].rate > 0) print_cpu_row("max lossless rate, " + label(key), found[key].confirm_runs);
  print_cpu_row("demo config", demo);

  // ---- RSS breakdown
  std::cout << "\n#### What is resident (demo config, `mlock = true`, one run)\n\n";
  std::cout << "| mapping | resident | mapped | maps |\n|---|---|---|---|\n";
  for (const auto& p : demo.front()["window"]["rss_parts"])
    std::cout << fmt::format("| {} | {:.1f} MiB | {:.1f} MiB | {} |\n", p["what"].get<std::string>(),
                             p["rss_kib"].get<double>() / 1024, p["size_kib"].get<double>() / 1024,
                             p["maps"].get<int>());
  std::cout << "\n(`mlock = false`: top of the same list)\n\n| mapping | resident |\n|---|---|\n";
  int shown = 0;
  for (const auto& p : demo_nolock.front()["window"]["rss_parts"])
    if (shown++ < 5)
      std::cout << fmt::format("| {} | {:.1f} MiB |\n", p["what"].get<std::string>(), p["rss_kib"].get<double>() / 1024);

  // ---- search log
  for (int key : keys) {
    if (!found.count(key)) continue;
    std::cout << fmt::format("\n#### Rate search, {} ({} s per run; a failed probe is run twice)\n\n", label(key),
                             o.seconds);
    std::cout << "| knob rate | result | why |\n|---|---|---|\n";
    for (const auto& p : found[key].probes)
      std::cout << fmt::format("| {} | {} | {} |\n", rate_str(p.rate), p.pass ? "pass" : "FAIL", p.note);
  }

  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out);
    for (const auto& j : g_all) out << j.dump() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpioirq end-to-end pipeline benchmark (sim backend)"};
  Options o;
  app.add_option("--runs", o.runs, "runs per figure (medians)")->capture_default_str();
  app.add_option("--seconds", o.seconds, "seconds per rate trial")->capture_default_str();
  app.add_option("--idle-seconds", o.idle_seconds, "idle measurement window")->capture_default_str();
  app.add_option("--demo-seconds", o.demo_seconds, "seconds per demo trial")->capture_default_str();
  app.add_option("--start-rate", o.start_rate, "first rate probed, edges/s")->capture_default_str();
  app.add_option("--max-rate", o.max_rate, "highest rate probed, edges/s")->capture_default_str();
  app.add_option("--config", o.config, "the demo config")->capture_default_str();
  app.add_option("--dir", o.dir, "where temporary log directories are made")->capture_default_str();
  app.add_option("--json-out", o.json_out, "write every trial's JSON here, one per line");
  app.add_flag("--skip-rate", o.skip_rate, "skip the rate search");
  app.add_option("--loop-fifo", o.loop_fifo,
                 "also search with the loop thread at SCHED_FIFO this priority (as `chrt -f P gpioirqd`); 0: no")
      ->capture_default_str();
  app.add_option("--rt-cpu", o.rt_cpu,
                 "run every trial with [daemon] cpu = this (the RT thread's CPU; -1 = any); -2: as the config says")
      ->capture_default_str();

  TrialSpec spec;
  std::string kind = "demo";
  auto* trial = app.add_subcommand("trial", "one trial, JSON on stdout");
  trial->add_option("--kind", kind)->check(CLI::IsMember({"rate", "demo", "idle"}));
  trial->add_option("--rate", spec.rate);
  trial->add_option("--seconds", spec.seconds);
  trial->add_option("--warmup", spec.warmup);
  trial->add_option("--log-edges", spec.log_edges);
  trial->add_option("--mlock", spec.mlock);
  trial->add_option("--config", spec.config);
  trial->add_option("--dir", spec.dir_base);
  trial->add_option("--loop-fifo", spec.loop_fifo);
  trial->add_option("--rt-cpu", spec.rt_cpu);
  CLI11_PARSE(app, argc, argv);

  try {
    if (*trial) {
      spec.kind = kind == "rate" ? TrialSpec::Kind::rate : kind == "idle" ? TrialSpec::Kind::idle : TrialSpec::Kind::demo;
      if (spec.config.empty()) spec.config = o.config;
      if (spec.dir_base.empty()) spec.dir_base = o.dir;
      std::cout << gpioirq::bench::run_trial(spec).dump() << std::endl;
      return 0;
    }
    return orchestrate(o);
  } catch (const std::exception& e) {
    std::cerr << "bench_pipeline: " << e.what() << "\n";
    return 1;
  }
}
