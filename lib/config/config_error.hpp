#pragma once
// The one exception of the config module. what() is a single line meant for a human:
//   "/etc/gpioirqd.toml:12:3: encoder 'spindle': key 'counts_per_perid' is unknown; did you
//    mean 'counts_per_period'?"
// The daemon prints it and exits with config_error_exit_code having opened nothing.

#include <stdexcept>
#include <string>
#include <string_view>

namespace gpioirq::config {

// EX_CONFIG from <sysexits.h>: "something was found in an unconfigured or misconfigured state".
inline constexpr int config_error_exit_code = 78;

class ConfigError : public std::runtime_error {
 public:
  // Control characters in the message (a line break in a quoted key or a string value, or
  // in the text toml++ quotes from a bad line) are written as escapes (\n, \t, \x01), so
  // that what() stays one line whatever the file holds.
  explicit ConfigError(std::string_view message) : std::runtime_error(one_line(message)) {}

 private:
  static std::string one_line(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u != 0x7F) {
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        out += "\\x";
        out += hex[u >> 4];
        out += hex[u & 0xF];
      }
    }
    return out;
  }
};

}  // namespace gpioirq::config
