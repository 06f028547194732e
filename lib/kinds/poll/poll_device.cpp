#include "kinds/poll/poll_device.hpp"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace gpioirq::kinds {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

PollDevice::PollDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context)
    : Device(device_kind, std::move(cfg), context),
      poll_(config::settings_cast<config::PollConfig>(config())),
      source_(poll_),
      deadline_(context.loop()) {}

PollDevice::~PollDevice() {
  deadline_.cancel();
  read_op_.abandon();  // before the fd and buffer it reads into go
}

std::uint64_t PollDevice::deadline_ns() const noexcept {
  // Before the next tick, so that the tick finds the read over and starts the next one.
  return std::min<std::uint64_t>(std::uint64_t{poll_.interval_ms} * 750'000,
                                 std::uint64_t{kPollDeadlineMs} * 1'000'000);
}

void PollDevice::start() {
  read_op_.set_callback([this](int res, std::uint32_t) { on_read(res); });
  deadline_.set_callback([this] {
    if (!read_op_.in_flight()) return;
    // A slow device file: give up on this read (the loop never waits for it) and say so
    // now, whether or not the file honours the cancel.
    timed_out_ = true;
    ctx.loop().cancel(read_op_);
    report(source_.complete(ETIMEDOUT, {}, monotonic_ns()));
  });
  ctx.add_timer(*this, [this] { on_tick(); }).start_periodic(poll_.interval_ms * kMs);
}

void PollDevice::on_tick() {
  if (read_op_.in_flight()) {
    ++ticks_skipped_;  // the last read is still out, cancelled but not yet let go
    return;
  }
  const int fd = source_.open_nonblocking();
  if (fd < 0) {
    report(source_.complete(-fd, {}, monotonic_ns()));
    return;
  }
  fd_.reset(fd);
  timed_out_ = false;
  const int r = ctx.loop().read(fd_.get(), buffer_.data(), static_cast<unsigned>(buffer_.size()),
                                loop::EventLoop::kCurrentPosition, read_op_);
  if (r < 0) {
    fd_.reset();
    report(source_.complete(-r, {}, monotonic_ns()));
    return;
  }
  deadline_.start_once(deadline_ns());
}

void PollDevice::on_read(int res) {
  deadline_.cancel();
  fd_.reset();
  if (timed_out_) return;  // reported when the deadline passed
  const int err = res < 0 ? -res : 0;
  const std::size_t len = res > 0 ? static_cast<std::size_t>(res) : 0;
  report(source_.complete(err, std::string_view(buffer_.data(), len), monotonic_ns()));
}

void PollDevice::report(const devices::PollReading& reading) {
  sinks::DeviceEvent ev;
  ev.ts_ns = monotonic_ns();
  ev.device = name();
  ev.kind = kind().name();
  if (reading.ok()) {
    ev.event = "poll";
    ev.cls = sinks::EventClass::state;
    ev.value = sinks::EventValue::real(reading.value);
    ev.value2 = sinks::EventValue::real(reading.raw);
    ev.unit = poll_.unit;
    out().emit(ev, [&](nlohmann::json& f) { f["value"] = reading.value; });
    if (source_.state_changed()) spdlog::info("poll '{}': reading again", name());
    return;
  }
  // A failing source is logged when its state changes, not every interval; status
  // carries the running figures (consecutive failures, last success).
  if (!source_.state_changed()) return;
  ev.event = "poll_error";
  ev.cls = sinks::EventClass::occurrence;
  ev.value = sinks::EventValue::integer(reading.error);
  ev.unit = reading.message;
  spdlog::warn("poll '{}': {}", name(), reading.message);
  out().emit(ev, [&](nlohmann::json& f) { f["error"] = reading.message; });
}

nlohmann::json PollDevice::status_entry() const {
  return {{"name", name()},
          {"path", poll_.path},
          {"reads", source_.reads()},
          {"errors", source_.errors()},
          {"consecutive_failures", source_.consecutive_failures()},
          {"error", source_.last().message},
          {"last_ok_ns", source_.last_ok_ns()},
          {"reading", read_op_.in_flight()},
          {"ticks_skipped", ticks_skipped_}};
}

nlohmann::json PollDevice::status(std::uint64_t) const {
  nlohmann::json j = status_entry();
  j["value"] = source_.last().value;
  j["unit"] = poll_.unit;
  return j;
}

std::string PollDevice::summary(std::uint64_t) const {
  const devices::PollReading& last = source_.last();
  std::string text;
  if (source_.reads() == 0)
    text = "no reading yet";
  else if (!last.ok())
    text = last.error == ETIMEDOUT ? "read timed out"
                                   : std::strerror(last.error);  // not "Connection ..."
  else if (poll_.unit.empty())
    text = fmt::format("{:.6g}", last.value);
  else
    text = fmt::format("{:.6g} {}", last.value, poll_.unit);
  return cut_utf8(std::move(text));  // a unit may be UTF-8 ("°C")
}

nlohmann::json PollDevice::published_state(std::uint64_t /*now*/) const {
  // null: Home Assistant's MQTT sensor shows "unknown" (its template renders "None"), not
  // a stale or made-up number.
  const devices::PollReading& last = source_.last();
  const bool good = source_.reads() > 0 && last.ok();
  return {{"value", good ? nlohmann::json(last.value) : nlohmann::json(nullptr)},
          {"unit", poll_.unit}};
}

std::vector<sinks::HaEntity> PollDevice::ha_entities() const {
  sinks::HaEntity value;
  value.component = "sensor";
  value.object_id = "value";
  value.name = "value";
  value.state_member = "value";
  value.unit = poll_.unit;
  value.state_class = "measurement";
  return {value};
}

std::unique_ptr<Device> make_poll_device(const Kind& kind, const config::DeviceConfig& cfg,
                                         DeviceContext& ctx) {
  return std::make_unique<PollDevice>(kind, cfg, ctx);
}

}  // namespace gpioirq::kinds
