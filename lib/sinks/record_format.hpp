#pragma once
// Formatting of event-log records as CSV rows or JSON Lines, appended to a reused
// fmt::memory_buffer: no iostreams, no allocation per record (the buffer's inline storage
// holds any record with names of ordinary length). Pure functions; EventLog drives them.
// The formats are specified in docs/FILE-FORMATS.md.
//
// CSV: one header line (csv_header()), then every record as a row of all kCsvColumns
// columns, unused ones empty. Text fields are quoted (RFC 4180: "..." with "" for ") when
// they contain a comma, quote, CR or LF, or start or end with a space.
// JSONL: one object per line with only the keys that apply to the record type; the key
// names are the CSV column names. Strings are escaped by nlohmann-json; numbers are
// written by fmt (integers exactly, reals in shortest round-trip form, non-finite reals
// as null).

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <string_view>

#include "config/schema.hpp"
#include "sinks/log_records.hpp"

namespace gpioirq::sinks {

using FormatBuffer = fmt::memory_buffer;

inline constexpr std::array<std::string_view, 19> kCsvColumns = {
    "type",  "ts_ns", "realtime_ns", "device", "line", "chip", "offset",
    "edge",  "line_seqno", "seqno", "kind", "value", "value2", "unit",
    "lost",  "from", "to", "version", "info"};

// The CSV header line, with its trailing '\n'.
std::string_view csv_header() noexcept;

// Append one record, with its trailing '\n'.
void format_record(config::LogFormat format, const EdgeEntry& e, FormatBuffer& out);
void format_record(config::LogFormat format, const EventEntry& e, FormatBuffer& out);
void format_record(config::LogFormat format, const GapEntry& e, FormatBuffer& out);
void format_record(config::LogFormat format, const TimeEntry& e, FormatBuffer& out);
void format_record(config::LogFormat format, const MarkerEntry& e, FormatBuffer& out);

// One CSV field, quoted if needed.
void append_csv_field(FormatBuffer& out, std::string_view text);
// One JSON string literal, quotes included. Text that is not valid UTF-8 has the invalid
// bytes replaced by U+FFFD rather than failing.
void append_json_string(FormatBuffer& out, std::string_view text);

}  // namespace gpioirq::sinks
