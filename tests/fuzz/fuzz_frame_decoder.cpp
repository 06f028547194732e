// Fuzz target: the IMU frame file decoder (lib/sinks/frame_decoder.*, frame_file_header.*),
// the bytes of a .imu file -> CSV, as `gpioirqctl decode FILE` prints it.
// Whatever the bytes: a header the decoder does not understand is a std::runtime_error;
// otherwise every byte after the header is accounted for exactly once, as a frame, as
// skipped invalid data or as a partial trailing frame; the CSV has one row per frame; and
// reading the same bytes from a file (decode_frame_file, the path gpioirqctl takes) gives
// the same CSV and summary as decoding them in memory.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>

#include "fuzz_support.hpp"
#include "sinks/frame_decoder.hpp"

using gpioirq_fuzz::check;
using gpioirq_fuzz::fail;
using namespace gpioirq::sinks;

namespace {

// The input as a file the decoder opens by path (a memfd: no disk, no clean-up).
class InputFile {
 public:
  InputFile(const std::uint8_t* data, std::size_t size) : fd_(::memfd_create("fuzz.imu", 0)) {
    if (fd_ < 0) fail("memfd_create failed");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) fail("write to the memfd failed");
      done += static_cast<std::size_t>(n);
    }
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

struct Result {
  bool ok = false;
  FrameDecodeSummary summary;
  std::string csv;
};

template <typename Decode>
Result run(Decode decode) {
  Result r;
  std::ostringstream csv;
  try {
    r.summary = decode(csv);
    r.ok = true;
  } catch (const std::runtime_error&) {
  }
  r.csv = csv.str();
  return r;
}

bool same(const FrameDecodeSummary& a, const FrameDecodeSummary& b) {
  return a.header == b.header && a.frames == b.frames && a.discontinuities == b.discontinuities &&
         a.missing_frames == b.missing_frames && a.skipped_bytes == b.skipped_bytes &&
         a.trailing_bytes == b.trailing_bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Result mem = run([&](std::ostream& csv) {
    return decode_frame_bytes(std::span<const std::uint8_t>(data, size), csv);
  });
  const InputFile file(data, size);
  const Result disk = run([&](std::ostream& csv) { return decode_frame_file(file.path(), csv); });

  check(mem.ok == disk.ok, "decode_frame_bytes and decode_frame_file disagree on the header");
  if (!mem.ok) return 0;
  check(same(mem.summary, disk.summary), "decode_frame_bytes and decode_frame_file disagree");
  check(mem.csv == disk.csv, "decode_frame_bytes and decode_frame_file print different CSV");

  const FrameDecodeSummary& s = mem.summary;
  check(s.header.frame_size > 0, "a header with frame_size 0 was accepted");
  check(s.header.header_size <= size, "a header longer than the file was accepted");
  const std::uint64_t accounted =
      s.header.header_size + s.frames * s.header.frame_size + s.skipped_bytes + s.trailing_bytes;
  check(accounted == size, "bytes not accounted for (frames + skipped + trailing != data)",
        std::to_string(accounted) + " accounted of " + std::to_string(size));

  std::uint64_t rows = 0, column_lines = 0;
  std::istringstream lines(mem.csv);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("counter,", 0) == 0) {
      ++column_lines;
      continue;
    }
    ++rows;
  }
  check(column_lines == 1, "the CSV does not have exactly one column line", mem.csv);
  check(rows == s.frames, "CSV rows != frames in the summary", mem.csv);
  return 0;
}
