#pragma once
// Host pipeline tests: the real gpioirqd and gpioirqctl binaries, run on `sim` configs
// written into a fresh temporary directory per test, talked to through the real UNIX
// control socket. Nothing here sleeps to synchronise: every wait polls a condition
// (process exit, socket reply, status figure) against a deadline.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"

namespace host {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using Json = nlohmann::json;

std::string gpioirqd_path();
std::string gpioirqctl_path();
std::string source_dir();  // the project checkout (for config/)

// Polls `condition` every `interval` until it holds or `timeout` has passed; returns
// whether it held. The condition runs at least once.
bool wait_until(const std::function<bool()>& condition, Clock::duration timeout,
                Clock::duration interval = 20ms);

using TempDir = gpioirq_test::TempDir;

void write_file(const std::string& path, std::string_view text);
std::string read_file(const std::string& path);
bool exists(const std::string& path);

// A program run to completion with its output captured.
struct RunResult {
  int exit_code = -1;  // -N: killed by signal N (after the timeout: SIGKILL)
  std::string out, err;
};
RunResult run(const std::vector<std::string>& argv, Clock::duration timeout = 20s);
// gpioirqctl --socket SOCKET ARGS...
RunResult ctl(const std::string& socket, const std::vector<std::string>& args,
              Clock::duration timeout = 20s);

// A child process with stdout and stderr going to files. The destructor kills (SIGKILL)
// and reaps a child still running, so a failed test leaves nothing behind.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& out_path,
          const std::string& err_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signo) const;
  // The exit code (-N for a signal) once it exited within `timeout`, else nullopt.
  std::optional<int> wait_for(Clock::duration timeout);
  bool exited();  // without waiting
  std::optional<int> exit_code() const { return status_; }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> status_;
};

// A connection to the control socket: newline-delimited JSON.
class Connection {
 public:
  explicit Connection(const std::string& socket_path);  // throws std::runtime_error
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void send_raw(std::string_view bytes);
  void send(const Json& request) { send_raw(request.dump() + "\n"); }
  // The next line without its '\n', or nullopt on EOF or when `timeout` passed first.
  std::optional<std::string> read_line(Clock::duration timeout = 10s);
  // send + read one reply line, parsed; throws on EOF/timeout.
  Json request(const Json& request, Clock::duration timeout = 10s);

 private:
  int fd_ = -1;
  std::string buffer_;
};

// {"v":1,"cmd":cmd, ...args}
Json make_request(std::string_view cmd, const Json& args = Json::object());

// gpioirqd -c CONFIG running in a TempDir. The config text should name relative
// `log_dir = "logs"` and `socket_path = "ctl.sock"` (relative paths resolve against the
// config file's directory); daemon_section() writes that.
class Daemon {
 public:
  // Writes `config_text` to DIR/gpioirqd.toml, starts the daemon and waits until it
  // answers `status` (fails the test with its stderr if it does not within 10 s).
  // `launcher` goes before the daemon's path (e.g. {"prlimit", "--nofile=64:4096", "--"}).
  Daemon(const TempDir& dir, std::string_view config_text,
         std::vector<std::string> extra_args = {}, std::vector<std::string> launcher = {});
  ~Daemon();

  const std::string& config_path() const { return config_path_; }
  // (Re)writes the config file atomically, as the constructor does: run as non-root,
  // [daemon] also gets socket_group = the tests' group, so that reset and reload work.
  void write_config(std::string_view config_text) const;
  const std::string& socket() const { return socket_; }
  std::string log_dir() const { return dir_ + "/logs"; }
  std::string event_log() const;  // events.csv or events.jsonl, whichever exists
  Process& process() { return *process_; }
  std::string stderr_text() const { return read_file(err_path_); }

  // One request on a fresh connection; the reply (ok or not).
  Json request(std::string_view cmd, const Json& args = Json::object()) const;
  // As request() but REQUIREs ok == true and returns the reply.
  Json ok(std::string_view cmd, const Json& args = Json::object()) const;

  // SIGTERM (or `signo`) and wait for the exit; returns the exit code.
  int stop(int signo = 15, Clock::duration timeout = 15s);

 private:
  std::string dir_, config_path_, socket_, out_path_, err_path_;
  std::unique_ptr<Process> process_;
};

// The [daemon] table used by the tests: files under DIR/logs, socket DIR/ctl.sock,
// no real-time priority and no mlock (the tests share the machine) unless `extra` sets
// them, then the `extra` lines.
std::string daemon_section(std::string_view extra = "");
// The [[chip]] table of the simulated chip "sim0" the host tests put their devices on.
std::string sim_chip_section(int num_lines = 8);

// ----- event log -----------------------------------------------------------------

struct LogRecord {
  std::string type, device, line, chip, edge, kind, unit, info, value;
  std::int64_t ts_ns = 0;
  std::int64_t offset = -1;
  std::int64_t line_seqno = 0, seqno = 0;
  std::int64_t lost = 0, to = 0;
  std::int64_t from = -1;  // -1: the field was empty (a loss from an IMU's frame 0 on)
  std::optional<std::int64_t> int_value() const;
};

// Reads events.csv (RFC 4180, quoted fields may span lines) or events.jsonl.
std::vector<LogRecord> read_event_log(const std::string& path);

// Per-line accounting of an event log, walking it in file order: every jump in a line's
// line_seqno between two EDGE rows must equal the GAP records' `lost` for that line in
// between (nothing lost without a GAP record, no GAP without a loss).
struct LineAccount {
  std::int64_t edges = 0;                                       // EDGE rows
  std::int64_t ring_lost = 0, kernel_lost = 0, other_lost = 0;  // GAP lost, by reason
  std::int64_t last_seqno = 0;
  std::int64_t tail_lost = 0;               // GAP lost after the line's last EDGE
  std::vector<std::size_t> segment_starts;  // record index of each run starting at seqno 1
  std::vector<std::string> problems;
};
using LineKey = std::pair<std::string, std::string>;  // device, line role
std::map<LineKey, LineAccount> account_lines(const std::vector<LogRecord>& log);

// The line's figures from a `status` reply: lines[] entry for device/role.
Json status_line(const Json& status, std::string_view device, std::string_view role);

// Quadrature replay of EDGE rows, independent of the daemon's decoder: gray phase of
// (a, b), +1 / -1 quarter step, x1/x2/x4 with the hysteresis documented in
// lib/devices/encoder.hpp, div, and wrap/clamp limits.
class ReplayEncoder {
 public:
  struct Options {
    int counts_per_period = 4;
    std::int64_t div = 1;
    std::optional<std::int64_t> min, max;
    bool wrap = false;
  };
  explicit ReplayEncoder(Options options) : o_(options) {}
  void set(bool a, bool b);  // start levels
  // One edge: `role` "a" or "b", level after it. Returns false for an invalid step.
  bool edge(std::string_view role, bool level);
  std::int64_t position() const;
  std::int64_t quarter_steps() const { return quarter_; }

 private:
  Options o_;
  bool a_ = false, b_ = false;
  std::int64_t quarter_ = 0;  // net quarter steps since start
  std::int64_t acc_ = 0;      // hysteresis sub-count (x1, x2)
  std::int64_t counts_ = 0;   // limited counts
};

}  // namespace host
