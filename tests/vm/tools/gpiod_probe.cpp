// gpiod_probe: a stand-in consumer for the VM scenarios until gpioirqd exists. It requests
// lines through libgpiod v2 exactly as the daemon will (by offset or name, bias, active-low,
// both edges, kernel event_buffer_size), reads edge events in batches and checks what a user
// would: every edge seen, kernel timestamps in order, seqnos contiguous, and the loss computed
// from line_seqno gaps.
//
//   gpiod_probe [options] CHIP:LINES[:OPTS]...
//     CHIP   /dev/gpiochipN, or a chip label
//     LINES  comma-separated offsets or line names
//     OPTS   comma-separated: pull-up pull-down bias-disabled as-is active-low
//            both rising falling debounce=US realtime
//
// Output lines (key=value, one per line, for scenario scripts to grep):
//   probe value chip=C offset=O name=N value=V            (--print-values)
//   probe event chip=C offset=O seq=L gseq=G ts=T type=rising|falling   (--dump-events)
//   probe line chip=C offset=O name=N events=E rising=R falling=F first_seqno=A
//              last_seqno=B lost=L order_errors=K type_errors=Y extra=X
//   probe request chip=C events=E global_gaps=G ts_order_errors=K ts_range_errors=R
//   probe total events=E lost=L
//   probe result ok|fail [reason...]
// Exit: 0 ok, 1 a check failed, 2 usage or set-up error.
#include <gpiod.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace {

std::uint64_t now_ns(clockid_t clock)
{
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::vector<std::string> split(const std::string& s, char sep)
{
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep))
    if (!item.empty())
      out.push_back(item);
  return out;
}

bool is_number(const std::string& s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct LineStats {
  unsigned offset = 0;
  std::string name;
  std::uint64_t events = 0;
  std::uint64_t rising = 0;
  std::uint64_t falling = 0;
  std::uint64_t first_seqno = 0;
  std::uint64_t last_seqno = 0;
  std::uint64_t lost = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t type_errors = 0;
  std::uint64_t extra = 0;
  std::uint64_t last_ts = 0;
  bool level = false;  // logical level after the last event seen (or at request time)
};

struct Request {
  std::string chip_arg;
  std::string chip_path;
  bool realtime = false;
  std::unique_ptr<gpiod::chip> chip;
  std::optional<gpiod::line_request> req;
  std::map<unsigned, LineStats> lines;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> global;  // (global_seqno, timestamp)
};

std::string find_chip(const std::string& arg)
{
  if (arg.find('/') != std::string::npos)
    return arg;
  for (const auto& entry : std::filesystem::directory_iterator("/dev")) {
    const auto path = entry.path().string();
    if (path.rfind("/dev/gpiochip", 0) != 0)
      continue;
    gpiod::chip chip(path);
    const auto info = chip.get_info();
    if (info.label() == arg || info.name() == arg)
      return path;
  }
  throw std::runtime_error("no gpio chip with label or name '" + arg + "'");
}

void setup(Request& r, const std::string& spec, std::size_t buffer_size)
{
  const auto parts = split(spec, ':');
  if (parts.size() < 2 || parts.size() > 3)
    throw std::runtime_error("bad request spec '" + spec + "' (want CHIP:LINES[:OPTS])");
  r.chip_arg = parts[0];
  r.chip_path = find_chip(parts[0]);
  r.chip = std::make_unique<gpiod::chip>(r.chip_path);

  gpiod::line_settings settings;
  settings.set_direction(gpiod::line::direction::INPUT);
  settings.set_edge_detection(gpiod::line::edge::BOTH);
  if (parts.size() == 3) {
    for (const auto& opt : split(parts[2], ',')) {
      if (opt == "pull-up")
        settings.set_bias(gpiod::line::bias::PULL_UP);
      else if (opt == "pull-down")
        settings.set_bias(gpiod::line::bias::PULL_DOWN);
      else if (opt == "bias-disabled")
        settings.set_bias(gpiod::line::bias::DISABLED);
      else if (opt == "as-is")
        settings.set_bias(gpiod::line::bias::AS_IS);
      else if (opt == "active-low")
        settings.set_active_low(true);
      else if (opt == "both")
        settings.set_edge_detection(gpiod::line::edge::BOTH);
      else if (opt == "rising")
        settings.set_edge_detection(gpiod::line::edge::RISING);
      else if (opt == "falling")
        settings.set_edge_detection(gpiod::line::edge::FALLING);
      else if (opt.rfind("debounce=", 0) == 0)
        settings.set_debounce_period(std::chrono::microseconds(std::stoul(opt.substr(9))));
      else if (opt == "realtime") {
        settings.set_event_clock(gpiod::line::clock::REALTIME);
        r.realtime = true;
      } else
        throw std::runtime_error("unknown line option '" + opt + "'");
    }
  }

  gpiod::line::offsets offsets;
  for (const auto& token : split(parts[1], ',')) {
    unsigned offset = 0;
    if (is_number(token)) {
      offset = static_cast<unsigned>(std::stoul(token));
    } else {
      const int found = r.chip->get_line_offset_from_name(token);
      if (found < 0)
        throw std::runtime_error("no line named '" + token + "' on " + r.chip_path);
      offset = static_cast<unsigned>(found);
    }
    offsets.push_back(offset);
    LineStats stats;
    stats.offset = offset;
    stats.name = r.chip->get_line_info(offset).name();
    r.lines.emplace(offset, stats);
  }

  r.req.emplace(r.chip->prepare_request()
                    .set_consumer("gpiod_probe")
                    .set_event_buffer_size(buffer_size)
                    .add_line_settings(offsets, settings)
                    .do_request());
  for (auto& [offset, stats] : r.lines)
    stats.level = r.req->get_value(offset) == gpiod::line::value::ACTIVE;
}

const char* name_or_dash(const std::string& s)
{
  return s.empty() ? "-" : s.c_str();
}

// Blocks until another process opens the FIFO; a FIFO makes "ready"/"go" handshakes with the
// scenario script event-driven instead of sleep-and-poll.
void fifo_write(const std::string& path)
{
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  const char msg[] = "ready\n";
  [[maybe_unused]] const auto n = write(fd, msg, sizeof(msg) - 1);
  close(fd);
}

void fifo_wait(const std::string& path)
{
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  char c = 0;
  [[maybe_unused]] const auto n = read(fd, &c, 1);
  close(fd);
}

}  // namespace

