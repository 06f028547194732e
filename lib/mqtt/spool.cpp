#include "mqtt/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace gpioirq::mqtt {

namespace {

constexpr std::string_view kMagic = "GQSPOOL1";
constexpr std::size_t kFrameHeader = 8;  // u32 body length, u32 CRC-32 of the body
constexpr std::uint8_t kEntryRecord = 1;
constexpr std::uint8_t kTrimRecord = 2;
constexpr std::uint8_t kSequenceRecord = 3;
// type, id, sequence, qos, retain, topic length
constexpr std::size_t kEntryFixed = 1 + 8 + 8 + 1 + 1 + 2;
// type, through id, dropped so far, next id
constexpr std::size_t kTrimBody = 1 + 8 + 8 + 8;
// type, sequence, topic length
constexpr std::size_t kSequenceFixed = 1 + 8 + 2;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
}

std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= std::uint64_t{static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)])} << (8 * i);
  }
  return v;
}

std::string frame(const std::string& body) {
  std::string out;
  out.reserve(kFrameHeader + body.size());
  put_le(out, body.size(), 4);
  put_le(out, crc32(body), 4);
  out += body;
  return out;
}

std::string entry_frame(const SpoolEntry& e) {
  std::string body;
  body.reserve(kEntryFixed + e.topic.size() + e.payload.size());
  put_le(body, kEntryRecord, 1);
  put_le(body, e.id, 8);
  put_le(body, e.sequence, 8);
  put_le(body, e.qos, 1);
  put_le(body, e.retain ? 1 : 0, 1);
  put_le(body, e.topic.size(), 2);
  body += e.topic;
  body += e.payload;
  return frame(body);
}

std::string trim_frame(std::uint64_t through_id, std::uint64_t dropped, std::uint64_t next_id) {
  std::string body;
  put_le(body, kTrimRecord, 1);
  put_le(body, through_id, 8);
  put_le(body, dropped, 8);
  put_le(body, next_id, 8);
  return frame(body);
}

std::string sequence_frame(std::string_view topic, std::uint64_t sequence) {
  std::string body;
  body.reserve(kSequenceFixed + topic.size());
  put_le(body, kSequenceRecord, 1);
  put_le(body, sequence, 8);
  put_le(body, topic.size(), 2);
  body += topic;
  return frame(body);
}

void write_all(int fd, std::string_view data, const std::filesystem::path& file) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("spool: write " + file.string());
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void fsync_dir(const std::filesystem::path& dir) {
  core::UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::fsync(d.get()) != 0) throw_errno("spool: fsync " + dir.string());
}

}  // namespace

std::uint32_t crc32(std::string_view data, std::uint32_t crc) noexcept {
  static constexpr auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xedb88320U ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (const char ch : data) {
    crc = table[(crc ^ static_cast<unsigned char>(ch)) & 0xffU] ^ (crc >> 8);
  }
  return ~crc;
}

Spool::Spool(std::filesystem::path dir, std::size_t cap_bytes)
    : dir_(std::move(dir)), file_(dir_ / "spool.dat"), cap_bytes_(cap_bytes) {
  if (cap_bytes_ < 1024) throw std::invalid_argument("spool: the cap must be at least 1024 bytes");
  load();
}

