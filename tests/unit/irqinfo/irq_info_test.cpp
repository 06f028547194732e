#include "irqinfo/irq_info.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace gpioirq::irqinfo;

namespace {
const IrqReader board{IRQINFO_FIXTURE_ROOT};
}  // namespace

TEST_CASE("cpu lists parse and format like the kernel's %pbl", "[irqinfo]") {
  CHECK(parse_cpu_list("0-1,3") == std::set<int>{0, 1, 3});
  CHECK(parse_cpu_list("2\n") == std::set<int>{2});
  CHECK(parse_cpu_list("") == std::set<int>{});
  CHECK_FALSE(parse_cpu_list("1-0"));
  CHECK_FALSE(parse_cpu_list("0,"));
  CHECK_FALSE(parse_cpu_list("a"));
  CHECK_FALSE(parse_cpu_list("-1"));
  CHECK(format_cpu_list({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8");
  CHECK(format_cpu_list({}) == "");
}

TEST_CASE("the IRQs of /sys/kernel/irq with their actions, hwirq and chip", "[irqinfo]") {
  const auto irqs = board.irqs();
  REQUIRE(irqs.size() == 7);
  CHECK(irqs.front().irq == 24);
  CHECK(irqs.back().irq == 451);
  CHECK(irqs[1].actions == std::vector<std::string>{"gpioirqd"});
  CHECK(irqs[1].hwirq == 17u);
  CHECK(irqs[1].chip_name == "pinctrl-bcm2835");
  CHECK(irqs[4].actions.empty());  // IRQ 48: mapped, nobody requested it
  CHECK(irqs[5].actions == std::vector<std::string>{"gpioirqd", "other:app"});
  CHECK(board.online_cpus() == std::set<int>{0, 1, 2, 3});
  CHECK(IrqReader("/nonexistent").irqs().empty());
  CHECK_FALSE(IrqReader("/nonexistent").online_cpus());
}

TEST_CASE("a task's policy, RT priority, last CPU and allowed CPUs from /proc/PID", "[irqinfo]") {
  const auto t = board.task(812);
  REQUIRE(t);
  CHECK(t->comm == "irq/45-gpioirqd");
  CHECK(t->policy == "fifo");
  CHECK(t->rt_priority == 50);
  CHECK(t->last_cpu == 0);
  CHECK(t->allowed_cpus == std::set<int>{0});
  const auto rr = board.task(1100);
  REQUIRE(rr);
  CHECK(rr->policy == "rr");
  CHECK(rr->rt_priority == 60);
  // A comm with ") " in it does not shift the fields.
  const auto odd = board.task(1001);
  REQUIRE(odd);
  CHECK(odd->comm == "sh) S 1 (x");
  CHECK(odd->policy == "other");
  CHECK(odd->last_cpu == 3);
  CHECK_FALSE(board.task(4242));
}

TEST_CASE("an IRQ's thread is found by its comm irq/N-, not irq/N1-", "[irqinfo]") {
  const auto t45 = board.irq_thread(45);
  REQUIRE(t45);
  CHECK(t45->pid == 812);
  const auto t451 = board.irq_thread(451);
  REQUIRE(t451);
  CHECK(t451->pid == 4510);
  CHECK_FALSE(board.irq_thread(48));
  const auto pids = board.irq_thread_pids();
  CHECK(pids ==
        std::map<int, int>{{24, 50}, {45, 812}, {46, 813}, {47, 900}, {49, 1100}, {451, 4510}});
  const auto again = board.refresh(board.irqs()[1], pids);
  REQUIRE(again.thread);
  CHECK(again.thread->pid == 812);
  CHECK(again.effective_affinity == std::set<int>{0});
  CHECK(board.effective_affinity(45) == std::set<int>{0});
  CHECK(board.effective_affinity(47) == std::set<int>{});
  CHECK_FALSE(board.effective_affinity(999));
}

TEST_CASE("a line's IRQ: the consumer's action at the line's offset, not one already taken",
          "[irqinfo]") {
  std::string why;
  const auto line4 = board.find_line_irq("gpioirqd", 4, {}, why);
  REQUIRE(line4);
  CHECK(why.empty());
  CHECK(line4->desc.irq == 46);
  REQUIRE(line4->thread);
  CHECK(line4->thread->pid == 813);
  CHECK(line4->effective_affinity == std::set<int>{0});

  // Two chips have a gpioirqd line at offset 17 (IRQs 45 and 47): ambiguous until one is
  // attributed; IRQ 451 (another consumer) never fits.
  CHECK_FALSE(board.find_line_irq("gpioirqd", 17, {}, why));
  CHECK(why == "2 IRQs have the action 'gpioirqd' and hwirq 17 (IRQ 45 47)");
  const auto second = board.find_line_irq("gpioirqd", 17, {45}, why);
  REQUIRE(second);
  CHECK(second->desc.irq == 47);
  CHECK(second->thread->pid == 900);

  // A shared IRQ lists several actions.
  const auto shared = board.find_line_irq("gpioirqd", 22, {}, why);
  REQUIRE(shared);
  CHECK(shared->desc.irq == 49);

  CHECK_FALSE(board.find_line_irq("gpioirqd", 5, {}, why));
  CHECK(why == "no IRQ in /sys/kernel/irq has the action 'gpioirqd' and hwirq 5");
  // gpiolib-cdev turns '/' in the consumer label into ':'.
  CHECK(board.find_line_irq("other/app", 22, {}, why));
}

TEST_CASE("where an IRQ thread is held, and where the RT thread goes by default", "[irqinfo]") {
  const std::set<int> online{0, 1, 2, 3};
  std::string why;
  const auto pinned = board.find_line_irq("gpioirqd", 4, {}, why);
  REQUIRE(pinned);
  CHECK(confined_cpus(*pinned, online) == std::set<int>{0});
  // Thread free to run anywhere, effective affinity empty (irq_sim): not confined.
  const auto free_line = board.find_line_irq("gpioirqd", 17, {45}, why);
  REQUIRE(free_line);
  CHECK(confined_cpus(*free_line, online).empty());
  // Thread allowed everywhere but the IRQ delivered to CPU 1: held to CPU 1.
  LineIrq by_affinity = *free_line;
  by_affinity.effective_affinity = std::set<int>{1};
  CHECK(confined_cpus(by_affinity, online) == std::set<int>{1});

  CHECK(default_rt_cpu({0}, online) == 3);
  CHECK(default_rt_cpu({2, 3}, online) == 1);
  CHECK(default_rt_cpu({}, online) == -1);
  CHECK(default_rt_cpu({0}, {0}) == -1);
  CHECK(default_rt_cpu({0, 1}, {0, 1}) == -1);
}
