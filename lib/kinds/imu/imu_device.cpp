#include "kinds/imu/imu_device.hpp"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/imu_frame.hpp"
#include "devices/mpu6050.hpp"

namespace gpioirq::kinds {
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

std::span<const std::uint8_t> as_u8(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
}

}  // namespace

ImuSampler::ImuSampler(const config::ImuConfig& c, core::ThreadSafeFlag& wake_flag)
    : cfg(c),
      wake(wake_flag),
      simulated(c.i2c_bus == "sim"),
      frame_bytes(devices::frame_size(c.format)),
      record_bytes(kNumberBytes + frame_bytes),
      ring(record_bytes *
           std::max<std::size_t>(2 * c.block_records,
                                 static_cast<std::size_t>(c.rate_hz) * c.buffer_ms / 1000 + 1)) {}

void ImuSampler::open_device() {
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

void ImuSampler::make_timer() {
  timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer) throw std::system_error(errno, std::system_category(), "timerfd_create");
}

void ImuSampler::arm_timer() {
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

void ImuSampler::skip(std::uint64_t samples) noexcept {
  frame_number += samples;  // the counter jumps over them in the file
  bump(overruns, samples);
  gap_before = true;
}

void ImuSampler::sample(std::uint64_t ts_ns) noexcept {
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
        counter, s,
        std::span<std::uint8_t, devices::kSeedFrameSize>(frame, devices::kSeedFrameSize));
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

bool ImuSampler::on_edge(std::uint16_t, bool level, const gpio::RawEdge& edge,
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

void ImuSampler::on_tick(std::uint64_t expirations) noexcept {
  bump(samples_due, expirations);
  if (expirations > 1) {
    bump(missed_ticks, expirations - 1);
    skip(expirations - 1);
  }
  sample(monotonic_ns());
}

ImuDevice::ImuDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context)
    : Device(device_kind, std::move(cfg), context),
      imu_(config::settings_cast<config::ImuConfig>(config())),
      rt_(imu_, context.rt_wake()),
      log_(std::make_unique<sinks::FrameLog>(context.loop(),
                                             sinks::frame_log_options(context.daemon(), imu_))),
      log_file_(*log_) {
  if (const int err = log_->open(); err < 0)
    throw_log_open_error("the IMU file", log_->options().path, err);
}

void ImuDevice::open() {
  try {
    rt_.open_device();
  } catch (const std::exception& error) {
    throw DeviceUnavailable(error.what());
  }
  if (imu_.trigger == config::ImuTrigger::timer && !rt_.timer) rt_.make_timer();
}

std::optional<LineRequest> ImuDevice::line_request() {
  if (imu_.trigger != config::ImuTrigger::data_ready) return std::nullopt;
  LineRequest request;
  request.lines.emplace_back(&*imu_.data_ready, "data_ready");
  request.settings = imu_.settings;
  request.edge = config::EdgeKind::rising;
  request.hook = &rt_;
  return request;
}

void ImuDevice::simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) {
  sim.add_pulses(offsets[0], imu_.rate_hz);
}

gpio::RtTimerHook* ImuDevice::rt_timer() {
  if (imu_.trigger != config::ImuTrigger::timer || !rt_.timer) return nullptr;
  return &rt_;
}

bool ImuDevice::resources_present() const {
  return rt_.simulated || ::access(imu_.i2c_bus.c_str(), F_OK) == 0;
}

void ImuDevice::before_rt_start() {
  if (imu_.trigger == config::ImuTrigger::timer && rt_.timer) rt_.arm_timer();
}

void ImuDevice::log_frame_gap(sinks::GapReason reason, std::uint64_t first, std::uint64_t count) {
  sinks::GapEntry gap;
  gap.ts_ns = monotonic_ns();
  gap.reason = reason;
  gap.device = name();
  gap.lost = count;
  gap.unit = sinks::GapUnit::frame;
  // Exclusive bounds: the frame numbers just before and just after the lost ones.
  gap.from = first == 0 ? std::nullopt : std::optional<std::uint64_t>(first - 1);
  gap.to = first + count;
  sinks::DeviceEvent ev;
  ev.ts_ns = gap.ts_ns;
  ev.device = name();
  ev.kind = kind().name();
  ev.event = "gap";
  ev.cls = sinks::EventClass::loss;
  ev.row = sinks::DeviceEvent::Row::gap;
  ev.gap = &gap;
  out().emit(ev, [&](nlohmann::json& f) {
    f["lost"] = count;
    f["reason"] = sinks::to_string(reason);
  });
}

