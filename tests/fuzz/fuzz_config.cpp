// Fuzz target: the configuration loader, TOML text -> kinds::parse_config() (lib/config
// reading every kind's table, lib/kinds).
// What gpioirqd and `gpioirqd --check-config` do with a config file a user wrote: whatever
// the bytes, parse_config() either returns a Config or throws a ConfigError whose message is
// the one line "file:line:column: subject: problem" (config_error.hpp); any other exception,
// a crash, a hang or a sanitizer report is a finding. A Config that parsed is also diffed
// against itself (the reload path): it must show no change.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config_diff.hpp"
#include "config/config_error.hpp"
#include "fuzz_support.hpp"
#include "kinds/kind.hpp"

using gpioirq_fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kFile = "/etc/gpioirq/fuzz.toml";
  try {
    const gpioirq::config::Config config = gpioirq::kinds::parse_config(text, kFile);
    const gpioirq::config::ConfigDiff d = gpioirq::config::diff(config, config);
    check(d.changed.empty() && d.added.empty() && d.removed.empty() && !d.daemon_changed,
          "a config diffed against itself shows changes");
  } catch (const gpioirq::config::ConfigError& e) {
    const std::string_view message = e.what();
    check(!message.empty(), "empty ConfigError message");
    check(message.find('\n') == std::string_view::npos, "ConfigError message is not one line",
          message);
    check(message.substr(0, kFile.size()) == kFile, "ConfigError message does not name the file",
          message);
  }
  return 0;
}
