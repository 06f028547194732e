// Log files against what can happen to them from outside: links planted at their names,
// an unsafe log directory, logrotate moving them (then a reopen), deletion, and
// truncation underneath (copytruncate). Real files in a temporary directory.

#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "loop_helpers.hpp"
#include "sinks/append_file.hpp"
#include "sinks/event_log.hpp"
#include "sinks/log_dir.hpp"
#include "sinks/rotation.hpp"
#include "support/csv_parse.hpp"
#include "temp_dir.hpp"

using namespace gpioirq;
using namespace gpioirq::sinks;
using sinks_test::read_file;
using sinks_test::run_until;
using sinks_test::write_file;

namespace fs = std::filesystem;

namespace {

std::string record(int i) {
  std::string s = "record " + std::to_string(i);
  s.resize(31, '.');
  return s + "\n";  // 32 bytes
}

std::string records(int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += record(i);
  return s;
}

void append_records(AppendFile& f, int from, int to) {
  for (int i = from; i < to; ++i) REQUIRE(f.append(record(i)));
}

bool drained(const AppendFile& f) {
  return f.status().buffered_bytes == 0;
}

bool is_symlink(const std::string& path) {
  return fs::is_symlink(fs::symlink_status(path));
}

AppendFileOptions options_in(const sinks_test::TempDir& dir) {
  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 4096;
  o.sync_interval_ms = 20;
  return o;
}

}  // namespace

TEST_CASE("A symbolic link at the log name is refused, never written through", "[files][links]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const std::string target = dir.file("elsewhere");
  write_file(target, "precious\n");
  AppendFileOptions o = options_in(dir);
  fs::create_symlink(target, o.path);

  AppendFile f(*loop, o);
  CHECK(f.open() == -ELOOP);
  CHECK_FALSE(f.append(record(0)));
  f.close();
  CHECK(read_file(target) == "precious\n");
  CHECK(is_symlink(o.path));
  CHECK(open_error_text(-ELOOP).find("symbolic link") != std::string::npos);

  // A dangling link (to a file that does not exist yet) does not create that file either.
  const std::string dangling = dir.file("events.csv");
  fs::create_symlink(dir.file("created-through-link"), dangling);
  EventLogOptions eo;
  eo.path = dangling;
  EventLog log(*loop, eo);
  CHECK(log.open() == -ELOOP);
  CHECK_FALSE(fs::exists(dir.file("created-through-link")));
}

TEST_CASE("A file with another hard link at the log name is refused", "[files][links]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const std::string target = dir.file("elsewhere");
  write_file(target, "precious\n");
  AppendFileOptions o = options_in(dir);
  REQUIRE(::link(target.c_str(), o.path.c_str()) == 0);
  AppendFile f(*loop, o);
  CHECK(f.open() == -EMLINK);
  CHECK(read_file(target) == "precious\n");
}

TEST_CASE("A symbolic link at a rotated name is replaced by the rotation, never written through",
          "[files][links][rotate]") {
  // rename(2) replaces a link at the new name instead of following it, and nothing is
  // ever opened at a rotated name. (A guard: this held before O_NOFOLLOW too.)
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const std::string target = dir.file("elsewhere");
  write_file(target, "precious\n");
  AppendFileOptions o = options_in(dir);
  o.rotate_size_bytes = 320;  // 10 records a file
  o.rotate_keep = 2;
  fs::create_symlink(target, rotated_path(o.path, 1));
  fs::create_symlink(target, rotated_path(o.path, 2));
  fs::create_symlink(target, rotated_path(o.path, 3));  // beyond keep: removed

  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);
  for (int i = 0; i < 30; ++i) {
    REQUIRE(f.append(record(i)));
    f.flush();
    REQUIRE(run_until(*loop, [&] { return drained(f); }));
  }
  REQUIRE(f.close() == 0);
  CHECK(f.status().rotations >= 2);
  CHECK(read_file(target) == "precious\n");
  for (std::uint32_t n = 0; n <= 2; ++n) {
    INFO(rotated_path(o.path, n));
    CHECK_FALSE(is_symlink(rotated_path(o.path, n)));
  }
  CHECK_FALSE(fs::exists(fs::symlink_status(rotated_path(o.path, 3))));
  CHECK(read_file(rotated_path(o.path, 2)) + read_file(rotated_path(o.path, 1)) +
            read_file(o.path) ==
        records(0, 30));  // three files of ten records: all kept
}

TEST_CASE(
    "reopen after a move: the old file has every record up to the reopen, the new one the rest",
    "[files][reopen]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o = options_in(dir);
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  append_records(f, 0, 50);
  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));
  CHECK(f.reopen() == 0);  // nothing moved: nothing to do
  CHECK(f.status().reopens == 0);

  append_records(f, 50, 100);
  f.flush();  // a write may be in flight when the file is moved and reopened
  const std::string moved = dir.file("log.moved");
  fs::rename(o.path, moved);
  CHECK_FALSE(f.file_at_path());
  append_records(f, 100, 120);  // buffered, not written yet: still the old file's
  CHECK(f.reopen() == 1);
  CHECK(f.file_at_path());
  append_records(f, 120, 150);
  REQUIRE(f.close() == 0);

  CHECK(read_file(moved) == records(0, 120));
  CHECK(read_file(o.path) == records(120, 150));
  CHECK(f.status().reopens == 1);
  CHECK(f.status().refused == 0);
}

