// [metrics] textfile (docs/METRICS.md): the daemon writes its Prometheus text where
// node_exporter's textfile collector reads it. What a user checks: the file appears, it
// parses as Prometheus text with a TYPE for every family, every family is documented in
// docs/METRICS.md (with the type the doc gives), a reader never sees a part of it (it is
// replaced by a rename: its inode changes), it says what `gpioirqctl metrics` says, a
// directory that is not there is an error counted and logged but never fatal, a reload
// applies a new [metrics], and the stop writes it once more.

#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

struct Sample {
  std::string name, labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter, gauge, summary, ...
  std::set<std::string> helped;              // families with a HELP line
  std::vector<Sample> samples;
  std::vector<std::string> problems;  // what a Prometheus parser would refuse
};

// The family a sample belongs to: a summary's or histogram's _count/_sum/_bucket lines
// belong to the family without the suffix.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_count", "_sum", "_bucket"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.ends_with(s)) {
      const std::string base = name.substr(0, name.size() - s.size());
      const auto it = types.find(base);
      if (it != types.end() && (it->second == "summary" || it->second == "histogram")) return base;
    }
  }
  return name;
}

// The text exposition format (prometheus.io/docs/instrumenting/exposition_formats): HELP
// and TYPE comments, then `name{labels} value` lines; a family's TYPE before its samples.
Exposition parse_exposition(const std::string& text) {
  static const std::regex help_re(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const std::regex type_re(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped))");
  static const std::regex sample_re(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)\})? (\S+))");
  Exposition e;
  if (text.empty() || text.back() != '\n') e.problems.push_back("does not end with a newline");
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, help_re)) {
      e.helped.insert(m[1]);
    } else if (std::regex_match(line, m, type_re)) {
      if (!e.types.emplace(m[1], m[2]).second) e.problems.push_back("TYPE twice: " + line);
    } else if (std::regex_match(line, m, sample_re)) {
      Sample s{m[1], m[3], 0};
      try {
        std::size_t used = 0;
        s.value = std::stod(m[5].str(), &used);
        if (used != m[5].str().size()) e.problems.push_back("bad value: " + line);
      } catch (const std::exception&) {
        e.problems.push_back("bad value: " + line);
      }
      if (!e.types.count(family_of(s.name, e.types)))
        e.problems.push_back("sample without a TYPE before it: " + line);
      e.samples.push_back(s);
    } else {
      e.problems.push_back("not Prometheus text: " + line);
    }
  }
  return e;
}

// docs/METRICS.md: every family in a table row "| `name` | type | labels | meaning |".
std::map<std::string, std::string> documented_families() {
  std::ifstream in(source_dir() + "/docs/METRICS.md");
  REQUIRE(in.good());
  static const std::regex row_re(R"(\|\s*`(gpioirqd?_[a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|.*)");
  std::map<std::string, std::string> docs;
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_match(line, m, row_re)) docs.emplace(m[1], m[2]);
  return docs;
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Samples as "name{labels}" -> value, without the figures that move by themselves (time,
// latency, the control socket's own counts, which the `metrics` request itself changes).
std::map<std::string, double> steady_values(const Exposition& e) {
  std::map<std::string, double> out;
  for (const Sample& s : e.samples) {
    if (s.name == "gpioirq_uptime_seconds" || s.name.starts_with("gpioirq_latency_seconds") ||
        s.name.starts_with("gpioirqd_control_"))
      continue;
    out[s.name + "{" + s.labels + "}"] = s.value;
  }
  return out;
}

std::string config(const std::string& metrics) {
  // Devices that do not move by themselves (no sim rates), so that the file and the reply
  // can be compared value for value.
  return daemon_section() + sim_chip_section() + R"(
[[encoder]]
name = "knob"
chip = "sim0"
a = 1
b = 2

[[button]]
name = "bell"
chip = "sim0"
line = 3

[[counter]]
name = "water"
chip = "sim0"
line = 4
unit = "l"

[metrics]
)" + metrics;
}

}  // namespace

