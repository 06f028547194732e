#include "harness.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <catch2/catch_test_macros.hpp>

#include "support/csv_parse.hpp"

extern char** environ;

namespace host {
namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::system_error(errno, std::system_category(), what);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

// The environment for children: ours, minus what would make the daemon talk to systemd.
std::vector<std::string> child_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view kv(*e);
    if (kv.starts_with("JOURNAL_STREAM=") || kv.starts_with("NOTIFY_SOCKET=") ||
        kv.starts_with("WATCHDOG_") || kv.starts_with("GPIOIRQ_SOCKET="))
      continue;
    env.emplace_back(kv);
  }
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn with stdin from /dev/null, default signal dispositions and an empty mask.
pid_t spawn(std::vector<std::string> argv, posix_spawn_file_actions_t& actions) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  auto env = child_env();
  auto args = c_strings(argv);
  auto envp = c_strings(env);
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  if (err != 0) throw std::system_error(err, std::system_category(), "posix_spawn " + argv[0]);
  return pid;
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The build's paths, unless the environment names others: the arm64 VM runs this program
// where neither the build tree nor the checkout is (tests/vm/scenarios/cross_host_tests.sh).
std::string path_from_env(const char* variable, const char* built_in) {
  const char* value = std::getenv(variable);
  return (value != nullptr && *value != '\0') ? value : built_in;
}

}  // namespace

std::string gpioirqd_path() {
  return path_from_env("GPIOIRQ_TEST_GPIOIRQD", GPIOIRQD_PATH);
}
std::string gpioirqctl_path() {
  return path_from_env("GPIOIRQ_TEST_GPIOIRQCTL", GPIOIRQCTL_PATH);
}
std::string source_dir() {
  return path_from_env("GPIOIRQ_TEST_SOURCE_DIR", GPIOIRQ_SOURCE_DIR);
}

bool wait_until(const std::function<bool()>& condition, Clock::duration timeout, Clock::duration interval) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// ----- files -----------------------------------------------------------------------

void write_file(const std::string& path, std::string_view text) {
  // Written to a temporary name and renamed, so a reloading daemon never reads half a file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp);
    f << text;
  }
  std::filesystem::rename(tmp, path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
}

// ----- processes -------------------------------------------------------------------

RunResult run(const std::vector<std::string>& argv, Clock::duration timeout) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) < 0 || ::pipe2(err_pipe, O_CLOEXEC) < 0) fail_errno("pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = -1;
  try {
    pid = spawn(argv, actions);
  } catch (...) {
    posix_spawn_file_actions_destroy(&actions);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw;
  }
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  RunResult result;
  const auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    const int ms = remaining_ms(deadline);
    if (ms == 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    const int n = ::poll(fds, 2, killed ? 1000 : ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (killed) break;
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      const ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(r));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_status(status);
  if (killed) result.err += "\n[host test: killed after the timeout]\n";
  return result;
}

RunResult ctl(const std::string& socket, const std::vector<std::string>& args, Clock::duration timeout) {
  std::vector<std::string> argv{gpioirqctl_path(), "--socket", socket};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeout);
}

Process::Process(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  try {
    pid_ = spawn(argv, actions);
  } catch (...) {
    posix_spawn_file_actions_destroy(&actions);
    throw;
  }
  posix_spawn_file_actions_destroy(&actions);
  pidfd_ = pidfd_open(pid_);
}

Process::~Process() {
  if (!status_) {
    ::kill(pid_, SIGCONT);  // in case a test stopped it
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (pidfd_ >= 0) ::close(pidfd_);
}

void Process::signal(int signo) const {
  if (!status_) ::kill(pid_, signo);
}

bool Process::exited() {
  if (status_) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) status_ = decode_status(status);
  return status_.has_value();
}

std::optional<int> Process::wait_for(Clock::duration timeout) {
  if (status_) return status_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (exited()) return status_;
    const int ms = remaining_ms(deadline);
    if (ms == 0) return std::nullopt;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, ms);
    } else {
      std::this_thread::sleep_for(std::min<Clock::duration>(10ms, deadline - Clock::now()));
    }
  }
}

// ----- control socket --------------------------------------------------------------

Connection::Connection(const std::string& socket_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(err, std::system_category(), "connect " + socket_path);
  }
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

