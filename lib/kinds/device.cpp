#include "kinds/device.hpp"

#include <cerrno>

#include "config/config_error.hpp"

namespace gpioirq::kinds {

std::string cut_utf8(std::string text, std::size_t bytes) {
  if (text.size() <= bytes) return text;
  std::size_t cut = bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

void throw_log_open_error(const std::string& what, const std::string& path, int err) {
  const std::string message = "opening " + what + " " + path + ": " + sinks::open_error_text(err);
  if (err == -ELOOP || err == -EMLINK || err == -EINVAL) throw config::ConfigError(message);
  throw std::runtime_error(message);
}

}  // namespace gpioirq::kinds
