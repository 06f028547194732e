#include "devices/polled_source.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using Catch::Matchers::WithinAbs;
using gpioirq::config::PollConfig;
using gpioirq::devices::PolledSource;

namespace {

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/gpioirq-poll-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = tmpl;
    std::ofstream(path) << content;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("polled source: a thermal-zone style file scaled to degrees", "[poll]") {
  TempFile f("42123\n");
  PollConfig c;
  c.name = "cpu_temp";
  c.path = f.path;
  c.scale = 0.001;
  c.unit = "C";
  PolledSource src(c);
  const auto& r = src.poll();
  REQUIRE(r.ok());
  CHECK(r.raw == 42123.0);
  CHECK_THAT(r.value, WithinAbs(42.123, 1e-9));
  CHECK(src.reads() == 1);
  CHECK(src.errors() == 0);
}

TEST_CASE("polled source: parse accepts decimals, signs, whitespace; applies offset", "[poll]") {
  PollConfig c;
  c.path = "x";
  c.scale = 2.0;
  c.offset = -1.0;
  PolledSource src(c);
  CHECK(src.parse("  -12.5 \n").value == -26.0);
  CHECK(src.parse("+3").value == 5.0);
  CHECK(src.parse("1e3").raw == 1000.0);
  for (const char* bad : {"", "  \n", "abc", "12abc", "1 2"}) {
    const auto r = src.parse(bad);
    CHECK(r.error == EINVAL);
    CHECK_FALSE(r.message.empty());
  }
}

TEST_CASE("polled source: errors are values with errno and the path", "[poll]") {
  PollConfig c;
  c.path = "/nonexistent/gpioirq/temp";
  PolledSource src(c);
  const auto& r = src.poll();
  CHECK(r.error == ENOENT);
  CHECK(r.message.find(c.path) != std::string::npos);
  CHECK(src.errors() == 1);

  TempFile junk("hello\n");
  c.path = junk.path;
  PolledSource src2(c);
  CHECK(src2.poll().error == EINVAL);
}

TEST_CASE("polled source: a FIFO without a writer opens and fails at once, state changes once", "[poll]") {
  char tmpl[] = "/tmp/gpioirq-fifo-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string path = std::string(tmpl) + "/fifo";
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  PollConfig c;
  c.path = path;
  PolledSource src(c);
  // open(2) without O_NONBLOCK would wait here for a writer, for good.
  CHECK(src.poll().error == ENODATA);
  CHECK(src.state_changed());
  CHECK(src.poll().error == ENODATA);
  CHECK_FALSE(src.state_changed());  // the same failure again: no new log row
  CHECK(src.consecutive_failures() == 2);
  CHECK(src.last_ok_ns() == 0);

  const int writer = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(writer >= 0);
  CHECK(src.poll().error == EAGAIN);  // a writer, no data yet: no wait either
  CHECK(src.state_changed());
  REQUIRE(::write(writer, "21\n", 3) == 3);
  const auto& r = src.poll();
  CHECK(r.ok());
  CHECK(r.raw == 21.0);
  CHECK(src.state_changed());
  CHECK(src.consecutive_failures() == 0);
  CHECK(src.last_ok_ns() > 0);
  CHECK(src.reads() == 4);
  CHECK(src.errors() == 3);
  ::close(writer);
  std::remove(path.c_str());
  ::rmdir(tmpl);
}
