#include "app/streams.hpp"

#include <sys/timerfd.h>
#include <time.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <system_error>

#include "devices/mpu6050.hpp"

namespace gpioirq::app {

void EncoderStream::init_levels() {
  const int a = source->read_level(offset_a), b = source->read_level(offset_b);
  known_a = a >= 0;
  known_b = b >= 0;
  level_a = a == 1;
  level_b = b == 1;
  last_global_seqno = 0;
  if (known_a && known_b) encoder.resync(level_a, level_b);
}

std::uint64_t EncoderStream::position_error_bound() const noexcept {
  const std::uint64_t quarters = uncertainty.load(std::memory_order_relaxed);
  if (quarters == 0) return 0;
  const auto per_count = static_cast<std::uint64_t>(4 / encoder.counts_per_period());
  std::uint64_t counts = (quarters + per_count - 1) / per_count;
  if (per_count > 1) counts += resyncs.load(std::memory_order_relaxed);
  const auto div = static_cast<std::uint64_t>(encoder.div());
  return (counts + div - 1) / div;
}

bool EncoderStream::on_edge(std::uint16_t line, bool level, const gpio::RawEdge& edge,
                            std::int64_t& value) noexcept {
  auto bump = [](std::atomic<std::uint64_t>& c, std::uint64_t by) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  };
  if (last_global_seqno != 0 && edge.global_seqno != last_global_seqno + 1) {
    // Edges of this request were dropped, on either line: each may have moved the shaft
    // one quarter step.
    bump(uncertainty, edge.global_seqno - last_global_seqno - 1);
    bump(resyncs, 1);
    known_a = known_b = false;
  }
  last_global_seqno = edge.global_seqno;
  const bool is_a = line == line_a;
  bool& lvl = is_a ? level_a : level_b;
  bool& known = is_a ? known_a : known_b;
  const bool was_synced = known_a && known_b;
  if (known) {
    lvl = !lvl;
  } else {
    lvl = level;  // the edge's own type: the line's level right after it
    known = true;
  }
  if (was_synced) {
    encoder.on_levels(level_a, level_b, edge.timestamp_ns);
  } else {
    // A quarter step whose start is unknown: it is not counted, but may have been one.
    bump(uncertainty, 1);
    if (known_a && known_b) encoder.resync(level_a, level_b);
  }
  value = encoder.position();
  return true;
}

bool CounterStream::on_edge(std::uint16_t, bool level, const gpio::RawEdge&,
                            std::int64_t& value) noexcept {
  const bool pulse = devices::PulseCounter::is_pulse(cfg.edge, level);
  const std::uint64_t n = rt_pulses.load(std::memory_order_relaxed) + (pulse ? 1 : 0);
  if (pulse) rt_pulses.store(n, std::memory_order_relaxed);
  value = static_cast<std::int64_t>(n);
  return true;
}

ImuStream::ImuStream(const config::ImuConfig& c, core::ThreadSafeFlag& wake_flag)
    : cfg(c),
      wake(wake_flag),
      simulated(c.i2c_bus == "sim"),
      frame_bytes(devices::frame_size(c.format)),
      record_bytes(kNumberBytes + frame_bytes),
      ring(record_bytes * std::max<std::size_t>(2 * c.block_records,
                                                static_cast<std::size_t>(c.rate_hz) * c.buffer_ms / 1000 + 1)) {
}

void ImuStream::open_device() {
  if (simulated) return;
  device = devices::I2cDevice(cfg.i2c_bus, cfg.address);
  const int who = device.read_byte(devices::mpu6050::kWhoAmI);
  if (who < 0)
    throw std::system_error(-who, std::system_category(),
                            "imu '" + cfg.name + "': reading WHO_AM_I at " + cfg.i2c_bus);
  const int err = devices::mpu6050::apply_setup(device, devices::mpu6050::setup_sequence(cfg));
  if (err < 0)
    throw std::system_error(-err, std::system_category(),
                            "imu '" + cfg.name + "': set-up writes on " + cfg.i2c_bus);
}

void ImuStream::make_timer() {
  timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer) throw std::system_error(errno, std::system_category(), "timerfd_create");
}

void ImuStream::arm_timer() {
  itimerspec current{};
  ::timerfd_gettime(timer.get(), &current);
  if (current.it_interval.tv_sec || current.it_interval.tv_nsec) return;  // already ticking
  const long period = static_cast<long>(1'000'000'000ull / cfg.rate_hz);
  itimerspec spec{};
  spec.it_interval.tv_sec = period / 1'000'000'000;
  spec.it_interval.tv_nsec = period % 1'000'000'000;
  spec.it_value = spec.it_interval;
  ::timerfd_settime(timer.get(), 0, &spec, nullptr);
}

namespace {
void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}
}  // namespace

