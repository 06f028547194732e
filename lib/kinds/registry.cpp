// The one table of device kinds. Adding a kind adds its folder, lib/kinds/<kind>/ (compiled
// by the glob of lib/kinds/CMakeLists.txt), and one line here: its header's include and
// `&<kind>_kind(),` in the table. An accessor function per kind and this explicit table, not
// self-registering objects: a static library drops an object file nothing references.

#include <algorithm>
#include <vector>

#include "kinds/kind.hpp"

// One include per kind, in table order; each header declares `const Kind& <kind>_kind();`.
#include "kinds/button/button.hpp"
#include "kinds/counter/counter.hpp"
#include "kinds/encoder/encoder.hpp"
#include "kinds/imu/imu.hpp"
#include "kinds/poll/poll.hpp"
// #include "kinds/pwm_in/pwm_in.hpp"

namespace gpioirq::kinds {

std::span<const Kind* const> registry() {
  // The order is frozen: encoder, button, counter, imu, poll, then newer kinds. It fixes
  // every kind-major output order (status lines, metrics, `devices`, start-up lines).
  // One line per kind, so that adding one is a one-line change.
  // clang-format off
  static const std::vector<const Kind*> kinds = {
      &encoder_kind(),
      &button_kind(),
      &counter_kind(),
      &imu_kind(),
      &poll_kind(),
      // &pwm_in_kind(),
  };
  // clang-format on
  return kinds;
}

const Kind* find_kind(std::string_view name) {
  const auto all = registry();
  const auto it =
      std::find_if(all.begin(), all.end(), [&](const Kind* kind) { return kind->name() == name; });
  return it == all.end() ? nullptr : *it;
}

std::vector<config::DeviceSection> config_sections() {
  std::vector<config::DeviceSection> sections;
  for (const Kind* kind : registry()) sections.push_back(kind->section());
  return sections;
}

config::Config parse_config(std::string_view text, std::string_view file) {
  return config::parse(text, file, config_sections());
}

config::Config load_config(const std::string& path) {
  return config::load(path, config_sections());
}

}  // namespace gpioirq::kinds
