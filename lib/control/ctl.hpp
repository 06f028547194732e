#pragma once
// What gpioirqctl does once its command line is parsed (daemon/gpioirqctl.cpp parses it
// with CLI11 and calls run_ctl). Output goes to the given streams so tests can read it.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gpioirq::control {

struct CtlOptions {
  std::string command;      // status, devices, encoders, buttons, counters, imu, latency,
                            // monitor, top, reset, set, reload, reopen, metrics, names
  std::string socket_path;  // already resolved: --socket, else $GPIOIRQ_SOCKET, else default
  bool json = false;        // print the daemon's raw reply lines
  double timeout_s = 5.0;   // connect and per-reply timeout
  std::vector<std::string> names;      // filter (query commands, monitor, reset)
  std::string format = "%t %n %e %v";  // monitor line format (render.hpp format_event)
  unsigned long long max_events = 0;   // monitor: stop after this many; 0 = until closed
  double interval_s = 1.0;             // top refresh interval
  bool terminal = false;               // top: stdout is a terminal (else one frame without escapes)
  std::string set_name;                // set: the device
  double set_value = 0;                // set: its new reading
  std::string kind;  // names: only the streams this query command reports (encoders, buttons,
                     // counters, imu); empty: all of them
};

// Runs one command; returns the process exit code (control::ExitCode values).
int run_ctl(const CtlOptions& options, std::ostream& out, std::ostream& err);

// The query commands whose replies list streams, one row each with a "name"; together they
// name every stream the daemon has. `names KIND` takes one of them.
std::vector<std::string> stream_query_commands();

// Exit codes, for --help.
std::string exit_codes_help();

}  // namespace gpioirq::control
