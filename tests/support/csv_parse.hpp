#pragma once
// A small RFC 4180 reader for the tests (unit and host): the daemon writes CSV, the tests
// read it back independently of the writer's code.

#include <string>
#include <string_view>
#include <vector>

namespace gpioirq_test {

using CsvRow = std::vector<std::string>;

// Parses whole lines; a field that starts with a quote may hold commas, doubled quotes
// and line breaks. A last line without '\n' (a cut file) is a row too.
inline std::vector<CsvRow> parse_csv(std::string_view text) {
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  bool quoted = false, at_field_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"' && at_field_start) {
      quoted = true;
      at_field_start = false;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      at_field_start = true;
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      at_field_start = true;
    } else {
      field += c;
      at_field_start = false;
    }
  }
  if (!field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace gpioirq_test
