#include "mqtt/spool.hpp"

#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

using gpioirq::mqtt::Spool;
using gpioirq::mqtt::SpoolEntry;

namespace {

// What one entry takes on disk: frame header 8, fixed body 21, topic, payload.
std::size_t frame_bytes(const std::string& topic, const std::string& payload) {
  return 8 + 21 + topic.size() + payload.size();
}

std::string payload_of(std::uint64_t i) {
  return "{\"seq\":" + std::to_string(i) + "}";
}

}  // namespace

TEST_CASE("crc32 is the IEEE CRC-32 (check value of \"123456789\")", "[mqtt][spool]") {
  CHECK(gpioirq::mqtt::crc32("123456789") == 0xCBF43926U);
  CHECK(gpioirq::mqtt::crc32("") == 0U);
}

TEST_CASE("spool keeps entries in order, across a reopen", "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  {
    Spool spool(dir.path(), 1 << 20);
    CHECK(spool.empty());
    for (std::uint64_t i = 1; i <= 200; ++i) {
      const std::string topic = i % 2 == 0 ? "gpioirq/h/a/events" : "gpioirq/h/b/events";
      CHECK(spool.append(topic, payload_of(i), static_cast<std::uint8_t>(i % 3), i % 5 == 0, i) ==
            i);
    }
    spool.sync();
  }
  Spool spool(dir.path(), 1 << 20);
  REQUIRE(spool.entries().size() == 200);
  std::uint64_t i = 1;
  for (const SpoolEntry& e : spool.entries()) {
    CHECK(e.id == i);
    CHECK(e.sequence == i);
    CHECK(e.topic == (i % 2 == 0 ? "gpioirq/h/a/events" : "gpioirq/h/b/events"));
    CHECK(e.payload == payload_of(i));
    CHECK(e.qos == i % 3);
    CHECK(e.retain == (i % 5 == 0));
    ++i;
  }
  CHECK(spool.torn_records() == 0);
  CHECK(spool.dropped() == 0);
  // Ids go on after the last one, never reused.
  CHECK(spool.append("t", "p", 1, false, 1) == 201);
}

TEST_CASE("spool past its cap drops the oldest and counts exactly how many", "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  const std::string topic = "gpioirq/h/water/events";
  const std::string payload(100, 'x');
  const std::size_t each = frame_bytes(topic, payload);
  const std::size_t cap = 4096;
  const std::size_t fit = cap / each;
  const std::uint64_t total = 1000;
  {
    Spool spool(dir.path(), cap);
    for (std::uint64_t i = 1; i <= total; ++i) spool.append(topic, payload, 1, false, i);
    CHECK(spool.dropped() == total - fit);
    REQUIRE(spool.entries().size() == fit);
    CHECK(spool.entries().front().sequence == total - fit + 1);
    CHECK(spool.entries().back().sequence == total);
    CHECK(spool.live_bytes() == fit * each);
    CHECK(spool.live_bytes() <= cap);
    // Trimmed records are compacted away: the file stays within about twice the cap.
    CHECK(spool.file_bytes() <= 2 * cap + each + 64);
  }
  Spool spool(dir.path(), cap);
  CHECK(spool.dropped() == total - fit);
  REQUIRE(spool.entries().size() == fit);
  CHECK(spool.entries().front().sequence == total - fit + 1);
  CHECK(spool.torn_records() == 0);

  SECTION("a smaller cap at reopen drops more, counted") {
    Spool smaller(dir.path(), cap / 2);  // the one above is still open: same file, no writes
    CHECK(smaller.entries().size() == (cap / 2) / each);
    CHECK(smaller.dropped() == total - (cap / 2) / each);
  }
  SECTION("an entry bigger than the cap is refused, nothing dropped for it") {
    CHECK_THROWS_AS(spool.append(topic, std::string(cap, 'y'), 1, false, 0), std::invalid_argument);
    CHECK(spool.dropped() == total - fit);
    CHECK(spool.entries().size() == fit);
  }
}

