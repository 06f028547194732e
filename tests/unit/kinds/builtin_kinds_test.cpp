// The five kinds gpioirq had before kinds were a module, as the table lists them (their order
// fixes every kind-major output: status lines, list replies, metrics, the start-up line), and
// what the loader makes of their tables: one DeviceConfig per table, by kind then file order.
#include <catch2/catch_test_macros.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "config/config_diff.hpp"
#include "config/config_error.hpp"
#include "config/device_reader.hpp"
#include "config/schema.hpp"
#include "kinds/kind.hpp"

using namespace gpioirq;

namespace {

std::vector<std::string_view> family_names(const kinds::Kind& kind) {
  std::vector<std::string_view> names;
  for (const kinds::MetricFamily& f : kind.metric_families()) names.push_back(f.name);
  return names;
}

// Tables written out of kind order on purpose: Config::devices is by kind, then by file.
constexpr std::string_view every_kind = R"([[chip]]
name = "sim0"
backend = "sim"

[[poll]]
name = "temp"
path = "/proc/loadavg"

[[encoder]]
name = "knob"
chip = "sim0"
a = 1
b = 2

[[button]]
name = "stop"
chip = "sim0"
line = 3

[[imu]]
name = "tilt"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 100

[[counter]]
name = "water"
chip = "sim0"
line = 4

[[encoder]]
name = "volume"
chip = "sim0"
a = 5
b = 6
)";

// A kind's parse with a bug: it reads the table but never calls DeviceReader::name().
struct Nameless {
  int rate = 1;
  bool operator==(const Nameless&) const = default;
};
void blank_places(Nameless&) {}
std::vector<const config::LineRef*> line_refs_of(const Nameless&) {
  return {};
}
std::shared_ptr<const config::DeviceSettings> parse_without_name(config::DeviceReader& r) {
  Nameless n;
  config::assign(n.rate, r.integer("rate", 1, 10));
  return std::make_shared<const config::SettingsOf<Nameless>>(n);
}

}  // namespace

TEST_CASE("the five first kinds are listed in their frozen order, each with its reports",
          "[kinds][registry]") {
  const auto all = kinds::registry();
  REQUIRE(all.size() >= 5);
  const std::vector<std::string_view> expected = {"encoder", "button", "counter", "imu", "poll"};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("position " << i);
    CHECK(all[i]->name() == expected[i]);
    CHECK(kinds::find_kind(expected[i]) == all[i]);
    CHECK(kinds::config_sections()[i].table == expected[i]);
  }
  const kinds::Kind& encoder = *all[0];
  const kinds::Kind& button = *all[1];
  const kinds::Kind& counter = *all[2];
  const kinds::Kind& imu = *all[3];
  const kinds::Kind& poll = *all[4];

  // "running: N encoders, N buttons, N counters, N IMUs, N polled" and --check-config.
  CHECK(encoder.plural() == "encoders");
  CHECK(button.plural() == "buttons");
  CHECK(counter.plural() == "counters");
  CHECK(imu.plural() == "IMUs");
  CHECK(poll.plural() == "polled");

  // The four list commands; polled files are listed by `counters`, after the counters.
  CHECK(encoder.list_command() == "encoders");
  CHECK(button.list_command() == "buttons");
  CHECK(counter.list_command() == "counters");
  CHECK(imu.list_command() == "imu");
  CHECK(poll.list_command() == "counters");
  CHECK(poll.status_key() == "polls");
  for (const kinds::Kind* k : {&encoder, &button, &counter, &imu}) CHECK(k->status_key().empty());

  CHECK(encoder.in_latency_report());
  CHECK(button.in_latency_report());
  CHECK(counter.in_latency_report());
  CHECK_FALSE(imu.in_latency_report());
  CHECK_FALSE(poll.in_latency_report());
  for (const kinds::Kind* k : {&encoder, &button, &counter, &imu}) CHECK(k->can_be_down());
  CHECK_FALSE(poll.can_be_down());

  // The metrics reply's kind families, in its order, with HELP where it had one.
  CHECK(family_names(encoder) ==
        std::vector<std::string_view>{"gpioirq_encoder_position",
                                      "gpioirq_encoder_position_error_bound"});
  CHECK(family_names(counter) ==
        std::vector<std::string_view>{"gpioirq_counter_total", "gpioirq_counter_frequency_hz"});
  CHECK(family_names(imu) == std::vector<std::string_view>{"gpioirq_imu_frames_total",
                                                           "gpioirq_imu_frames_lost_total",
                                                           "gpioirq_imu_overruns_total"});
  CHECK(family_names(button).empty());
  CHECK(family_names(poll).empty());
  CHECK(encoder.metric_families()[0].help.empty());
  CHECK(encoder.metric_families()[0].type == "gauge");
  CHECK(encoder.metric_families()[1].help == "How far the position may be off after lost edges.");
  CHECK(counter.metric_families()[0].type == "counter");
  CHECK(counter.metric_families()[1].type == "gauge");
  CHECK(imu.metric_families()[1].help ==
        "IMU frames lost, by where: before the file (overrun) or by the file.");
}