void ImuStream::skip(std::uint64_t samples) noexcept {
  frame_number += samples;  // the counter jumps over them in the file
  bump(overruns, samples);
  gap_before = true;
}

void ImuStream::sample(std::uint64_t ts_ns) noexcept {
  devices::mpu6050::Sample s{};
  if (simulated) {
    // A slow wobble on every axis, so a decoded file shows something plausible.
    const double t = static_cast<double>(frame_number) / static_cast<double>(cfg.rate_hz);
    s.ax = static_cast<std::int16_t>(2000 * std::sin(t * 6.283));
    s.ay = static_cast<std::int16_t>(2000 * std::cos(t * 6.283));
    s.az = 16384;
    s.temp = static_cast<std::int16_t>((25.0 - 36.53) * 340);
    s.gx = static_cast<std::int16_t>(frame_number & 0x7fff);
  } else {
    if (backoff_left > 0) {  // after an I2C error, skip a growing number of samples
      --backoff_left;
      skip(1);
      return;
    }
    const int err = devices::mpu6050::read_sample(device, s);
    if (err < 0) {
      bump(i2c_errors);
      degraded.store(true, std::memory_order_relaxed);
      backoff_left = backoff_next;
      backoff_next = std::min<std::uint32_t>(backoff_next * 2, cfg.rate_hz);
      skip(1);
      return;
    }
    backoff_next = 1;
    degraded.store(false, std::memory_order_relaxed);
  }
  // The ring record: the frame's 64-bit number (native order, the loop strips it), then
  // the frame as the file gets it, whose counter holds the number's low bits.
  std::uint8_t record[kNumberBytes + devices::kExtendedFrameSize];
  std::memcpy(record, &frame_number, kNumberBytes);
  std::uint8_t* frame = record + kNumberBytes;
  const auto counter = static_cast<std::uint32_t>(frame_number);
  if (cfg.format == config::ImuFormat::seed) {
    devices::encode_seed(
        counter, s, std::span<std::uint8_t, devices::kSeedFrameSize>(frame, devices::kSeedFrameSize));
  } else {
    devices::ExtendedFrame f;
    f.flags = static_cast<std::uint16_t>(
        (cfg.trigger == config::ImuTrigger::data_ready ? devices::kFlagDataReady : 0) |
        (gap_before ? devices::kFlagGapBefore : 0));
    f.counter = counter;
    f.ts_ns = ts_ns;
    f.sample = s;
    devices::encode_extended(f, std::span<std::uint8_t, devices::kExtendedFrameSize>(
                                    frame, devices::kExtendedFrameSize));
  }
  ++frame_number;
  if (ring.write(std::as_bytes(std::span(record, record_bytes)))) {
    bump(frames);
    gap_before = false;
  } else {
    bump(overruns);  // the loop fell more than buffer_ms behind; the number stays used
    gap_before = true;
  }
  wake.set();
}

bool ImuStream::on_edge(std::uint16_t, bool level, const gpio::RawEdge& edge,
                        std::int64_t&) noexcept {
  if (!level) return false;
  // Data-ready edges the kernel dropped (its FIFO overflowed) were samples the chip made
  // and nobody read: the line seqno says how many.
  // Seqnos start at 1 per line request (so a lower one is a new request).
  const std::uint32_t expected = edge.line_seqno > last_edge_seqno ? last_edge_seqno + 1 : 1;
  const std::uint64_t dropped = edge.line_seqno > expected ? edge.line_seqno - expected : 0;
  last_edge_seqno = edge.line_seqno;
  bump(samples_due, dropped + 1);
  if (dropped > 0) skip(dropped);
  sample(edge.timestamp_ns);
  return false;  // data-ready edges are counted, not logged one by one
}

void ImuStream::on_tick(std::uint64_t expirations) noexcept {
  bump(samples_due, expirations);
  if (expirations > 1) {
    bump(missed_ticks, expirations - 1);
    skip(expirations - 1);
  }
  sample(monotonic_ns());
}

PollStream::PollStream(const config::PollConfig& c, loop::EventLoop& loop)
    : cfg(c), source(c), deadline(loop) {}

PollStream::~PollStream() {
  deadline.cancel();
  read_op.abandon();  // before the fd and buffer it reads into go
}

std::uint64_t PollStream::deadline_ns() const noexcept {
  // Before the next tick, so that the tick finds the read over and starts the next one.
  return std::min<std::uint64_t>(std::uint64_t{cfg.interval_ms} * 750'000, std::uint64_t{kPollDeadlineMs} * 1'000'000);
}

}  // namespace gpioirq::app
