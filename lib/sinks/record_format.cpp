#include "sinks/record_format.hpp"

#include <cmath>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

namespace gpioirq::sinks {

namespace {

// Column indexes into kCsvColumns.
enum Col : std::size_t {
  kType, kTs, kRealtime, kDevice, kLine, kChip, kOffset, kEdge, kLineSeqno, kSeqno,
  kKind, kValue, kValue2, kUnit, kLost, kFrom, kTo, kVersion, kInfo, kNumCols
};
static_assert(kNumCols == kCsvColumns.size());

// Characters that can go into a JSON string literal unchanged: printable ASCII except
// the quote and backslash. Anything else is left to nlohmann-json.
bool json_plain(std::string_view s) noexcept {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') return false;
  }
  return true;
}

bool csv_needs_quotes(std::string_view s) noexcept {
  if (s.empty()) return false;
  if (s.front() == ' ' || s.back() == ' ') return true;
  // A plain loop: string_view::find_first_of calls memchr once per character.
  for (const char c : s) {
    if (c == ',' || c == '"' || c == '\r' || c == '\n') return true;
  }
  return false;
}

// Writes one record through a raw pointer into space reserved up front for the worst
// case, so that no field pays for a capacity check (this runs once per edge at up to
// 1M edges/s). `bound` must cover the record; see record_bound().
class Out {
 public:
  Out(FormatBuffer& b, std::size_t bound) : b_(b), old_(b.size()) {
    b_.resize(old_ + bound);
    p_ = b_.data() + old_;
  }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;
  ~Out() { b_.resize(static_cast<std::size_t>(p_ - b_.data())); }

