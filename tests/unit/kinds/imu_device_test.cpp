// ImuDevice: its RT side without the RT thread (every sample due takes a frame number, so
// the counter in the frames jumps over missed timer ticks, a full ring, and data-ready
// edges the kernel dropped; the ring records carry the full 64-bit number), and its loop
// side on the test context: frames into its file, a GAP row per run of lost frame numbers,
// the `frames` totals row at its end, and what it reports.
#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <chrono>
#include <concepts>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/config_error.hpp"
#include "config/device_settings.hpp"
#include "config/schema.hpp"
#include "devices/imu_frame.hpp"
#include "fake_context.hpp"
#include "gpio/sim_source.hpp"
#include "kinds/device.hpp"
#include "kinds/imu/imu_device.hpp"
#include "kinds/kind.hpp"
#include "support/temp_dir.hpp"

// What SettingsOf<ImuConfig> needs, for as long as config/schema.hpp does not declare it
// (part A2 adds `void blank_places(ImuConfig&)` and `line_refs_of(const ImuConfig&)`
// there): constrained templates, so that those plain functions win once they exist.
namespace gpioirq::config {
template <typename T>
requires std::same_as<T, ImuConfig>
void blank_places(T& c) {
  c.place = {};
  if (c.data_ready) c.data_ready->place = {};
}
template <typename T>
requires std::same_as<T, ImuConfig> std::vector<const LineRef*> line_refs_of(const T& c) {
  if (c.data_ready) return {&*c.data_ready};
  return {};
}
}  // namespace gpioirq::config

using namespace gpioirq;
using kinds::ImuDevice;
using kinds::ImuSampler;

namespace {

class TestImuKind final : public kinds::Kind {
 public:
  std::string_view name() const override { return "imu"; }
  std::string_view plural() const override { return "IMUs"; }
  config::DeviceSection section() const override { return {"imu", nullptr}; }
  std::unique_ptr<kinds::Device> make(const config::DeviceConfig& c,
                                      kinds::DeviceContext& ctx) const override {
    return kinds::make_imu_device(*this, c, ctx);
  }
};

config::ImuConfig timer_imu() {
  config::ImuConfig c;
  c.name = "imu";
  c.i2c_bus = "sim";
  c.trigger = config::ImuTrigger::timer;
  c.rate_hz = 1000;
  c.buffer_ms = 10;  // 11 records
  c.block_records = 2;
  c.format = config::ImuFormat::extended;
  return c;
}

config::ImuConfig data_ready_imu() {
  config::ImuConfig c = timer_imu();
  c.trigger = config::ImuTrigger::data_ready;
  c.data_ready = config::LineRef{"sim0", std::uint32_t{4}, {}};
  return c;
}

// A context with a fresh log_dir, and an IMU made by its kind in it.
struct Fixture {
  gpioirq_test::TempDir dir;
  kinds_test::FakeContext ctx;
  TestImuKind kind;
  std::unique_ptr<kinds::Device> device;

  explicit Fixture(const config::ImuConfig& c = timer_imu()) {
    ctx.daemon_config.log_dir = dir.path().string();
    device = kind.make(
        config::DeviceConfig{
            "imu", c.name, {}, std::make_shared<const config::SettingsOf<config::ImuConfig>>(c)},
        ctx);
  }
  ImuDevice& imu() { return dynamic_cast<ImuDevice&>(*device); }
};

struct Taken {
  std::uint64_t number;
  std::uint32_t counter;
  bool gap_before;
};

// Every record in the ring: its number, and the frame's own counter and gap flag.
std::vector<Taken> take_all(ImuSampler& m) {
  std::vector<Taken> out;
  std::vector<std::byte> rec(m.record_bytes);
  while (m.ring.read_exactly(rec)) {
    Taken t{};
    std::memcpy(&t.number, rec.data(), ImuSampler::kNumberBytes);
    const auto f = devices::decode_extended(
        std::span(reinterpret_cast<const std::uint8_t*>(rec.data()) + ImuSampler::kNumberBytes,
                  m.frame_bytes));
    REQUIRE(f.has_value());
    t.counter = f->counter;
    t.gap_before = (f->flags & devices::kFlagGapBefore) != 0;
    out.push_back(t);
  }
  return out;
}

// The counters of the last `n` frames of an extended-format frame file.
std::vector<std::uint32_t> last_counters(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  const std::size_t size = devices::kExtendedFrameSize;
  REQUIRE(bytes.size() >= n * size);
  std::vector<std::uint32_t> out;
  for (std::size_t k = bytes.size() - n * size; k < bytes.size(); k += size) {
    const auto f = devices::decode_extended(
        std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()) + k, size));
    REQUIRE(f.has_value());
    out.push_back(f->counter);
  }
  return out;
}