TEST_CASE("spool detects a torn tail, drops it, counts it, and goes on", "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  const std::string topic = "gpioirq/h/button/events";
  {
    Spool spool(dir.path(), 1 << 16);
    for (std::uint64_t i = 1; i <= 10; ++i) spool.append(topic, payload_of(i), 1, false, i);
  }
  const auto file = dir.path() / "spool.dat";
  const auto full = std::filesystem::file_size(file);
  const std::size_t last = frame_bytes(topic, payload_of(10));

  SECTION("cut short: a crash in the middle of the last write") {
    std::filesystem::resize_file(file, full - 5);
    {
      Spool spool(dir.path(), 1 << 16);
      REQUIRE(spool.entries().size() == 9);
      CHECK(spool.entries().back().sequence == 9);
      CHECK(spool.torn_records() == 1);
      CHECK(spool.torn_bytes() == last - 5);
      CHECK(std::filesystem::file_size(file) == full - last);
      spool.append(topic, payload_of(10), 1, false, 10);
    }
    Spool spool(dir.path(), 1 << 16);
    CHECK(spool.torn_records() == 0);
    REQUIRE(spool.entries().size() == 10);
    CHECK(spool.entries().back().payload == payload_of(10));
  }
  SECTION("a damaged byte: the CRC fails") {
    {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(full - 3));
      f.put('#');
    }
    Spool spool(dir.path(), 1 << 16);
    CHECK(spool.entries().size() == 9);
    CHECK(spool.torn_records() == 1);
    CHECK(spool.torn_bytes() == last);
  }
  SECTION("a torn header (fewer than 8 bytes of the frame)") {
    std::filesystem::resize_file(file, full - last + 3);
    Spool spool(dir.path(), 1 << 16);
    CHECK(spool.entries().size() == 9);
    CHECK(spool.torn_records() == 1);
    CHECK(spool.torn_bytes() == 3);
  }
}

TEST_CASE("spool trims acknowledged entries, in order even when acks are not", "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  {
    Spool spool(dir.path(), 1 << 16);
    for (std::uint64_t i = 1; i <= 8; ++i) spool.append("t", payload_of(i), 1, false, i);
    spool.acknowledge(2);
    CHECK(spool.entries().front().id == 1);  // 1 still waits: 2 stays too
    spool.acknowledge(1);
    CHECK(spool.entries().front().id == 3);
    spool.acknowledge(5);
    spool.acknowledge(3);
    CHECK(spool.entries().front().id == 4);
    spool.acknowledge(3);   // a duplicate acknowledgement
    spool.acknowledge(99);  // never was
    CHECK(spool.entries().size() == 5);
  }
  // After a restart, what was acknowledged and trimmed does not come back (5 does: it was
  // acknowledged behind 4, which was not; sent again, the sequence number marks it).
  Spool spool(dir.path(), 1 << 16);
  REQUIRE(spool.entries().size() == 5);
  CHECK(spool.entries().front().id == 4);
  CHECK(spool.entries().front().payload == payload_of(4));
  CHECK(spool.dropped() == 0);
}

TEST_CASE("spool compaction rewrites only the live entries", "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  const auto file = dir.path() / "spool.dat";
  std::uint64_t live_bytes = 0;
  {
    Spool spool(dir.path(), 1 << 16);
    for (std::uint64_t i = 1; i <= 50; ++i) spool.append("t", payload_of(i), 1, false, i);
    for (std::uint64_t i = 1; i <= 40; ++i) spool.acknowledge(i);
    const auto before = std::filesystem::file_size(file);
    spool.compact();
    live_bytes = spool.live_bytes();
    // magic 8 + one trim mark (8 + 25) + topic t's sequence record (8 + 11 + 1) + the 10
    // live entries.
    CHECK(std::filesystem::file_size(file) == 8 + 33 + 20 + live_bytes);
    CHECK(std::filesystem::file_size(file) < before);
    CHECK(spool.file_bytes() == std::filesystem::file_size(file));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "spool.dat.tmp"));
    spool.append("t", payload_of(51), 1, false, 51);
  }
  Spool spool(dir.path(), 1 << 16);
  REQUIRE(spool.entries().size() == 11);
  CHECK(spool.entries().front().id == 41);
  CHECK(spool.entries().back().id == 51);
  CHECK(spool.entries().back().payload == payload_of(51));
}

TEST_CASE("spool file stays bounded under a stream acknowledged as it goes", "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  const std::size_t cap = 8192;
  Spool spool(dir.path(), cap);
  for (std::uint64_t i = 1; i <= 5000; ++i) {
    spool.append("gpioirq/h/c/events", payload_of(i), 1, false, i);
    if (i > 3) spool.acknowledge(i - 3);  // three in flight
    REQUIRE(spool.file_bytes() <= 2 * cap + 128);
  }
  CHECK(spool.entries().size() == 3);
  CHECK(spool.dropped() == 0);
  CHECK(std::filesystem::file_size(dir.path() / "spool.dat") == spool.file_bytes());
}

