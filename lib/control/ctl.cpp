#include "control/ctl.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <set>
#include <string_view>

#include "control/client.hpp"
#include "control/protocol.hpp"
#include "control/render.hpp"

namespace gpioirq::control {
namespace {

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0 + 0.5));
}

nlohmann::json names_args(const CtlOptions& options) {
  nlohmann::json args = nlohmann::json::object();
  if (!options.names.empty()) args["names"] = options.names;
  return args;
}

int report_daemon_error(const nlohmann::json& reply, std::ostream& err) {
  const auto error = reply.find("error");
  err << "gpioirqctl: gpioirqd: "
      << (error != reply.end() && error->is_string() ? error->get<std::string>() : reply.dump())
      << '\n';
  return static_cast<int>(ExitCode::daemon_error);
}

int run_simple(ControlClient& client, const CtlOptions& options, std::ostream& out,
               std::ostream& err) {
  const CommandSpec* spec = find_command(options.command);
  const bool takes_names = spec != nullptr && !spec->args.empty();
  nlohmann::json args = takes_names ? names_args(options) : nlohmann::json::object();
  if (options.command == "set") args = {{"name", options.set_name}, {"value", options.set_value}};
  std::string raw;
  const nlohmann::json reply = client.request(options.command, args, &raw);
  if (options.json) {
    out << raw << '\n';
    return reply["ok"].get<bool>() ? 0 : static_cast<int>(ExitCode::daemon_error);
  }
  if (!reply["ok"].get<bool>()) return report_daemon_error(reply, err);
  if (options.command == "metrics") {
    const auto text = reply.find("text");
    if (text == reply.end() || !text->is_string())
      throw ClientError(ExitCode::protocol, "metrics reply lacks \"text\"");
    out << text->get<std::string>();
    return 0;
  }
  nlohmann::json body = reply;
  for (const char* meta : {"v", "ok", "id"}) body.erase(meta);
  if (body.empty())
    out << options.command << ": ok\n";
  else
    render_body(body, out);
  return 0;
}

int run_monitor(ControlClient& client, const CtlOptions& options, std::ostream& out,
                std::ostream& err) {
  std::string raw;
  const nlohmann::json reply = client.request("monitor", names_args(options), &raw);
  if (!reply["ok"].get<bool>()) {
    if (options.json) out << raw << '\n';
    return report_daemon_error(reply, err);
  }
  unsigned long long seen = 0;
  while (options.max_events == 0 || seen < options.max_events) {
    auto line = client.read_json(-1, &raw);
    if (!line) {
      err << "gpioirqctl: gpioirqd closed the monitor stream\n";
      return static_cast<int>(ExitCode::not_running);
    }
    if (const auto ok = line->find("ok"); ok != line->end() && *ok == false) {
      if (options.json) out << raw << '\n' << std::flush;
      return report_daemon_error(*line, err);
    }
    out << (options.json ? raw : format_event(*line, options.format)) << '\n' << std::flush;
    ++seen;
  }
  return 0;
}

// A gpioirqd older than the `devices` command refuses it with this error; top and names
// make do without it then (a client upgraded before the daemon was restarted).
bool refused_as_unknown(const nlohmann::json& reply, std::string_view cmd) {
  const auto error = reply.find("error");
  return error != reply.end() && error->is_string() &&
         error->get_ref<const std::string&>().starts_with("unknown command \"" + std::string(cmd) +
                                                          "\"");
}

// `names`: stream names one per line, for shell completion and scripts that must not parse
// JSON. Built from the query replies on one connection; the protocol has no command of its
// own for it. Without a kind, the devices of kinds that have no query command of their own
// (pwm_in) follow, from the `devices` reply.
int run_names(ControlClient& client, const CtlOptions& options, std::ostream& out,
              std::ostream& err) {
  std::set<std::string> printed;
  auto print = [&](const nlohmann::json& row) {
    if (const auto name = row.find("name"); name != row.end() && name->is_string())
      if (printed.insert(name->get<std::string>()).second)
        out << name->get_ref<const std::string&>() << '\n';
  };
  for (const std::string& query : stream_query_commands()) {
    if (!options.kind.empty() && options.kind != query) continue;
    const nlohmann::json reply = client.request(query);
    if (!reply["ok"].get<bool>()) return report_daemon_error(reply, err);
    const auto rows = reply.find(query);
    if (rows == reply.end() || !rows->is_array())
      throw ClientError(ExitCode::protocol, query + " reply lacks \"" + query + "\"");
    for (const auto& row : *rows) print(row);
  }
  if (!options.kind.empty()) return 0;
  const nlohmann::json reply = client.request("devices");
  if (!reply["ok"].get<bool>())
    return refused_as_unknown(reply, "devices") ? 0 : report_daemon_error(reply, err);
  const auto kinds = reply.find("devices");
  if (kinds == reply.end() || !kinds->is_object())
    throw ClientError(ExitCode::protocol, "devices reply lacks \"devices\"");
  for (const auto& [kind, devices] : kinds->items()) {
    if (!devices.is_array()) continue;
    for (const auto& device : devices) print(device);
  }
  return 0;
}

