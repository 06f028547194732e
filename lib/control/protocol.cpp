#include "control/protocol.hpp"

#include <array>

namespace gpioirq::control {
namespace {

constexpr std::array<ArgSpec, 1> kNamesArg{{{"names", ArgType::string_array}}};
constexpr std::array<ArgSpec, 2> kLatencyArgs{
    {{"names", ArgType::string_array}, {"buckets", ArgType::boolean}}};
constexpr std::array<ArgSpec, 2> kSetArgs{{{"name", ArgType::string}, {"value", ArgType::number}}};
constexpr std::span<const ArgSpec> kNoArgs{};

constexpr std::array<CommandSpec, 13> kCommands{{
    {"status", false, kNamesArg, "daemon, RT thread, per-line counts and losses, rings"},
    {"encoders", false, kNamesArg, "encoder positions, velocities, losses"},
    {"buttons", false, kNamesArg, "button states and event counts"},
    {"counters", false, kNamesArg, "pulse counters: totals and frequencies"},
    {"imu", false, kNamesArg, "IMU rate, frames, overruns, I2C errors, current file"},
    {"devices", false, kNamesArg, "every device by kind: down, losses, summary and its figures"},
    {"latency", false, kLatencyArgs, "edge-to-dispatch latency histograms per stream"},
    {"monitor", false, kNamesArg, "live stream of edges and decoded events"},
    {"reset", true, kNamesArg, "reset counters (all, or the named streams)"},
    {"set", true, kSetArgs, "set a device's reading (a counter's total in its unit)"},
    {"reload", true, kNoArgs, "re-read the configuration file"},
    {"reopen", true, kNoArgs, "open log files anew that were moved or deleted (after logrotate)"},
    {"metrics", false, kNoArgs, "Prometheus text exposition"},
}};

std::string_view type_name(ArgType type) {
  switch (type) {
    case ArgType::string_array:
      return "an array of strings";
    case ArgType::string:
      return "a string";
    case ArgType::boolean:
      return "a boolean";
    case ArgType::unsigned_integer:
      return "a non-negative integer";
    case ArgType::number:
      return "a number";
  }
  return "?";
}

bool has_type(const nlohmann::json& value, ArgType type) {
  switch (type) {
    case ArgType::string_array:
      if (!value.is_array()) return false;
      for (const auto& item : value)
        if (!item.is_string()) return false;
      return true;
    case ArgType::string:
      return value.is_string();
    case ArgType::boolean:
      return value.is_boolean();
    case ArgType::unsigned_integer:
      return value.is_number_unsigned();
    case ArgType::number:
      return value.is_number();
  }
  return false;
}

std::string accepted_args(const CommandSpec& spec) {
  if (spec.args.empty()) return "it takes no arguments";
  std::string out = "accepted: ";
  for (std::size_t i = 0; i < spec.args.size(); ++i) {
    if (i) out += ", ";
    out += spec.args[i].name;
  }
  return out;
}

// A value quoted in an error message, cut short: the request may be 64 KiB long.
std::string brief(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 60) {
    text.resize(57);
    text += "...";
  }
  return text;
}

// nlohmann's message without its "[json.exception.parse_error.101] " tag (the rest says
// where and why), cut short: it may quote a 64 KiB token.
std::string library_message(std::string_view what) {
  if (const auto close = what.find("] "); what.starts_with("[json.exception") && close != what.npos)
    what.remove_prefix(close + 2);
  constexpr std::size_t kMaxMessage = 200;
  std::string text(what.substr(0, kMaxMessage));
  if (what.size() > kMaxMessage) text += "...";
  return text;
}

// Thrown by the parse callback to stop at kMaxNesting levels.
struct TooDeep {};

std::string finish(nlohmann::json reply) {
  std::string line = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  return line;
}

}  // namespace

std::span<const CommandSpec> commands() noexcept {
  return kCommands;
}

const CommandSpec* find_command(std::string_view name) noexcept {
  for (const auto& spec : kCommands)
    if (spec.name == name) return &spec;
  return nullptr;
}

std::string command_list() {
  std::string out;
  for (const auto& spec : kCommands) {
    if (!out.empty()) out += ", ";
    out += spec.name;
  }
  return out;
}