TEST_CASE("A deleted file is found and reopened; what was buffered goes to the new file",
          "[files][reopen]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o = options_in(dir);
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);
  append_records(f, 0, 20);
  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));

  REQUIRE(::unlink(o.path.c_str()) == 0);
  CHECK_FALSE(f.file_at_path());
  append_records(f, 20, 40);  // buffered: must not go into the deleted file
  CHECK(f.reopen() == 1);
  append_records(f, 40, 60);
  REQUIRE(f.close() == 0);
  CHECK(read_file(o.path) == records(20, 60));

  // Deleted and made again by someone else: still not our file.
  AppendFile g(*loop, options_in(dir));
  REQUIRE(g.open() == 0);
  REQUIRE(::unlink(o.path.c_str()) == 0);
  write_file(o.path, "");
  CHECK_FALSE(g.file_at_path());
}

TEST_CASE("A link planted where a moved file was: reopen refuses it, records wait, then land",
          "[files][reopen][links]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  const std::string target = dir.file("elsewhere");
  write_file(target, "precious\n");
  AppendFileOptions o = options_in(dir);
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);
  append_records(f, 0, 10);
  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));

  fs::rename(o.path, dir.file("log.1"));
  fs::create_symlink(target, o.path);
  CHECK_FALSE(f.file_at_path());
  CHECK(f.reopen() == -ELOOP);
  CHECK_FALSE(f.status().healthy);
  append_records(f, 10, 20);  // kept in memory while no file can be opened
  run_until(
      *loop, [] { return false; }, 100);  // ticks retry the open, and fail
  CHECK(read_file(target) == "precious\n");

  fs::remove(o.path);  // the user removes the link: the next tick opens a real file
  REQUIRE(run_until(*loop, [&] { return drained(f) && f.status().healthy; }));
  REQUIRE(f.close() == 0);
  CHECK(read_file(dir.file("log.1")) == records(0, 10));
  CHECK(read_file(o.path) == records(10, 20));
  CHECK(read_file(target) == "precious\n");
}

TEST_CASE("Truncated underneath (copytruncate): writes continue at the new end, no NUL bytes",
          "[files][truncate]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o = options_in(dir);
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);
  append_records(f, 0, 100);
  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));

  REQUIRE(::truncate(o.path.c_str(), 0) == 0);
  append_records(f, 100, 110);
  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));
  // And once more while a write may be in flight.
  append_records(f, 110, 120);
  f.flush();
  REQUIRE(::truncate(o.path.c_str(), 0) == 0);
  append_records(f, 120, 130);
  REQUIRE(f.close() == 0);

  const std::string text = read_file(o.path);
  CHECK(text.find('\0') == std::string::npos);
  CHECK(text.size() <= records(110, 130).size());
  CHECK(text.ends_with(records(120, 130)));
  CHECK(f.status().truncations >= 1);
}

TEST_CASE("An event log truncated underneath starts again with its header and a TIME record",
          "[files][truncate][eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  EventLogOptions o;
  o.path = dir.file("events.csv");
  o.sync_interval_ms = 20;
  o.time_sync_interval_ms = 0;
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  REQUIRE(log.marker(MarkerType::start));
  log.flush();
  REQUIRE(run_until(*loop, [&] { return log.status().file.buffered_bytes == 0; }));

  REQUIRE(::truncate(o.path.c_str(), 0) == 0);
  REQUIRE(log.event(EventEntry{5, "knob", "position", EventValue::integer(1), EventValue(), ""}));
  REQUIRE(log.close() == 0);

  const std::string text = read_file(o.path);
  CHECK(text.find('\0') == std::string::npos);
  CHECK(text.starts_with(csv_header()));
  const auto rows = gpioirq_test::parse_csv(text);
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "TIME");
  CHECK(rows[2][0] == "EVENT");
  CHECK(log.status().file.truncations == 1);
}

TEST_CASE("EventLog reopen: the new file starts with header, TIME and a REOPEN marker",
          "[files][reopen][eventlog]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  EventLogOptions o;
  o.path = dir.file("events.csv");
  o.time_sync_interval_ms = 0;
  EventLog log(*loop, o);
  REQUIRE(log.open() == 0);
  REQUIRE(log.event(EventEntry{5, "knob", "position", EventValue::integer(1), EventValue(), ""}));
  fs::rename(o.path, dir.file("events.csv.1"));
  CHECK(log.reopen("reopened events.csv (test)") == 1);
  REQUIRE(log.event(EventEntry{6, "knob", "position", EventValue::integer(2), EventValue(), ""}));
  REQUIRE(log.close() == 0);

  const auto old_rows = gpioirq_test::parse_csv(read_file(dir.file("events.csv.1")));
  REQUIRE(old_rows.size() == 2);
  CHECK(old_rows[1][11] == "1");
  const auto rows = gpioirq_test::parse_csv(read_file(o.path));
  REQUIRE(rows.size() == 5);
  CHECK(rows[1][0] == "TIME");
  CHECK(rows[2][0] == "REOPEN");
  CHECK(rows[2][18] == "reopened events.csv (test)");
  CHECK(rows[3][0] == "TIME");
  CHECK(rows[4][11] == "2");
}

