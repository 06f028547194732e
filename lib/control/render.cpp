#include "control/render.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace gpioirq::control {
namespace {

bool is_meta(const std::string& key) {
  return key == "v" || key == "ok" || key == "id";
}

bool is_table(const nlohmann::json& value) {
  if (!value.is_array() || value.empty()) return false;
  return std::all_of(value.begin(), value.end(), [](const auto& item) { return item.is_object(); });
}

bool is_bucket_list(const nlohmann::json& value) {
  if (!value.is_array()) return false;
  return std::all_of(value.begin(), value.end(), [](const auto& b) {
    return b.is_array() && b.size() == 3 && b[0].is_number() && b[1].is_number() &&
           b[2].is_number();
  });
}

bool is_scalar_array(const nlohmann::json& value) {
  return value.is_array() && std::none_of(value.begin(), value.end(),
                                          [](const auto& item) { return item.is_structured(); });
}

std::string row_label(const nlohmann::json& row, std::size_t index) {
  for (const char* key : {"name", "stream", "line", "id"})
    if (const auto it = row.find(key); it != row.end()) return cell_text(*it);
  return "#" + std::to_string(index);
}

std::vector<std::string> columns_of(const nlohmann::json& rows) {
  std::vector<std::string> columns;
  for (const auto& row : rows)
    for (const auto& [key, value] : row.items())
      if (!(key == "buckets" && is_bucket_list(value)) &&
          std::find(columns.begin(), columns.end(), key) == columns.end())
        columns.push_back(key);
  // JSON objects come back with sorted keys; the row's identity reads best on the left.
  auto front = columns.begin();
  for (const char* key : {"name", "stream", "chip", "line"})
    if (const auto it = std::find(front, columns.end(), key); it != columns.end()) {
      std::rotate(front, it, std::next(it));
      ++front;
    }
  return columns;
}

void render_table_of(const std::string& title, const nlohmann::json& rows, std::ostream& out,
                     const std::string& indent) {
  const auto columns = columns_of(rows);
  std::vector<std::vector<nlohmann::json>> cells;
  for (const auto& row : rows) {
    std::vector<nlohmann::json> line;
    for (const auto& column : columns) {
      const auto it = row.find(column);
      line.push_back(it != row.end() ? *it : nlohmann::json());
    }
    cells.push_back(std::move(line));
  }
  out << indent << title << ":\n";
  std::istringstream table(render_table(columns, cells));
  for (std::string line; std::getline(table, line);) out << indent << "  " << line << '\n';
  std::size_t index = 0;
  for (const auto& row : rows) {
    const auto buckets = row.find("buckets");
    if (buckets != row.end() && is_bucket_list(*buckets) && !buckets->empty()) {
      const auto unit = row.find("unit");
      out << indent << "  histogram " << row_label(row, index) << ":\n";
      std::ostringstream hist;
      render_histogram(
          *buckets, unit != row.end() && unit->is_string() ? unit->get<std::string>() : "ns", hist);
      std::istringstream lines(hist.str());
      for (std::string line; std::getline(lines, line);) out << indent << "    " << line << '\n';
    }
    ++index;
  }
}

void render_object(const nlohmann::json& body, std::ostream& out, const std::string& indent) {
  // Scalars first, then sections, then tables: the short facts stay at the top.
  for (const auto& [key, value] : body.items()) {
    if (indent.empty() && is_meta(key)) continue;
    if (!value.is_structured())
      out << indent << key << ": " << cell_text(value) << '\n';
    else if (value.is_array() && (value.empty() || is_scalar_array(value))) {
      out << indent << key << ": ";
      for (std::size_t i = 0; i < value.size(); ++i) out << (i ? ", " : "") << cell_text(value[i]);
      out << '\n';
    }
  }
  for (const auto& [key, value] : body.items()) {
    if (value.is_object()) {
      out << indent << key << ":\n";
      render_object(value, out, indent + "  ");
    } else if (key == "buckets" && is_bucket_list(value) && !value.empty()) {
      const auto unit = body.find("unit");
      out << indent << "histogram:\n";
      std::ostringstream hist;
      render_histogram(
          value, unit != body.end() && unit->is_string() ? unit->get<std::string>() : "ns", hist);
      std::istringstream lines(hist.str());
      for (std::string line; std::getline(lines, line);) out << indent << "  " << line << '\n';
    } else if (value.is_array() && !value.empty() && !is_scalar_array(value)) {
      if (is_table(value))
        render_table_of(key, value, out, indent);
      else
        out << indent << key << ": " << value.dump() << '\n';
    }
  }
}

}  // namespace