void ImuDevice::flush_refused() {
  if (refused_.count == 0) return;
  log_frame_gap(sinks::GapReason::log_full, refused_.first, refused_.count);
  refused_ = {};
}

void ImuDevice::refuse_frames(Run run) {
  // Consecutive refusals (a disk full for a while) make one GAP row, written when the
  // file takes frames again or at the next flush tick.
  frames_lost_file_ += run.count;
  if (refused_.count != 0 && refused_.first + refused_.count == run.first) {
    refused_.count += run.count;
    return;
  }
  flush_refused();
  refused_ = run;
}

void ImuDevice::store_frames(std::span<const std::byte> records) {
  const std::size_t n = records.size() / rt_.record_bytes;
  if (frame_buffer_.size() < n * rt_.frame_bytes) frame_buffer_.resize(n * rt_.frame_bytes);
  frame_runs_.clear();
  for (std::size_t k = 0; k < n; ++k) {
    const std::byte* record = records.data() + k * rt_.record_bytes;
    std::uint64_t number = 0;
    std::memcpy(&number, record, ImuSampler::kNumberBytes);
    if (number > next_number_) {  // samples the RT thread numbered and could not hand over
      log_frame_gap(sinks::GapReason::imu_overrun, next_number_, number - next_number_);
      frames_lost_overrun_ += number - next_number_;
    }
    next_number_ = number + 1;
    std::memcpy(frame_buffer_.data() + k * rt_.frame_bytes, record + ImuSampler::kNumberBytes,
                rt_.frame_bytes);
    if (!frame_runs_.empty() && frame_runs_.back().first + frame_runs_.back().count == number)
      ++frame_runs_.back().count;
    else
      frame_runs_.push_back({number, 1});
  }
  if (log_->append_frames(
          as_u8(std::span<const std::byte>(frame_buffer_.data(), n * rt_.frame_bytes)))) {
    frames_written_ += n;
    flush_refused();
    for (const auto& run : frame_runs_) {
      if (!unconfirmed_.empty() &&
          unconfirmed_.back().first + unconfirmed_.back().count == run.first)
        unconfirmed_.back().count += run.count;
      else
        unconfirmed_.push_back(run);
    }
  } else {
    for (const auto& run : frame_runs_) refuse_frames(run);
  }
}

void ImuDevice::drain(bool everything) {
  if (finished_) return;
  sinks::FrameLog& log = *log_;
  const std::size_t block = rt_.record_bytes * imu_.block_records;
  if (ring_buffer_.size() < block) ring_buffer_.resize(block);
  // Whole blocks as they fill (readexactly), and what is left at a flush.
  for (;;) {
    std::span<std::byte> in(ring_buffer_.data(), block);
    if (rt_.ring.read_exactly(in)) {
      store_frames(in);
      continue;
    }
    if (!everything) break;
    // At most a block: the RT thread may have added records since read_exactly().
    const std::size_t whole =
        std::min(rt_.ring.available(), block) / rt_.record_bytes * rt_.record_bytes;
    if (whole == 0) break;
    store_frames(in.first(rt_.ring.read(in.first(whole))));
  }
  if (everything) {
    flush_refused();
    // The journal hears of a failing IMU file once, and once when it recovers.
    const sinks::AppendFileStatus file = log.status().file;
    if (file.healthy != file_healthy_) {
      file_healthy_ = file.healthy;
      if (!file.healthy)
        spdlog::warn(
            "imu '{}': writing {} fails ({}): frames it cannot hold are lost, each in a GAP row",
            name(), log.options().path, std::strerror(file.last_error));
      else
        spdlog::info("imu '{}': {} is written again", name(), log.options().path);
    }
  }
  // Keep the numbers of just the frames the file has not written yet: those are the
  // ones a close() on a full disk loses.
  std::uint64_t keep = log.unwritten_frames(), kept = 0;
  auto it = unconfirmed_.end();
  while (it != unconfirmed_.begin() && kept < keep) {
    --it;
    kept += it->count;
  }
  if (kept > keep) {
    it->first += kept - keep;
    it->count -= kept - keep;
  }
  unconfirmed_.erase(unconfirmed_.begin(), it);
}

