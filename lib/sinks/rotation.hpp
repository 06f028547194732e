#pragma once
// Size-rotation naming: the live file is `path`, older ones `path.1` (newest) to
// `path.N` (oldest). Renames are synchronous: they are metadata operations that happen
// once per rotate_size bytes, and rename(2) has no useful async form before Linux 5.11.

#include <cstdint>
#include <string>
#include <string_view>

namespace gpioirq::sinks {

// `path` for n = 0, else "path.n".
std::string rotated_path(std::string_view path, std::uint32_t n);

// Shifts path.(keep-1) -> path.keep, ..., path.1 -> path.2, path -> path.1 (rename(2)
// replaces the oldest), then removes path.(keep+1), path.(keep+2), ... left over from a
// larger retention count. keep = 0 removes `path`. Missing files are skipped.
// Returns 0 or the first -errno.
int rotate_files(std::string_view path, std::uint32_t keep);

}  // namespace gpioirq::sinks
