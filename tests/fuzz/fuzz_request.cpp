// Fuzz target: one control request line -> the server's parser and validator
// (control::parse_and_validate) and, when valid, the daemon's real handler
// (app::Daemon::handle / metrics_text) on a daemon built from a `sim` config, as
// ControlServer::serve_line does for a line read from the socket (issue #10: a number out
// of range in a request ended the daemon).
//
// Properties, whatever the bytes: nothing throws except a handler's CommandError; the
// reply line is one line of JSON with "v":1 and a boolean "ok", an error reply has a
// non-empty "error", and the request's id (when it has a usable one) is repeated.
// `reload` is left out: it re-reads the config file, which fuzz_config covers.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "app/daemon.hpp"
#include "control/command_handler.hpp"
#include "control/protocol.hpp"
#include "kinds/kind.hpp"

namespace {

namespace control = gpioirq::control;

// Not assert(): it must hold in release builds too.
void check(bool condition, const char* what, std::string_view detail = {}) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// Streams of every kind with names to filter on; no sim edges (rates 0), nothing started.
gpioirq::app::Daemon& daemon() {
  static gpioirq::app::Daemon* const instance = [] {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("gpioirq-fuzz-request-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    static const std::filesystem::path scratch = dir;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch, ec);
    });
    const std::string text = "[daemon]\nlog_dir = \"" + dir.string() + "\"\nsocket_path = \"" +
                             (dir / "ctl.sock").string() + R"("
rt_priority = 0
mlock = false

[[chip]]
name = "sim0"
backend = "sim"
sim_num_lines = 8

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1

[[button]]
name = "start"
chip = "sim0"
line = 2

[[counter]]
name = "flow"
chip = "sim0"
line = 4

[[imu]]
name = "imu1"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 100
format = "seed"

[[poll]]
name = "entropy"
path = "/proc/sys/kernel/random/entropy_avail"
interval_ms = 100
)";
    // Kept for the whole run: its destructor at exit would race libFuzzer's own exit.
    return new gpioirq::app::Daemon(
        gpioirq::kinds::parse_config(text, (dir / "fuzz.toml").string()));
  }();
  return *instance;
}

void check_reply_line(const std::string& line, const nlohmann::json* id) {
  check(!line.empty() && line.back() == '\n', "reply line does not end in a newline", line);
  check(line.find('\n') == line.size() - 1, "reply is more than one line", line);
  const nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
  check(reply.is_object(), "reply is not a JSON object", line);
  check(reply.value("v", 0) == control::kProtocolVersion, "reply without \"v\":1", line);
  const auto ok = reply.find("ok");
  check(ok != reply.end() && ok->is_boolean(), "reply without a boolean \"ok\"", line);
  if (!ok->get<bool>()) {
    const auto error = reply.find("error");
    check(error != reply.end() && error->is_string() && !error->get<std::string>().empty(),
          "error reply without a message", line);
  }
  if (id) check(reply.contains("id") && reply["id"] == *id, "reply lost the request's id", line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // As ControlServer::process_lines hands lines over: up to the first '\n', without a '\r'
  // before it, at most kMaxLineBytes (longer lines are refused before parsing).
  std::string_view line(reinterpret_cast<const char*>(data), size);
  if (const auto nl = line.find('\n'); nl != line.npos) line = line.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > control::kMaxLineBytes) return 0;

  nlohmann::json request;
  const control::Validation valid = control::parse_and_validate(line, request);
  const nlohmann::json* id = control::request_id(request);
  if (!valid.spec) {
    check(!valid.error.empty(), "refused without a message", line);
    check_reply_line(control::error_line(valid.error, id), id);
    return 0;
  }
  check(valid.error.empty(), "accepted with an error message", valid.error);
  const std::string_view cmd = valid.spec->name;
  if (cmd == "reload") return 0;
  std::string reply;
  if (cmd == "metrics") {
    reply = control::ok_line({{"text", daemon().metrics_text()}}, id);
  } else {
    control::PeerCredentials peer;
    peer.privileged = true;
    try {
      reply = control::ok_line(daemon().handle(cmd, request, peer), id);
    } catch (const control::CommandError& e) {
      reply = control::error_line(e.what(), id);
    }
  }
  check_reply_line(reply, id);
  return 0;
}
