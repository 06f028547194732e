#pragma once
// A quadrature encoder as the daemon runs it: its two lines, the RT hook that decodes them
// into a position, and the loop side that logs positions (and how far they may be off
// after lost edges) and reports them.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "devices/encoder.hpp"
#include "gpio/edge_record.hpp"
#include "gpio/ingest_thread.hpp"
#include "gpio/line_source.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/device.hpp"
#include "kinds/kind.hpp"

namespace gpioirq::kinds {

// The RT hook derives both lines' levels by toggling on each edge (the kernel's edge type
// is read late at high rates and can be wrong; a toggle cannot).
//
// After the kernel's FIFO overflowed (the request's global seqno jumps: both lines may
// have lost edges) the toggled levels mean nothing. Reading the levels from the chip
// then would be wrong too: they are the levels after every edge still queued behind the
// one being handled. So each line's level is taken from the type of its first edge after
// the gap (the level right after that edge) and nothing is counted until both lines are
// known again; from then on toggling resumes. What the position may be off by is bounded
// and published: one count per lost edge, plus one per edge seen while a level was unknown.
struct EncoderRt final : gpio::RtLineHook {
  explicit EncoderRt(const config::EncoderConfig& c) : encoder(c) {}
  devices::Encoder encoder;
  std::uint16_t line_a = 0, line_b = 0;
  std::uint32_t offset_a = 0, offset_b = 0;
  // RT thread only.
  bool level_a = false, level_b = false;
  bool known_a = true, known_b = true;  // false from a gap to the line's next edge
  std::uint32_t last_global_seqno = 0;  // of the request; 0: no edge read yet
  // Written by the RT thread, read by the loop.
  std::atomic<std::uint64_t> uncertainty{0};  // quarter steps the position may be off by
  std::atomic<std::uint64_t> resyncs{0};      // gaps after which levels were re-learnt
  std::atomic<std::uint64_t> late{0};         // edges that came after a later seqno

  // The levels read from the chip, before the ingest thread runs (no edge is queued yet
  // that they could be ahead of). A fresh request's seqnos start at 1 again.
  void init_levels(gpio::LineSource& source);
  // What the position may be off by since start, in position units (see encoder.hpp:
  // a resync drops a half-counted sub-count, div rounds).
  std::uint64_t position_error_bound() const noexcept;
  bool on_edge(std::uint16_t line, bool level, const gpio::RawEdge& edge,
               std::int64_t& value) noexcept override;
};

class EncoderDevice final : public Device {
 public:
  EncoderDevice(const Kind& device_kind, config::DeviceConfig cfg, DeviceContext& context);

  std::optional<LineRequest> line_request() override;
  void simulate(gpio::SimSource& sim, std::span<const std::uint32_t> offsets) override;
  void attached() override;
  void on_edge(const gpio::EdgeRecord& r, std::size_t line_index) override;
  nlohmann::json status(std::uint64_t now) const override;
  void metrics(MetricsOut& samples, std::uint64_t now) const override;
  std::string summary(std::uint64_t now) const override;
  // Publishing (MQTT): {position, velocity (per s), lost}; a position sensor.
  nlohmann::json published_state(std::uint64_t now) const override;
  std::vector<sinks::HaEntity> ha_entities() const override;
  void reset() override;

  // Persistence (#13): the position survives a restart.
  nlohmann::json save_state() const override;
  std::string restore_state(const nlohmann::json& saved) override;

  // The decoder and its RT state (the RT thread writes it while it runs).
  const EncoderRt& rt() const noexcept { return rt_; }
  std::uint64_t position_error_bound() const noexcept { return rt_.position_error_bound(); }

 private:
  const config::EncoderConfig& settings_;  // inside config(), which the device owns
  EncoderRt rt_;
  // Loop side: what the last position / position_uncertain rows said.
  std::int64_t last_logged_ = 0;
  std::uint64_t uncertainty_logged_ = 0;
};

std::unique_ptr<Device> make_encoder_device(const Kind& kind, const config::DeviceConfig& cfg,
                                            DeviceContext& ctx);

}  // namespace gpioirq::kinds
