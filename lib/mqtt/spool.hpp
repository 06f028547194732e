#pragma once
// Spool: a bounded, append-only on-disk store of messages waiting for the broker, so that
// what could not be published survives a broker outage and a daemon restart.
//
// One file, <dir>/spool.dat: an 8-byte magic, then framed records
//   u32 body length | u32 CRC-32 of the body | body            (little-endian)
// whose body is an entry (id, per-topic sequence, qos, retain, topic, payload), a trim
// mark ("every entry up to id N is gone, D dropped by the cap so far") or a sequence
// record ("topic T has used sequence numbers up to S"). The file is only
// ever appended to, so a crash can tear only its tail: open() stops at the first record
// that is short or fails its CRC, counts it, and truncates the file there.
//
// Entries leave from the front: acknowledged by the broker (acknowledge(), out of order
// allowed, trimmed once everything before them is acknowledged too) or dropped to stay
// under the byte cap (the oldest first; dropped() is the exact count, kept across
// restarts in the trim marks). A trim mark makes them gone on disk at once; compact()
// rewrites the live entries to a temp file and renames it over the spool, which append()
// does by itself once the dead bytes outweigh the cap, so the file stays under about
// twice the cap.
//
// Sequence memory: the highest sequence number of every topic ever appended is kept
// (last_sequence()), even after its entries are trimmed: load() takes the highest of every
// entry and sequence record it reads, and compact() writes one sequence record per topic
// before the live entries. So a publisher's per-topic numbers continue across restarts
// even when everything was acknowledged and compacted away. (Files written before sequence
// records existed read the same: their entries are counted.)
//
// Writes: by default each append() is one write(2) (the page cache: a crash of the daemon
// loses nothing); with set_batched(true) records collect in memory until flush(), so that
// a caller writes one loop turn's appends with one write(2); compact(), sync() and the
// destructor flush first. sync() fdatasyncs, which is what a power loss needs. All of
// them block the calling thread (small writes to the page cache; compaction and sync wait
// for the disk).
// Throws std::system_error on I/O errors, std::invalid_argument on a bad cap or entry.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/unique_fd.hpp"

namespace gpioirq::mqtt {

struct SpoolEntry {
  std::uint64_t id = 0;        // the spool's own order: increasing, never reused
  std::uint64_t sequence = 0;  // the per-topic sequence number the payload carries
  std::uint8_t qos = 1;
  bool retain = false;
  std::string topic;
  std::string payload;
};

class Spool {
 public:
  // Opens (creating dir's spool file when missing) and reads back what a previous run
  // left: live entries in order, the dropped count, a torn tail cut off.
  Spool(std::filesystem::path dir, std::size_t cap_bytes);
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  // Writes what is still batched (errors ignored: nothing can be reported any more).
  ~Spool();

  // Called with each entry the cap drops, before it goes (not for drops at open()).
  using DropHook = std::function<void(const SpoolEntry&)>;
  void set_drop_hook(DropHook hook) { drop_hook_ = std::move(hook); }
  // true: records wait in memory for flush() (see Writes above).
  void set_batched(bool batched);
  // Writes the batched records with one write(2). No-op when nothing waits.
  void flush();
  // Bytes waiting for flush().
  std::size_t batched_bytes() const noexcept { return pending_.size(); }

  // Appends an entry and returns its id. Drops the oldest entries first when the new one
  // would take the live bytes over the cap; an entry larger than the cap by itself is
  // refused (std::invalid_argument), since it could never be kept.
  std::uint64_t append(std::string_view topic, std::string_view payload, std::uint8_t qos,
                       bool retain, std::uint64_t sequence);
  // The broker has the entry `id`. Unknown or already trimmed ids are ignored (a QoS 1
  // duplicate acknowledgement).
  void acknowledge(std::uint64_t id);
  // fdatasync of the spool file.
  void sync();
  // Rewrites the live entries to a temp file, syncs it and renames it over the spool.
  void compact();

  // Live entries, oldest first: what a replay sends, in this order.
  const std::deque<SpoolEntry>& entries() const noexcept { return entries_; }
  bool empty() const noexcept { return entries_.empty(); }
  // Bytes the live entries take on disk (frames included); at most cap_bytes().
  std::size_t live_bytes() const noexcept { return live_bytes_; }
  std::size_t cap_bytes() const noexcept { return cap_bytes_; }
  // Size of the spool file now (live + trimmed records not yet compacted away).
  std::uint64_t file_bytes() const noexcept { return file_bytes_; }
  // Entries dropped by the cap, since the spool was first created.
  std::uint64_t dropped() const noexcept { return dropped_; }
  // The highest sequence number appended for topic in this spool's life (0: none).
  std::uint64_t last_sequence(std::string_view topic) const;
  // Every topic's highest sequence number.
  const std::map<std::string, std::uint64_t, std::less<>>& last_sequences() const noexcept {
    return last_sequence_;
  }
  // What open() cut off: records that were torn (0 or 1: reading stops at the first), and
  // their bytes.
  std::uint64_t torn_records() const noexcept { return torn_records_; }
  std::uint64_t torn_bytes() const noexcept { return torn_bytes_; }
  const std::filesystem::path& file() const noexcept { return file_; }
  // The open spool file, for a caller that fdatasyncs it itself (through io_uring), and
  // how many times compaction replaced it (a new file: take fd() again).
  int fd() const noexcept { return fd_.get(); }
  std::uint64_t generation() const noexcept { return generation_; }

 private:
  struct Live {
    std::size_t frame_bytes = 0;
    bool acknowledged = false;
  };

  void load();
  void write_record(const std::string& frame);
  void write_trim_mark();
  void compact_if_worthwhile();
  void drop_front();
  void note_sequence(std::string_view topic, std::uint64_t sequence);

  std::filesystem::path dir_;
  std::filesystem::path file_;
  std::size_t cap_bytes_;
  core::UniqueFd fd_;
  std::deque<SpoolEntry> entries_;
  std::deque<Live> live_;  // parallel to entries_
  std::size_t live_bytes_ = 0;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t next_id_ = 1;
  std::uint64_t dropped_ = 0;
  std::uint64_t torn_records_ = 0;
  std::uint64_t torn_bytes_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> last_sequence_;
  DropHook drop_hook_;
  bool batched_ = false;
  std::uint64_t generation_ = 0;
  std::string pending_;  // batched records not yet written
};

// CRC-32 (IEEE 802.3, the one zlib and gzip use) of data, continuing from crc.
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0) noexcept;

}  // namespace gpioirq::mqtt
