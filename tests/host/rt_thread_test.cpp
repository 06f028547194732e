// What the kernel really granted the RT ingest thread, as /proc shows it (not as the
// daemon reports it): SCHED_FIFO at the configured priority and pinned to the configured
// CPU. Needs root (CAP_SYS_NICE); skipped otherwise.

#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {
using namespace host;

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string status_field(const std::string& task_dir, const std::string& key) {
  std::ifstream in(task_dir + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) {
      auto v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return {};
}

}  // namespace

TEST_CASE("The RT thread runs SCHED_FIFO at rt_priority, pinned to cpu, as /proc shows",
          "[host][rt]") {
  if (::geteuid() != 0) SKIP("needs root for SCHED_FIFO");
  const int cpu = ::sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0;
  TempDir dir;
  Daemon d(dir, daemon_section("rt_priority = 33\ncpu = " + std::to_string(cpu)) + sim_chip_section() +
                    "[[counter]]\nname = \"flow\"\nchip = \"sim0\"\nline = 1\nsim_rate_hz = 100\n");
  const std::string tasks = "/proc/" + std::to_string(d.process().pid()) + "/task";
  int rt_threads = 0;
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    const std::string dirname = task.path().string();
    if (first_line(dirname + "/comm") != "gpioirqd-rt") continue;
    ++rt_threads;
    const std::string stat = first_line(dirname + "/stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
    REQUIRE(f.size() > 38);
    CHECK(f[37] == "33");  // rt_priority, field 40 of /proc/PID/task/TID/stat
    CHECK(f[38] == "1");   // policy, field 41: SCHED_FIFO
    CHECK(status_field(dirname, "Cpus_allowed_list") == std::to_string(cpu));
  }
  CHECK(rt_threads == 1);
  const Json rt = d.ok("status").at("rt");
  CHECK(rt.at("priority") == 33);
  CHECK(rt.at("cpu") == cpu);
}