class RecordingMetrics final : public kinds::MetricsOut {
 public:
  struct Sample {
    std::size_t family;
    std::string labels;
    double value;
  };
  std::vector<Sample> samples;
  void sample(std::size_t family, std::string_view extra_labels, double v) override {
    samples.push_back({family, std::string(extra_labels), v});
  }
};

}  // namespace

TEST_CASE("ImuDevice: a full ring's samples keep their numbers; the next frame jumps", "[imu]") {
  Fixture f;
  ImuSampler& m = f.imu().sampler();
  const std::size_t capacity = m.ring.capacity() / m.record_bytes;
  REQUIRE(capacity == 11);
  for (std::size_t i = 0; i < capacity + 5; ++i) m.on_tick(1);  // nobody drains: 5 overrun
  CHECK(m.overruns.load() == 5);
  CHECK(m.frames.load() == capacity);
  auto taken = take_all(m);
  REQUIRE(taken.size() == capacity);
  for (std::size_t i = 0; i < taken.size(); ++i) {
    CHECK(taken[i].number == i);
    CHECK(taken[i].counter == i);
  }
  m.on_tick(1);
  taken = take_all(m);
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].number == capacity + 5);  // the 5 the ring refused are skipped, not reused
  CHECK(taken[0].counter == capacity + 5);
  CHECK(taken[0].gap_before);
  CHECK(m.samples_due.load() == capacity + 6);
}

TEST_CASE("ImuDevice: missed timer ticks advance the frame counter", "[imu]") {
  Fixture f;
  ImuSampler& m = f.imu().sampler();
  m.on_tick(1);
  m.on_tick(4);  // three ticks missed
  m.on_tick(1);
  const auto taken = take_all(m);
  REQUIRE(taken.size() == 3);
  CHECK(taken[0].number == 0);
  CHECK(taken[1].number == 4);
  CHECK(taken[1].counter == 4);
  CHECK(taken[1].gap_before);
  CHECK(taken[2].number == 5);
  CHECK_FALSE(taken[2].gap_before);
  CHECK(m.missed_ticks.load() == 3);
  CHECK(m.overruns.load() == 3);
  CHECK(m.samples_due.load() == 6);
}

TEST_CASE("ImuDevice: data-ready edges the kernel dropped advance the frame counter", "[imu]") {
  Fixture f(data_ready_imu());
  // The hook its line request hands the RT thread.
  const auto request = f.imu().line_request();
  REQUIRE(request.has_value());
  REQUIRE(request->hook != nullptr);
  std::int64_t value = 0;
  gpio::RawEdge e;
  for (std::uint32_t seqno : {1u, 2u, 7u, 8u}) {  // 3..6 dropped by the kernel
    e.line_seqno = seqno;
    e.timestamp_ns = seqno * 1000;
    e.rising = true;
    CHECK_FALSE(request->hook->on_edge(0, true, e, value));
  }
  ImuSampler& m = f.imu().sampler();
  const auto taken = take_all(m);
  REQUIRE(taken.size() == 4);
  CHECK(taken[2].number == 6);
  CHECK(taken[2].gap_before);
  CHECK(taken[3].number == 7);
  CHECK(m.samples_due.load() == 8);
  CHECK(m.overruns.load() == 4);
}

TEST_CASE("ImuDevice: seed frames carry the number's low 14 bits", "[imu]") {
  auto c = timer_imu();
  c.format = config::ImuFormat::seed;
  Fixture f(c);
  ImuSampler& m = f.imu().sampler();
  m.on_tick(16385);  // 16384 missed: the counter wraps, the number does not
  std::vector<std::byte> rec(m.record_bytes);
  REQUIRE(m.ring.read_exactly(rec));
  std::uint64_t number = 0;
  std::memcpy(&number, rec.data(), ImuSampler::kNumberBytes);
  CHECK(number == 16384);
  const auto frame = devices::decode_seed(std::span(
      reinterpret_cast<const std::uint8_t*>(rec.data()) + ImuSampler::kNumberBytes, m.frame_bytes));
  REQUIRE(frame.has_value());
  CHECK(frame->counter == 0);
}

