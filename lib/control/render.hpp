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

// `gpioirqctl devices`: the reply {"devices": {"<kind>": [{...}, ...]}} as one section and
// one table per kind, in the reply's order (kinds by name: JSON objects come back with
// sorted keys). Columns: `name`, then the members every kind has (`down`, `down_reason`,
// `lost`), then the kind's own members in key order; nested objects are flattened into
// "outer.inner" columns, arrays shown as compact JSON; `summary` is left out (it restates
// the row; `top` shows it).
void render_devices(const nlohmann::json& body, std::ostream& out);

// Columns a terminal shows for `text`: UTF-8 code points, ANSI escape sequences not
// counted (good enough for the Latin text and the few symbols a summary uses).
std::size_t display_width(std::string_view text);

// `gpioirqctl top`: one frame from the replies of status, devices and latency, at most 80
// columns wide (DESIGN: a header of two lines, then one row per device):
//   gpioirqd 0.1.0  up 2h13m  rt 80 cpu3  ring 3% hw 2048  clients 2  reloads 0
//   losses  kernel 0  ring 0  log 0  frames 0         latency p50 12µs p99 48µs max 1.2ms
//   NAME         KIND    ST   EDGES/s   LOST  P99  VALUES
// EDGES/s is the growth of the device's `lines` edges since the previous frame (TopState),
// P99 its latency, VALUES its `summary` (a DOWN device: why it is down). max_lines > 0 cuts
// the frame to that many lines, the last then saying "… N more" devices. highlight (a
// terminal): losses in reverse video, bold when grown since the previous frame, DOWN bold;
// without it no escape sequence is written and a non-zero loss gets a '!'.
struct TopState {
  std::map<std::string, double> previous_edges;  // device -> sum of its lines' edges
  std::map<std::string, double> previous_lost;   // device, or "losses/<item>" -> count
  double previous_time_s = -1;
};
std::string render_top_frame(const nlohmann::json& status, const nlohmann::json& devices,
                             const nlohmann::json& latency, TopState& state, double now_s,
                             int max_lines = 0, bool highlight = false);

}  // namespace gpioirq::control
