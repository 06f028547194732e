#include <catch2/catch_test_macros.hpp>

#include <sys/resource.h>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "loop/timer.hpp"
#include "loop_helpers.hpp"
#include "sinks/append_file.hpp"
#include "sinks/rotation.hpp"
#include "temp_dir.hpp"

using namespace gpioirq;
using namespace gpioirq::sinks;
using sinks_test::read_file;
using sinks_test::run_until;

namespace {

std::string record(int i) {
  std::string s = "record " + std::to_string(i);
  s.resize(31, '.');
  return s + "\n";  // 32 bytes
}

bool drained(const AppendFile& f) { return f.status().buffered_bytes == 0; }

}  // namespace

TEST_CASE("Appends are batched into few writes and land in order", "[append]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 1 << 20;
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  std::string expected;
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(f.append(record(i)));
    expected += record(i);
  }
  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));
  CHECK(read_file(o.path) == expected);
  CHECK(f.status().writes <= 4);  // 320 kB in 1 MiB buffers: one or two writes, not 10000
  CHECK(f.status().appends == 10000);
  CHECK(f.status().refused == 0);
  CHECK(f.status().file_bytes == expected.size());
}

TEST_CASE("A full buffer refuses records, counts them, and memory stays bounded", "[append]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 1024;  // 32 records per buffer
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  // Without running the loop no write can complete: the first half buffer (16 records)
  // is being written, the other buffer fills (32), then everything else is refused.
  std::string expected;
  int accepted = 0;
  for (int i = 0; i < 200; ++i) {
    if (f.append(record(i))) {
      expected += record(i);
      ++accepted;
    }
    CHECK(f.status().buffered_bytes <= f.status().buffer_limit);
  }
  CHECK(accepted == 48);
  CHECK(f.status().refused == 152);
  CHECK(f.status().refused_bytes == 152 * 32);
  CHECK(f.status().buffer_limit == 2048);
  CHECK_FALSE(f.append(std::string(2000, 'x')));  // larger than a buffer: never fits

  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));
  CHECK(read_file(o.path) == expected);
  REQUIRE(f.append(record(1000)));  // room again
}

TEST_CASE("While a write lags, the buffer grows up to its cap instead of losing records", "[append]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 1024;       // 32 records; a write starts at 16
  o.max_buffer_bytes = 4096;   // the buffer being filled may grow to 128 records
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  // The loop does not run, so the first write (16 records) cannot complete: the other
  // buffer grows 1024 -> 2048 -> 4096 bytes and takes 128 records, then refusals start.
  std::string expected;
  int accepted = 0;
  for (int i = 0; i < 300; ++i) {
    if (f.append(record(i))) {
      expected += record(i);
      ++accepted;
    }
    CHECK(f.status().buffered_bytes <= f.status().buffer_limit);
  }
  CHECK(accepted == 16 + 128);
  CHECK(f.status().refused == 300 - 144);
  CHECK(f.status().buffer_grows == 2);
  CHECK(f.status().buffer_limit == 8192);
  CHECK(f.status().buffer_memory >= 1024 + 4096);
  CHECK_FALSE(f.append(std::string(5000, 'x')));  // larger than the cap: never fits

  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));
  CHECK(read_file(o.path) == expected);

  // Once writes keep up, a quiet log does not grow further: 20 small batches, each
  // flushed and written before the next.
  const auto grows = f.status().buffer_grows;
  for (int batch = 0; batch < 20; ++batch) {
    for (int i = 0; i < 10; ++i) {
      REQUIRE(f.append(record(1000 + batch * 10 + i)));
      expected += record(1000 + batch * 10 + i);
    }
    f.flush();
    REQUIRE(run_until(*loop, [&] { return drained(f); }));
  }
  CHECK(f.status().buffer_grows == grows);
  CHECK(read_file(o.path) == expected);
}

TEST_CASE("Writeback is started every few MiB written, and the file stays exact", "[append]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 1 << 20;
  o.max_buffer_bytes = 1 << 20;
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  // 12 MiB in 32-byte records, the loop running between batches: at least two 4 MiB
  // writeback starts (one at a time), every byte in order.
  std::string expected;
  expected.reserve(12 << 20);
  int i = 0;
  while (expected.size() < (12u << 20)) {
    for (int k = 0; k < 8192; ++k, ++i) {
      REQUIRE(f.append(record(i)));
      expected += record(i);
    }
    f.flush();
    REQUIRE(run_until(*loop, [&] { return drained(f); }));
  }
  REQUIRE(run_until(*loop, [&] { return f.status().writebacks >= 2; }));
  CHECK(f.status().writebacks <= 3);
  CHECK(f.status().write_errors == 0);
  CHECK(read_file(o.path) == expected);
}