TEST_CASE(
    "ImuDevice: numbers the ring never gave make one imu_overrun GAP row; frames reach the file",
    "[imu]") {
  Fixture f;
  f.ctx.recorded.live_all = true;
  ImuDevice& imu = f.imu();
  ImuSampler& m = imu.sampler();
  for (int i = 0; i < 16; ++i) m.on_tick(1);  // 11 fit, frames 11..15 overrun
  imu.after_drain();                          // whole blocks of 2: frames 0..9
  CHECK(imu.frames_written() == 10);
  imu.drain_all();  // and what is left: frame 10
  CHECK(imu.frames_written() == 11);
  CHECK(f.ctx.recorded.named("gap").empty());  // nothing handed over is missing yet
  m.on_tick(1);                                // frame 16
  imu.drain_all();

  const auto gaps = f.ctx.recorded.named("gap");
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0].device == "imu");
  CHECK(gaps[0].kind == "imu");
  CHECK(gaps[0].cls == sinks::EventClass::loss);
  CHECK(gaps[0].row == sinks::DeviceEvent::Row::gap);
  REQUIRE(gaps[0].gap.has_value());
  CHECK(gaps[0].gap->reason == sinks::GapReason::imu_overrun);
  CHECK(gaps[0].gap->unit == sinks::GapUnit::frame);
  CHECK(gaps[0].gap->device == "imu");
  CHECK(gaps[0].gap->lost == 5);
  CHECK(gaps[0].gap->from == std::optional<std::uint64_t>(10));  // exclusive bounds
  CHECK(gaps[0].gap->to == 16);
  CHECK(gaps[0].ts_ns == gaps[0].gap->ts_ns);
  REQUIRE(gaps[0].fields.has_value());
  CHECK(*gaps[0].fields == nlohmann::json({{"lost", 5}, {"reason", "imu_overrun"}}));
  CHECK(imu.frames_lost_overrun() == 5);
  CHECK(imu.lost() == 5);

  imu.finish(kinds::Finish::stop);
  const auto totals = f.ctx.recorded.named("frames");
  REQUIRE(totals.size() == 1);
  CHECK(totals[0].row == sinks::DeviceEvent::Row::event);
  CHECK_FALSE(totals[0].live);                // a row only, as before: monitor never showed it
  CHECK(totals[0].value.as_integer() == 17);  // sampled: frame numbers 0..16
  CHECK(totals[0].value2.as_integer() == 5);  // lost
  CHECK(f.ctx.recorded.named("gap").size() == 1);
  CHECK(imu.status(0)["unwritten"] == 0);
  CHECK(imu.status(0)["written"] == 12);
  const std::vector<std::uint32_t> expected{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16};
  CHECK(last_counters(f.dir.file("imu.imu"), 12) == expected);
}

TEST_CASE("ImuDevice: numbers taken after the last handover are a GAP row at its end", "[imu]") {
  Fixture f;
  ImuDevice& imu = f.imu();
  ImuSampler& m = imu.sampler();
  for (int i = 0; i < 14; ++i) m.on_tick(1);  // 11 fit, frames 11..13 never handed over
  imu.drain_all();
  CHECK(f.ctx.recorded.named("gap").empty());
  imu.finish(kinds::Finish::retired);
  const auto gaps = f.ctx.recorded.named("gap");
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0].gap->reason == sinks::GapReason::imu_overrun);
  CHECK(gaps[0].gap->lost == 3);
  CHECK(gaps[0].gap->from == std::optional<std::uint64_t>(10));
  CHECK(gaps[0].gap->to == 14);
  CHECK_FALSE(gaps[0].fields.has_value());  // nobody listened
  const auto totals = f.ctx.recorded.named("frames");
  REQUIRE(totals.size() == 1);
  CHECK(totals[0].value.as_integer() == 14);
  CHECK(totals[0].value2.as_integer() == 3);
  imu.finish(kinds::Finish::stop);  // once only
  CHECK(f.ctx.recorded.named("frames").size() == 1);
  imu.drain_all();  // a finished IMU takes nothing more
  CHECK(f.ctx.recorded.events.size() == 2);
}

TEST_CASE("ImuDevice: the first frame lost has no lower bound", "[imu]") {
  Fixture f;
  ImuDevice& imu = f.imu();
  imu.sampler().on_tick(3);  // frames 0 and 1 missed
  imu.drain_all();
  const auto gaps = f.ctx.recorded.named("gap");
  REQUIRE(gaps.size() == 1);
  CHECK_FALSE(gaps[0].gap->from.has_value());
  CHECK(gaps[0].gap->to == 2);
  CHECK(gaps[0].gap->lost == 2);
}

