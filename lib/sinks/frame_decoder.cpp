#include "sinks/frame_decoder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <ostream>
#include <stdexcept>
#include <vector>

#include "devices/imu_frame.hpp"

namespace gpioirq::sinks {

namespace {

constexpr std::size_t kReadChunk = 1 << 20;
constexpr std::size_t kOutFlush = 64 * 1024;

// Header text can hold anything; a comment line must stay one line.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = '?';
  }
  return out;
}

class Decoder {
 public:
  Decoder(const FrameFileHeader& h, std::ostream& os) : h_(h), os_(os), fs_(h.frame_size) {
    s_.header = h;
    auto o = std::back_inserter(out_);
    fmt::format_to(o, "# gpioirq IMU frame file v{}: device={} driver={} layout={} frame_size={}\n",
                   h.format_version, printable(h.device), printable(h.driver), layout_name(h.layout),
                   h.frame_size);
    fmt::format_to(o,
                   "# rate_hz={} actual_rate_mhz={} trigger={} accel_range_g={} gyro_range_dps={} "
                   "dlpf={} i2c_address=0x{:02x}\n",
                   h.rate_hz, h.actual_rate_mhz, trigger_name(h.trigger), h.accel_range_g,
                   h.gyro_range_dps, h.dlpf, h.i2c_address);
    fmt::format_to(o, "# start_monotonic_ns={} start_realtime_ns={}\n", h.start_monotonic_ns,
                   h.start_realtime_ns);
    fmt::format_to(o, "{}\n",
                   h.layout == config::ImuFormat::seed ? "counter,ts_ns,ax,ay,az"
                                                       : "counter,ts_ns,ax,ay,az,temp,gx,gy,gz");
  }

  // Feeds the frame data (everything after the header) through `read(buf, n)`, which
  // returns the bytes it read, 0 at the end.
  template <typename Read>
  FrameDecodeSummary run(Read read) {
    std::vector<std::uint8_t> win;
    std::size_t pos = 0;
    std::uint64_t win_off = h_.header_size;  // file offset of win[0]
    bool eof = false;
    auto refill = [&] {
      win.erase(win.begin(), win.begin() + static_cast<std::ptrdiff_t>(pos));
      win_off += pos;
      pos = 0;
      const std::size_t old = win.size();
      win.resize(old + kReadChunk);
      const std::size_t n = read(win.data() + old, kReadChunk);
      win.resize(old + n);
      if (n == 0) eof = true;
    };

    for (;;) {
      if (win.size() - pos < 2 * fs_ && !eof) {
        refill();
        continue;
      }
      const std::size_t avail = win.size() - pos;
      if (avail < fs_) {
        end_skip();
        if (avail > 0) {
          s_.trailing_bytes = avail;
          fmt::format_to(std::back_inserter(out_),
                         "# {} trailing bytes (a partial frame) ignored at file offset {}\n", avail,
                         win_off + pos);
        }
        break;
      }
      const auto frame = std::span<const std::uint8_t>(win).subspan(pos, fs_);
      if (emit(frame)) {
        pos += fs_;
        continue;
      }
      // Invalid data: look for the next frame start where the scanner has full evidence
      // (the frame after it in the window), unless this is the end of the file.
      const std::size_t limit = eof ? win.size() : win.size() - (2 * fs_ - 1);
      const std::size_t next = devices::find_frame_start(h_.layout, win, pos + 1);
      const std::size_t to = next < limit ? next : std::max(limit, pos + 1);
      if (skip_len_ == 0) skip_off_ = win_off + pos;
      skip_len_ += to - pos;
      pos = to;
      if (eof && next >= limit) {
        // Nothing valid left; what remains is all invalid.
        skip_len_ += win.size() - pos;
        pos = win.size();
      }
    }
    flush_out();
    return s_;
  }

