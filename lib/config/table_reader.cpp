#include "config/table_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "config/config_error.hpp"
#include "config/nearest_name.hpp"

namespace gpioirq::config {

namespace {

std::string hex_text(std::int64_t v) {
  char buf[24];
  if (v < 0) return std::to_string(v);
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
  (void)ec;
  return "0x" + std::string(buf, end);
}

std::string int_text(std::int64_t v, bool hex) {
  return hex ? hex_text(v) : std::to_string(v);
}

std::string single_quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}
std::string double_quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

}  // namespace

std::string format_place(const SourcePlace& place) {
  if (place.line == 0) return place.file;
  return place.file + ":" + std::to_string(place.line) + ":" + std::to_string(place.column);
}

SourcePlace place_from(const toml::source_region& region, std::string_view file) {
  return SourcePlace{std::string(file), region.begin.line, region.begin.column};
}

std::string_view type_phrase(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string number_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  return std::string(buf, end);
}

TableReader::TableReader(const toml::table& table, std::string_view file, std::string subject)
    : table_(table), file_(file), subject_(std::move(subject)) {}

SourcePlace TableReader::place() const {
  return place_from(table_.source(), file_);
}

SourcePlace TableReader::place_of(std::string_view key) const {
  if (const toml::node* n = table_.get(key)) return place_from(n->source(), file_);
  return place();
}

void TableReader::reject_unknown_keys(std::span<const std::string_view> known) const {
  // toml::table keeps keys sorted by name; report the first unknown one in file order.
  const toml::key* first = nullptr;
  for (auto&& [key, value] : table_) {
    (void)value;
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    const auto& here = key.source().begin;
    if (!first || here.line < first->source().begin.line ||
        (here.line == first->source().begin.line && here.column < first->source().begin.column))
      first = &key;
  }
  if (!first) return;
  std::string message = format_place(place_from(first->source(), file_)) + ": ";
  if (!subject_.empty()) message += subject_ + ": ";
  message += "key " + single_quoted(first->str()) + " is unknown";
  if (auto near = nearest_name(first->str(), known))
    message += "; did you mean " + single_quoted(*near) + "?";
  throw ConfigError(message);
}

void TableReader::fail(std::string_view key, const std::string& problem) const {
  std::string message = format_place(place_of(key)) + ": ";
  if (!subject_.empty()) message += subject_ + ".";
  message += std::string(key) + ": " + problem;
  throw ConfigError(message);
}

void TableReader::fail_table(const std::string& problem) const {
  std::string message = format_place(place()) + ": ";
  if (!subject_.empty()) message += subject_ + ": ";
  throw ConfigError(message + problem);
}

void TableReader::fail_missing(std::string_view key, std::string_view why) const {
  fail_table("missing required key " + single_quoted(key) + std::string(why));
}

void TableReader::fail_type(std::string_view key, const toml::node& node,
                            std::string_view expected) const {
  fail(key,
       "expected " + std::string(expected) + ", found " + std::string(type_phrase(node.type())));
}

std::optional<std::int64_t> TableReader::integer(std::string_view key, std::int64_t min,
                                                 std::int64_t max, bool hex) const {
  const toml::node* n = table_.get(key);
  if (!n) return std::nullopt;
  const std::string expected =
      "an integer from " + int_text(min, hex) + " to " + int_text(max, hex);
  const auto* v = n->as_integer();
  if (!v) fail_type(key, *n, expected);
  const std::int64_t value = v->get();
  if (value < min || value > max)
    fail(key, "expected " + expected + ", found " + int_text(value, hex));
  return value;
}

std::optional<std::int64_t> TableReader::integer_one_of(
    std::string_view key, std::span<const std::int64_t> allowed) const {
  const toml::node* n = table_.get(key);
  if (!n) return std::nullopt;
  std::string expected;
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    if (i > 0) expected += i + 1 == allowed.size() ? " or " : ", ";
    expected += std::to_string(allowed[i]);
  }
  const auto* v = n->as_integer();
  if (!v) fail_type(key, *n, expected);
  const std::int64_t value = v->get();
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
    fail(key, "expected " + expected + ", found " + std::to_string(value));
  return value;
}

std::optional<double> TableReader::number(std::string_view key, double min, double max) const {
  const toml::node* n = table_.get(key);
  if (!n) return std::nullopt;
  const std::string expected = "a number from " + number_text(min) + " to " + number_text(max);
  double value = 0;
  if (const auto* i = n->as_integer())
    value = static_cast<double>(i->get());
  else if (const auto* f = n->as_floating_point())
    value = f->get();
  else
    fail_type(key, *n, expected);
  // Written so that NaN fails too.
  if (!(value >= min && value <= max))
    fail(key, "expected " + expected + ", found " + number_text(value));
  return value;
}

std::optional<bool> TableReader::boolean(std::string_view key) const {
  const toml::node* n = table_.get(key);
  if (!n) return std::nullopt;
  const auto* v = n->as_boolean();
  if (!v) fail_type(key, *n, "a boolean (true or false)");
  return v->get();
}

std::optional<std::string> TableReader::string(std::string_view key, bool allow_empty) const {
  const toml::node* n = table_.get(key);
  if (!n) return std::nullopt;
  const auto* v = n->as_string();
  if (!v) fail_type(key, *n, allow_empty ? "a string" : "a non-empty string");
  if (!allow_empty && v->get().empty()) fail(key, "expected a non-empty string, found \"\"");
  return v->get();
}

std::optional<std::size_t> TableReader::choice(std::string_view key,
                                               std::span<const std::string_view> names) const {
  const toml::node* n = table_.get(key);
  if (!n) return std::nullopt;
  std::string expected = "one of ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) expected += ", ";
    expected += double_quoted(names[i]);
  }
  if (names.size() == 1) expected = double_quoted(names[0]);
  const auto* v = n->as_string();
  if (!v) fail_type(key, *n, expected);
  const std::string& value = v->get();
  auto it = std::find(names.begin(), names.end(), value);
  if (it != names.end()) return static_cast<std::size_t>(it - names.begin());
  std::string problem = "expected " + expected + ", found " + double_quoted(value);
  if (auto near = nearest_name(value, names))
    problem += "; did you mean " + double_quoted(*near) + "?";
  fail(key, problem);
}

}  // namespace gpioirq::config