std::string cell_text(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "-";
    case nlohmann::json::value_t::string:
      return value.get<std::string>();
    case nlohmann::json::value_t::boolean:
      return value.get<bool>() ? "yes" : "no";
    case nlohmann::json::value_t::number_integer:
      return std::to_string(value.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return std::to_string(value.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: {
      const double d = value.get<double>();
      if (!std::isfinite(d)) return std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf");
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", d);
      return buf;
    }
    default:
      return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

std::string render_table(const std::vector<std::string>& columns,
                         const std::vector<std::vector<nlohmann::json>>& rows) {
  std::vector<std::size_t> width(columns.size());
  std::vector<bool> numeric(columns.size(), true);
  std::vector<std::vector<std::string>> text;
  for (std::size_t c = 0; c < columns.size(); ++c) width[c] = columns[c].size();
  for (const auto& row : rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const nlohmann::json& value = c < row.size() ? row[c] : nlohmann::json();
      if (!value.is_number() && !value.is_null()) numeric[c] = false;
      line.push_back(cell_text(value));
      width[c] = std::max(width[c], line.back().size());
    }
    text.push_back(std::move(line));
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string& cell = cells[c];
      const std::string pad(width[c] - cell.size(), ' ');
      if (c) line += "  ";
      line += numeric[c] ? pad + cell : cell + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  emit(columns);
  for (const auto& line : text) emit(line);
  return out;
}

void render_body(const nlohmann::json& body, std::ostream& out) {
  if (body.is_object())
    render_object(body, out, "");
  else
    out << cell_text(body) << '\n';
}

void render_histogram(const nlohmann::json& buckets, std::string_view unit, std::ostream& out,
                      int bar_width) {
  std::size_t first = buckets.size(), last = 0;
  double peak = 0, total = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const double count = buckets[i][2].get<double>();
    if (count > 0) {
      first = std::min(first, i);
      last = i;
    }
    peak = std::max(peak, count);
    total += count;
  }
  if (first == buckets.size()) {
    out << "(no samples)\n";
    return;
  }
  std::vector<std::string> labels, counts;
  std::size_t label_width = 0, count_width = 0;
  for (std::size_t i = first; i <= last; ++i) {
    labels.push_back(cell_text(buckets[i][0]) + " .. " + cell_text(buckets[i][1]) + " " +
                     std::string(unit));
    counts.push_back(cell_text(buckets[i][2]));
    label_width = std::max(label_width, labels.back().size());
    count_width = std::max(count_width, counts.back().size());
  }
  for (std::size_t i = first; i <= last; ++i) {
    const double count = buckets[i][2].get<double>();
    const std::size_t k = i - first;
    int bar = peak > 0 ? static_cast<int>(std::lround(count / peak * bar_width)) : 0;
    if (count > 0 && bar == 0) bar = 1;  // a rare outlier must stay visible
    char pct[16];
    std::snprintf(pct, sizeof pct, "%6.2f%%", total > 0 ? 100.0 * count / total : 0.0);
    out << std::string(label_width - labels[k].size(), ' ') << labels[k] << "  "
        << std::string(count_width - counts[k].size(), ' ') << counts[k] << ' ' << pct << " |"
        << std::string(static_cast<std::size_t>(bar), '#') << '\n';
  }
}

std::string format_event(const nlohmann::json& event, std::string_view format) {
  auto member = [&event](std::string_view key) -> std::string {
    const auto it = event.find(key);
    return it != event.end() ? cell_text(*it) : "-";
  };
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char ch = format[i];
    if (ch != '%' || i + 1 == format.size()) {
      out += ch;
      continue;
    }
    const char spec = format[++i];
    switch (spec) {
      case 't': {
        const char* key = "t";
        for (const char* candidate : {"t", "ts_ns", "ts", "time"})
          if (event.contains(candidate)) {
            key = candidate;
            break;
          }
        out += member(key);
        break;
      }
      case 'n':
        out += member("name");
        break;
      case 'e':
        out += member("event");
        break;
      case 'v':
        out += member("value");
        break;
      case 'j':
        out += event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        break;
      case '%':
        out += '%';
        break;
      case '{': {
        const auto close = format.find('}', i + 1);
        if (close == std::string_view::npos) {
          out += "%{";
          break;
        }
        out += member(format.substr(i + 1, close - i - 1));
        i = close;
        break;
      }
      default:
        out += '%';
        out += spec;
    }
  }
  return out;
}

namespace {

// `devices` and `top` below.

const nlohmann::json* member(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it != object.end() ? &*it : nullptr;
}

double number_or(const nlohmann::json* value, double fallback) {
  return value != nullptr && value->is_number() ? value->get<double>() : fallback;
}

std::string printf_text(const char* format, double value) {
  char buf[48];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

// Nested objects become "outer.inner" members, so that a device table stays flat.
void flatten(const nlohmann::json& object, const std::string& prefix, nlohmann::json& into) {
  for (const auto& [key, value] : object.items()) {
    const std::string column = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object())
      flatten(value, column, into);
    else
      into[column] = value;
  }
}

void render_device_kind(const std::string& kind, const nlohmann::json& devices, std::ostream& out) {
  std::vector<nlohmann::json> rows;
  std::vector<std::string> own;  // the kind's own members
  static constexpr std::array<std::string_view, 4> kShared{"name", "down", "down_reason", "lost"};
  for (const auto& device : devices) {
    if (!device.is_object()) continue;
    nlohmann::json row = nlohmann::json::object();
    flatten(device, "", row);
    row.erase("summary");  // top's one-line form of the row itself
    for (const auto& [key, value] : row.items())
      if (std::find(kShared.begin(), kShared.end(), key) == kShared.end() &&
          std::find(own.begin(), own.end(), key) == own.end())
        own.push_back(key);
    rows.push_back(std::move(row));
  }
  std::sort(own.begin(), own.end());
  std::vector<std::string> columns;
  for (const auto key : kShared)
    if (std::any_of(rows.begin(), rows.end(), [&](const auto& row) { return row.contains(key); }))
      columns.emplace_back(key);
  columns.insert(columns.end(), own.begin(), own.end());
  std::vector<std::vector<nlohmann::json>> cells;
  for (const auto& row : rows) {
    std::vector<nlohmann::json> line;
    for (const auto& column : columns) {
      const auto it = row.find(column);
      line.push_back(it != row.end() ? *it : nlohmann::json());
    }
    cells.push_back(std::move(line));
  }
  out << kind << ":\n";
  std::istringstream table(render_table(columns, cells));
  for (std::string line; std::getline(table, line);) out << "  " << line << '\n';
}

// --- top

constexpr std::size_t kTopWidth = 80;
// A device row's columns; VALUES takes what is left of kTopWidth (32 columns).
constexpr std::size_t kNameWidth = 12, kKindWidth = 7, kStateWidth = 4, kEdgesWidth = 8,
                      kLostWidth = 6, kP99Width = 4;
constexpr std::size_t kValuesWidth =
    kTopWidth - (kNameWidth + 1 + kKindWidth + 1 + kStateWidth + 1 + kEdgesWidth + 1 + kLostWidth +
                 1 + kP99Width + 2);
static_assert(kValuesWidth == 32, "a device's summary is promised 32 columns (kinds/device.hpp)");

constexpr std::string_view kReverse = "\x1b[7m", kBoldReverse = "\x1b[1;7m", kBold = "\x1b[1m",
                           kPlain = "\x1b[0m";

bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Past the CSI escape sequence (ESC [ parameters final-byte) that starts at `at`.
std::size_t skip_escape(std::string_view text, std::size_t at) {
  std::size_t i = at + 1;
  if (i < text.size() && text[i] == '[') {
    ++i;
    while (i < text.size() && (text[i] < 0x40 || text[i] > 0x7e)) ++i;
    if (i < text.size()) ++i;
  }
  return i;
}

// `text` in at most `width` columns; a text cut short ends in `mark`.
std::string fit(std::string_view text, std::size_t width, std::string_view mark = "~") {
  if (display_width(text) <= width) return std::string(text);
  const std::size_t keep = width > display_width(mark) ? width - display_width(mark) : 0;
  std::string out;
  bool escaped = false;
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\x1b') {
      const std::size_t end = skip_escape(text, i);
      out.append(text.substr(i, end - i));
      escaped = true;
      i = end;
      continue;
    }
    if (columns == keep) break;
    std::size_t end = i + 1;
    while (end < text.size() && is_continuation_byte(text[end])) ++end;
    out.append(text.substr(i, end - i));
    ++columns;
    i = end;
  }
  if (width >= display_width(mark)) out += mark;
  if (escaped) out += kPlain;  // an attribute cut off before its end must not leak
  return out;
}

std::string pad_right(std::string_view text, std::size_t width) {
  std::string out = fit(text, width);
  out.append(width - display_width(out), ' ');
  return out;
}

std::string pad_left(std::string_view text, std::size_t width) {
  std::string out = fit(text, width);
  return std::string(width - display_width(out), ' ') + out;
}

// The visible part of a padded cell wrapped in an attribute, the padding left plain.
std::string emphasize(std::string cell, std::string_view attribute) {
  const auto first = cell.find_first_not_of(' ');
  if (first == std::string::npos) return cell;
  const auto last = cell.find_last_not_of(' ') + 1;
  cell.insert(last, kPlain);
  cell.insert(first, attribute);
  return cell;
}

// 7.5 and 9.5 with their decimal, 7.0 as 7, 12.4 as 12: what fits a narrow column.
std::string one_decimal_below_ten(double value) {
  const double tenths = std::round(value * 10);
  const bool decimal = tenths < 99.5 && std::fmod(tenths, 10) != 0;
  return decimal ? printf_text("%.1f", tenths / 10) : printf_text("%.0f", value);
}

// A rate in at most 5 columns: 0, 7.5, 250, 1.2k, 50k, 3.4M.
std::string short_rate(double value) {
  const char* suffix = "";
  for (const char* next : {"k", "M", "G"}) {
    if (value < 999.5) break;
    value /= 1000;
    suffix = next;
  }
  return one_decimal_below_ten(value) + suffix;
}

// Nanoseconds as 850ns, 12µs, 1.2ms, 3.0s; `unit_letter` drops the "s" of the sub-second
// units (850n, 12µ, 1.2m: the 4 columns of P99).
std::string short_duration(double ns, bool unit_letter) {
  struct Unit {
    double scale;
    const char* full;
    const char* letter;
  };
  static constexpr std::array<Unit, 4> kUnits{
      {{1, "ns", "n"}, {1e3, "µs", "µ"}, {1e6, "ms", "m"}, {1e9, "s", "s"}}};
  std::size_t unit = 0;
  while (unit + 1 < kUnits.size() && ns >= 999.5 * kUnits[unit].scale) ++unit;
  const double value = ns / kUnits[unit].scale;
  return (unit > 0 ? one_decimal_below_ten(value) : printf_text("%.0f", value)) +
         (unit_letter ? kUnits[unit].letter : kUnits[unit].full);
}

// 42s, 12m05s, 2h13m, 3d04h.
std::string uptime_text(double seconds) {
  const auto s = static_cast<unsigned long long>(std::max(0.0, seconds));
  char buf[48];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llus", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%llum%02llus", s / 60, s % 60);
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lluh%02llum", s / 3600, s / 60 % 60);
  else
    std::snprintf(buf, sizeof buf, "%llud%02lluh", s / 86400, s / 3600 % 24);
  return buf;
}