TEST_CASE("a device read from a file keeps its kind, name and place; its settings are its kind's",
          "[kinds][config]") {
  const config::Config c = kinds::parse_config(every_kind, "/etc/gpioirqd.toml");
  REQUIRE(c.devices.size() == 6);
  std::vector<std::string> order;
  for (const config::DeviceConfig& d : c.devices) order.push_back(d.kind + " " + d.name);
  CHECK(order == std::vector<std::string>{"encoder knob", "encoder volume", "button stop",
                                          "counter water", "imu tilt", "poll temp"});

  const config::DeviceConfig& knob = c.devices[0];
  CHECK(knob.place == config::SourcePlace{"/etc/gpioirqd.toml", 9, 1});
  const auto& e = config::settings_cast<config::EncoderConfig>(knob);
  CHECK(e.name == "knob");
  CHECK(e.place == knob.place);
  CHECK(std::get<std::uint32_t>(e.b.line) == 2);
  CHECK_THROWS_AS(config::settings_cast<config::ButtonConfig>(knob), std::bad_cast);
  const auto lines = knob.settings->line_refs();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == &e.a);
  CHECK(lines[1] == &e.b);

  CHECK(config::settings_cast<config::PollConfig>(c.devices[5]).path == "/proc/loadavg");
  CHECK(c.devices[5].settings->line_refs().empty());
  CHECK(config::settings_cast<config::ImuConfig>(c.devices[4]).rate_hz == 100);
  CHECK(config::settings_of<config::EncoderConfig>(c).size() == 2);
  CHECK(config::settings_of<config::EncoderConfig>(c)[1].name == "volume");

  // Parsed again: equal, and the reload diff sees nothing changed, in file order.
  const config::Config again = kinds::parse_config(every_kind, "/etc/gpioirqd.toml");
  CHECK(again == c);
  const config::ConfigDiff d = config::diff(c, again);
  CHECK(d.unchanged == std::vector<std::string>{"temp", "knob", "stop", "tilt", "water", "volume"});
  CHECK(d.changed.empty());
}

TEST_CASE("only the tables of the sections given are read; a parse that skips name() is a bug",
          "[kinds][config]") {
  // Without sections the loader knows no device table at all.
  CHECK_THROWS_AS(config::parse("[[encoder]]\nname = \"knob\"\n", "/x.toml", {}),
                  config::ConfigError);
  CHECK(config::parse("[[chip]]\nname = \"g\"\nbackend = \"sim\"\n", "/x.toml", {}).chips.size() ==
        1);

  const config::DeviceSection forgetful[] = {{"probe", &parse_without_name}};
  CHECK_THROWS_AS(config::parse("[[probe]]\nname = \"p\"\nrate = 2\n", "/x.toml", forgetful),
                  std::logic_error);
  // An empty file has no [[probe]]: the section's parse is never called.
  CHECK(config::parse("", "/x.toml", forgetful).devices.empty());
}
