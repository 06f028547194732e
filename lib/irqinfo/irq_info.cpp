#include "irqinfo/irq_info.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gpioirq::irqinfo {
namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  std::string text = out.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

template <typename T>
std::optional<T> to_number(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string policy_name(int policy) {
  switch (policy) {
    case 0:
      return "other";
    case 1:
      return "fifo";
    case 2:
      return "rr";
    case 3:
      return "batch";
    case 5:
      return "idle";
    case 6:
      return "deadline";
    default:
      return "policy " + std::to_string(policy);
  }
}

// The action names of /sys/kernel/irq/<N>/actions: "name1,name2" (empty: none).
std::vector<std::string> split_actions(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

std::optional<std::set<int>> parse_cpu_list(std::string_view text) {
  std::set<int> cpus;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const std::size_t dash = item.find('-');
    const auto first = to_number<int>(item.substr(0, dash));
    const auto last =
        dash == std::string_view::npos ? first : to_number<int>(item.substr(dash + 1));
    if (!first || !last || *first < 0 || *last < *first || *last > 8191) return std::nullopt;
    for (int cpu = *first; cpu <= *last; ++cpu) cpus.insert(cpu);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return std::nullopt;  // "0," is no list
  }
  return cpus;
}

std::string format_cpu_list(const std::set<int>& cpus) {
  std::string out;
  for (auto it = cpus.begin(); it != cpus.end();) {
    const int first = *it;
    int last = first;
    for (++it; it != cpus.end() && *it == last + 1; ++it) last = *it;
    if (!out.empty()) out += ',';
    out += std::to_string(first);
    if (last != first) out += '-' + std::to_string(last);
  }
  return out;
}

IrqReader::IrqReader(std::string root) : root_(std::move(root)) {
  if (root_.empty() || root_.back() != '/') root_ += '/';
}

std::string IrqReader::path(std::string_view rel) const {
  return root_ + std::string(rel);
}

std::vector<IrqDesc> IrqReader::irqs() const {
  std::vector<IrqDesc> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path("sys/kernel/irq"), ec)) {
    const auto irq = to_number<int>(entry.path().filename().string());
    if (!irq) continue;
    const std::string dir = entry.path().string() + "/";
    IrqDesc d;
    d.irq = *irq;
    d.actions = split_actions(read_text(dir + "actions").value_or(""));
    if (const auto hw = read_text(dir + "hwirq")) d.hwirq = to_number<std::uint64_t>(*hw);
    d.chip_name = read_text(dir + "chip_name").value_or("");
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const IrqDesc& a, const IrqDesc& b) { return a.irq < b.irq; });
  return out;
}

std::optional<std::set<int>> IrqReader::online_cpus() const {
  const auto text = read_text(path("sys/devices/system/cpu/online"));
  if (!text) return std::nullopt;
  return parse_cpu_list(*text);
}

std::optional<std::set<int>> IrqReader::effective_affinity(int irq) const {
  const auto text = read_text(path("proc/irq/" + std::to_string(irq) + "/effective_affinity_list"));
  if (!text) return std::nullopt;
  return parse_cpu_list(*text);
}

std::optional<TaskSched> IrqReader::task(int pid) const {
  const std::string dir = path("proc/" + std::to_string(pid) + "/");
  const auto stat = read_text(dir + "stat");
  if (!stat) return std::nullopt;
  // "pid (comm) state ppid ...": the comm may hold spaces and ')', so split at the last ')'.
  const std::size_t open = stat->find('(');
  const std::size_t close = stat->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  TaskSched t;
  t.pid = pid;
  t.comm = stat->substr(open + 1, close - open - 1);
  std::vector<std::string> fields;  // fields[0] is field 3 (state) of proc(5)
  std::istringstream rest(stat->substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 39) return std::nullopt;
  const auto cpu = to_number<int>(fields[36]);       // 39 processor
  const auto priority = to_number<int>(fields[37]);  // 40 rt_priority
  const auto policy = to_number<int>(fields[38]);    // 41 policy
  if (!cpu || !priority || !policy) return std::nullopt;
  t.last_cpu = *cpu;
  t.rt_priority = *priority;
  t.policy = policy_name(*policy);
  if (const auto status = read_text(dir + "status")) {
    std::istringstream lines(*status);
    for (std::string line; std::getline(lines, line);) {
      constexpr std::string_view key = "Cpus_allowed_list:";
      if (line.rfind(key, 0) != 0) continue;
      std::string_view value(line);
      value.remove_prefix(key.size());
      while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
        value.remove_prefix(1);
      if (const auto cpus = parse_cpu_list(value)) t.allowed_cpus = *cpus;
    }
  }
  return t;
}

