#pragma once
// Protocol v1 of the control socket: newline-delimited JSON objects, each carrying "v": 1.
// This file holds what both ends share: the version, the limits, the known commands with
// their argument types, and the request check the server applies before any handler sees
// a request. docs/PROTOCOL.md is the user-facing description; keep the two in step.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gpioirq::control {

inline constexpr int kProtocolVersion = 1;
// A request line (without its '\n') may be at most this long; longer lines get an error
// reply and the connection is closed, since the rest of the line cannot be trusted.
inline constexpr std::size_t kMaxLineBytes = 64 * 1024;
inline constexpr std::string_view kDefaultSocketPath = "/run/gpioirqd/control.sock";
// Arrays and objects inside each other in one request: a request needs 2 (an object
// holding `names`). Deeper lines are refused while parsing, so that nothing later
// (an error message quoting the value, a recursive dump) walks 32 000 levels.
inline constexpr int kMaxNesting = 16;

enum class ArgType { string_array, string, boolean, unsigned_integer, number };

struct ArgSpec {
  std::string_view name;
  ArgType type;
};

struct CommandSpec {
  std::string_view name;
  bool privileged;  // state-changing: needs uid 0 or the configured group
  std::span<const ArgSpec> args;
  std::string_view summary;  // one line for --help and docs
};

// Every command protocol v1 knows, in documentation order.
std::span<const CommandSpec> commands() noexcept;
const CommandSpec* find_command(std::string_view name) noexcept;

// "status, encoders, ..." for error messages.
std::string command_list();

// Checks version, command and argument types. On failure returns the error message the
// client gets ({"v":1,"ok":false,"error":message}); on success spec is set.
struct Validation {
  const CommandSpec* spec = nullptr;
  std::string error;
};
Validation validate_request(const nlohmann::json& request);

// Parses one request line; any parse failure (bad syntax, invalid UTF-8, a number out of
// range, nesting deeper than kMaxNesting) becomes Validation::error ("malformed JSON:
// ..."), never an exception. Whatever was parsed stays in `out` (null when the line is
// not JSON), so that request_id() can find an id even in a refused request.
Validation parse_and_validate(std::string_view line, nlohmann::json& out);

// The request's "id" when it has a usable one (a string or an integer), else nullptr:
// replies, error replies included, repeat it.
const nlohmann::json* request_id(const nlohmann::json& request) noexcept;

// Reply lines, each ending in '\n'. `id` (when the request had one) is echoed so that a
// client pipelining several requests can match the replies.
std::string error_line(std::string_view message, const nlohmann::json* id = nullptr);
std::string ok_line(nlohmann::json body, const nlohmann::json* id = nullptr);

// A request line a client sends (with '\n'): {"v":1,"cmd":cmd, ...args}.
std::string request_line(std::string_view cmd, nlohmann::json args = nlohmann::json::object());

}  // namespace gpioirq::control
