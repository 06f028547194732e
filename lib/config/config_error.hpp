#pragma once
// The one exception of the config module. what() is a single line meant for a human:
//   "/etc/gpioirqd.toml:12:3: encoder 'spindle': key 'counts_per_perid' is unknown; did you
//    mean 'counts_per_period'?"
// The daemon prints it and exits with config_error_exit_code having opened nothing.

#include <stdexcept>
#include <string>

namespace gpioirq::config {

// EX_CONFIG from <sysexits.h>: "something was found in an unconfigured or misconfigured state".
inline constexpr int config_error_exit_code = 78;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace gpioirq::config
