#pragma once
// Decoding of a FrameLog file into CSV, for `gpioirqctl decode FILE`. Output format in
// docs/FILE-FORMATS.md: '#' comment lines describing the header, a column line, one row
// per frame of raw chip values, and '#' comment lines where the frame counter jumps,
// where invalid bytes were skipped (resynchronising on the next valid frame), and for a
// partial trailing frame.

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>

#include "sinks/frame_file_header.hpp"

namespace gpioirq::sinks {

struct FrameDecodeSummary {
  FrameFileHeader header;
  std::uint64_t frames = 0;           // rows written
  std::uint64_t discontinuities = 0;  // counter jumps
  std::uint64_t missing_frames = 0;   // frames the jumps skipped (modulo the counter width)
  std::uint64_t skipped_bytes = 0;    // invalid data skipped
  std::uint64_t trailing_bytes = 0;   // a partial frame at the end
};

// Throws std::runtime_error naming the file if it cannot be read or its header is not
// one this reader understands.
FrameDecodeSummary decode_frame_file(const std::string& path, std::ostream& csv);

// The same over a whole file already in memory.
FrameDecodeSummary decode_frame_bytes(std::span<const std::uint8_t> file, std::ostream& csv);

}  // namespace gpioirq::sinks
