#pragma once
// The sinks tests' scratch directory (tests/support/temp_dir.hpp) and file helpers.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "support/temp_dir.hpp"

namespace sinks_test {

using TempDir = gpioirq_test::TempDir;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  // Not istreambuf_iterator: GCC 12 sees a null dereference in it under -O2.
  std::string s(std::filesystem::file_size(path), '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

inline void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

}  // namespace sinks_test
