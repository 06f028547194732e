#pragma once
// SimSource: the `sim` chip backend. Generates edges for encoders, buttons, pulse
// counters and IMU data-ready lines at configured rates, with kernel-like timestamps
// (CLOCK_MONOTONIC, the time each edge was due) and per-line / per-request seqnos, and
// feeds them to the RT thread through the same LineSource interface as a real chip.
// A timerfd armed at the next due edge (never sooner than kMinTickNs after the last
// wake, so high rates come in batches as they do from a busy kernel) is its fd.
// No generator armed: no timer, no wake-ups.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "config/schema.hpp"
#include "core/unique_fd.hpp"
#include "gpio/line_source.hpp"

namespace gpioirq::gpio {

class SimSource final : public LineSource {
 public:
  static constexpr std::uint64_t kMinTickNs = 100'000;  // 100 us

  // One step of a generator's cycle: after `delay_ns`, toggle line `line` (index into
  // the generator's lines).
  struct Step {
    std::uint64_t delay_ns;
    std::uint8_t line;
  };

  explicit SimSource(std::string name);

  // Each generator drives its lines from now on. Rates of 0 add the lines but no edges.
  // Quadrature: `edges_per_s` edges in all on a and b; 40 detents forward, 15 back,
  // repeated, with a contact bounce (three extra edges 20 us apart) every 16th edge.
  void add_quadrature(std::uint32_t a, std::uint32_t b, double edges_per_s);
  // Pulse train (counters, data-ready): `pulses_per_s` high pulses, each 50 us long or
  // half a period if that is shorter.
  void add_pulses(std::uint32_t line, double pulses_per_s);
  // Button presses at `presses_per_s`, cycling click, double click, long press (1.5 s),
  // each press and release with 3 bounce edges 1 ms apart; active high.
  void add_button(std::uint32_t line, double presses_per_s);
  // Any other shape (a device kind's own generator, e.g. pwm_in's pulse train): `cycle`
  // repeated for ever on `offsets` (one or two lines; Step::line indexes them), the first
  // step's delay counted from start(). Each edge is stamped with the time it was due, so
  // the widths a device measures are exactly the delays given. Throws
  // std::invalid_argument for no or more than two offsets, an empty cycle, a step naming a
  // line it was not given, or a cycle whose delays are all 0.
  void add_cycle(std::span<const std::uint32_t> offsets, std::vector<Step> cycle);
  // Which edges the line reports (levels change either way).
  void set_edge(std::uint32_t line, config::EdgeKind edge);
  void set_active_low(std::uint32_t line, bool active_low);

  // Arms the timer. Call once, after the generators are added.
  void start();

  int fd() const noexcept override { return timer_.get(); }
  int read_events(std::span<RawEdge> out) noexcept override;
  int read_level(std::uint32_t offset) noexcept override;
  const std::vector<std::uint32_t>& offsets() const noexcept override { return offsets_; }
  std::string describe() const override { return "sim:" + name_; }

  // Edges generated so far, for tests and the benchmark.
  std::uint64_t generated() const noexcept { return global_seqno_; }

 private:
  struct Line {
    std::uint32_t offset = 0;
    bool level = false;  // physical
    bool active_low = false;
    config::EdgeKind edge = config::EdgeKind::both;
    std::uint32_t seqno = 0;
  };
  struct Generator {
    std::array<std::size_t, 2> lines{};  // indexes into lines_
    std::vector<Step> cycle;             // built at set-up, never changed on the RT thread
    std::size_t next = 0;
    std::uint64_t due_ns = 0;
  };

  std::size_t line_index(std::uint32_t offset);
  void add_generator(std::vector<std::size_t> lines, std::vector<Step> cycle);
  void arm(std::uint64_t now_ns) noexcept;

  std::string name_;
  core::UniqueFd timer_;
  std::vector<Line> lines_;
  std::vector<std::uint32_t> offsets_;
  std::vector<Generator> generators_;
  std::uint32_t global_seqno_ = 0;
  bool started_ = false;
};

}  // namespace gpioirq::gpio
