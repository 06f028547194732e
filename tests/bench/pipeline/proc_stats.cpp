#include "proc_stats.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace gpioirq::bench {

std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  return 0;
}

std::vector<RssPart> rss_breakdown() {
  std::ifstream in("/proc/self/smaps");
  std::map<std::string, RssPart> parts;
  std::string line, what;
  std::uint64_t size = 0;
  bool prev_guard = false;  // the previous map was a PROT_NONE guard page
  bool guard = false;
  while (std::getline(in, line)) {
    // A mapping header: "start-end perms offset dev inode [path]".
    const auto dash = line.find('-');
    const bool header = dash != std::string::npos && dash < 17 &&
                        line.find_first_not_of("0123456789abcdef") == dash;
    if (header) {
      std::istringstream s(line);
      std::string range, perms, offset, dev, inode, path;
      s >> range >> perms >> offset >> dev >> inode;
      std::getline(s, path);
      path.erase(0, path.find_first_not_of(' '));
      const auto lo = std::stoull(range.substr(0, dash), nullptr, 16);
      const auto hi = std::stoull(range.substr(dash + 1), nullptr, 16);
      size = (hi - lo) / 1024;
      prev_guard = guard;
      guard = perms == "---p";
      if (path == "[heap]") what = "heap (brk)";
      else if (path == "[stack]") what = "main thread stack";
      else if (path.empty())
        what = prev_guard && size >= 1024 && size <= 16 * 1024 ? "thread stacks (anon after a guard page)"
               : perms == "---p"                               ? "reserved, no access"
                                                                : "other anonymous (malloc arenas, mmap'd buffers, rings)";
      else if (path[0] == '[') what = path;
      else what = path.substr(path.rfind('/') + 1);
      auto& p = parts[what];
      p.what = what;
      p.size_kib += size;
      ++p.maps;
    } else if (line.rfind("Rss:", 0) == 0) {
      parts[what].rss_kib += std::stoull(line.substr(4));
    }
  }
  std::vector<RssPart> out;
  for (auto& [k, v] : parts) out.push_back(v);
  std::sort(out.begin(), out.end(), [](const RssPart& a, const RssPart& b) { return a.rss_kib > b.rss_kib; });
  return out;
}

}  // namespace gpioirq::bench