int main(int argc, char** argv)
{
  CLI::App app{"libgpiod v2 edge probe for the gpioirq VM scenarios"};
  std::vector<std::string> specs;
  std::size_t buffer_size = 1024;
  std::uint64_t expect = 0;
  std::int64_t expect_lost = 0;
  unsigned timeout_ms = 20000;
  std::string ready_fifo;
  std::string go_fifo;
  bool check_types = false;
  bool print_values = false;
  bool dump_events = false;
  app.add_option("requests", specs, "CHIP:LINES[:OPTS] (one request per chip)")->required();
  app.add_option("--buffer", buffer_size, "kernel event_buffer_size per request");
  app.add_option("--expect", expect,
                 "read until every line's line_seqno reaches N; then check N edges per line "
                 "(0: print values and exit)");
  app.add_option("--expect-lost", expect_lost, "total loss (seqno gaps) the check expects; -1: any");
  app.add_option("--timeout-ms", timeout_ms, "give up waiting for events after this long");
  app.add_option("--ready-fifo", ready_fifo, "write a line to this FIFO once all lines are requested");
  app.add_option("--go-fifo", go_fifo, "read no events until a line arrives on this FIFO");
  app.add_flag("--check-types", check_types, "fail on rising/falling not alternating (without a gap)");
  app.add_flag("--print-values", print_values, "print each line's value after the request");
  app.add_flag("--dump-events", dump_events, "print every event");
  CLI11_PARSE(app, argc, argv);

  std::vector<Request> requests(specs.size());
  std::uint64_t t_request_mono = 0;
  std::uint64_t t_request_real = 0;
  try {
    t_request_mono = now_ns(CLOCK_MONOTONIC);
    t_request_real = now_ns(CLOCK_REALTIME);
    for (std::size_t i = 0; i < specs.size(); ++i)
      setup(requests[i], specs[i], buffer_size);
  } catch (const std::exception& e) {
    std::printf("probe result fail set-up: %s\n", e.what());
    return 2;
  }

  if (print_values)
    for (const auto& r : requests)
      for (const auto& [offset, stats] : r.lines)
        std::printf("probe value chip=%s offset=%u name=%s value=%d\n", r.chip_path.c_str(), offset,
                    name_or_dash(stats.name), stats.level ? 1 : 0);
  std::fflush(stdout);

  try {
    if (!ready_fifo.empty())
      fifo_write(ready_fifo);
    if (!go_fifo.empty())
      fifo_wait(go_fifo);
  } catch (const std::exception& e) {
    std::printf("probe result fail handshake: %s\n", e.what());
    return 2;
  }
  if (expect == 0) {
    std::printf("probe result ok\n");
    return 0;
  }

  gpiod::edge_event_buffer buffer(1024);
  std::vector<pollfd> fds;
  for (const auto& r : requests)
    fds.push_back({r.req->fd(), POLLIN, 0});

  auto handle = [&](Request& r) {
    const auto n = r.req->read_edge_events(buffer);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& ev = buffer.get_event(static_cast<unsigned>(i));
      const unsigned offset = ev.line_offset();
      auto& s = r.lines.at(offset);
      const std::uint64_t seq = ev.line_seqno();
      const std::uint64_t ts = ev.timestamp_ns();
      const bool rising = ev.type() == gpiod::edge_event::event_type::RISING_EDGE;
      if (dump_events)
        std::printf("probe event chip=%s offset=%u seq=%llu gseq=%lu ts=%llu type=%s\n", r.chip_path.c_str(),
                    offset, static_cast<unsigned long long>(seq), ev.global_seqno(),
                    static_cast<unsigned long long>(ts), rising ? "rising" : "falling");
      if (seq <= s.last_seqno || (s.events > 0 && ts < s.last_ts)) {
        ++s.order_errors;
      } else {
        const std::uint64_t gap = seq - s.last_seqno - 1;
        s.lost += gap;
        // Without a gap the edge must be the opposite of the level we last knew.
        if (gap == 0 && rising == s.level)
          ++s.type_errors;
      }
      if (s.events == 0)
        s.first_seqno = seq;
      if (seq > expect)
        ++s.extra;
      s.last_seqno = std::max(s.last_seqno, seq);
      s.last_ts = ts;
      s.level = rising;
      ++s.events;
      (rising ? s.rising : s.falling) += 1;
      r.global.emplace_back(ev.global_seqno(), ts);
    }
  };

  auto all_done = [&] {
    for (const auto& r : requests)
      for (const auto& [offset, s] : r.lines)
        if (s.last_seqno < expect)
          return false;
    return true;
  };

  std::vector<std::string> failures;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!all_done()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      failures.emplace_back("timeout waiting for edges");
      break;
    }
    const int rc = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) {
      failures.emplace_back(std::string("poll: ") + std::strerror(errno));
      break;
    }
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents & POLLIN)
        handle(requests[i]);
  }
  // Anything already queued beyond N is an edge nobody injected.
  for (std::size_t i = 0; i < fds.size(); ++i)
    while (poll(&fds[i], 1, 0) > 0 && (fds[i].revents & POLLIN))
      handle(requests[i]);
  const std::uint64_t t_end_mono = now_ns(CLOCK_MONOTONIC);
  const std::uint64_t t_end_real = now_ns(CLOCK_REALTIME);

  std::uint64_t total_events = 0;
  std::uint64_t total_lost = 0;
  for (auto& r : requests) {
    for (const auto& [offset, s] : r.lines) {
      std::printf("probe line chip=%s offset=%u name=%s events=%llu rising=%llu falling=%llu first_seqno=%llu "
                  "last_seqno=%llu lost=%llu order_errors=%llu type_errors=%llu extra=%llu\n",
                  r.chip_path.c_str(), offset, name_or_dash(s.name), static_cast<unsigned long long>(s.events),
                  static_cast<unsigned long long>(s.rising), static_cast<unsigned long long>(s.falling),
                  static_cast<unsigned long long>(s.first_seqno), static_cast<unsigned long long>(s.last_seqno),
                  static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.order_errors),
                  static_cast<unsigned long long>(s.type_errors), static_cast<unsigned long long>(s.extra));
      total_events += s.events;
      total_lost += s.lost;
      const std::string where = r.chip_path + ":" + std::to_string(offset);
      if (s.order_errors)
        failures.push_back(where + " seqno/timestamp out of order");
      if (s.extra)
        failures.push_back(where + " more edges than injected");
      if (check_types && s.type_errors)
        failures.push_back(where + " edge types do not alternate");
      if (s.events + s.lost != s.last_seqno)
        failures.push_back(where + " events + lost != last seqno");
    }
    // Global seqnos order the request's events across lines: sorted by them, timestamps
    // must not go backwards, and all timestamps must fall inside the probe's own run.
    std::sort(r.global.begin(), r.global.end());
    std::uint64_t global_gaps = 0;
    std::uint64_t ts_order = 0;
    std::uint64_t ts_range = 0;
    const std::uint64_t lo = r.realtime ? t_request_real : t_request_mono;
    const std::uint64_t hi = r.realtime ? t_end_real : t_end_mono;
    for (std::size_t i = 0; i < r.global.size(); ++i) {
      const auto [gseq, ts] = r.global[i];
      if (i > 0) {
        global_gaps += gseq - r.global[i - 1].first - 1;
        if (ts < r.global[i - 1].second)
          ++ts_order;
      }
      if (ts < lo || ts > hi)
        ++ts_range;
    }
    std::printf("probe request chip=%s events=%zu global_gaps=%llu ts_order_errors=%llu ts_range_errors=%llu\n",
                r.chip_path.c_str(), r.global.size(), static_cast<unsigned long long>(global_gaps),
                static_cast<unsigned long long>(ts_order), static_cast<unsigned long long>(ts_range));
    if (ts_order)
      failures.push_back(r.chip_path + " timestamps not ordered by global seqno");
    if (ts_range)
      failures.push_back(r.chip_path + " timestamps outside the probe's run");
  }
  std::printf("probe total events=%llu lost=%llu\n", static_cast<unsigned long long>(total_events),
              static_cast<unsigned long long>(total_lost));
  if (expect_lost >= 0 && static_cast<std::int64_t>(total_lost) != expect_lost)
    failures.push_back("lost " + std::to_string(total_lost) + " != expected " + std::to_string(expect_lost));

  if (failures.empty()) {
    std::printf("probe result ok\n");
    return 0;
  }
  std::printf("probe result fail");
  for (const auto& f : failures)
    std::printf(" [%s]", f.c_str());
  std::printf("\n");
  return 1;
}