TEST_CASE("fdatasync runs on the interval, and only when something was written", "[append]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  o.sync_interval_ms = 20;
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  // No flush(): the tick alone writes the data and then syncs it.
  REQUIRE(f.append(record(1)));
  REQUIRE(run_until(*loop, [&] { return f.status().syncs >= 1; }));
  CHECK(read_file(o.path) == record(1));
  CHECK(f.status().sync_errors == 0);

  REQUIRE(f.append(record(2)));
  REQUIRE(run_until(*loop, [&] { return f.status().syncs >= 2; }));
  CHECK(read_file(o.path) == record(1) + record(2));

  // Five idle intervals: nothing new written, so no fdatasync.
  const auto syncs = f.status().syncs;
  bool waited = false;
  loop::Timer idle(*loop, [&] { waited = true; });
  idle.start_once(5 * 20'000'000ull);
  REQUIRE(run_until(*loop, [&] { return waited; }));
  CHECK(f.status().syncs == syncs);
}

TEST_CASE("close() writes and syncs everything without running the loop", "[append]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 256;  // several buffers' worth below, one write in flight
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);
  std::string expected;
  for (int i = 0; i < 12; ++i) {
    if (f.append(record(i))) expected += record(i);
  }
  f.flush();  // a write is in flight when close() withdraws it and finishes by pwrite
  REQUIRE(f.close() == 0);
  CHECK(read_file(o.path) == expected);
  CHECK(f.status().syncs == 1);
  CHECK_FALSE(f.append(record(99)));
}

TEST_CASE("An existing file is continued, not truncated", "[append]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  sinks_test::write_file(o.path, "old\n");
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);
  REQUIRE(f.append("new\n"));
  REQUIRE(f.close() == 0);
  CHECK(read_file(o.path) == "old\nnew\n");
}

TEST_CASE("Rotation keeps exactly N files; no record is split, lost or duplicated", "[append][rotate]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 256;
  o.rotate_size_bytes = 1000;
  o.rotate_keep = 3;
  // A file left from an earlier, larger retention count is removed by the first rotation.
  sinks_test::write_file(rotated_path(o.path, 4), "stale\n");
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  const int total = 120;  // 3840 bytes: 4+ files of <= 1000 bytes, some rotated out
  int next = 0;
  while (next < total) {
    if (f.append(record(next))) {
      ++next;
    } else {
      f.flush();
      loop->run_once(20);
    }
  }
  f.flush();
  REQUIRE(run_until(*loop, [&] { return drained(f); }));
  REQUIRE(f.close() == 0);

  CHECK(std::filesystem::exists(o.path));
  for (std::uint32_t n = 1; n <= 3; ++n) CHECK(std::filesystem::exists(rotated_path(o.path, n)));
  CHECK_FALSE(std::filesystem::exists(rotated_path(o.path, 4)));
  CHECK(f.status().rotations >= 3);

  // Oldest to newest, the kept files hold a contiguous run of records ending with the last.
  std::string all;
  for (std::uint32_t n = 3; n >= 1; --n) {
    const std::string part = read_file(rotated_path(o.path, n));
    CHECK(part.size() <= 1000);
    CHECK(part.size() % 32 == 0);  // whole records only
    all += part;
  }
  all += read_file(o.path);
  REQUIRE(all.size() % 32 == 0);
  const int first = total - static_cast<int>(all.size() / 32);
  std::string expected;
  for (int i = first; i < total; ++i) expected += record(i);
  CHECK(all == expected);
}

TEST_CASE("A failing disk costs records, not memory; the writer recovers without duplicates",
          "[append][errors]") {
  sinks_test::TempDir dir;
  auto loop = sinks_test::make_loop();
  // RLIMIT_FSIZE makes the kernel fail writes past a size: first a short write up to the
  // limit, then EFBIG, like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  rlimit lim = old;
  lim.rlim_cur = 1000;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);

  AppendFileOptions o;
  o.path = dir.file("log");
  o.buffer_bytes = 4096;
  o.sync_interval_ms = 20;  // the tick that retries
  AppendFile f(*loop, o);
  REQUIRE(f.open() == 0);

  std::string expected;
  for (int i = 0; i < 100; ++i) {  // 3200 bytes, more than the limit allows
    REQUIRE(f.append(record(i)));
    expected += record(i);
  }
  f.flush();
  const bool failed = run_until(*loop, [&] { return f.status().write_errors >= 1; });
  const AppendFileStatus during = f.status();
  // Let the disk "recover" before checking anything, whatever happened.
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &old) == 0);
  REQUIRE(failed);
  CHECK(during.short_writes >= 1);
  CHECK(during.file_bytes == 1000);
  CHECK_FALSE(during.healthy);
  CHECK(during.last_error == EFBIG);

  // Meanwhile appends continue until the bound, then are refused and counted.
  int refused = 0;
  for (int i = 100; i < 400; ++i) {
    if (f.append(record(i))) {
      expected += record(i);
    } else {
      ++refused;
    }
  }
  CHECK(refused > 0);
  CHECK(f.status().buffered_bytes <= f.status().buffer_limit);

  // The next tick retries at the same offset; everything accepted arrives exactly once.
  REQUIRE(run_until(*loop, [&] { return drained(f) && f.status().healthy; }));
  REQUIRE(f.close() == 0);
  CHECK(read_file(o.path) == expected);
}