void Connection::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("send");
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<std::string> Connection::read_line(Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

Json Connection::request(const Json& req, Clock::duration timeout) {
  send(req);
  const auto line = read_line(timeout);
  if (!line) throw std::runtime_error("no reply to " + req.dump());
  return Json::parse(*line);
}

Json make_request(std::string_view cmd, const Json& args) {
  Json r = args.is_object() ? args : Json::object();
  r["v"] = 1;
  r["cmd"] = cmd;
  return r;
}

// ----- daemon ----------------------------------------------------------------------

std::string daemon_section(std::string_view extra) {
  std::string s =
      "[daemon]\n"
      "log_dir = \"logs\"\n"
      "socket_path = \"ctl.sock\"\n";
  // Defaults for the tests unless `extra` sets them.
  if (extra.find("rt_priority") == std::string_view::npos) s += "rt_priority = 0\n";
  if (extra.find("mlock") == std::string_view::npos) s += "mlock = false\n";
  s += extra;
  if (!s.ends_with('\n')) s += '\n';
  return s;
}

std::string sim_chip_section(int num_lines) {
  return "[[chip]]\nname = \"sim0\"\nbackend = \"sim\"\nsim_num_lines = " + std::to_string(num_lines) + "\n";
}

Daemon::Daemon(const TempDir& dir, std::string_view config_text, std::vector<std::string> extra_args,
               std::vector<std::string> launcher)
    : dir_(dir.path()),
      config_path_(dir.file("gpioirqd.toml")),
      socket_(dir.file("ctl.sock")),
      out_path_(dir.file("gpioirqd.out")),
      err_path_(dir.file("gpioirqd.err")) {
  write_config(config_text);
  std::vector<std::string> argv = std::move(launcher);
  argv.insert(argv.end(), {gpioirqd_path(), "-c", config_path_});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Process>(argv, out_path_, err_path_);
  bool answered = false;
  wait_until(
      [&] {
        if (process_->exited()) return true;
        try {
          Connection c(socket_);
          answered = c.request(make_request("status"), 2s).value("ok", false);
        } catch (const std::exception&) {
        }
        return answered;
      },
      10s);
  INFO("gpioirqd stderr:\n" << stderr_text());
  REQUIRE_FALSE(process_->exited());
  REQUIRE(answered);
}

Daemon::~Daemon() = default;

void Daemon::write_config(std::string_view config_text) const {
  std::string text(config_text);
  if (::geteuid() != 0) {
    // reset and reload need uid 0 or the socket's group: let the tests' own group in.
    if (const group* g = ::getgrgid(::getegid()); g && text.starts_with("[daemon]\n"))
      text.insert(9, "socket_group = \"" + std::string(g->gr_name) + "\"\n");
  }
  write_file(config_path_, text);
}

std::string Daemon::event_log() const {
  for (const char* name : {"events.csv", "events.jsonl"})
    if (exists(log_dir() + "/" + name)) return log_dir() + "/" + name;
  return log_dir() + "/events.csv";
}

Json Daemon::request(std::string_view cmd, const Json& args) const {
  Connection c(socket_);
  return c.request(make_request(cmd, args));
}

Json Daemon::ok(std::string_view cmd, const Json& args) const {
  const Json reply = request(cmd, args);
  INFO("reply to '" << cmd << "': " << reply.dump());
  REQUIRE(reply.value("ok", false));
  REQUIRE(reply.value("v", 0) == 1);
  return reply;
}

int Daemon::stop(int signo, Clock::duration timeout) {
  process_->signal(signo);
  const auto code = process_->wait_for(timeout);
  INFO("gpioirqd stderr:\n" << stderr_text());
  REQUIRE(code.has_value());
  return *code;
}

Json status_line(const Json& status, std::string_view device, std::string_view role) {
  for (const auto& l : status.at("lines"))
    if (l.value("device", "") == device && l.value("role", "") == role) return l;
  return Json();
}

// ----- event log -------------------------------------------------------------------

std::optional<std::int64_t> LogRecord::int_value() const { return to_int(value); }

namespace {

void set_int(std::int64_t& out, std::string_view s) {
  if (const auto v = to_int(s)) out = *v;
}

}  // namespace

std::vector<LogRecord> read_event_log(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<LogRecord> out;
  if (path.ends_with(".jsonl")) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const Json j = Json::parse(line);
      LogRecord r;
      auto str = [&](const char* key, std::string& dst) {
        if (auto it = j.find(key); it != j.end()) dst = it->is_string() ? it->get<std::string>() : it->dump();
      };
      auto num = [&](const char* key, std::int64_t& dst) {
        if (auto it = j.find(key); it != j.end() && it->is_number_integer()) dst = it->get<std::int64_t>();
      };
      str("type", r.type), str("device", r.device), str("line", r.line), str("chip", r.chip);
      str("edge", r.edge), str("kind", r.kind), str("unit", r.unit), str("info", r.info), str("value", r.value);
      num("ts_ns", r.ts_ns), num("offset", r.offset), num("line_seqno", r.line_seqno), num("seqno", r.seqno);
      num("lost", r.lost), num("from", r.from), num("to", r.to);
      out.push_back(std::move(r));
    }
    return out;
  }
  const auto rows = gpioirq_test::parse_csv(text);
  if (rows.empty()) return out;
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
  auto idx = [&](const char* name) { return col.count(name) ? col[name] : std::size_t(999); };
  const std::size_t c_type = idx("type"), c_ts = idx("ts_ns"), c_dev = idx("device"), c_line = idx("line"),
                    c_chip = idx("chip"), c_off = idx("offset"), c_edge = idx("edge"),
                    c_lseq = idx("line_seqno"), c_seq = idx("seqno"), c_kind = idx("kind"),
                    c_val = idx("value"), c_unit = idx("unit"), c_lost = idx("lost"), c_from = idx("from"),
                    c_to = idx("to"), c_info = idx("info");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& f = rows[i];
    auto get = [&](std::size_t c) -> std::string_view { return c < f.size() ? std::string_view(f[c]) : ""; };
    LogRecord r;
    r.type = get(c_type), r.device = get(c_dev), r.line = get(c_line), r.chip = get(c_chip);
    r.edge = get(c_edge), r.kind = get(c_kind), r.value = get(c_val), r.unit = get(c_unit), r.info = get(c_info);
    set_int(r.ts_ns, get(c_ts)), set_int(r.offset, get(c_off)), set_int(r.line_seqno, get(c_lseq));
    set_int(r.seqno, get(c_seq)), set_int(r.lost, get(c_lost)), set_int(r.from, get(c_from));
    set_int(r.to, get(c_to));
    out.push_back(std::move(r));
  }
  return out;
}

