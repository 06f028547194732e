// gpioirqd --check-config and start-up with a bad file: every shipped example passes; every
// kind of mistake exits 78 (EX_CONFIG) with one file:line:column line on stderr; a daemon
// given a bad file opens nothing (no log directory, no socket).

#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;

// Lines 1-5: daemon_section(); lines 6-9: this chip. Rows below count from line 10.
const std::string kSimChip = sim_chip_section();

const std::string kKnob =  // lines 10-14
    "[[encoder]]\n"
    "name = \"knob\"\n"
    "chip = \"sim0\"\n"
    "a = 0\n"
    "b = 1\n";

struct BadFile {
  const char* what;
  std::string text;
  std::string message;  // after "PATH:"
};

std::vector<BadFile> bad_files() {
  const std::string head = daemon_section() + kSimChip;
  return {
      {"unknown key, with the nearest valid name",
       head + kKnob + "counts_per_perid = 4\n",
       "15:1: encoder 'knob': key 'counts_per_perid' is unknown; did you mean 'counts_per_period'?"},
      {"wrong type",
       head + "[[button]]\nname = \"b\"\nchip = \"sim0\"\nline = 2\ndebounce_ms = \"20\"\n",
       "14:15: button 'b'.debounce_ms: expected an integer from 0 to 10000, found a string"},
      {"out of range (the edge ring below its minimum)",
       daemon_section("ring_capacity = 16") + kSimChip,
       "6:17: daemon.ring_capacity: expected a power of two from 1024 to 16777216, found 16"},
      {"duplicate name across device kinds",
       head + kKnob + "[[counter]]\nname = \"knob\"\nchip = \"sim0\"\nline = 2\n",
       "16:8: counter 'knob'.name: duplicate name 'knob' (first defined at PATH:10:1 as an encoder)"},
      {"the same line used twice",
       head + kKnob + "[[counter]]\nname = \"flow\"\nchip = \"sim0\"\nline = 1\n",
       "18:8: counter 'flow'.line: line 1 of chip 'sim0' is already used by encoder 'knob'.b (at PATH:14:5)"},
      {"a missing chip",
       head + "[[counter]]\nname = \"flow\"\nchip = \"sim1\"\nline = 1\n",
       "12:8: counter 'flow'.chip: chip 'sim1' is not defined; did you mean 'sim0'?"},
      {"TOML syntax error",
       head + "[[counter]]\nname = \"flow\"\nchip = \"sim0\"\nline = 1\nscale = \n",
       "14:9: TOML syntax error while parsing key-value pair: expected value, saw '\\n'"},
      {"sim_rate_hz on a gpiod chip",
       daemon_section() + "[[chip]]\nname = \"gpio0\"\npath = \"/dev/gpiochip0\"\n" +
           "[[counter]]\nname = \"flow\"\nchip = \"gpio0\"\nline = 1\nsim_rate_hz = 10\n",
       "13:15: counter 'flow'.sim_rate_hz: applies only to devices on a sim chip, and chip 'gpio0' has backend \"gpiod\""},
  };
}

std::string expected_line(const std::string& path, const std::string& message) {
  std::string m = message;
  for (std::size_t at; (at = m.find("PATH")) != std::string::npos;) m.replace(at, 4, path);
  return path + ":" + m;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("check-config: every example in config/ passes", "[host][config]") {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/config"))
    if (e.path().extension() == ".toml") files.push_back(e.path().string());
  REQUIRE(files.size() >= 2);  // gpioirqd.toml and demo.toml at least
  for (const auto& f : files) {
    const RunResult r = run({gpioirqd_path(), "--check-config", f});
    INFO(f << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(f + ": ok (") != std::string::npos);
    CHECK(r.err.empty());
  }
}

TEST_CASE("check-config: each bad file exits 78 with its file:line:column message", "[host][config]") {
  TempDir dir;
  for (const auto& bad : bad_files()) {
    DYNAMIC_SECTION(bad.what) {
      const std::string path = dir.file("bad.toml");
      write_file(path, bad.text);
      const RunResult r = run({gpioirqd_path(), "--check-config", path});
      INFO("file:\n" << bad.text << "\nstdout: " << r.out << "\nstderr: " << r.err);
      CHECK(r.exit_code == 78);
      CHECK(r.out.empty());
      CHECK(r.err == expected_line(path, bad.message) + "\n");
    }
  }
}

TEST_CASE("check-config: a file that does not exist exits 78", "[host][config]") {
  TempDir dir;
  const std::string path = dir.file("nosuch.toml");
  const RunResult r = run({gpioirqd_path(), "--check-config", path});
  CHECK(r.exit_code == 78);
  CHECK(r.err == path + ": cannot read: No such file or directory\n");
}

TEST_CASE("gpioirqd with a bad file exits 78 having opened nothing", "[host][config]") {
  auto rows = bad_files();
  // Also: a config that does not exist at all.
  rows.push_back({"no such file", "", ""});
  for (const auto& bad : rows) {
    DYNAMIC_SECTION(bad.what) {
      TempDir dir;
      const std::string path = dir.file("gpioirqd.toml");
      const bool missing = bad.text.empty();
      if (!missing) write_file(path, bad.text);
      const RunResult r = run({gpioirqd_path(), "-c", path}, 10s);
      INFO("stdout: " << r.out << "\nstderr: " << r.err);
      CHECK(r.exit_code == 78);
      if (missing)
        CHECK(r.err == "gpioirqd: " + path + ": cannot read: No such file or directory\n");
      else
        CHECK(r.err == "gpioirqd: " + expected_line(path, bad.message) + "\n");
      // Opened nothing: no log directory, no event log, no socket; the directory holds
      // exactly what the test put there.
      CHECK_FALSE(exists(dir.file("logs")));
      CHECK_FALSE(exists(dir.file("ctl.sock")));
      CHECK(dir_entries(dir.path()) == (missing ? std::vector<std::string>{} : std::vector<std::string>{"gpioirqd.toml"}));
    }
  }
}

TEST_CASE("gpioirqd with a socket_group the system lacks exits 78 (no restart loop) and says so",
          "[host][config]") {
  TempDir dir;
  const std::string path = dir.file("gpioirqd.toml");
  // --check-config does not look at the machine; the start does.
  write_file(path,
             daemon_section("socket_group = \"no-such-group-gpioirq\"\n") + sim_chip_section());
  CHECK(run({gpioirqd_path(), "--check-config", path}).exit_code == 0);
  const RunResult r = run({gpioirqd_path(), "-c", path}, 10s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("daemon.socket_group: there is no group 'no-such-group-gpioirq' on this system; "
                   "create it (groupadd no-such-group-gpioirq) or name another") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("logs")));  // nothing was made
}
