#include "state/state_file.hpp"

#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/temp_dir.hpp"

using gpioirq::state::LoadedState;
using gpioirq::state::StateFile;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// The names in `dir` that start with `prefix`.
int count_named(const std::filesystem::path& dir, const std::string& prefix) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().starts_with(prefix)) ++n;
  return n;
}

const nlohmann::json kDevices = {
    {"water", {{"kind", "counter"}, {"state", {{"pulses", 12345}, {"value_offset", 0.25}}}}},
    {"knob", {{"kind", "encoder"}, {"state", {{"counts", -7}}}}}};

}  // namespace

TEST_CASE("state file: no file is a first start", "[state]") {
  gpioirq_test::TempDir dir;
  StateFile file(dir.file("state"));
  REQUIRE(file.prepare().empty());
  const LoadedState s = file.load();
  CHECK(s.outcome == LoadedState::Outcome::missing);
  CHECK(s.devices.empty());
  CHECK(s.problem.empty());
}

TEST_CASE("state file: the directory is made 0750 whatever the umask", "[state]") {
  gpioirq_test::TempDir dir;
  const mode_t old = ::umask(0);
  StateFile file(dir.file("a/b"));
  const std::string problem = file.prepare();
  ::umask(old);
  REQUIRE(problem.empty());
  struct stat st {};
  REQUIRE(::stat(dir.file("a/b").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);
}

TEST_CASE("state file: a directory others can write is refused with the fix", "[state]") {
  gpioirq_test::TempDir dir;
  std::filesystem::create_directory(dir.file("open"));
  ::chmod(dir.file("open").c_str(), 0777);
  StateFile file(dir.file("open"));
  const std::string problem = file.prepare();
  CHECK(problem.find("writable by others") != std::string::npos);
  CHECK(problem.find("chmod go-w") != std::string::npos);
  spit(dir.file("plain"), "x");
  CHECK(StateFile(dir.file("plain")).prepare().find("is not a directory") != std::string::npos);
}

TEST_CASE("state file: saved and loaded back, the same devices and times", "[state]") {
  gpioirq_test::TempDir dir;
  StateFile file(dir.path().string());
  REQUIRE(file.save(kDevices, 1'796'069'709'000'000'000, "abc-boot") == 0);
  const LoadedState s = file.load();
  REQUIRE(s.outcome == LoadedState::Outcome::loaded);
  CHECK(s.devices == kDevices);
  CHECK(s.saved_realtime_ns == 1'796'069'709'000'000'000);
  CHECK(s.saved_boot_id == "abc-boot");
  const nlohmann::json on_disk = nlohmann::json::parse(slurp(file.path()));
  CHECK(on_disk["version"] == 1);
  // No temp file is left behind.
  CHECK(count_named(dir.path(), "state.json.tmp") == 0);
}

TEST_CASE("state file: a save replaces the file whole; a failed save keeps the old one",
          "[state]") {
  gpioirq_test::TempDir dir;
  StateFile file(dir.path().string());
  REQUIRE(file.save(kDevices, 1, "b") == 0);
  nlohmann::json second = {{"water", {{"kind", "counter"}, {"state", {{"pulses", 99}}}}}};
  REQUIRE(file.save(second, 2, "b") == 0);
  CHECK(file.load().devices == second);
  // A directory at the temp name: the write fails, state.json is untouched.
  std::filesystem::create_directory(dir.file("state.json.tmp"));
  CHECK(file.save(kDevices, 3, "b") < 0);
  const LoadedState s = file.load();
  CHECK(s.devices == second);
  CHECK(s.saved_realtime_ns == 2);
}

TEST_CASE("state file: a temp file a crash left is overwritten, never read", "[state]") {
  gpioirq_test::TempDir dir;
  StateFile file(dir.path().string());
  spit(dir.file("state.json.tmp"), "{\"version\":1,\"devices\":{\"torn");
  CHECK(file.load().outcome == LoadedState::Outcome::missing);
  REQUIRE(file.save(kDevices, 5, "b") == 0);
  CHECK(file.load().devices == kDevices);
}

TEST_CASE("state file: a corrupt file is set aside as state.json.bad-<time> and said", "[state]") {
  struct Case {
    std::string text, said;
  };
  for (const Case& c :
       {Case{"{\"version\":1,\"devi", "is not valid JSON"}, Case{"[1,2]", "is not a JSON object"},
        Case{"{\"version\":2,\"devices\":{}}", "has no version 1 (found 2)"},
        Case{"{\"version\":1}", "has no \"devices\" object"},
        Case{"{\"version\":1,\"devices\":{\"w\":{\"state\":1}}}",
             "has a device 'w' without a kind and a state"},
        Case{"", "is not valid JSON"}}) {
    gpioirq_test::TempDir dir;
    StateFile file(dir.path().string());
    spit(file.path(), c.text);
    const LoadedState s = file.load();
    INFO(c.text);
    CHECK(s.outcome == LoadedState::Outcome::corrupt);
    CHECK(s.devices.empty());
    CHECK(s.problem.find(c.said) != std::string::npos);
    CHECK(s.problem.find("kept as " + file.path() + ".bad-") != std::string::npos);
    CHECK(!std::filesystem::exists(file.path()));
    REQUIRE(count_named(dir.path(), "state.json.bad-") == 1);
    // The bad file keeps its text, for the user to look at.
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
      if (e.path().filename().string().starts_with("state.json.bad-"))
        CHECK(slurp(e.path().string()) == c.text);
    // The next load is a first start; the next save works.
    CHECK(file.load().outcome == LoadedState::Outcome::missing);
    CHECK(file.save(kDevices, 1, "b") == 0);
  }
}

TEST_CASE("state file: utc_text and the boot id", "[state]") {
  CHECK(gpioirq::state::utc_text(1'796'069'709'000'000'000) == "2026-11-30T20:15:09Z");
  const std::string id = gpioirq::state::read_boot_id();
  CHECK(id.size() == 36);
}