std::string top_row(const std::string& name, const std::string& kind, const std::string& state,
                    const std::string& edges, const std::string& lost, const std::string& p99,
                    const std::string& values) {
  std::string line =
      name + ' ' + kind + ' ' + state + ' ' + edges + ' ' + lost + ' ' + p99 + "  " + values;
  line.erase(line.find_last_not_of(' ') + 1);
  return line;
}

// A loss count as shown: marked when non-zero, bold when it grew since the previous frame.
struct LossStyle {
  bool highlight;
  const std::map<std::string, double>& previous;
  std::map<std::string, double>& current;

  std::string cell(const std::string& key, double value, std::size_t width) const {
    current[key] = value;
    std::string text = printf_text("%.0f", value);
    if (value > 0 && !highlight) text += '!';
    std::string padded = width ? pad_left(text, width) : text;
    if (value <= 0 || !highlight) return padded;
    const auto before = previous.find(key);
    const bool grown = before != previous.end() && value > before->second;
    return emphasize(std::move(padded), grown ? kBoldReverse : kReverse);
  }
};

// The kinds of a `devices` reply in the daemon's registry order: its "kinds" array (a JSON
// object's members arrive sorted by name, so the order travels separately), then any kind
// it does not list, by name (a daemon older than that array).
std::vector<std::pair<std::string, const nlohmann::json*>> kinds_in_order(
    const nlohmann::json* by_kind, const nlohmann::json& body) {
  std::vector<std::pair<std::string, const nlohmann::json*>> ordered;
  if (by_kind == nullptr || !by_kind->is_object()) return ordered;
  auto listed = [&](const std::string& kind) {
    return std::any_of(ordered.begin(), ordered.end(),
                       [&](const auto& entry) { return entry.first == kind; });
  };
  if (const auto* order = member(body, "kinds"); order != nullptr && order->is_array())
    for (const auto& kind : *order)
      if (kind.is_string() && by_kind->contains(kind.get<std::string>()) &&
          !listed(kind.get<std::string>()))
        ordered.emplace_back(kind.get<std::string>(), &(*by_kind)[kind.get<std::string>()]);
  for (const auto& [kind, list] : by_kind->items())
    if (!listed(kind)) ordered.emplace_back(kind, &list);
  return ordered;
}

}  // namespace

