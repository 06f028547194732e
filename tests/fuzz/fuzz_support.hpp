#pragma once
// Shared by the fuzz targets in tests/fuzz/: a failed property aborts with a message (so
// libFuzzer, and the replay main, report the input as a crash), and a scratch directory for
// the targets that exercise the daemon's file readers on real files.

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace gpioirq_fuzz {

// Not assert(): it must hold in release builds too.
[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz property violated: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}
inline void check(bool condition, const char* what, std::string_view detail = {}) {
  if (!condition) fail(what, detail);
}

// One directory for the whole run, emptied by each input and removed at exit. On tmpfs
// (/dev/shm) when there is one: every input ends in an fdatasync, which on a disk would
// make the fuzzer a hundred times slower.
class ScratchDir {
 public:
  ScratchDir() {
    for (const char* base : {"/dev/shm", "/tmp"}) {
      std::string pattern = std::string(base) + "/gpioirq-fuzz-XXXXXX";
      if (::mkdtemp(pattern.data()) != nullptr) {
        path_ = pattern;
        return;
      }
    }
    fail("cannot make a scratch directory in /dev/shm or /tmp");
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(std::string_view name) const { return (path_ / name).string(); }
  void empty() const {
    for (const auto& entry : std::filesystem::directory_iterator(path_))
      std::filesystem::remove_all(entry.path());
  }

 private:
  std::filesystem::path path_;
};

inline const ScratchDir& scratch_dir() {
  static const ScratchDir dir;
  return dir;
}
inline void empty_scratch_dir() {
  scratch_dir().empty();
}

inline void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out.flush()) fail("cannot write the scratch file", path);
}

// The whole file, or nullopt-like "" with exists=false when it is not there.
inline bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::filesystem::file_size(path), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return true;
}

}  // namespace gpioirq_fuzz
