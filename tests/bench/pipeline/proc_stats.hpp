#pragma once
// What the pipeline benchmark reads about its own process from /proc and the CPU clocks.

#include <time.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gpioirq::bench {

std::uint64_t clock_ns(clockid_t id) noexcept;

// From /proc/self/status, in KiB; 0 when absent.
std::uint64_t status_kib(const std::string& key);

// Resident memory grouped by what it is, from /proc/self/smaps: "heap", "stack" (main),
// "thread stacks" (8 MiB-ish anonymous maps with a guard page), "anon", and each mapped
// file by its base name. Largest first.
struct RssPart {
  std::string what;
  std::uint64_t rss_kib = 0;
  std::uint64_t size_kib = 0;
  std::uint32_t maps = 0;
};
std::vector<RssPart> rss_breakdown();

}  // namespace gpioirq::bench
