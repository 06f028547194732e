#pragma once
// What a reload changes, device by device, so that streams whose settings did not change
// keep running (and keep their position and counters) across it.

#include <string>
#include <vector>

#include "config/schema.hpp"

namespace gpioirq::config {

struct ConfigDiff {
  // Device names (all kinds share one namespace), each list in file order: `removed` in the
  // old file's order, the others in the new file's.
  std::vector<std::string> unchanged;
  std::vector<std::string> changed;  // same name, different kind or settings: restart it
  std::vector<std::string> added;
  std::vector<std::string> removed;
  bool daemon_changed = false;  // anything in [daemon]

  bool operator==(const ConfigDiff&) const = default;
};

// A device counts as changed when any of its own keys changed, when it changed kind, or when
// a chip it has a line on changed (path, label, backend, sim_num_lines). Where things were
// written (SourcePlace) does not count: moving a table around the file changes nothing.
ConfigDiff diff(const Config& old_config, const Config& new_config);

}  // namespace gpioirq::config