std::optional<TaskSched> IrqReader::irq_thread(int irq) const {
  const std::string prefix = "irq/" + std::to_string(irq) + "-";
  std::optional<int> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path("proc"), ec)) {
    const auto pid = to_number<int>(entry.path().filename().string());
    if (!pid || (found && *pid > *found)) continue;
    const auto comm = read_text(entry.path().string() + "/comm");
    if (comm && comm->rfind(prefix, 0) == 0) found = *pid;
  }
  if (!found) return std::nullopt;
  return task(*found);
}

std::map<int, int> IrqReader::irq_thread_pids() const {
  std::map<int, int> pids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path("proc"), ec)) {
    const auto pid = to_number<int>(entry.path().filename().string());
    if (!pid) continue;
    const auto comm = read_text(entry.path().string() + "/comm");
    if (!comm || comm->rfind("irq/", 0) != 0) continue;
    const std::size_t dash = comm->find('-', 4);
    if (dash == std::string::npos) continue;
    const auto irq = to_number<int>(std::string_view(*comm).substr(4, dash - 4));
    if (!irq) continue;
    const auto [it, added] = pids.emplace(*irq, *pid);
    if (!added && *pid < it->second) it->second = *pid;
  }
  return pids;
}

LineIrq IrqReader::refresh(const IrqDesc& desc) const {
  LineIrq line;
  line.desc = desc;
  line.effective_affinity = effective_affinity(desc.irq);
  line.thread = irq_thread(desc.irq);
  return line;
}

LineIrq IrqReader::refresh(const IrqDesc& desc, const std::map<int, int>& pids) const {
  LineIrq line;
  line.desc = desc;
  line.effective_affinity = effective_affinity(desc.irq);
  if (const auto it = pids.find(desc.irq); it != pids.end()) line.thread = task(it->second);
  return line;
}

std::optional<LineIrq> IrqReader::find_line_irq(std::string_view consumer, std::uint32_t offset,
                                                const std::set<int>& taken,
                                                std::string& why) const {
  std::string label(consumer);
  std::replace(label.begin(), label.end(), '/', ':');
  std::vector<IrqDesc> fits;
  for (IrqDesc& d : irqs()) {
    if (taken.count(d.irq) || d.hwirq != offset) continue;
    if (std::find(d.actions.begin(), d.actions.end(), label) != d.actions.end())
      fits.push_back(std::move(d));
  }
  if (fits.size() == 1) {
    why.clear();
    return refresh(fits.front());
  }
  if (fits.empty()) {
    why = "no IRQ in /sys/kernel/irq has the action '" + label + "' and hwirq " +
          std::to_string(offset);
  } else {
    why = std::to_string(fits.size()) + " IRQs have the action '" + label + "' and hwirq " +
          std::to_string(offset) + " (IRQ";
    for (const IrqDesc& d : fits) why += ' ' + std::to_string(d.irq);
    why += ')';
  }
  return std::nullopt;
}

std::set<int> confined_cpus(const LineIrq& line, const std::set<int>& online) {
  auto proper_subset = [&](const std::set<int>& cpus) {
    if (cpus.empty()) return false;
    return std::any_of(online.begin(), online.end(), [&](int c) { return !cpus.count(c); });
  };
  if (line.thread && proper_subset(line.thread->allowed_cpus)) return line.thread->allowed_cpus;
  if (line.effective_affinity && proper_subset(*line.effective_affinity))
    return *line.effective_affinity;
  return {};
}

int default_rt_cpu(const std::set<int>& irq_cpus, const std::set<int>& online) {
  if (irq_cpus.empty() || online.size() < 2) return -1;
  for (auto it = online.rbegin(); it != online.rend(); ++it)
    if (!irq_cpus.count(*it)) return *it;
  return -1;
}

}  // namespace gpioirq::irqinfo
