#include "kinds/encoder/encoder_device.hpp"

#include <cstdint>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace gpioirq::kinds {

void EncoderRt::init_levels(gpio::LineSource& source) {
  const int a = source.read_level(offset_a), b = source.read_level(offset_b);
  known_a = a >= 0;
  known_b = b >= 0;
  level_a = a == 1;
  level_b = b == 1;
  last_global_seqno = 0;
  if (known_a && known_b) encoder.resync(level_a, level_b);
}

std::uint64_t EncoderRt::position_error_bound() const noexcept {
  const std::uint64_t quarters = uncertainty.load(std::memory_order_relaxed);
  if (quarters == 0) return 0;
  const auto per_count = static_cast<std::uint64_t>(4 / encoder.counts_per_period());
  std::uint64_t counts = (quarters + per_count - 1) / per_count;
  if (per_count > 1) counts += resyncs.load(std::memory_order_relaxed);
  const auto div = static_cast<std::uint64_t>(encoder.div());
  return (counts + div - 1) / div;
}

bool EncoderRt::on_edge(std::uint16_t line, bool level, const gpio::RawEdge& edge,
                        std::int64_t& value) noexcept {
  auto bump = [](std::atomic<std::uint64_t>& c, std::uint64_t by) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  };
  // Signed: on a multi-core kernel the request's seqno (taken in the hard IRQ handler) can
  // reach the FIFO out of order, since each line's IRQ thread queues its own edge.
  const auto ahead = static_cast<std::int32_t>(edge.global_seqno - last_global_seqno);
  const bool is_a = line == line_a;
  bool& lvl = is_a ? level_a : level_b;
  bool& known = is_a ? known_a : known_b;
  if (last_global_seqno != 0 && ahead <= 0) {
    // A late edge: it was counted as possibly lost when the seqno jumped over it (its
    // quarter step is in the uncertainty already). Its type still tells its line's level
    // if no later edge of that line has: a line's own edges always come in order.
    if (!known) {
      lvl = level;
      known = true;
      if (known_a && known_b) encoder.resync(level_a, level_b);
    }
    bump(late, 1);
    value = encoder.position();
    return true;
  }
  if (last_global_seqno != 0 && ahead != 1) {
    // Edges of this request were dropped (or are late), on either line: each may have
    // moved the shaft one quarter step.
    bump(uncertainty, static_cast<std::uint64_t>(ahead) - 1);
    bump(resyncs, 1);
    known_a = known_b = false;
  }
  last_global_seqno = edge.global_seqno;
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

EncoderDevice::EncoderDevice(const Kind& device_kind, config::DeviceConfig cfg,
                             DeviceContext& context)
    : Device(device_kind, std::move(cfg), context),
      settings_(config::settings_cast<config::EncoderConfig>(config())),
      rt_(settings_) {}

std::optional<LineRequest> EncoderDevice::line_request() {
  LineRequest req;
  req.lines = {{&settings_.a, "a"}, {&settings_.b, "b"}};
  req.settings = settings_.line;
  req.edge = config::EdgeKind::both;
  req.hook = &rt_;
  return req;
}

void EncoderDevice::simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) {
  sim.add_quadrature(offsets[0], offsets[1], settings_.sim_rate_hz);
}

void EncoderDevice::attached() {
  rt_.line_a = state.lines[0];
  rt_.line_b = state.lines[1];
  rt_.offset_a = state.offsets[0];
  rt_.offset_b = state.offsets[1];
  rt_.init_levels(*state.source);
}

void EncoderDevice::on_edge(const gpio::EdgeRecord& r, std::size_t /*line_index*/) {
  if (const std::uint64_t bound = rt_.position_error_bound(); bound != uncertainty_logged_) {
    // The RT thread lost edges of this encoder (GAP rows say how many) and re-learnt its
    // levels: from here on the position is exact again, but may be shifted by this much.
    uncertainty_logged_ = bound;
    sinks::DeviceEvent ev;
    ev.ts_ns = r.timestamp_ns;
    ev.device = name();
    ev.kind = kind().name();
    ev.event = "position_uncertain";
    ev.cls = sinks::EventClass::loss;
    ev.value = sinks::EventValue::integer(static_cast<std::int64_t>(bound));
    ev.value2 = sinks::EventValue::integer(
        static_cast<std::int64_t>(rt_.resyncs.load(std::memory_order_relaxed)));
    out().emit(ev, [&](nlohmann::json& f) { f["value"] = bound; });
    spdlog::warn("encoder '{}': edges lost, levels re-learnt; its position may be off by up to {}",
                 name(), bound);
  }
  if (r.value != last_logged_) {
    const std::int64_t previous = last_logged_;
    last_logged_ = r.value;
    sinks::DeviceEvent ev;
    ev.ts_ns = r.timestamp_ns;
    ev.device = name();
    ev.kind = kind().name();
    ev.event = "position";
    ev.value = sinks::EventValue::integer(r.value);
    ev.value2 = sinks::EventValue::real(rt_.encoder.velocity(r.timestamp_ns));
    out().emit(ev, [&](nlohmann::json& f) { f["value"] = r.value; });
    if (settings_.detent_events) {
      // The same step as an occurrence: MQTT sends each one on the events topic (spooled,
      // in order) instead of coalescing positions into the state topic. No row: the
      // position row above is the record.
      ev.event = "detent";
      ev.cls = sinks::EventClass::occurrence;
      ev.row = sinks::DeviceEvent::Row::none;
      out().emit(ev, [&](nlohmann::json& f) {
        f["value"] = r.value;
        f["previous"] = previous;
      });
    }
  }
}

