#pragma once
// The daemon's state file, <state_dir>/state.json: what must outlive the process (a
// counter's total, an encoder's position), so that a restart or a reboot continues from
// the saved figures instead of 0 (docs/FILE-FORMATS.md):
//   {"version": 1, "saved_realtime_ns": N, "saved_boot_id": "...",
//    "devices": {"water": {"kind": "counter", "state": {...}}, ...}}
//
// Written atomically: the whole text to state.json.tmp in the same directory, fdatasync,
// rename over state.json, fsync of the directory. A crash at any point leaves either the
// old file or the new one, never a torn one. The text is small (a few hundred bytes per
// device), so a save is one write and one fdatasync on the loop thread.
//
// Loaded tolerantly: no file is a first start; a file that cannot be read or parsed, or
// has another version, is renamed to state.json.bad-<UTC time> (kept for the user to look
// at) and the daemon starts from zero, saying so.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace gpioirq::state {

inline constexpr int kStateVersion = 1;

// What load() found.
struct LoadedState {
  enum class Outcome : std::uint8_t { missing, loaded, corrupt };
  Outcome outcome = Outcome::missing;
  nlohmann::json devices = nlohmann::json::object();  // name -> {"kind", "state"}
  std::int64_t saved_realtime_ns = 0;
  std::string saved_boot_id;
  // corrupt: what was wrong and where the file went ("state.json.bad-20261130T201509Z").
  std::string problem;
};

// /proc/sys/kernel/random/boot_id without its newline; "" when it cannot be read.
std::string read_boot_id();

// "2026-11-30T20:15:09Z" for a CLOCK_REALTIME reading.
std::string utc_text(std::int64_t realtime_ns);

class StateFile {
 public:
  explicit StateFile(std::string dir);

  const std::string& dir() const noexcept { return dir_; }
  const std::string& path() const noexcept { return path_; }

  // Creates the directory (mode 0750, parents too) when it is missing and checks it as
  // the log directory is checked (sinks/log_dir.hpp). "" when fit, else a sentence.
  std::string prepare() const;

  LoadedState load() const;

  // Writes `devices` (name -> {"kind", "state"}) as the whole file. 0, or -errno of the
  // step that failed (the old file then stays as it was).
  int save(const nlohmann::json& devices, std::int64_t realtime_ns,
           const std::string& boot_id) const;

 private:
  std::string dir_, path_, temp_path_;
};

}  // namespace gpioirq::state