  void put(char c) noexcept { *p_++ = c; }
  void put(std::string_view s) noexcept {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  template <typename Int>
  void integer(Int v) noexcept {
    const fmt::format_int f(v);
    put(std::string_view(f.data(), f.size()));
  }
  void real(double v) { p_ = fmt::format_to(p_, "{}", v); }

 private:
  FormatBuffer& b_;
  std::size_t old_;
  char* p_ = nullptr;
};

// Room for everything but text: 19 columns, JSON keys, numbers (<= 24 chars each).
constexpr std::size_t kFixedBound = 512;
// A text field escaped: CSV doubles quotes (2n + 2); JSON escapes a byte as at most
// six characters (\u00XX), and invalid UTF-8 becomes U+FFFD (3 bytes per byte).
constexpr std::size_t text_bound(std::string_view s) noexcept { return 6 * s.size() + 2; }

std::size_t record_bound(const EdgeEntry& e) noexcept {
  return kFixedBound + text_bound(e.device) + text_bound(e.line) + text_bound(e.chip);
}
std::size_t record_bound(const EventEntry& e) noexcept {
  return kFixedBound + text_bound(e.device) + text_bound(e.kind) + text_bound(e.unit);
}
std::size_t record_bound(const GapEntry& e) noexcept {
  return kFixedBound + text_bound(e.device) + text_bound(e.line) + text_bound(e.chip);
}
std::size_t record_bound(const TimeEntry&) noexcept { return kFixedBound; }
std::size_t record_bound(const MarkerEntry& e) noexcept {
  return kFixedBound + text_bound(e.version) + text_bound(e.info);
}

void put_csv_field(Out& out, std::string_view text) {
  if (!csv_needs_quotes(text)) {
    out.put(text);
    return;
  }
  out.put('"');
  for (const char c : text) {
    if (c == '"') out.put('"');
    out.put(c);
  }
  out.put('"');
}

void put_json_string(Out& out, std::string_view text) {
  if (json_plain(text)) {
    out.put('"');
    out.put(text);
    out.put('"');
    return;
  }
  // Rare (names with quotes, control characters or non-ASCII): let nlohmann-json escape.
  out.put(nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Emits the separators of a CSV row so that each field lands in its column.
class CsvRow {
 public:
  CsvRow(Out& out, std::string_view type) : out_(out) { out_.put(type); }

  void text(Col c, std::string_view s) {
    to(c);
    put_csv_field(out_, s);
  }
  template <typename Int>
  void integer(Col c, Int v) {
    to(c);
    out_.integer(v);
  }
  void value(Col c, const EventValue& v) {
    switch (v.kind()) {
      case EventValue::Kind::none: return;
      case EventValue::Kind::integer: integer(c, v.as_integer()); return;
      case EventValue::Kind::real: to(c); out_.real(v.as_real()); return;
    }
  }
  void finish() {
    to(static_cast<Col>(kNumCols - 1));
    out_.put('\n');
  }

 private:
  void to(Col c) {
    static constexpr std::string_view kCommas = ",,,,,,,,,,,,,,,,,,,,";
    static_assert(kCommas.size() >= kNumCols);
    out_.put(kCommas.substr(0, c - col_));
    col_ = c;
  }

  Out& out_;
  std::size_t col_ = 0;
};

// Writes `{"type":"X"` and then `,"key":value` pairs; key names are constants that need
// no escaping.
class JsonObject {
 public:
  JsonObject(Out& out, std::string_view type) : out_(out) {
    out_.put("{\"type\":\"");
    out_.put(type);
    out_.put('"');
  }

  void text(Col c, std::string_view s) {
    key(c);
    put_json_string(out_, s);
  }
  template <typename Int>
  void integer(Col c, Int v) {
    key(c);
    out_.integer(v);
  }
  void value(Col c, const EventValue& v) {
    switch (v.kind()) {
      case EventValue::Kind::none: return;
      case EventValue::Kind::integer: integer(c, v.as_integer()); return;
      case EventValue::Kind::real:
        key(c);
        if (std::isfinite(v.as_real())) {
          out_.real(v.as_real());
        } else {
          out_.put("null");
        }
        return;
    }
  }
  void finish() { out_.put("}\n"); }

 private:
  void key(Col c) {
    out_.put(",\"");
    out_.put(kCsvColumns[c]);
    out_.put("\":");
  }

  Out& out_;
};

// The record layouts, shared by both formats (Row is CsvRow or JsonObject). Empty text
// fields are left out, so that JSONL has no "device":"" noise and CSV leaves them empty.
template <typename Row>
void put_text(Row& row, Col c, std::string_view s) {
  if (!s.empty()) row.text(c, s);
}

template <typename Row>
void layout(Row& row, const EdgeEntry& e) {
  row.integer(kTs, e.ts_ns);
  put_text(row, kDevice, e.device);
  put_text(row, kLine, e.line);
  put_text(row, kChip, e.chip);
  row.integer(kOffset, e.offset);
  row.text(kEdge, to_string(e.edge));
  row.integer(kLineSeqno, e.line_seqno);
  row.integer(kSeqno, e.seqno);
}

template <typename Row>
void layout(Row& row, const EventEntry& e) {
  row.integer(kTs, e.ts_ns);
  put_text(row, kDevice, e.device);
  put_text(row, kKind, e.kind);
  row.value(kValue, e.value);
  row.value(kValue2, e.value2);
  put_text(row, kUnit, e.unit);
}

template <typename Row>
void layout(Row& row, const GapEntry& e) {
  row.integer(kTs, e.ts_ns);
  put_text(row, kDevice, e.device);
  put_text(row, kLine, e.line);
  put_text(row, kChip, e.chip);
  if (e.offset) row.integer(kOffset, *e.offset);
  row.text(kKind, to_string(e.reason));
  row.text(kUnit, to_string(e.unit));
  row.integer(kLost, e.lost);
  if (e.from) row.integer(kFrom, *e.from);
  row.integer(kTo, e.to);
}

template <typename Row>
void layout(Row& row, const TimeEntry& e) {
  row.integer(kTs, e.monotonic_ns);
  row.integer(kRealtime, e.realtime_ns);
}

template <typename Row>
void layout(Row& row, const MarkerEntry& e) {
  row.integer(kTs, e.monotonic_ns);
  row.integer(kRealtime, e.realtime_ns);
  put_text(row, kVersion, e.version);
  put_text(row, kInfo, e.info);
}

std::string_view type_name(const EdgeEntry&) noexcept { return "EDGE"; }
std::string_view type_name(const EventEntry&) noexcept { return "EVENT"; }
std::string_view type_name(const GapEntry&) noexcept { return "GAP"; }
std::string_view type_name(const TimeEntry&) noexcept { return "TIME"; }
std::string_view type_name(const MarkerEntry& e) noexcept { return to_string(e.type); }

template <typename Entry>
void format_any(config::LogFormat format, const Entry& e, FormatBuffer& buffer) {
  Out out(buffer, record_bound(e));
  if (format == config::LogFormat::csv) {
    CsvRow row(out, type_name(e));
    layout(row, e);
    row.finish();
  } else {
    JsonObject obj(out, type_name(e));
    layout(obj, e);
    obj.finish();
  }
}

std::string make_csv_header() {
  std::string h;
  for (std::size_t i = 0; i < kCsvColumns.size(); ++i) {
    if (i > 0) h += ',';
    h += kCsvColumns[i];
  }
  h += '\n';
  return h;
}

}  // namespace

std::string_view csv_header() noexcept {
  static const std::string header = make_csv_header();
  return header;
}

void format_record(config::LogFormat f, const EdgeEntry& e, FormatBuffer& out) { format_any(f, e, out); }
void format_record(config::LogFormat f, const EventEntry& e, FormatBuffer& out) { format_any(f, e, out); }
void format_record(config::LogFormat f, const GapEntry& e, FormatBuffer& out) { format_any(f, e, out); }
void format_record(config::LogFormat f, const TimeEntry& e, FormatBuffer& out) { format_any(f, e, out); }
void format_record(config::LogFormat f, const MarkerEntry& e, FormatBuffer& out) { format_any(f, e, out); }

void append_csv_field(FormatBuffer& buffer, std::string_view text) {
  Out out(buffer, text_bound(text));
  put_csv_field(out, text);
}

void append_json_string(FormatBuffer& buffer, std::string_view text) {
  Out out(buffer, text_bound(text));
  put_json_string(out, text);
}

}  // namespace gpioirq::sinks
