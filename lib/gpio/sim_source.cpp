#include "gpio/sim_source.hpp"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace gpioirq::gpio {
namespace {

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t period_ns(double per_second) {
  return static_cast<std::uint64_t>(1e9 / per_second);
}

}  // namespace

SimSource::SimSource(std::string name)
    : name_(std::move(name)), timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) {
  if (!timer_) throw std::system_error(errno, std::system_category(), "timerfd_create");
}

std::size_t SimSource::line_index(std::uint32_t offset) {
  for (std::size_t i = 0; i < lines_.size(); ++i)
    if (lines_[i].offset == offset) return i;
  lines_.push_back(Line{offset});
  offsets_.push_back(offset);
  return lines_.size() - 1;
}

void SimSource::set_edge(std::uint32_t line, config::EdgeKind edge) {
  lines_[line_index(line)].edge = edge;
}
void SimSource::set_active_low(std::uint32_t line, bool active_low) {
  // An active-low line idles high (a pull-up and a switch to ground): logically inactive.
  Line& l = lines_[line_index(line)];
  l.active_low = active_low;
  l.level = active_low;
}

void SimSource::add_generator(std::vector<std::size_t> lines, std::vector<Step> cycle) {
  Generator g;
  for (std::size_t i = 0; i < lines.size() && i < g.lines.size(); ++i) g.lines[i] = lines[i];
  g.cycle = std::move(cycle);
  generators_.push_back(std::move(g));
}

void SimSource::add_cycle(std::span<const std::uint32_t> offsets, std::vector<Step> cycle) {
  if (offsets.empty() || offsets.size() > 2)
    throw std::invalid_argument("SimSource::add_cycle: one or two lines, got " +
                                std::to_string(offsets.size()));
  if (cycle.empty()) throw std::invalid_argument("SimSource::add_cycle: an empty cycle");
  std::uint64_t total = 0;
  for (const Step& step : cycle) {
    if (step.line >= offsets.size())
      throw std::invalid_argument("SimSource::add_cycle: a step toggles line " +
                                  std::to_string(step.line) + " of " +
                                  std::to_string(offsets.size()));
    total += step.delay_ns;
  }
  // All delays 0 would make read_events() emit this cycle for ever without time passing.
  if (total == 0) throw std::invalid_argument("SimSource::add_cycle: a cycle of no time");
  std::vector<std::size_t> lines;
  for (const std::uint32_t offset : offsets) lines.push_back(line_index(offset));
  add_generator(std::move(lines), std::move(cycle));
}

void SimSource::add_quadrature(std::uint32_t a, std::uint32_t b, double edges_per_s) {
  const std::size_t ia = line_index(a), ib = line_index(b);
  if (edges_per_s <= 0) return;
  const std::uint64_t step = period_ns(edges_per_s);
  constexpr std::uint64_t kBounceNs = 20'000;
  // Gray code forward from 00: a, b, a, b; backward: b, a, b, a. A detent = 4 edges.
  std::vector<Step> cycle;
  auto emit = [&](std::uint8_t line, std::size_t n) {
    cycle.push_back({step, line});
    if (n % 16 == 15 && step > 4 * kBounceNs) {
      // The contact chatters: the same line flips back and forth before settling.
      cycle.push_back({kBounceNs, line});
      cycle.push_back({kBounceNs, line});
    }
  };
  std::size_t n = 0;
  for (int detent = 0; detent < 40; ++detent)
    for (std::uint8_t line : {0, 1, 0, 1}) emit(line, n++);
  for (int detent = 0; detent < 15; ++detent)
    for (std::uint8_t line : {1, 0, 1, 0}) emit(line, n++);
  add_generator({ia, ib}, std::move(cycle));
}

void SimSource::add_pulses(std::uint32_t line, double pulses_per_s) {
  const std::size_t i = line_index(line);
  if (pulses_per_s <= 0) return;
  const std::uint64_t period = period_ns(pulses_per_s);
  const std::uint64_t high = std::min<std::uint64_t>(50'000, period / 2);
  add_generator({i}, {{period - high, 0}, {high, 0}});
}

void SimSource::add_button(std::uint32_t line, double presses_per_s) {
  const std::size_t i = line_index(line);
  if (presses_per_s <= 0) return;
  const std::uint64_t gap = period_ns(presses_per_s);
  constexpr std::uint64_t kBounce = 1'000'000;  // 1 ms chatter, well inside a 20 ms debounce
  std::vector<Step> cycle;
  // A press or release: the change, then two flips back and forth of contact bounce.
  auto change = [&](std::uint64_t after) {
    cycle.push_back({after, 0});
    cycle.push_back({kBounce, 0});
    cycle.push_back({kBounce, 0});
  };
  change(gap);              // click: press ...
  change(120'000'000);      // ... release after 120 ms
  change(gap);              // double click: press, release, press, release
  change(100'000'000);
  change(150'000'000);
  change(100'000'000);
  change(gap);              // long press held 1.5 s
  change(1'500'000'000);
  add_generator({i}, std::move(cycle));
}

void SimSource::start() {
  const std::uint64_t now = monotonic_ns();
  for (auto& g : generators_) g.due_ns = now + g.cycle[0].delay_ns;
  started_ = true;
  arm(now);
}

void SimSource::arm(std::uint64_t now_ns) noexcept {
  if (generators_.empty()) return;
  std::uint64_t due = ~std::uint64_t{0};
  for (const auto& g : generators_) due = std::min(due, g.due_ns);
  due = std::max(due, now_ns + kMinTickNs);
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(due / 1'000'000'000ull);
  spec.it_value.tv_nsec = static_cast<long>(due % 1'000'000'000ull);
  ::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

int SimSource::read_events(std::span<RawEdge> out) noexcept {
  if (!started_) return 0;
  std::uint64_t expirations = 0;
  [[maybe_unused]] ssize_t r = ::read(timer_.get(), &expirations, sizeof expirations);
  const std::uint64_t now = monotonic_ns();
  std::size_t n = 0;
  while (n < out.size()) {
    Generator* next = nullptr;
    for (auto& g : generators_)
      if (g.due_ns <= now && (!next || g.due_ns < next->due_ns)) next = &g;
    if (!next) break;
    const Step& step = next->cycle[next->next];
    Line& line = lines_[next->lines[step.line]];
    line.level = !line.level;
    const bool active = line.level != line.active_low;
    const bool wanted = line.edge == config::EdgeKind::both ||
                        (line.edge == config::EdgeKind::rising) == active;
    if (wanted) {
      RawEdge& ev = out[n++];
      ev.timestamp_ns = next->due_ns;
      ev.offset = line.offset;
      ev.line_seqno = ++line.seqno;
      ev.global_seqno = ++global_seqno_;
      ev.rising = active;
    }
    next->next = (next->next + 1) % next->cycle.size();
    next->due_ns += next->cycle[next->next].delay_ns;
  }
  // With a full span more may be due: the RT thread reads again before it polls.
  arm(now);
  return static_cast<int>(n);
}

int SimSource::read_level(std::uint32_t offset) noexcept {
  for (const auto& line : lines_)
    if (line.offset == offset) return line.level != line.active_low ? 1 : 0;
  return -EINVAL;
}

}  // namespace gpioirq::gpio