std::map<LineKey, LineAccount> account_lines(const std::vector<LogRecord>& log) {
  std::map<LineKey, LineAccount> lines;
  std::map<LineKey, std::int64_t> pending;  // GAP lost since the line's last EDGE
  for (std::size_t i = 0; i < log.size(); ++i) {
    const LogRecord& r = log[i];
    if (r.type == "GAP" && !r.line.empty()) {
      const LineKey key{r.device, r.line};
      LineAccount& a = lines[key];
      if (r.kind == "ring_full") a.ring_lost += r.lost;
      else if (r.kind == "kernel_fifo") a.kernel_lost += r.lost;
      else a.other_lost += r.lost;
      if (r.lost <= 0) a.problems.push_back("record " + std::to_string(i) + ": GAP with lost " + std::to_string(r.lost));
      pending[key] += r.lost;
      a.tail_lost += r.lost;
    } else if (r.type == "EDGE") {
      const LineKey key{r.device, r.line};
      LineAccount& a = lines[key];
      const std::int64_t gap = pending[key];
      if (r.line_seqno == 1) {
        a.segment_starts.push_back(i);  // a new line request starts at 1
      } else if (r.line_seqno - a.last_seqno - 1 != gap) {
        a.problems.push_back("record " + std::to_string(i) + ": " + r.device + "/" + r.line + " line_seqno " +
                             std::to_string(a.last_seqno) + " -> " + std::to_string(r.line_seqno) + " (" +
                             std::to_string(r.line_seqno - a.last_seqno - 1) +
                             " missing) but GAP records in between account for " + std::to_string(gap));
      }
      pending[key] = 0;
      a.tail_lost = 0;
      ++a.edges;
      a.last_seqno = r.line_seqno;
    }
  }
  return lines;
}

// ----- quadrature replay -----------------------------------------------------------

namespace {
int gray_phase(bool a, bool b) { return a ? (b ? 2 : 1) : (b ? 3 : 0); }
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
}  // namespace

void ReplayEncoder::set(bool a, bool b) {
  a_ = a;
  b_ = b;
  acc_ = 0;
}

bool ReplayEncoder::edge(std::string_view role, bool level) {
  const int from = gray_phase(a_, b_);
  (role == "a" ? a_ : b_) = level;
  const int step = (gray_phase(a_, b_) - from) & 3;
  if (step == 0) return true;
  if (step == 2) return false;
  const int dir = step == 1 ? +1 : -1;
  quarter_ += dir;
  // Counts: one per 4 / counts_per_period quarter steps in one direction, restarting the
  // sub-count after each (so bounce and reversals cannot flicker).
  const int per_count = 4 / o_.counts_per_period;
  acc_ += dir;
  if (acc_ > -per_count && acc_ < per_count) return true;
  acc_ = 0;
  std::int64_t lo = INT64_MIN, hi = INT64_MAX;
  if (o_.wrap) {
    lo = *o_.min * o_.div;
    hi = *o_.max * o_.div + o_.div - 1;
  } else {
    if (o_.min) lo = *o_.min * o_.div + o_.div - 1;
    if (o_.max) hi = *o_.max * o_.div;
  }
  if (dir > 0) {
    if (counts_ < hi) ++counts_;
    else if (o_.wrap) counts_ = lo;
  } else {
    if (counts_ > lo) --counts_;
    else if (o_.wrap) counts_ = hi;
  }
  return true;
}

std::int64_t ReplayEncoder::position() const { return floor_div(counts_, o_.div); }

}  // namespace host
