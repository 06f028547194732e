// gpioirqctl: the command line of gpioirqd's control socket. Parses arguments with CLI11
// and hands over to control::run_ctl (lib/control/ctl.hpp); `decode` reads a binary frame
// log through the sinks module without any daemon.

#include <unistd.h>

// GCC 12 at -O2 reports a false "potential null pointer dereference" inside CLI11's
// inline string helpers (CLI::detail::split); the warning is not about this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop

#include <exception>
#include <iostream>
#include <string>

#include "control/client.hpp"
#include "control/ctl.hpp"
#include "control/protocol.hpp"

#include "sinks/frame_decoder.hpp"

namespace {

namespace control = gpioirq::control;

// Exit status: 0 when the file decoded whole; 1 when it could not be read; 6 when it
// decoded but frames were missing or bytes had to be skipped (the CSV says where).
int decode(const std::string& file) {
  try {
    const auto summary = gpioirq::sinks::decode_frame_file(file, std::cout);
    std::cerr << "gpioirqctl: " << file << ": " << summary.frames << " frames";
    if (summary.discontinuities)
      std::cerr << ", " << summary.discontinuities << " counter jumps (" << summary.missing_frames
                << " frames missing)";
    if (summary.skipped_bytes) std::cerr << ", " << summary.skipped_bytes << " bytes skipped";
    if (summary.trailing_bytes) std::cerr << ", " << summary.trailing_bytes << " trailing bytes";
    std::cerr << '\n';
    return summary.discontinuities || summary.skipped_bytes || summary.trailing_bytes ? 6 : 0;
  } catch (const std::exception& e) {
    std::cerr << "gpioirqctl: decode " << file << ": " << e.what() << '\n';
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  control::CtlOptions options;
  options.socket_path = std::string(control::kDefaultSocketPath);
  std::string decode_file;

  CLI::App app{"gpioirqctl: query and control gpioirqd through its control socket"};
  app.require_subcommand(1, 1);
  app.fallthrough();  // global options may follow the subcommand
  app.footer("Environment:\n  GPIOIRQ_SOCKET  control socket path when --socket is not given\n\n" +
             control::exit_codes_help());
  app.add_option("-s,--socket", options.socket_path, "control socket path")
      ->envname("GPIOIRQ_SOCKET")
      ->capture_default_str();
  app.add_flag("-j,--json", options.json, "print the daemon's raw JSON reply lines");
  app.add_option("-t,--timeout", options.timeout_s, "seconds to wait for the daemon")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  for (const auto& spec : control::commands()) {
    if (spec.name == "monitor") continue;  // has its own options below
    CLI::App* sub = app.add_subcommand(std::string(spec.name), std::string(spec.summary));
    if (spec.name == "set") {
      sub->add_option("name", options.set_name, "the device")->required();
      sub->add_option("value", options.set_value, "its new reading, in its unit (a counter: >= 0)")
          ->required();
    } else if (!spec.args.empty()) {
      sub->add_option("names", options.names, "only these streams");
    }
  }
  CLI::App* monitor =
      app.add_subcommand("monitor", "print live edges and decoded events, one per line");
  monitor->add_option("names", options.names, "only these streams (default: all)");
  monitor
      ->add_option("-F,--format", options.format,
                   "line format: %t time, %n name, %e event, %v value, %{key} any field, "
                   "%j the whole event, %% percent")
      ->capture_default_str();
  monitor->add_option("-n,--num-events", options.max_events, "exit after this many events");
  CLI::App* top =
      app.add_subcommand("top",
                         "live full-screen view: one row per device with its edge rate, "
                         "losses, latency and values");
  top->add_option("-i,--interval", options.interval_s, "refresh interval in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI::App* names_cmd = app.add_subcommand(
      "names", "print the daemon's stream names, one per line (for scripts and completion)");
  names_cmd->add_option("kind", options.kind, "only the streams this query command reports")
      ->check(CLI::IsMember(control::stream_query_commands()));
  CLI::App* decode_cmd = app.add_subcommand("decode", "print a binary frame log (IMU) as text");
  decode_cmd->add_option("file", decode_file, "frame log file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(control::ExitCode::usage);
  }

  CLI::App* chosen = app.get_subcommands().front();
  if (chosen == decode_cmd) return decode(decode_file);
  options.command = chosen->get_name();
  options.terminal = ::isatty(STDOUT_FILENO) != 0;
  return control::run_ctl(options, std::cout, std::cerr);
}