// Raw keyboard and the alternate screen for `top`, put back however top ends.
std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) {
  g_interrupted = true;
}

class Terminal {
 public:
  explicit Terminal(std::ostream& out) : out_(out) {
    if (::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      raw_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;  // no SA_RESTART: poll() returns EINTR
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    out_ << "\x1b[?1049h\x1b[?25l" << std::flush;  // alternate screen, hide cursor
  }
  ~Terminal() {
    out_ << "\x1b[?25h\x1b[?1049l" << std::flush;
    if (raw_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  bool keyboard() const noexcept { return raw_; }
  int rows() const noexcept {
    winsize ws{};
    return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 ? ws.ws_row : 24;
  }

 private:
  std::ostream& out_;
  termios saved_{};
  bool raw_ = false;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// `devices`: the reply as one table per kind (render_devices). Sent with the names itself:
// the command is the daemon's, so the client does not look it up in its own table.
int run_devices(ControlClient& client, const CtlOptions& options, std::ostream& out,
                std::ostream& err) {
  std::string raw;
  const nlohmann::json reply = client.request("devices", names_args(options), &raw);
  if (options.json) {
    out << raw << '\n';
    return reply["ok"].get<bool>() ? 0 : static_cast<int>(ExitCode::daemon_error);
  }
  if (!reply["ok"].get<bool>()) return report_daemon_error(reply, err);
  render_devices(reply, out);
  return 0;
}

int run_top(ControlClient& client, const CtlOptions& options, std::ostream& out,
            std::ostream& err) {
  TopState state;
  auto fetch = [&](const char* cmd, nlohmann::json args = nlohmann::json::object()) {
    nlohmann::json reply = client.request(cmd, std::move(args));
    if (!reply["ok"].get<bool>()) {
      if (std::string_view(cmd) == "devices" && refused_as_unknown(reply, cmd))
        return nlohmann::json::object();
      report_daemon_error(reply, err);
      throw ClientError(ExitCode::daemon_error, "");
    }
    return reply;
  };
  auto frame = [&](int max_lines, bool highlight) {
    nlohmann::json status = fetch("status");
    nlohmann::json devices = fetch("devices");
    nlohmann::json latency = fetch("latency", {{"buckets", false}});
    return render_top_frame(status, devices, latency, state, now_seconds(), max_lines, highlight);
  };
  // Not a terminal (a pipe, a log): one frame, no escape codes.
  if (!options.terminal) {
    out << frame(0, false);
    return 0;
  }
  g_interrupted = false;
  Terminal terminal(out);
  const int interval_ms = static_cast<int>(options.interval_s * 1000);
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    const std::string text = frame(terminal.rows() - 1, true);
    std::string screen = "\x1b[H";
    for (std::size_t pos = 0; pos < text.size();) {
      const auto nl = text.find('\n', pos);
      screen.append(text, pos, nl - pos);
      screen += "\x1b[K\n";  // clear what the previous frame left on this line
      pos = nl == std::string::npos ? text.size() : nl + 1;
    }
    screen += "\x1b[J(q quits)";
    out << screen << std::flush;
    // Wait out the interval, watching the keyboard.
    for (;;) {
      const auto left = std::chrono::milliseconds(interval_ms) -
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started);
      if (g_interrupted) return 0;
      if (left.count() <= 0) break;
      pollfd p{STDIN_FILENO, POLLIN, 0};
      const int r = ::poll(&p, terminal.keyboard() ? 1 : 0, static_cast<int>(left.count()));
      if (r > 0) {
        char key = 0;
        if (::read(STDIN_FILENO, &key, 1) == 1 && (key == 'q' || key == 'Q' || key == 3)) return 0;
        if (p.revents & (POLLHUP | POLLERR)) return 0;
      }
    }
  }
}

}  // namespace

std::vector<std::string> stream_query_commands() {
  return {"encoders", "buttons", "counters", "imu"};
}

std::string exit_codes_help() {
  return "Exit codes:\n"
         "  0  success\n"
         "  1  gpioirqd answered with an error (e.g. permission denied, unknown name)\n"
         "  2  usage error on the command line\n"
         "  3  gpioirqd is not running (no socket, nobody listening, or it went away)\n"
         "  4  permission denied on the control socket\n"
         "  5  protocol error or timeout\n"
         "  6  decode: the file decoded, but frames were missing or bytes were skipped\n";
}

int run_ctl(const CtlOptions& options, std::ostream& out, std::ostream& err) {
  try {
    ControlClient client(options.socket_path, to_ms(options.timeout_s));
    if (options.command == "monitor") return run_monitor(client, options, out, err);
    if (options.command == "top") return run_top(client, options, out, err);
    if (options.command == "names") return run_names(client, options, out, err);
    if (options.command == "devices") return run_devices(client, options, out, err);
    return run_simple(client, options, out, err);
  } catch (const ClientError& e) {
    if (*e.what()) err << "gpioirqctl: " << e.what() << '\n';
    return static_cast<int>(e.code());
  }
}

}  // namespace gpioirq::control