void ImuDevice::finish(Finish) {
  // The RT thread is stopped and the ring drained (drain_all()).
  sinks::FrameLog& log = *log_;
  if (finished_) return;
  flush_refused();
  if (rt_.frame_number > next_number_) {  // numbered last, and the ring had no room for them
    log_frame_gap(sinks::GapReason::imu_overrun, next_number_, rt_.frame_number - next_number_);
    frames_lost_overrun_ += rt_.frame_number - next_number_;
    next_number_ = rt_.frame_number;
  }
  log.close();
  // What the file could not write even now (a disk still full) is lost: the last frames
  // it had accepted.
  std::uint64_t lost = std::min<std::uint64_t>(log.unwritten_frames(), frames_written_);
  frames_written_ -= lost;
  frames_lost_file_ += lost;
  for (auto it = unconfirmed_.rbegin(); lost > 0 && it != unconfirmed_.rend(); ++it) {
    const std::uint64_t take = std::min(lost, it->count);
    log_frame_gap(sinks::GapReason::log_full, it->first + it->count - take, take);
    lost -= take;
  }
  unconfirmed_.clear();
  finished_ = true;
  // The totals a reader checks the file and the GAP rows against: frames sampled (= the
  // frame numbers 0 .. value-1) and of those lost. A row only: no live line ever had it.
  sinks::DeviceEvent ev;
  ev.ts_ns = monotonic_ns();
  ev.device = name();
  ev.kind = kind().name();
  ev.event = "frames";
  ev.cls = sinks::EventClass::state;
  ev.live = false;
  ev.value = sinks::EventValue::integer(static_cast<std::int64_t>(rt_.samples_due.load()));
  ev.value2 = sinks::EventValue::integer(
      static_cast<std::int64_t>(frames_lost_overrun_ + frames_lost_file_));
  out().emit(ev, nullptr);
  if (frames_lost_overrun_ + frames_lost_file_ > 0)
    spdlog::warn(
        "imu '{}': {} frames sampled, {} lost before the file (overruns), {} refused or unwritten "
        "by the file",
        name(), rt_.samples_due.load(), frames_lost_overrun_, frames_lost_file_);
}

nlohmann::json ImuDevice::status(std::uint64_t) const {
  const sinks::FrameLogStatus fs = log_->status();
  return {{"name", name()},
          {"rate_hz", imu_.rate_hz},
          {"sampled", rt_.samples_due.load()},
          {"frames", rt_.frames.load()},
          {"written", frames_written_},
          {"unwritten", log_->unwritten_frames()},
          {"frames_lost_overrun", frames_lost_overrun_},
          {"frames_lost_file", frames_lost_file_},
          {"overruns", rt_.overruns.load()},
          {"missed_ticks", rt_.missed_ticks.load()},
          {"i2c_errors", rt_.i2c_errors.load()},
          {"degraded", rt_.degraded.load()},
          {"ring_high_water", rt_.ring.high_water()},
          {"file", log_->options().path},
          {"file_healthy", fs.file.healthy},
          {"file_write_errors", fs.file.write_errors},
          {"file_error", fs.file.last_error ? std::strerror(fs.file.last_error) : ""}};
}

void ImuDevice::metrics(MetricsOut& out, std::uint64_t) const {
  // Families in ImuKind::metric_families() order.
  out.sample(0, "", static_cast<double>(rt_.frames.load()));
  out.sample(1, ",reason=\"overrun\"", static_cast<double>(frames_lost_overrun_));
  out.sample(1, ",reason=\"file\"", static_cast<double>(frames_lost_file_));
  out.sample(2, "", static_cast<double>(rt_.overruns.load()));
}

std::string ImuDevice::summary(std::uint64_t) const {
  return fmt::format("{} Hz  frames {}", imu_.rate_hz, rt_.frames.load());
}

nlohmann::json ImuDevice::published_state(std::uint64_t /*now*/) const {
  return {{"rate_hz", imu_.rate_hz}, {"frames", rt_.frames.load()}, {"lost", lost()}};
}

std::vector<sinks::HaEntity> ImuDevice::ha_entities() const {
  sinks::HaEntity rate;
  rate.component = "sensor";
  rate.object_id = "rate";
  rate.name = "rate";
  rate.state_member = "rate_hz";
  rate.unit = "Hz";
  rate.device_class = "frequency";
  rate.state_class = "measurement";
  return {rate};
}

std::unique_ptr<Device> make_imu_device(const Kind& kind, const config::DeviceConfig& cfg,
                                        DeviceContext& ctx) {
  return std::make_unique<ImuDevice>(kind, cfg, ctx);
}

}  // namespace gpioirq::kinds
