#include "kinds/button/button_config.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "config/config_error.hpp"

namespace gpioirq::kinds {

using namespace config;

namespace {

// The keys double as the "did you mean" candidates, so keep them complete and in the order
// of docs/CONFIGURATION.md.
constexpr std::string_view button_keys[] = {"name",
                                            "chip",
                                            "line",
                                            "bias",
                                            "active_low",
                                            "clock",
                                            "kind",
                                            "debounce_ms",
                                            "kernel_debounce_us",
                                            "long_press_ms",
                                            "double_click_ms",
                                            "sim_rate_hz"};
constexpr std::string_view kind_names[] = {"button", "switch"};
constexpr ButtonKind kind_values[] = {ButtonKind::button, ButtonKind::switch_};

}  // namespace

std::shared_ptr<const config::DeviceSettings> parse_button_config(config::DeviceReader& r) {
  ButtonConfig b;
  b.name = r.name(button_keys, "a button");
  b.place = r.place();
  r.require("chip");
  r.require("line");
  const ChipConfig& chip = r.chip();
  b.line = r.line("line", chip);
  b.settings = r.line_settings();
  assign(b.kind, r.choice("kind", kind_names, kind_values));
  assign(b.debounce_ms, r.integer("debounce_ms", 0, 10'000));
  if (chip.backend == Backend::sim)
    r.forbid("kernel_debounce_us", "needs a gpiod chip; the sim backend has no kernel debounce");
  assign(b.kernel_debounce_us, r.integer("kernel_debounce_us", 0, 1'000'000));
  if (b.kind == ButtonKind::switch_) {
    const std::string reason = "applies only to kind = \"button\"; a switch reports open and close";
    r.forbid("long_press_ms", reason);
    r.forbid("double_click_ms", reason);
  }
  assign(b.long_press_ms, r.integer("long_press_ms", 10, 600'000));
  assign(b.double_click_ms, r.integer("double_click_ms", 0, 10'000));
  r.sim_rate(chip, b.sim_rate_hz, 1000);
  return std::make_shared<const config::SettingsOf<config::ButtonConfig>>(std::move(b));
}

}  // namespace gpioirq::kinds
