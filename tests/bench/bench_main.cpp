// main() of bench_primitives: runs the registered benchmarks with Google Benchmark
// (repetitions of all contenders interleaved at random unless told otherwise), shows the
// usual console report on stderr, then prints ONE markdown table of the medians, with
// ratios against the peer measured in the same run, on stdout (scripts/bench.sh).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace {

// Medians by benchmark ("ring/SpscRing/batch:1", "wake/futex/rate:1000") and counter.
using Medians = std::map<std::string, std::map<std::string, double>>;

class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Aggregate || run.aggregate_name != "median" || run.error_occurred)
        continue;
      std::string name = run.run_name.function_name;
      if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
      for (const auto& [counter, value] : run.counters) medians[name][counter] = value.value;
      repetitions = run.repetitions;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  Medians medians;
  long long repetitions = 0;
};

double get(const Medians& m, const std::string& bench, const std::string& counter) {
  const auto b = m.find(bench);
  if (b == m.end()) return -1;
  const auto c = b->second.find(counter);
  return c == b->second.end() ? -1 : c->second;
}

std::string fmt(const char* format, double v) {
  if (v < 0) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string ratio(double a, double b) {
  return a < 0 || b <= 0 ? "n/a" : fmt("%.2fx", a / b);
}

void print_tables(const Medians& m, long long reps, double c2c_before, double c2c_after) {
  std::printf("Medians of %lld interleaved repetitions per cell.\n\n", reps);
  std::printf(
      "Core-to-core cache-line round trip between the two benchmark CPUs: %.0f ns before the "
      "runs, %.0f ns after (where the host put the vCPUs; every ring figure scales with it).\n\n",
      c2c_before, c2c_after);

  std::printf(
      "### Ring throughput (16-byte records, producer and consumer on different cores)\n\n");
  std::printf(
      "| batch | SpscRing Mitems/s | boost spsc_queue Mitems/s | moodycamel RWQ Mitems/s | "
      "SpscRing / boost | SpscRing / moodycamel |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|\n");
  for (const char* batch : {"1", "64"}) {
    const std::string suffix = std::string("/batch:") + batch;
    const double s = get(m, "ring/SpscRing" + suffix, "items_per_second");
    const double b = get(m, "ring/boost_spsc_queue" + suffix, "items_per_second");
    const double r = get(m, "ring/moodycamel_RWQ" + suffix, "items_per_second");
    if (s < 0 && b < 0 && r < 0) continue;
    std::printf("| %s | %s | %s | %s | %s | %s |\n", batch, fmt("%.1f", s / 1e6).c_str(),
                fmt("%.1f", b / 1e6).c_str(), fmt("%.1f", r / 1e6).c_str(), ratio(s, b).c_str(),
                ratio(s, r).c_str());
  }

  std::printf("\nSpins per item (producer found the ring full / consumer found it empty): ");
  for (const char* batch : {"1", "64"})
    for (const char* q : {"SpscRing", "boost_spsc_queue", "moodycamel_RWQ"}) {
      const std::string name = std::string("ring/") + q + "/batch:" + batch;
      if (m.find(name) == m.end()) continue;
      std::printf("%s b%s %s/%s; ", q, batch,
                  fmt("%.2f", get(m, name, "full_spins_per_item")).c_str(),
                  fmt("%.2f", get(m, name, "empty_spins_per_item")).c_str());
    }
  std::printf("\n");

  std::printf(
      "\n### Wake latency producer -> consumer (open loop, from the intended send time)\n\n");
  std::printf(
      "| rate/s | mechanism | p50 us | p99 us | p99.9 us | max us | p50 / futex p50 | producer CPU "
      "ns/ev | consumer CPU ns/ev | syscalls / 1000 ev | consumer wakes / 1000 ev | drops |\n");
  std::printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const char* rate : {"1000", "10000", "100000"}) {
    const std::string suffix = std::string("/rate:") + rate;
    const double futex_p50 = get(m, "wake/futex" + suffix, "p50_us");
    for (const char* mech : {"ThreadSafeFlag+io_uring", "ThreadSafeFlag+io_uring+spin50us",
                             "eventfd+epoll", "futex"}) {
      const std::string name = std::string("wake/") + mech + suffix;
      if (m.find(name) == m.end()) continue;
      std::printf(
          "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rate, mech,
          fmt("%.1f", get(m, name, "p50_us")).c_str(), fmt("%.1f", get(m, name, "p99_us")).c_str(),
          fmt("%.1f", get(m, name, "p999_us")).c_str(), fmt("%.1f", get(m, name, "max_us")).c_str(),
          ratio(get(m, name, "p50_us"), futex_p50).c_str(),
          fmt("%.0f", get(m, name, "prod_cpu_ns_per_ev")).c_str(),
          fmt("%.0f", get(m, name, "cons_cpu_ns_per_ev")).c_str(),
          fmt("%.0f", get(m, name, "syscalls_per_1k")).c_str(),
          fmt("%.0f", get(m, name, "wakes_per_1k")).c_str(),
          fmt("%.0f", get(m, name, "drops")).c_str());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  gpioirq::bench::allowed_cpus();  // the process's CPUs, read before any thread is pinned
  // Interleave by default: on a shared machine, noise then hits every contender alike.
  // (Given first so that a later --benchmark_enable_random_interleaving=false wins.)
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  std::vector<char*> args;
  args.reserve(static_cast<std::size_t>(argc) + 2);
  for (int i = 0; i < argc; ++i) {
    args.push_back(argv[i]);
    if (i == 0) args.push_back(interleave.data());
  }
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  CollectingReporter reporter;
  reporter.SetOutputStream(&std::cerr);
  reporter.SetErrorStream(&std::cerr);
  const double c2c_before = gpioirq::bench::core_to_core_round_trip_ns();
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const double c2c_after = gpioirq::bench::core_to_core_round_trip_ns();
  std::fflush(stderr);
  print_tables(reporter.medians, reporter.repetitions, c2c_before, c2c_after);
  return 0;
}