void Spool::load() {
  std::string data;
  {
    core::UniqueFd in(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in && errno != ENOENT) throw_errno("spool: open " + file_.string());
    if (in) {
      std::array<char, 65536> buf{};
      for (;;) {
        const ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0) {
          if (errno == EINTR) continue;
          throw_errno("spool: read " + file_.string());
        }
        if (n == 0) break;
        data.append(buf.data(), static_cast<std::size_t>(n));
      }
    }
  }
  if (!data.empty() && data.size() >= kMagic.size() &&
      std::string_view(data).substr(0, kMagic.size()) != kMagic) {
    throw std::runtime_error("spool: " + file_.string() + " is not a gpioirq spool file");
  }

  std::size_t good = 0;  // end of the last whole record
  if (data.size() >= kMagic.size()) {
    good = kMagic.size();
    const std::string_view all(data);
    while (good < all.size()) {
      const std::size_t left = all.size() - good;
      if (left < kFrameHeader) break;
      const std::size_t len = get_le(all, good, 4);
      if (len > left - kFrameHeader) break;
      const std::string_view body = all.substr(good + kFrameHeader, len);
      if (crc32(body) != static_cast<std::uint32_t>(get_le(all, good + 4, 4))) break;
      if (body.empty()) break;
      const auto type = static_cast<std::uint8_t>(body[0]);
      if (type == kEntryRecord && body.size() >= kEntryFixed) {
        const std::size_t topic_len = get_le(body, 19, 2);
        if (topic_len > body.size() - kEntryFixed) break;
        SpoolEntry e;
        e.id = get_le(body, 1, 8);
        e.sequence = get_le(body, 9, 8);
        e.qos = static_cast<std::uint8_t>(body[17]);
        e.retain = body[18] != 0;
        e.topic = body.substr(kEntryFixed, topic_len);
        e.payload = body.substr(kEntryFixed + topic_len);
        next_id_ = std::max(next_id_, e.id + 1);
        note_sequence(e.topic, e.sequence);
        live_.push_back({kFrameHeader + len, false});
        live_bytes_ += kFrameHeader + len;
        entries_.push_back(std::move(e));
      } else if (type == kTrimRecord && body.size() == kTrimBody) {
        const std::uint64_t through = get_le(body, 1, 8);
        while (!entries_.empty() && entries_.front().id <= through) {
          live_bytes_ -= live_.front().frame_bytes;
          live_.pop_front();
          entries_.pop_front();
        }
        dropped_ = get_le(body, 9, 8);
        next_id_ = std::max(next_id_, get_le(body, 17, 8));
      } else if (type == kSequenceRecord && body.size() >= kSequenceFixed) {
        const std::size_t topic_len = get_le(body, 9, 2);
        if (topic_len != body.size() - kSequenceFixed) break;
        note_sequence(body.substr(kSequenceFixed), get_le(body, 1, 8));
      } else {
        break;
      }
      good += kFrameHeader + len;
    }
  }
  if (good < data.size()) {
    // A crash in the middle of an append: what follows the last whole record is dropped.
    torn_records_ = 1;
    torn_bytes_ = data.size() - good;
  }

  fd_.reset(::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd_) throw_errno("spool: open " + file_.string());
  if (good < data.size() || data.size() < kMagic.size()) {
    if (::ftruncate(fd_.get(), static_cast<off_t>(good)) != 0) {
      throw_errno("spool: truncate " + file_.string());
    }
  }
  file_bytes_ = good;
  if (good == 0) {
    write_all(fd_.get(), kMagic, file_);
    file_bytes_ = kMagic.size();
    fsync_dir(dir_);
  }
  // A smaller cap than the last run's: the oldest go now, counted like any other drop.
  if (live_bytes_ > cap_bytes_) {
    while (live_bytes_ > cap_bytes_) drop_front();
    write_trim_mark();
  }
}

Spool::~Spool() {
  try {
    flush();
  } catch (const std::exception&) {
    // Nothing to tell any more; the next open() cuts what a short write left.
  }
}

void Spool::set_batched(bool batched) {
  if (!batched) flush();
  batched_ = batched;
}

void Spool::flush() {
  if (pending_.empty()) return;
  // Taken out first: a failed write must not leave half of it to be written twice.
  const std::string out = std::move(pending_);
  pending_.clear();
  write_all(fd_.get(), out, file_);
}

std::uint64_t Spool::last_sequence(std::string_view topic) const {
  const auto it = last_sequence_.find(topic);
  return it == last_sequence_.end() ? 0 : it->second;
}

void Spool::note_sequence(std::string_view topic, std::uint64_t sequence) {
  const auto it = last_sequence_.find(topic);
  if (it == last_sequence_.end()) {
    last_sequence_.emplace(std::string(topic), sequence);
  } else if (sequence > it->second) {
    it->second = sequence;
  }
}

