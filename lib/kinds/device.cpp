#include "kinds/device.hpp"

#include <cerrno>

#include "config/config_error.hpp"

namespace gpioirq::kinds {

void throw_log_open_error(const std::string& what, const std::string& path, int err) {
  const std::string message = "opening " + what + " " + path + ": " + sinks::open_error_text(err);
  if (err == -ELOOP || err == -EMLINK || err == -EINVAL) throw config::ConfigError(message);
  throw std::runtime_error(message);
}

}  // namespace gpioirq::kinds
