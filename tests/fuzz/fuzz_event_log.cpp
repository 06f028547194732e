// Fuzz target: the event log's reader, the part of lib/sinks that reads an existing event
// log back: EventLog::open() on a file a previous run (or a crash, or someone else) left,
// which decides whether the file is ours and in our format, cuts a partial last line and
// appends, or rotates the file away (AppendFile::open + EventLog::inspect_existing).
//
// Input: byte 0 chooses the format (even: CSV, odd: JSON Lines); the rest is the file's
// content before the daemon starts. The daemon then opens the log, writes one EDGE record
// and closes it. Whatever the old content, this must hold:
//  - nothing of the old file is lost but a partial last record: either the whole old file
//    is kept as events.*.1 (rotated away), or the new file begins with the old content up
//    to its last record boundary, exactly: in JSON Lines the last '\n'; in CSV the last
//    line break outside a quoted field (RFC 4180: a quoted field may hold line breaks, and
//    the writer quotes a field with '\n' in it, e.g. a config path in a START record);
//  - the new file is readable: a CSV file begins with the header line and, when the old
//    records were whole CSV rows of our columns, read as RFC 4180 by a reader independent
//    of the writer (tests/support/csv_parse.hpp), it ends with our EDGE row whole; in JSON
//    Lines the line written is the last line and parses as our EDGE record.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "loop/event_loop.hpp"
#include "sinks/event_log.hpp"
#include "sinks/record_format.hpp"
#include "sinks/rotation.hpp"
#include "support/csv_parse.hpp"

using gpioirq_fuzz::check;
using namespace gpioirq;
using namespace gpioirq::sinks;

namespace {

constexpr std::uint64_t kSeqno = 4242;

EdgeEntry our_edge() {
  EdgeEntry e;
  e.ts_ns = 1'000'000;
  e.device = "knob";
  e.line = "a";
  e.chip = "sim0";
  e.offset = 3;
  e.edge = EdgeDirection::rising;
  e.line_seqno = 7;
  e.seqno = kSeqno;
  return e;
}

loop::EventLoop& event_loop() {
  static const auto loop = std::make_unique<loop::EventLoop>(64);
  return *loop;
}

// Where the last complete record of `s` ends: after its last line break, in CSV only one
// outside quotes (a '"' toggles the quoted state; a doubled quote toggles it twice).
std::size_t record_boundary(std::string_view s, bool csv) {
  bool quoted = false;
  std::size_t end = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (csv && s[i] == '"') quoted = !quoted;
    if (s[i] == '\n' && !quoted) end = i + 1;
  }
  return end;
}

std::size_t csv_columns() {
  return gpioirq_test::parse_csv(csv_header()).front().size();
}

// The old records are whole rows of our columns, beginning with the header, and a reader
// is at the start of a record after them: what a crash of our own writer leaves.
bool whole_csv_rows(std::string_view records) {
  const auto rows = gpioirq_test::parse_csv(records);
  if (rows.empty() || rows.front() != gpioirq_test::parse_csv(csv_header()).front()) return false;
  for (const auto& row : rows)
    if (row.size() != csv_columns()) return false;
  const auto probe = gpioirq_test::parse_csv(std::string(records) + "x\n");
  return probe.size() == rows.size() + 1 && probe.back() == gpioirq_test::CsvRow{"x"};
}

void check_csv(const std::string& after, bool old_rows_whole) {
  const std::string_view header = csv_header();
  check(after.compare(0, header.size(), header) == 0, "the CSV file does not begin with the header",
        after);
  if (!old_rows_whole) return;
  const auto rows = gpioirq_test::parse_csv(after);
  check(!rows.empty(), "no rows in the CSV file");
  const auto& last = rows.back();
  check(last.size() == csv_columns() && last[0] == "EDGE" && last[9] == std::to_string(kSeqno),
        "the EDGE row written is not the CSV file's last whole row", after);
}

void check_jsonl(const std::string& after) {
  check(!after.empty() && after.back() == '\n', "the JSON Lines file does not end a line", after);
  const auto start = after.rfind('\n', after.size() - 2);
  const std::string last = after.substr(start == std::string::npos ? 0 : start + 1);
  const auto j = nlohmann::json::parse(last, nullptr, false);
  check(!j.is_discarded() && j.is_object() && j.value("type", "") == "EDGE" &&
            j.value("seqno", std::uint64_t{0}) == kSeqno,
        "the EDGE record written is not the JSON Lines file's last line", after);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool csv = (data[0] & 1) == 0;
  const std::string before(reinterpret_cast<const char*>(data) + 1, size - 1);

  gpioirq_fuzz::empty_scratch_dir();
  EventLogOptions o;
  o.format = csv ? config::LogFormat::csv : config::LogFormat::jsonl;
  o.path = gpioirq_fuzz::scratch_dir().file(csv ? "events.csv" : "events.jsonl");
  o.buffer_bytes = 4096;
  o.max_buffer_bytes = 4096;
  o.time_sync_interval_ms = 0;
  o.rotate_size_bytes = 0;  // the size rule is not what is tried here
  o.version = "fuzz";
  if (!before.empty()) gpioirq_fuzz::write_file(o.path, before);

  EventLogStatus status;
  {
    EventLog log(event_loop(), o);
    check(log.open() == 0, "EventLog::open failed");
    check(log.edge(our_edge()), "EventLog refused the EDGE record");
    status = log.status();
    check(log.close() == 0, "EventLog::close failed");
  }

  std::string after, rotated;
  check(gpioirq_fuzz::read_file(o.path, after), "no event log after close");
  const bool was_rotated = gpioirq_fuzz::read_file(rotated_path(o.path, 1), rotated);
  check(was_rotated == status.file.rotated_away_at_open, "a rotation not reported in status");
  if (was_rotated) {
    check(rotated == before, "the file rotated away is not the old file");
    check(status.file.cut_bytes == 0, "bytes cut from a file that was rotated away");
  } else {
    check(status.file.cut_bytes <= before.size(), "more bytes cut than there were");
    const std::size_t kept = before.size() - status.file.cut_bytes;
    check(after.compare(0, kept, before, 0, kept) == 0, "the kept part of the old file changed");
    check(kept == record_boundary(before, csv),
          "the old file was not cut at its last record boundary", before);
  }
  if (csv) {
    // A file rotated away or cut to nothing is begun afresh.
    const std::size_t boundary = record_boundary(before, true);
    const bool old_rows_whole = was_rotated || boundary == 0 ||
                                whole_csv_rows(std::string_view(before).substr(0, boundary));
    check_csv(after, old_rows_whole);
  } else {
    check_jsonl(after);
  }
  return 0;
}