TEST_CASE("metrics textfile: documented Prometheus text, replaced atomically, as `metrics` says",
          "[host][metrics]") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("textfile"));
  const std::string prom = dir.file("textfile/gpioirq.prom");
  Daemon d(dir, config("textfile = \"textfile/gpioirq.prom\"\ntextfile_interval_ms = 100\n"));
  REQUIRE(wait_until([&] { return exists(prom); }, 5s));

  // 1. It parses, and every family it has is documented with its type.
  const Exposition e = parse_exposition(read_file(prom));
  for (const std::string& p : e.problems) FAIL_CHECK(p);
  CHECK(e.types.count("gpioirq_edges_total"));
  CHECK(e.types.count("gpioirq_counter_total"));
  CHECK(e.types.count("gpioirqd_control_requests_total"));
  CHECK(e.types.at("gpioirq_metrics_textfile_write_errors_total") == "counter");
  const auto docs = documented_families();
  for (const auto& [family, type] : e.types) {
    INFO("family " << family);
    const auto it = docs.find(family);
    if (it == docs.end()) {
      FAIL_CHECK("not in docs/METRICS.md");
      continue;
    }
    CHECK(it->second == type);
  }

  // 2. Replaced whole, by a rename: a new inode each interval, and a reader never sees a
  // part (every read ends with the control socket's last family).
  const ino_t first = inode_of(prom);
  REQUIRE(first != 0);
  std::atomic<bool> stop_reading{false};
  int reads = 0, partial = 0;
  std::thread reader([&] {
    while (!stop_reading) {
      const std::string text = read_file(prom);
      ++reads;
      if (!text.ends_with("gpioirqd_control_closed_total{reason=\"shutdown\"} 0\n")) ++partial;
    }
  });
  // (A freed inode number may come back, so changes are counted, not distinct numbers.)
  ino_t seen = first;
  int replaced = 0;
  CHECK(wait_until(
      [&] {
        const ino_t now = inode_of(prom);
        if (now != seen) ++replaced;
        seen = now;
        return replaced >= 5;
      },
      5s, 5ms));
  stop_reading = true;
  reader.join();
  CHECK(reads > 10);
  CHECK(partial == 0);
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("textfile")))
    CHECK((entry.path().filename() == "gpioirq.prom" ||
           entry.path().filename() == "gpioirq.prom.tmp"));  // the tmp only mid-write

  // 3. The same as `gpioirqctl metrics`: same lines in the same order, the same values
  // but for time, latency and the control socket's own counts.
  const RunResult r = ctl(d.socket(), {"metrics"});
  REQUIRE(r.exit_code == 0);
  const Exposition reply = parse_exposition(r.out);
  const Exposition file = parse_exposition(read_file(prom));
  CHECK(file.types == reply.types);
  CHECK(file.helped == reply.helped);
  REQUIRE(file.samples.size() == reply.samples.size());
  for (std::size_t i = 0; i < file.samples.size(); ++i) {
    CHECK(file.samples[i].name == reply.samples[i].name);
    CHECK(file.samples[i].labels == reply.samples[i].labels);
  }
  CHECK(steady_values(file) == steady_values(reply));
  CHECK(steady_values(file).at("gpioirq_metrics_textfile_write_errors_total{}") == 0);
  CHECK(d.stop() == 0);
}

TEST_CASE(
    "metrics textfile: a missing directory is counted and logged, never fatal; reload "
    "and stop write it",
    "[host][metrics]") {
  TempDir dir;
  const std::string prom = dir.file("later/gpioirq.prom");
  Daemon d(dir, config("textfile = \"later/gpioirq.prom\"\ntextfile_interval_ms = 100\n"));
  // Still running and answering; the failures counted in its metrics.
  auto write_errors = [&] {
    const Exposition e = parse_exposition(d.ok("metrics").at("text").get<std::string>());
    for (const Sample& s : e.samples)
      if (s.name == "gpioirq_metrics_textfile_write_errors_total") return s.value;
    return -1.0;
  };
  REQUIRE(wait_until([&] { return write_errors() >= 3; }, 5s));
  CHECK_FALSE(exists(prom));
  // Logged once for the run of failures, not at every interval.
  const std::string err = d.stderr_text();
  std::size_t messages = 0;
  for (std::size_t pos = 0; (pos = err.find("metrics textfile:", pos)) != std::string::npos; ++pos)
    ++messages;
  CHECK(messages == 1);
  CHECK(err.find(dir.file("later/gpioirq.prom.tmp")) != std::string::npos);

  // The directory appears: the next interval writes the file, and says so once.
  std::filesystem::create_directory(dir.file("later"));
  REQUIRE(wait_until([&] { return exists(prom); }, 5s));
  CHECK(wait_until([&] { return d.stderr_text().find("written again") != std::string::npos; }, 5s));

  // A reload to another file and a long interval: written at once there.
  const std::string moved = dir.file("later/moved.prom");
  d.write_config(config("textfile = \"later/moved.prom\"\ntextfile_interval_ms = 3600000\n"));
  REQUIRE(d.ok("reload").contains("reloaded"));
  REQUIRE(wait_until([&] { return exists(moved); }, 5s));
  const ino_t before_stop = inode_of(moved);
  std::this_thread::sleep_for(300ms);
  CHECK(inode_of(moved) == before_stop);  // no interval write in an hour's interval
  // The stop writes it once more: a new file.
  CHECK(d.stop() == 0);
  CHECK(inode_of(moved) != before_stop);
  const Exposition last = parse_exposition(read_file(moved));
  CHECK(last.problems.empty());
  CHECK_FALSE(exists(moved + ".tmp"));
}