nlohmann::json EncoderDevice::status(std::uint64_t now) const {
  const devices::Encoder& e = rt_.encoder;
  return {{"name", name()},
          {"position", e.position()},
          {"counts", e.counts()},
          {"velocity", e.velocity(now)},
          {"transitions", e.transitions()},
          {"invalid", e.invalid_transitions()},
          {"lost", state.gaps_kernel + state.gaps_ring},
          {"resyncs", rt_.resyncs.load(std::memory_order_relaxed)},
          {"late", rt_.late.load(std::memory_order_relaxed)},
          {"position_error_bound", rt_.position_error_bound()}};
}

void EncoderDevice::metrics(MetricsOut& samples, std::uint64_t /*now*/) const {
  // Families (Kind::metric_families()): 0 gpioirq_encoder_position,
  // 1 gpioirq_encoder_position_error_bound.
  samples.sample(0, "", static_cast<double>(rt_.encoder.position()));
  samples.sample(1, "", static_cast<double>(rt_.position_error_bound()));
}

std::string EncoderDevice::summary(std::uint64_t now) const {
  const std::string position = fmt::format("pos {}", rt_.encoder.position());
  std::string s = fmt::format("{}  vel {:.1f}/s", position, rt_.encoder.velocity(now));
  return s.size() <= 32 ? s : position;  // a huge velocity: the position alone
}

nlohmann::json EncoderDevice::published_state(std::uint64_t now) const {
  return {{"position", rt_.encoder.position()},
          {"velocity", rt_.encoder.velocity(now)},
          {"lost", state.gaps_kernel + state.gaps_ring}};
}

std::vector<sinks::HaEntity> EncoderDevice::ha_entities() const {
  sinks::HaEntity position;
  position.component = "sensor";
  position.object_id = "position";
  position.name = "position";
  position.state_member = "position";
  position.state_class = "measurement";
  return {position};
}

void EncoderDevice::reset() {
  rt_.encoder.reset();
  state.latency.reset();
}

nlohmann::json EncoderDevice::save_state() const {
  // counts: what is restored; position and div say what it meant.
  const devices::Encoder& e = rt_.encoder;
  return {{"counts", e.counts()}, {"position", e.position()}, {"div", e.div()}};
}

std::string EncoderDevice::restore_state(const nlohmann::json& saved) {
  const auto counts = saved.is_object() ? saved.find("counts") : saved.end();
  if (!saved.is_object() || counts == saved.end() || !counts->is_number_integer())
    throw std::invalid_argument("no count (\"counts\": an integer)");
  std::int64_t c = counts->get<std::int64_t>();
  devices::Encoder& e = rt_.encoder;
  // div changed since the save: the position is what the user saw, so it is kept.
  if (const auto div = saved.find("div"), position = saved.find("position");
      div != saved.end() && position != saved.end() && div->is_number_integer() &&
      position->is_number_integer() && div->get<std::int64_t>() != e.div()) {
    const std::int64_t p = position->get<std::int64_t>();
    if (p > INT64_MAX / e.div() || p < INT64_MIN / e.div())
      throw std::invalid_argument("the saved position does not fit with div " +
                                  std::to_string(e.div()));
    c = p * e.div();
  }
  const std::int64_t set = e.restore_counts(c);
  std::string words = fmt::format("position {}", e.position());
  if (set != c) words += fmt::format(" (saved {} counts, brought inside min/max)", c);
  return words;
}

std::unique_ptr<Device> make_encoder_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx) {
  return std::make_unique<EncoderDevice>(kind, cfg, ctx);
}

}  // namespace gpioirq::kinds
