#pragma once
// Which kernel IRQ and which `irq/N-…` thread serve a requested GPIO line, read from /proc
// and /sys. gpiolib-cdev requests one threaded IRQ per line with edge detection: its hard
// handler takes the timestamp, its thread (SCHED_FIFO 50 by default, named
// "irq/<N>-<consumer>", cut to 15 characters) counts line_seqno and queues the event. Edges
// that arrive while that thread waits for its CPU are merged into one event before any
// reader sees them, so where the thread may run matters to every reader.
//
// Everything here reads files (slow-ish, never on the RT thread): the daemon calls it at
// start, after each line request and on a status query at most every few seconds. Every
// path is below a root directory so that the parsing is tested on fixture trees.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gpioirq::irqinfo {

// "0-1,3" -> {0, 1, 3}; nullopt for text that is no CPU list ("" is the empty set).
std::optional<std::set<int>> parse_cpu_list(std::string_view text);
// {0, 1, 3} -> "0-1,3" (the kernel's %pbl form).
std::string format_cpu_list(const std::set<int>& cpus);

// One IRQ of /sys/kernel/irq/<N>.
struct IrqDesc {
  int irq = -1;
  std::vector<std::string> actions;  // the names given to request_irq, comma-separated there
  std::optional<std::uint64_t> hwirq;
  std::string chip_name;
};

// A process's scheduling facts from /proc/<pid>/stat and /proc/<pid>/status.
struct TaskSched {
  int pid = -1;
  std::string comm;
  std::string policy;  // "other", "fifo", "rr", "batch", "idle", "deadline"
  int rt_priority = 0;
  int last_cpu = -1;           // the CPU it last ran on (field 39 of stat)
  std::set<int> allowed_cpus;  // Cpus_allowed_list
};

struct LineIrq {
  IrqDesc desc;
  std::optional<std::set<int>> effective_affinity;  // /proc/irq/<N>/effective_affinity_list
  std::optional<TaskSched> thread;                  // the irq/<N>-… kernel thread
};

class IrqReader {
 public:
  // root: "/" on a machine, a fixture directory in tests.
  explicit IrqReader(std::string root = "/");

  // Every IRQ in /sys/kernel/irq (empty when it is not there: no CONFIG_SPARSE_IRQ).
  std::vector<IrqDesc> irqs() const;
  // The online CPUs (/sys/devices/system/cpu/online), nullopt when unreadable.
  std::optional<std::set<int>> online_cpus() const;
  // /proc/irq/<N>/effective_affinity_list; nullopt when absent (no SMP) or unreadable.
  std::optional<std::set<int>> effective_affinity(int irq) const;
  // The kernel thread whose comm starts with "irq/<N>-" (the lowest pid if several).
  std::optional<TaskSched> irq_thread(int irq) const;
  // One task's facts; nullopt when it has gone.
  std::optional<TaskSched> task(int pid) const;

  // The IRQ a line request made for `offset`: an IRQ with an action named `consumer` (with
  // '/' turned into ':' as gpiolib-cdev does) and hwirq == offset, not one of `taken` (IRQs
  // already attributed to other lines: two chips may both have a line at that offset).
  // nullopt when none or more than one IRQ fits (`why` says which).
  std::optional<LineIrq> find_line_irq(std::string_view consumer, std::uint32_t offset,
                                       const std::set<int>& taken, std::string& why) const;
  // Every irq/<N>-… thread: IRQ number -> pid (the lowest if several), one scan of /proc.
  std::map<int, int> irq_thread_pids() const;
  // The facts of a known IRQ again (its thread may have been moved or re-prioritised);
  // with `pids` from irq_thread_pids(), many lines cost one scan of /proc.
  LineIrq refresh(const IrqDesc& desc) const;
  LineIrq refresh(const IrqDesc& desc, const std::map<int, int>& pids) const;

 private:
  std::string path(std::string_view rel) const;
  std::string root_;
};

// The CPUs an IRQ thread is held to: its allowed CPUs when they are not all online CPUs,
// else the IRQ's effective affinity when that is a proper non-empty subset, else empty (it
// may run anywhere, the scheduler moves it off a busy CPU).
std::set<int> confined_cpus(const LineIrq& line, const std::set<int>& online);

// Where the RT thread should go by default: the highest online CPU outside `irq_cpus`, or
// -1 (leave it unpinned) when irq_cpus is empty, there are fewer than 2 online CPUs, or
// every online CPU is in irq_cpus.
int default_rt_cpu(const std::set<int>& irq_cpus, const std::set<int>& online);

}  // namespace gpioirq::irqinfo