TEST_CASE("ImuDevice: reports the imu reply, its metrics, its file and a summary", "[imu]") {
  Fixture f;
  ImuDevice& imu = f.imu();
  imu.sampler().on_tick(1);
  imu.sampler().on_tick(3);
  imu.drain_all();

  const nlohmann::json s = imu.status(0);
  CHECK(s["name"] == "imu");
  CHECK(s["rate_hz"] == 1000);
  CHECK(s["sampled"] == 4);
  CHECK(s["frames"] == 2);
  CHECK(s["written"] == 2);
  CHECK(s["frames_lost_overrun"] == 2);
  CHECK(s["frames_lost_file"] == 0);
  CHECK(s["overruns"] == 2);
  CHECK(s["missed_ticks"] == 2);
  CHECK(s["i2c_errors"] == 0);
  CHECK(s["degraded"] == false);
  CHECK(s["ring_high_water"].get<std::uint64_t>() > 0);
  CHECK(s["file"] == f.dir.file("imu.imu"));
  CHECK(s["file_healthy"] == true);
  CHECK(s["file_write_errors"] == 0);
  CHECK(s["file_error"] == "");
  CHECK(s.size() == 17);

  RecordingMetrics metrics;
  imu.metrics(metrics, 0);
  REQUIRE(metrics.samples.size() == 4);
  CHECK(metrics.samples[0].family == 0);
  CHECK(metrics.samples[0].value == 2);  // frames
  CHECK(metrics.samples[1].family == 1);
  CHECK(metrics.samples[1].labels == ",reason=\"overrun\"");
  CHECK(metrics.samples[1].value == 2);
  CHECK(metrics.samples[2].family == 1);
  CHECK(metrics.samples[2].labels == ",reason=\"file\"");
  CHECK(metrics.samples[2].value == 0);
  CHECK(metrics.samples[3].family == 2);
  CHECK(metrics.samples[3].value == 2);  // overruns

  CHECK(imu.summary(0) == "1000 Hz  frames 2");

  const auto logs = imu.logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0]->path() == f.dir.file("imu.imu"));
  CHECK(logs[0]->path_check() == sinks::AppendFile::PathCheck::same);
  CHECK(logs[0]->file_status().healthy);
  REQUIRE(std::rename(f.dir.file("imu.imu").c_str(), f.dir.file("imu.imu.1").c_str()) == 0);
  CHECK(logs[0]->path_check() == sinks::AppendFile::PathCheck::moved);
  CHECK(logs[0]->reopen() == 1);
  struct stat st {};
  CHECK(::stat(f.dir.file("imu.imu").c_str(), &st) == 0);
}

TEST_CASE("ImuDevice: publishes rate, frames and losses; HA sees its rate", "[imu][mqtt]") {
  Fixture f;
  ImuDevice& imu = f.imu();
  imu.sampler().on_tick(1);
  imu.sampler().on_tick(3);
  imu.drain_all();
  CHECK(imu.published_state(0) ==
        nlohmann::json{{"rate_hz", 1000}, {"frames", 2}, {"lost", imu.lost()}});
  CHECK(imu.lost() == 2);
  const std::vector<sinks::HaEntity> ha = imu.ha_entities();
  REQUIRE(ha.size() == 1);
  CHECK(ha[0].component == "sensor");
  CHECK(ha[0].state_member == "rate_hz");
  CHECK(ha[0].unit == "Hz");
}

TEST_CASE("ImuDevice: timer mode has no lines, and its timer once the bus answered", "[imu]") {
  Fixture f;
  ImuDevice& imu = f.imu();
  CHECK_FALSE(imu.line_request().has_value());
  CHECK(imu.rt_timer() == nullptr);  // no timerfd before open()
  CHECK(imu.resources_present());    // a sim bus is always there
  imu.open();
  gpio::RtTimerHook* hook = imu.rt_timer();
  REQUIRE(hook != nullptr);
  CHECK(imu.rt_timer() == hook);
  itimerspec spec{};
  REQUIRE(::timerfd_gettime(hook->fd(), &spec) == 0);
  CHECK(spec.it_interval.tv_nsec == 0);  // not armed before the RT thread starts
  imu.before_rt_start();
  REQUIRE(::timerfd_gettime(hook->fd(), &spec) == 0);
  CHECK(spec.it_interval.tv_sec == 0);
  CHECK(spec.it_interval.tv_nsec == 1'000'000);  // 1000 Hz
  imu.open();                                    // an attach after an outage keeps its timer
  CHECK(imu.rt_timer() == hook);
}