void render_devices(const nlohmann::json& body, std::ostream& out) {
  const nlohmann::json* kinds = member(body, "devices");
  bool any = false;
  for (const auto& [kind, devices] : kinds_in_order(kinds, body))
    if (devices->is_array() && !devices->empty()) {
      render_device_kind(kind, *devices, out);
      any = true;
    }
  if (!any) out << "devices: none\n";
}

std::size_t display_width(std::string_view text) {
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\x1b') {
      i = skip_escape(text, i);
      continue;
    }
    if (!is_continuation_byte(text[i])) ++columns;
    ++i;
  }
  return columns;
}

std::string render_top_frame(const nlohmann::json& status, const nlohmann::json& devices,
                             const nlohmann::json& latency, TopState& state, double now_s,
                             int max_lines, bool highlight) {
  std::vector<std::string> lines;
  std::map<std::string, double> edges_now, lost_now;
  const LossStyle losses{highlight, state.previous_lost, lost_now};

  // Line 1: the daemon.
  std::string daemon = "gpioirqd ";
  const nlohmann::json* version = member(status, "version");
  daemon += version != nullptr ? cell_text(*version) : "?";
  if (const auto* up = member(status, "uptime_s"); up != nullptr && up->is_number())
    daemon += "  up " + uptime_text(up->get<double>());
  if (const auto* rt = member(status, "rt"); rt != nullptr && rt->is_object()) {
    const double priority = number_or(member(*rt, "priority"), 0);
    const double cpu = number_or(member(*rt, "cpu"), -1);
    daemon += priority > 0 ? printf_text("  rt %.0f", priority) : std::string("  rt off");
    if (cpu >= 0) daemon += printf_text(" cpu%.0f", cpu);
  }
  if (const auto* ring = member(status, "ring"); ring != nullptr && ring->is_object()) {
    const double capacity = number_or(member(*ring, "capacity"), 0);
    const double high_water = number_or(member(*ring, "high_water"), 0);
    if (capacity > 0) daemon += printf_text("  ring %.0f%%", 100 * high_water / capacity);
    daemon += printf_text(" hw %.0f", high_water);
  }
  if (const auto* control = member(status, "control"))
    if (const auto* clients = member(*control, "clients"); clients != nullptr)
      daemon += "  clients " + cell_text(*clients);
  if (const auto* reloads = member(status, "reloads"); reloads != nullptr)
    daemon += "  reloads " + cell_text(*reloads);
  lines.push_back(fit(daemon, kTopWidth));

  // Line 2: every loss the daemon counts, and the latency over all devices.
  double kernel_lost = 0, ring_dropped = 0, frames_lost = 0;
  if (const auto* status_lines = member(status, "lines"); status_lines && status_lines->is_array())
    for (const auto& line : *status_lines) {
      kernel_lost += number_or(member(line, "kernel_lost"), 0);
      ring_dropped += number_or(member(line, "ring_dropped"), 0);
      if (const auto* device = member(line, "device"); device != nullptr && device->is_string())
        edges_now[device->get<std::string>()] += number_or(member(line, "edges"), 0);
    }
  const nlohmann::json* kinds = member(devices, "devices");
  if (kinds != nullptr && kinds->is_object())
    for (const auto& [kind, list] : kinds->items()) {
      if (!list.is_array()) continue;
      for (const auto& device : list) {
        if (!device.is_object()) continue;
        for (const auto& [key, value] : device.items())  // an IMU's frames_lost_overrun, _file
          if (key.starts_with("frames_lost") && value.is_number())
            frames_lost += value.get<double>();
      }
    }
  const nlohmann::json* log = member(status, "log");
  std::string loss_line =
      "losses  kernel " + losses.cell("losses/kernel", kernel_lost, 0) + "  ring " +
      losses.cell("losses/ring", ring_dropped, 0) + "  log " +
      losses.cell("losses/log", number_or(log ? member(*log, "lost") : nullptr, 0), 0) +
      "  frames " + losses.cell("losses/frames", frames_lost, 0);
  // The latency right-aligned; when large loss counts leave too little room, p50 then max
  // give way to p99.
  std::vector<std::string> latency_texts{"latency -"};
  if (const auto* all = member(status, "latency"); all && number_or(member(*all, "count"), 0) > 0) {
    const std::string p50 = " p50 " + short_duration(number_or(member(*all, "p50_ns"), 0), false);
    const std::string p99 = " p99 " + short_duration(number_or(member(*all, "p99_ns"), 0), false);
    const std::string max = " max " + short_duration(number_or(member(*all, "max_ns"), 0), false);
    latency_texts = {"latency" + p50 + p99 + max, "latency" + p99 + max, "latency" + p99};
  }
  const std::size_t loss_width = display_width(loss_line);
  for (const auto& latency_text : latency_texts) {
    const std::size_t used = loss_width + display_width(latency_text);
    if (used + 2 <= kTopWidth || &latency_text == &latency_texts.back()) {
      loss_line += std::string(used + 2 <= kTopWidth ? kTopWidth - used : 2, ' ') + latency_text;
      break;
    }
  }
  lines.push_back(fit(loss_line, kTopWidth));

  // The devices.
  lines.push_back(top_row(pad_right("NAME", kNameWidth), pad_right("KIND", kKindWidth),
                          pad_right("ST", kStateWidth), pad_left("EDGES/s", kEdgesWidth),
                          pad_left("LOST", kLostWidth), pad_left("P99", kP99Width), "VALUES"));
  std::map<std::string, double> p99_ns;
  if (const auto* rows = member(latency, "latency"); rows != nullptr && rows->is_array())
    for (const auto& row : *rows)
      if (const auto* name = member(row, "name");
          name != nullptr && name->is_string() && number_or(member(row, "count"), 1) > 0)
        if (const auto* p99 = member(row, "p99_ns"); p99 != nullptr && p99->is_number())
          p99_ns[name->get<std::string>()] = p99->get<double>();
  auto down_reason = [&](const nlohmann::json& device, const std::string& name) {
    if (const auto* reason = member(device, "down_reason"); reason && reason->is_string())
      return reason->get<std::string>();
    if (const auto* down = member(status, "devices_down"); down && down->is_array())
      for (const auto& entry : *down)
        if (const auto* n = member(entry, "name"); n && *n == name)
          if (const auto* reason = member(entry, "reason"); reason && reason->is_string())
            return reason->get<std::string>();
    return std::string("down");
  };
  const double dt = state.previous_time_s >= 0 ? now_s - state.previous_time_s : 0;
  std::vector<std::string> rows;
  for (const auto& [kind, list_ptr] : kinds_in_order(kinds, devices)) {
    const nlohmann::json& list = *list_ptr;
    if (!list.is_array()) continue;
    for (const auto& device : list) {
      const auto* name_member = member(device, "name");
      if (name_member == nullptr) continue;
      const std::string name = cell_text(*name_member);
      const auto* down_member = member(device, "down");
      const bool down =
          down_member != nullptr && down_member->is_boolean() && down_member->get<bool>();

      std::string edges = "-";
      if (const auto now = edges_now.find(name); now != edges_now.end()) {
        const auto before = state.previous_edges.find(name);
        if (before != state.previous_edges.end() && dt > 0 && now->second >= before->second)
          edges = short_rate((now->second - before->second) / dt);
      }
      std::string lost = pad_left("-", kLostWidth);
      if (const auto* count = member(device, "lost"); count != nullptr && count->is_number())
        lost = losses.cell(name, count->get<double>(), kLostWidth);
      const auto p99 = p99_ns.find(name);
      std::string values;
      if (down)
        values = down_reason(device, name);
      else if (const auto* summary = member(device, "summary"); summary != nullptr)
        values = cell_text(*summary);
      std::string state_cell = pad_right(down ? "DOWN" : "up", kStateWidth);
      if (down && highlight) state_cell = emphasize(std::move(state_cell), kBold);
      rows.push_back(top_row(
          pad_right(name, kNameWidth), pad_right(kind, kKindWidth), state_cell,
          pad_left(edges, kEdgesWidth), lost,
          pad_left(p99 != p99_ns.end() ? short_duration(p99->second, true) : "-", kP99Width),
          fit(values, kValuesWidth)));
    }
  }

  // Cut to the screen: the last line left says how many devices did not fit.
  const std::size_t limit = max_lines > 0 ? static_cast<std::size_t>(max_lines) : 0;
  std::size_t shown = rows.size();
  if (limit > 0 && lines.size() + rows.size() > limit) {
    if (rows.empty()) {
      lines.resize(limit);
    } else {
      shown = limit > lines.size() ? limit - lines.size() - 1 : 0;
      if (limit <= lines.size()) lines.resize(limit - 1);
    }
  }
  lines.insert(lines.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(shown));
  if (shown < rows.size()) lines.push_back("… " + std::to_string(rows.size() - shown) + " more");

  state.previous_edges = std::move(edges_now);
  state.previous_lost = std::move(lost_now);
  state.previous_time_s = now_s;
  std::string frame;
  for (const auto& line : lines) frame += line + '\n';
  return frame;
}
}  // namespace gpioirq::control