 private:
  bool emit(std::span<const std::uint8_t> frame) {
    auto o = std::back_inserter(out_);
    if (h_.layout == config::ImuFormat::seed) {
      const auto f = devices::decode_seed(frame);
      if (!f) return false;
      end_skip();
      check_counter(f->counter, devices::kSeedCounterMask);
      fmt::format_to(o, "{},,{},{},{}\n", f->counter, f->ax, f->ay, f->az);
    } else {
      const auto f = devices::decode_extended(frame);
      if (!f) return false;
      end_skip();
      check_counter(f->counter, 0xFFFFFFFFu);
      const auto& x = f->sample;
      fmt::format_to(o, "{},{},{},{},{},{},{},{},{}\n", f->counter, f->ts_ns, x.ax, x.ay, x.az,
                     x.temp, x.gx, x.gy, x.gz);
    }
    ++s_.frames;
    if (out_.size() >= kOutFlush) flush_out();
    return true;
  }

  void check_counter(std::uint32_t counter, std::uint32_t mask) {
    if (have_prev_) {
      const std::uint32_t missing = (counter - prev_ - 1) & mask;
      if (missing != 0) {
        ++s_.discontinuities;
        s_.missing_frames += missing;
        fmt::format_to(std::back_inserter(out_), "# discontinuity: counter {} -> {}, {} frames missing\n",
                       prev_, counter, missing);
      }
    }
    prev_ = counter;
    have_prev_ = true;
  }

  void end_skip() {
    if (skip_len_ == 0) return;
    s_.skipped_bytes += skip_len_;
    fmt::format_to(std::back_inserter(out_), "# skipped {} bytes of invalid data at file offset {}\n",
                   skip_len_, skip_off_);
    skip_len_ = 0;
  }

  void flush_out() {
    os_.write(out_.data(), static_cast<std::streamsize>(out_.size()));
    out_.clear();
  }

  const FrameFileHeader& h_;
  std::ostream& os_;
  std::size_t fs_;
  fmt::memory_buffer out_;
  FrameDecodeSummary s_;
  std::uint32_t prev_ = 0;
  bool have_prev_ = false;
  std::uint64_t skip_off_ = 0;
  std::uint64_t skip_len_ = 0;
};

FrameFileHeader header_or_throw(std::span<const std::uint8_t> head, const std::string& what) {
  std::string error;
  auto h = decode_frame_file_header(head, &error);
  if (!h) throw std::runtime_error(what + ": " + error);
  return *h;
}

}  // namespace

FrameDecodeSummary decode_frame_bytes(std::span<const std::uint8_t> file, std::ostream& csv) {
  const FrameFileHeader h = header_or_throw(file, "frame data");
  if (file.size() < h.header_size) throw std::runtime_error("frame data: header cut short");
  auto data = file.subspan(h.header_size);
  Decoder d(h, csv);
  return d.run([&data](std::uint8_t* buf, std::size_t n) {
    const std::size_t k = std::min(n, data.size());
    std::memcpy(buf, data.data(), k);
    data = data.subspan(k);
    return k;
  });
}

FrameDecodeSummary decode_frame_file(const std::string& path, std::ostream& csv) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<std::uint8_t> head(kFrameFileHeaderSize);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  const FrameFileHeader h = header_or_throw(head, path);
  // A newer minor layout may have a longer header: skip to its end. A seek past the end
  // of the file succeeds (and then reads nothing), so the size is checked first.
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (!in || size < static_cast<std::streamoff>(h.header_size))
    throw std::runtime_error(path + ": header cut short");
  in.seekg(h.header_size);
  if (!in) throw std::runtime_error(path + ": header cut short");
  Decoder d(h, csv);
  return d.run([&in](std::uint8_t* buf, std::size_t n) -> std::size_t {
    in.read(reinterpret_cast<char*>(buf), static_cast<std::streamsize>(n));
    return static_cast<std::size_t>(in.gcount());
  });
}

}  // namespace gpioirq::sinks