TEST_CASE("ImuDevice: data-ready mode asks for its line, rising edges", "[imu]") {
  Fixture f(data_ready_imu());
  ImuDevice& imu = f.imu();
  const auto request = imu.line_request();
  REQUIRE(request.has_value());
  REQUIRE(request->lines.size() == 1);
  CHECK(request->lines[0].first == &*imu.settings().data_ready);
  CHECK(request->lines[0].second == "data_ready");
  CHECK(request->edge == config::EdgeKind::rising);
  CHECK(request->kernel_debounce_us == 0);
  imu.open();
  CHECK(imu.rt_timer() == nullptr);
}

TEST_CASE("ImuDevice: a missing bus is a device that waits, not a fatal error", "[imu]") {
  auto c = timer_imu();
  c.i2c_bus = "/dev/i2c-gpioirq-test-missing";
  Fixture f(c);
  ImuDevice& imu = f.imu();
  CHECK_FALSE(imu.resources_present());
  CHECK_THROWS_AS(imu.open(), kinds::DeviceUnavailable);
  CHECK(imu.rt_timer() == nullptr);
}

TEST_CASE("ImuDevice: a link at its file name is a configuration error", "[imu]") {
  gpioirq_test::TempDir dir;
  REQUIRE(::symlink("/dev/null", dir.file("imu.imu").c_str()) == 0);
  kinds_test::FakeContext ctx;
  ctx.daemon_config.log_dir = dir.path().string();
  const TestImuKind kind;
  const config::ImuConfig c = timer_imu();
  CHECK_THROWS_AS(
      kind.make(
          config::DeviceConfig{
              "imu", c.name, {}, std::make_shared<const config::SettingsOf<config::ImuConfig>>(c)},
          ctx),
      config::ConfigError);
}

TEST_CASE("ImuDevice: on a sim chip its data-ready line pulses at its rate, each edge a frame",
          "[imu]") {
  Fixture f(data_ready_imu());
  ImuDevice& imu = f.imu();
  gpio::SimSource sim("sim0/imu");
  sim.set_edge(4, config::EdgeKind::rising);
  const std::uint32_t offsets[] = {4};
  const auto t0 = std::chrono::steady_clock::now();
  imu.simulate(sim, offsets);
  sim.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  std::vector<gpio::RawEdge> edges(256);
  const int n = sim.read_events(edges);
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  REQUIRE(n >= 30);            // 1000 Hz for at least 40 ms, less the first period
  CHECK(n <= elapsed_ms + 2);  // and not faster
  gpio::RtLineHook* hook = imu.line_request()->hook;
  std::int64_t value = 0;
  for (int i = 0; i < n; ++i) {
    const gpio::RawEdge& e = edges[static_cast<std::size_t>(i)];
    CHECK(e.rising);
    hook->on_edge(0, e.rising, e, value);
    imu.after_drain();  // the loop keeps up: whole blocks
  }
  imu.drain_all();
  CHECK(imu.frames_written() == static_cast<std::uint64_t>(n));
  CHECK(f.ctx.recorded.named("gap").empty());
}

TEST_CASE("ImuDevice: frames its file refuses make one log_full GAP row per run", "[imu]") {
  Fixture f;
  ImuDevice& imu = f.imu();
  ImuSampler& m = imu.sampler();
  // The loop never runs here, so the file's writes never complete: once its buffers are
  // full it refuses frames, as on a disk that stopped taking them.
  constexpr int kTicks = 20000;
  for (int i = 0; i < kTicks; ++i) {
    m.on_tick(1);
    imu.after_drain();
  }
  imu.drain_all();
  const std::uint64_t refused = imu.frames_lost_file();
  REQUIRE(refused > 0);
  CHECK(imu.frames_written() + refused == kTicks);
  const auto gaps = f.ctx.recorded.named("gap");
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0].gap->reason == sinks::GapReason::log_full);
  CHECK(gaps[0].gap->lost == refused);
  CHECK(gaps[0].gap->from == std::optional<std::uint64_t>(imu.frames_written() - 1));
  CHECK(gaps[0].gap->to == kTicks);
  CHECK(imu.status(0)["frames_lost_file"] == refused);
}