TEST_CASE("A log_dir another user can write is refused with a sentence that says how to fix it",
          "[files][logdir]") {
  sinks_test::TempDir dir;
  const std::string logs = dir.file("logs");

  // Made by the daemon: never group/other-writable, whatever the umask.
  const mode_t old_umask = ::umask(0);
  const std::string made = prepare_log_dir(logs);
  ::umask(old_umask);
  CHECK(made.empty());
  struct stat st {};
  REQUIRE(::stat(logs.c_str(), &st) == 0);
  CHECK((st.st_mode & (S_IWGRP | S_IWOTH)) == 0);

  REQUIRE(::chmod(logs.c_str(), 0777) == 0);
  const std::string world = prepare_log_dir(logs);
  CHECK(world.find("is writable by others (mode 0777)") != std::string::npos);
  CHECK(world.find("chmod go-w " + logs) != std::string::npos);

  REQUIRE(::chmod(logs.c_str(), 0775) == 0);
  CHECK(prepare_log_dir(logs).find("is writable by its group (mode 0775)") != std::string::npos);

  // Sticky and ours (like /tmp, but ours): others can add names, not replace ours.
  REQUIRE(::chmod(logs.c_str(), 01777) == 0);
  CHECK(prepare_log_dir(logs).empty());

  REQUIRE(::chmod(logs.c_str(), 0755) == 0);
  CHECK(prepare_log_dir(logs).empty());

  const std::string file = dir.file("a-file");
  write_file(file, "x");
  CHECK(prepare_log_dir(file).find("is not a directory") != std::string::npos);

  if (::geteuid() == 0) {
    // Owned by another (non-root) user: that user can always make it writable again.
    REQUIRE(::chown(logs.c_str(), 65534, 65534) == 0);
    CHECK(prepare_log_dir(logs).find("belongs to user 65534") != std::string::npos);
    REQUIRE(::chmod(logs.c_str(), 01777) == 0);  // sticky, but not ours
    CHECK_FALSE(prepare_log_dir(logs).empty());
  }
}

TEST_CASE("share_log_dir lets the socket group read the logs, old and new, without writing",
          "[files][logdir]") {
  if (::geteuid() != 0) SKIP("needs root: gives files to a group this user is not in");
  sinks_test::TempDir dir;
  const std::string logs = dir.file("logs");
  REQUIRE(prepare_log_dir(logs).empty());
  REQUIRE(::chmod(logs.c_str(), 0700) == 0);
  const std::string old_file = logs + "/events.csv-20261129";  // rotated by logrotate
  write_file(old_file, "old");
  const std::string outside = dir.file("outside");
  write_file(outside, "not ours to change");
  REQUIRE(::symlink(outside.c_str(), (logs + "/link").c_str()) == 0);

  constexpr gid_t kGroup = 4242;
  CHECK(share_log_dir(logs, kGroup).empty());
  struct stat st {};
  REQUIRE(::stat(logs.c_str(), &st) == 0);
  CHECK(st.st_gid == kGroup);
  CHECK((st.st_mode & 07777) == 0750);
  CHECK(prepare_log_dir(logs).empty());  // still fit for logs: not group-writable
  REQUIRE(::stat(old_file.c_str(), &st) == 0);
  CHECK(st.st_gid == kGroup);
  REQUIRE(::stat(outside.c_str(), &st) == 0);
  CHECK(st.st_gid != kGroup);  // a link in the directory is not followed
  // A log file made later (a first open, a rotation) takes the directory's group.
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = logs + "/events.csv";
  o.rotate_size_bytes = 64;
  o.rotate_keep = 2;
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);
  append_records(f, 0, 4);  // 128 bytes, past the rotation size: the next write rotates
  REQUIRE(sinks_test::run_until(*loop, [&] { return drained(f); }));
  append_records(f, 4, 5);
  REQUIRE(sinks_test::run_until(*loop, [&] { return drained(f); }));
  f.close();
  for (const std::string& made : {o.path, o.path + ".1"}) {
    REQUIRE(::stat(made.c_str(), &st) == 0);
    CHECK(st.st_gid == kGroup);
    CHECK((st.st_mode & 07777) == 0640);
  }

  // Another user's directory is not changed, and the sentence says what to do.
  REQUIRE(::chown(logs.c_str(), 65534, 0) == 0);
  const std::string foreign = share_log_dir(logs, kGroup);
  CHECK(foreign.find("belongs to user 65534") != std::string::npos);
  CHECK(foreign.find("chgrp 4242 " + logs) != std::string::npos);
  REQUIRE(::stat(logs.c_str(), &st) == 0);
  CHECK(st.st_gid == 0);
}
