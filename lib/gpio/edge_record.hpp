#pragma once
// What the RT ingest thread hands to the event loop through the SpscRing: one record per
// kernel edge event, or one GAP record per run of lost edges. 32 bytes, trivially copyable.

#include <cstdint>

namespace gpioirq::gpio {

enum class RecordKind : std::uint8_t {
  edge = 0,  // a kernel edge event
  gap = 1,   // edges lost; see GapReason in `level`, count in `count`
};

enum class GapReason : std::uint8_t {
  kernel_fifo = 0,  // line_seqno jumped: the kernel's event FIFO overflowed
  ring_full = 1,    // the RT thread could not hand records over: the ring was full
  imu_overrun = 2,  // an IMU frame could not be read in time or did not fit
};

// One edge as the kernel (or the sim backend) reports it, before routing.
struct RawEdge {
  std::uint64_t timestamp_ns = 0;  // the line's event clock (monotonic by default)
  std::uint32_t offset = 0;        // line offset on its chip
  std::uint32_t line_seqno = 0;    // per line, starts at 1 per request
  std::uint32_t global_seqno = 0;  // per request, across its lines
  bool rising = false;
};

struct EdgeRecord {
  std::uint64_t timestamp_ns = 0;  // edge: kernel timestamp; gap: timestamp of the edge after it
  std::uint32_t line_seqno = 0;    // edge: its seqno; gap: the first line seqno missing
  std::uint32_t global_seqno = 0;  // edge: the request's seqno; gap: the last line seqno missing
  std::uint16_t line = 0;          // daemon-wide line id (LineTable index)
  RecordKind kind = RecordKind::edge;
  std::uint8_t level = 0;          // edge: the line's level after it; gap: GapReason
  std::uint32_t count = 0;         // gap: how many edges were lost
  std::int64_t value = 0;          // edge on an encoder line: position after it;
                                   // gap: timestamp of the last edge before it
};
static_assert(sizeof(EdgeRecord) == 32);

}  // namespace gpioirq::gpio