TEST_CASE("spool remembers each topic's highest sequence after trim, compaction and reopen",
          "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  {
    Spool spool(dir.path(), 1 << 20);
    CHECK(spool.last_sequence("a") == 0);
    for (std::uint64_t i = 1; i <= 10; ++i) spool.append("a", payload_of(i), 1, false, i);
    for (std::uint64_t i = 1; i <= 3; ++i) spool.append("b", payload_of(i), 1, false, i);
    CHECK(spool.last_sequence("a") == 10);
    CHECK(spool.last_sequence("b") == 3);
    for (const SpoolEntry& e : std::deque<SpoolEntry>(spool.entries())) spool.acknowledge(e.id);
    CHECK(spool.empty());
  }
  SECTION("trimmed by marks, not compacted: the entry records still count at load") {
    Spool spool(dir.path(), 1 << 20);
    CHECK(spool.empty());
    CHECK(spool.last_sequence("a") == 10);
    CHECK(spool.last_sequence("b") == 3);
  }
  SECTION("compacted away: sequence records carry them") {
    {
      Spool spool(dir.path(), 1 << 20);
      spool.compact();
      CHECK(spool.last_sequence("a") == 10);
    }
    // Nothing but the magic, a trim mark and the sequence records is left.
    CHECK(std::filesystem::file_size(dir.path() / "spool.dat") < 100);
    Spool spool(dir.path(), 1 << 20);
    CHECK(spool.empty());
    CHECK(spool.last_sequence("a") == 10);
    CHECK(spool.last_sequence("b") == 3);
    CHECK(spool.last_sequence("c") == 0);
    // Compacted again with live entries: entries and sequences both kept.
    spool.append("a", payload_of(11), 1, false, 11);
    spool.compact();
    Spool again(dir.path(), 1 << 20);
    REQUIRE(again.entries().size() == 1);
    CHECK(again.entries().front().sequence == 11);
    CHECK(again.last_sequence("a") == 11);
    CHECK(again.last_sequence("b") == 3);
  }
  SECTION("compacted by itself under a stream, sequences kept") {
    {
      Spool spool(dir.path(), 4096);
      for (std::uint64_t i = 11; i <= 2000; ++i) {
        spool.acknowledge(spool.append("a", payload_of(i), 1, false, i));
      }
      CHECK(spool.file_bytes() < 2 * 4096 + 200);  // compacted along the way
    }
    Spool spool(dir.path(), 4096);
    CHECK(spool.last_sequence("a") == 2000);
    CHECK(spool.last_sequence("b") == 3);
  }
}

TEST_CASE("spool batched: one write per flush, the drop hook sees each dropped entry",
          "[mqtt][spool]") {
  gpioirq_test::TempDir dir;
  const auto file = dir.path() / "spool.dat";
  {
    Spool spool(dir.path(), 2048);
    spool.set_batched(true);
    const auto size_before = std::filesystem::file_size(file);
    std::vector<std::uint64_t> dropped_ids;
    spool.set_drop_hook([&](const SpoolEntry& e) { dropped_ids.push_back(e.id); });
    for (std::uint64_t i = 1; i <= 10; ++i) spool.append("t", payload_of(i), 1, false, i);
    CHECK(std::filesystem::file_size(file) == size_before);  // nothing written yet
    CHECK(spool.batched_bytes() == spool.file_bytes() - size_before);
    // Past the cap (compactions write by themselves, batched or not).
    for (std::uint64_t i = 11; i <= 100; ++i) spool.append("t", payload_of(i), 1, false, i);
    // Dropped oldest first, each once, counted the same.
    REQUIRE(dropped_ids.size() == spool.dropped());
    for (std::size_t k = 0; k < dropped_ids.size(); ++k) CHECK(dropped_ids[k] == k + 1);
    CHECK(spool.entries().front().id == dropped_ids.size() + 1);
    spool.flush();
    CHECK(spool.batched_bytes() == 0);
    CHECK(std::filesystem::file_size(file) == spool.file_bytes());
    spool.append("t", payload_of(101), 1, false, 101);
    // The destructor writes what waits.
  }
  Spool spool(dir.path(), 2048);
  CHECK(spool.entries().back().sequence == 101);
  CHECK(spool.last_sequence("t") == 101);
  CHECK(spool.torn_records() == 0);
}
