#pragma once
// One run of the real pipeline (config -> Daemon -> RT thread -> ring -> loop -> decoders ->
// event log) on the sim backend, in this process, measured from inside. The orchestrator
// (main.cpp) runs each trial in a fresh child process so that RSS and counts start clean.

#include <string>

#include <nlohmann/json.hpp>

namespace gpioirq::bench {

struct TrialSpec {
  enum class Kind { rate, demo, idle };
  Kind kind = Kind::demo;
  double rate = 0;        // rate: edges/s of the demo's encoder "knob" (all else as in the demo)
  double seconds = 3;     // run time of the daemon
  double warmup = 1;      // the CPU/RSS window starts this long after run() begins
  int log_edges = -1;     // -1: as the config says; 0/1: override [daemon] log_edges
  int mlock = -1;         // -1: as the config says; 0/1: override [daemon] mlock
  std::string config;     // the demo config (config/demo.toml)
  std::string dir_base;   // where the temporary log_dir is made (deleted afterwards)
  // > 0: run the loop (this) thread at SCHED_FIFO with this priority, as `chrt -f P
  // gpioirqd` would (the RT thread still sets its own, higher, priority).
  int loop_fifo = 0;
  // >= -1: override [daemon] cpu (the RT thread's CPU; -1 = any); -2: as the config says.
  int rt_cpu = -2;
};

// Runs the trial; the JSON is what main.cpp tabulates (see trial.cpp for the keys).
nlohmann::json run_trial(const TrialSpec& spec);

}  // namespace gpioirq::bench