Validation validate_request(const nlohmann::json& request) {
  Validation result;
  if (!request.is_object()) {
    result.error = "a request must be a JSON object";
    return result;
  }
  const auto v = request.find("v");
  if (v == request.end()) {
    result.error = "missing protocol version \"v\" (this daemon speaks v 1)";
    return result;
  }
  if (!v->is_number_integer() || v->get<long long>() != kProtocolVersion) {
    result.error = "unsupported protocol version " + brief(*v) + " (this daemon speaks v 1)";
    return result;
  }
  const auto cmd = request.find("cmd");
  if (cmd == request.end()) {
    result.error = "missing \"cmd\"";
    return result;
  }
  if (!cmd->is_string()) {
    result.error = "\"cmd\" must be a string, not " + brief(*cmd);
    return result;
  }
  const auto& name = cmd->get_ref<const std::string&>();
  const CommandSpec* spec = find_command(name);
  if (!spec) {
    result.error = "unknown command " + brief(*cmd) + " (known: " + command_list() + ")";
    return result;
  }
  for (const auto& [key, value] : request.items()) {
    if (key == "v" || key == "cmd") continue;
    if (key == "id") {
      if (!value.is_string() && !value.is_number_integer()) {
        result.error = "\"id\" must be a string or an integer";
        return result;
      }
      continue;
    }
    const ArgSpec* arg = nullptr;
    for (const auto& candidate : spec->args)
      if (candidate.name == key) arg = &candidate;
    if (!arg) {
      result.error = "unknown argument " + brief(nlohmann::json(key)) + " for '" + name + "' (" +
                     accepted_args(*spec) + ")";
      return result;
    }
    if (!has_type(value, arg->type)) {
      result.error = "argument '" + key + "' of '" + name + "' must be " +
                     std::string(type_name(arg->type)) + ", not " + brief(value);
      return result;
    }
  }
  result.spec = spec;
  return result;
}

Validation parse_and_validate(std::string_view line, nlohmann::json& out) {
  Validation result;
  out = nullptr;
  // The callback sees each value's depth as it is read; it keeps every value.
  const auto limit_depth = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if (depth >= kMaxNesting && (event == nlohmann::json::parse_event_t::object_start ||
                                 event == nlohmann::json::parse_event_t::array_start))
      throw TooDeep{};
    return true;
  };
  try {
    out = nlohmann::json::parse(line, limit_depth);
  } catch (const TooDeep&) {
    out = nullptr;
    result.error =
        "malformed JSON: nested deeper than " + std::to_string(kMaxNesting) + " arrays or objects";
    return result;
  } catch (const nlohmann::json::out_of_range& e) {
    // 406: a number that fits neither a 64-bit integer nor a double (1e999).
    out = nullptr;
    result.error = "malformed JSON: " + library_message(e.what()) +
                   " (numbers must fit a 64-bit integer or a double)";
    return result;
  } catch (const nlohmann::json::exception& e) {
    out = nullptr;
    result.error = "malformed JSON: " + library_message(e.what());
    return result;
  }
  return validate_request(out);
}

const nlohmann::json* request_id(const nlohmann::json& request) noexcept {
  if (!request.is_object()) return nullptr;
  const auto id = request.find("id");
  if (id == request.end() || !(id->is_string() || id->is_number_integer())) return nullptr;
  return &*id;
}

std::string error_line(std::string_view message, const nlohmann::json* id) {
  nlohmann::json reply = {{"v", kProtocolVersion}, {"ok", false}, {"error", message}};
  if (id) reply["id"] = *id;
  return finish(std::move(reply));
}

std::string ok_line(nlohmann::json body, const nlohmann::json* id) {
  nlohmann::json reply = {{"v", kProtocolVersion}, {"ok", true}};
  if (id) reply["id"] = *id;
  if (body.is_object()) {
    for (auto& [key, value] : body.items())
      if (key != "v" && key != "ok" && key != "id") reply[key] = std::move(value);
  } else if (!body.is_null()) {
    reply["result"] = std::move(body);
  }
  return finish(std::move(reply));
}

std::string request_line(std::string_view cmd, nlohmann::json args) {
  nlohmann::json request = {{"v", kProtocolVersion}, {"cmd", cmd}};
  if (args.is_object())
    for (auto& [key, value] : args.items()) request[key] = std::move(value);
  return finish(std::move(request));
}

}  // namespace gpioirq::control
