#pragma once
// Typed, validated reads of one TOML table, each failure thrown as a ConfigError that names
// the place, the key, what was expected and what was found. Used only by the loader.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "config/schema.hpp"

namespace gpioirq::config {

// "file:line:col", or just "file" when the place is unknown.
std::string format_place(const SourcePlace& place);
SourcePlace place_from(const toml::source_region& region, std::string_view file);
// "a boolean", "an integer", ...: what a user calls the type of a TOML value.
std::string_view type_phrase(toml::node_type type);
// A double as short text ("1000", "0.5", "1e+07").
std::string number_text(double value);

class TableReader {
 public:
  // `subject` names the table in messages: "daemon", "encoder 'knob'", "chip #2".
  TableReader(const toml::table& table, std::string_view file, std::string subject);

  const std::string& subject() const { return subject_; }
  void set_subject(std::string subject) { subject_ = std::move(subject); }

  // Where the table starts (its [[header]], or the inline table's brace).
  SourcePlace place() const;
  // Where the key's value is; the table's place when the key is absent.
  SourcePlace place_of(std::string_view key) const;
  bool has(std::string_view key) const { return table_.contains(key); }
  const toml::node* get(std::string_view key) const { return table_.get(key); }

  // Throws for the first key (in file order) not in `known`, suggesting the nearest one.
  void reject_unknown_keys(std::span<const std::string_view> known) const;

  // "<place of key's value>: <subject>.<key>: <problem>"
  [[noreturn]] void fail(std::string_view key, const std::string& problem) const;
  // "<place of table>: <subject>: <problem>"
  [[noreturn]] void fail_table(const std::string& problem) const;
  // "<place of table>: <subject>: missing required key '<key>'<why>"
  [[noreturn]] void fail_missing(std::string_view key, std::string_view why = {}) const;

  void require(std::string_view key, std::string_view why = {}) const {
    if (!has(key)) fail_missing(key, why);
  }
  // Refuses a key that has no meaning in this table's situation ("applies only to ...").
  void forbid(std::string_view key, const std::string& reason) const {
    if (has(key)) fail(key, reason);
  }

  // Each returns nothing when the key is absent and throws when it is present but wrong.
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max,
                                      bool hex = false) const;
  std::optional<std::int64_t> integer_one_of(std::string_view key,
                                             std::span<const std::int64_t> allowed) const;
  // Accepts TOML integers too: "rate = 1000" should not need "1000.0".
  std::optional<double> number(std::string_view key, double min, double max) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::string> string(std::string_view key, bool allow_empty = false) const;
  // The index in `names` of the string given, e.g. for enums written as strings.
  std::optional<std::size_t> choice(std::string_view key,
                                    std::span<const std::string_view> names) const;

  template <typename E, std::size_t N>
  std::optional<E> choice(std::string_view key, const std::string_view (&names)[N],
                          const E (&values)[N]) const {
    if (auto index = choice(key, std::span<const std::string_view>(names, N)))
      return values[*index];
    return std::nullopt;
  }

 private:
  [[noreturn]] void fail_type(std::string_view key, const toml::node& node,
                              std::string_view expected) const;

  const toml::table& table_;
  std::string_view file_;
  std::string subject_;
};

// Assigns when the optional holds a value; keeps the default otherwise.
template <typename T, typename U>
void assign(T& target, const std::optional<U>& value) {
  if (value) target = static_cast<T>(*value);
}

}  // namespace gpioirq::config