void Spool::drop_front() {
  live_bytes_ -= live_.front().frame_bytes;
  live_.pop_front();
  entries_.pop_front();
  ++dropped_;
}

std::uint64_t Spool::append(std::string_view topic, std::string_view payload, std::uint8_t qos,
                            bool retain, std::uint64_t sequence) {
  if (topic.size() > 0xffff) throw std::invalid_argument("spool: topic longer than 65535 bytes");
  SpoolEntry e{next_id_, sequence, qos, retain, std::string(topic), std::string(payload)};
  const std::string f = entry_frame(e);
  if (f.size() > cap_bytes_) {
    throw std::invalid_argument("spool: a message of " + std::to_string(f.size()) +
                                " bytes does not fit a cap of " + std::to_string(cap_bytes_));
  }
  bool any_dropped = false;
  while (live_bytes_ + f.size() > cap_bytes_) {
    if (drop_hook_) drop_hook_(entries_.front());
    drop_front();
    any_dropped = true;
  }
  if (any_dropped) write_trim_mark();
  write_record(f);
  ++next_id_;
  note_sequence(e.topic, e.sequence);
  live_.push_back({f.size(), false});
  live_bytes_ += f.size();
  entries_.push_back(std::move(e));
  compact_if_worthwhile();
  return entries_.back().id;
}

void Spool::acknowledge(std::uint64_t id) {
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                                   [](const SpoolEntry& e, std::uint64_t v) { return e.id < v; });
  if (it == entries_.end() || it->id != id) return;
  live_[static_cast<std::size_t>(it - entries_.begin())].acknowledged = true;
  if (it != entries_.begin()) return;
  while (!live_.empty() && live_.front().acknowledged) {
    live_bytes_ -= live_.front().frame_bytes;
    live_.pop_front();
    entries_.pop_front();
  }
  write_trim_mark();
  compact_if_worthwhile();
}

void Spool::sync() {
  flush();
  if (::fdatasync(fd_.get()) != 0) throw_errno("spool: fdatasync " + file_.string());
}

void Spool::compact() {
  const std::filesystem::path tmp = dir_ / "spool.dat.tmp";
  std::string out(kMagic);
  out += trim_frame(entries_.empty() ? next_id_ - 1 : entries_.front().id - 1, dropped_, next_id_);
  // The topics' sequence numbers outlive their entries (see last_sequence()).
  for (const auto& [topic, sequence] : last_sequence_) out += sequence_frame(topic, sequence);
  for (const SpoolEntry& e : entries_) out += entry_frame(e);
  {
    core::UniqueFd t(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!t) throw_errno("spool: open " + tmp.string());
    write_all(t.get(), out, tmp);
    if (::fdatasync(t.get()) != 0) throw_errno("spool: fdatasync " + tmp.string());
  }
  if (::rename(tmp.c_str(), file_.c_str()) != 0) throw_errno("spool: rename to " + file_.string());
  // What waited for a write is in the new file already (it is rewritten from memory).
  pending_.clear();
  fsync_dir(dir_);
  fd_.reset(::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd_) throw_errno("spool: open " + file_.string());
  ++generation_;
  file_bytes_ = out.size();
}

void Spool::write_record(const std::string& f) {
  if (batched_) {
    pending_ += f;
  } else {
    write_all(fd_.get(), f, file_);
  }
  file_bytes_ += f.size();
}

void Spool::write_trim_mark() {
  const std::uint64_t through = entries_.empty() ? next_id_ - 1 : entries_.front().id - 1;
  write_record(trim_frame(through, dropped_, next_id_));
}

void Spool::compact_if_worthwhile() {
  // Dead bytes (trimmed entries, trim marks, sequence records) past the cap: rewriting
  // costs at most the live bytes, and keeps the file under about twice the cap.
  if (file_bytes_ - kMagic.size() - live_bytes_ > cap_bytes_) compact();
}

}  // namespace gpioirq::mqtt
