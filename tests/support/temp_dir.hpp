#pragma once
// A fresh directory for one test, removed with everything in it at scope exit (kept when
// GPIOIRQ_KEEP_TMP is set in the environment, to look at after a failure). Always under
// /tmp, not $TMPDIR: UNIX socket paths inside it must fit in sun_path (108 bytes).

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace gpioirq_test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/gpioirq-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    if (::getenv("GPIOIRQ_KEEP_TMP") != nullptr) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace gpioirq_test
