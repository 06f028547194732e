#pragma once
// gpioirqctl's human-readable output. Reply bodies are designed by the daemon, so the
// rendering is generic: scalars become "key: value" lines, nested objects indented
// sections, arrays of objects aligned tables (one column per key; name, stream, chip and
// line first, the rest in key order), and any "buckets"
// array of [lower, upper, count] a text histogram under its table.

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gpioirq::control {

// A scalar as a table cell: strings bare, integers as is, reals to 6 significant
// digits, null "-", booleans yes/no; objects and arrays as compact JSON.
std::string cell_text(const nlohmann::json& value);

// Columns padded to their widest cell; numeric columns right-aligned.
std::string render_table(const std::vector<std::string>& columns,
                         const std::vector<std::vector<nlohmann::json>>& rows);

// The generic rendering described above; "v", "ok" and "id" are left out.
void render_body(const nlohmann::json& body, std::ostream& out);

// buckets = [[lower, upper, count], ...]: one bar per bucket, empty buckets at both ends
// trimmed; `unit` labels the bounds.
void render_histogram(const nlohmann::json& buckets, std::string_view unit, std::ostream& out,
                      int bar_width = 40);

// One monitor event in a gpiomon-like format: %t time (the first of "t", "ts_ns", "ts",
// "time"), %n name, %e event, %v value,
// %{key} any member, %j the whole event as JSON, %% a percent sign. Missing members "-".
std::string format_event(const nlohmann::json& event, std::string_view format);

// `gpioirqctl top`: one frame from a status reply and a latency reply. Integer columns
// whose names end in edges/events/frames/pulses/presses/count/total get a "<col>/s" rate
// column, computed against the previous frame (kept in TopState).
struct TopState {
  std::map<std::string, double> previous;  // "table/row/column" -> value
  double previous_time_s = -1;
};
std::string render_top_frame(const nlohmann::json& status, const nlohmann::json& latency,
                             TopState& state, double now_s, int max_lines = 0);

}  // namespace gpioirq::control
