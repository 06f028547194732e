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

bool is_rate_column(const std::string& column) {
  static constexpr std::array<std::string_view, 7> kSuffixes{
      "edges", "events", "frames", "pulses", "presses", "count", "total"};
  return std::any_of(kSuffixes.begin(), kSuffixes.end(),
                     [&](std::string_view suffix) { return column.ends_with(suffix); });
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

std::string render_top_frame(const nlohmann::json& status, const nlohmann::json& latency,
                             TopState& state, double now_s, int max_lines) {
  std::ostringstream out;
  const double dt = state.previous_time_s >= 0 ? now_s - state.previous_time_s : 0;
  std::map<std::string, double> current;

  // Scalars of status on one or two lines, as a header.
  std::string header;
  for (const auto& [key, value] : status.items()) {
    if (is_meta(key) || value.is_structured()) continue;
    std::string item = key + " " + cell_text(value);
    if (!header.empty()) header += "  ";
    header += item;
  }
  out << "gpioirqd  " << header << '\n';

  auto table = [&](const std::string& name, const nlohmann::json& rows) {
    auto columns = columns_of(rows);
    std::vector<std::string> shown;
    for (const auto& column : columns) {
      shown.push_back(column);
      bool integer = true;
      for (const auto& row : rows) {
        const auto it = row.find(column);
        if (it != row.end() && !it->is_number_integer() && !it->is_null()) integer = false;
      }
      if (integer && is_rate_column(column)) shown.push_back(column + "/s");
    }
    std::vector<std::vector<nlohmann::json>> cells;
    std::size_t index = 0;
    for (const auto& row : rows) {
      const std::string label = name + "/" + row_label(row, index++);
      std::vector<nlohmann::json> line;
      for (const auto& column : shown) {
        if (column.ends_with("/s")) {
          const std::string base = column.substr(0, column.size() - 2);
          const auto it = row.find(base);
          nlohmann::json rate;
          if (it != row.end() && it->is_number()) {
            const std::string key = label + "/" + base;
            const double value = it->get<double>();
            current[key] = value;
            const auto prev = state.previous.find(key);
            if (prev != state.previous.end() && dt > 0)
              rate = std::round((value - prev->second) / dt * 10) / 10;
          }
          line.push_back(rate);
        } else {
          const auto it = row.find(column);
          line.push_back(it != row.end() ? *it : nlohmann::json());
        }
      }
      cells.push_back(std::move(line));
    }
    out << '\n' << name << ":\n" << render_table(shown, cells);
  };
  for (const auto* reply : {&status, &latency})
    for (const auto& [key, value] : reply->items())
      if (is_table(value))
        table(reply == &latency && key != "latency" ? "latency " + key : key, value);

  state.previous = std::move(current);
  state.previous_time_s = now_s;
  std::string frame = out.str();
  if (max_lines > 0) {
    std::size_t pos = 0;
    for (int line = 0; line < max_lines && pos != std::string::npos; ++line) {
      pos = frame.find('\n', pos);
      if (pos != std::string::npos) ++pos;
    }
    if (pos != std::string::npos && pos < frame.size()) frame.resize(pos);
  }
  return frame;
}

}  // namespace gpioirq::control
