#include "config/config_diff.hpp"

#include <algorithm>
#include <utility>
#include <variant>

namespace gpioirq::config {

namespace {

using DeviceSettings =
    std::variant<EncoderConfig, ButtonConfig, CounterConfig, ImuConfig, PollConfig>;

// One device as compared across a reload: its settings with the places blanked, plus the
// chips its lines are on.
struct Device {
  std::string name;
  DeviceSettings settings;
  std::vector<ChipConfig> chips;

  bool operator==(const Device&) const = default;
};

void blank(LineRef& ref) {
  ref.place = {};
}

std::vector<ChipConfig> chips_of(const Config& config, const std::vector<const LineRef*>& refs) {
  std::vector<ChipConfig> chips;
  for (const LineRef* ref : refs) {
    for (const ChipConfig& chip : config.chips) {
      if (chip.name != ref->chip) continue;
      ChipConfig copy = chip;
      copy.place = {};
      if (std::find(chips.begin(), chips.end(), copy) == chips.end()) chips.push_back(copy);
    }
  }
  return chips;
}

std::vector<Device> devices_of(const Config& config) {
  // Sorted by where each device is written so that the diff's lists read like the file.
  std::vector<std::pair<SourcePlace, Device>> placed;
  auto add = [&](const SourcePlace& place, Device d) { placed.emplace_back(place, std::move(d)); };
  for (EncoderConfig e : config.encoders) {
    const SourcePlace place = e.place;
    e.place = {};
    blank(e.a);
    blank(e.b);
    auto chips = chips_of(config, {&e.a, &e.b});
    add(place, Device{e.name, std::move(e), std::move(chips)});
  }
  for (ButtonConfig b : config.buttons) {
    const SourcePlace place = b.place;
    b.place = {};
    blank(b.line);
    auto chips = chips_of(config, {&b.line});
    add(place, Device{b.name, std::move(b), std::move(chips)});
  }
  for (CounterConfig c : config.counters) {
    const SourcePlace place = c.place;
    c.place = {};
    blank(c.line);
    auto chips = chips_of(config, {&c.line});
    add(place, Device{c.name, std::move(c), std::move(chips)});
  }
  for (ImuConfig m : config.imus) {
    const SourcePlace place = m.place;
    m.place = {};
    std::vector<ChipConfig> chips;
    if (m.data_ready) {
      blank(*m.data_ready);
      chips = chips_of(config, {&*m.data_ready});
    }
    add(place, Device{m.name, std::move(m), std::move(chips)});
  }
  for (PollConfig p : config.polls) {
    const SourcePlace place = p.place;
    p.place = {};
    add(place, Device{p.name, std::move(p), {}});
  }
  std::stable_sort(placed.begin(), placed.end(), [](const auto& x, const auto& y) {
    return std::pair{x.first.line, x.first.column} < std::pair{y.first.line, y.first.column};
  });
  std::vector<Device> devices;
  for (auto& [place, device] : placed) devices.push_back(std::move(device));
  return devices;
}

const Device* find(const std::vector<Device>& devices, const std::string& name) {
  for (const Device& d : devices)
    if (d.name == name) return &d;
  return nullptr;
}

}  // namespace

ConfigDiff diff(const Config& old_config, const Config& new_config) {
  ConfigDiff result;
  result.daemon_changed = !(old_config.daemon == new_config.daemon);
  const std::vector<Device> old_devices = devices_of(old_config);
  const std::vector<Device> new_devices = devices_of(new_config);
  for (const Device& d : new_devices) {
    const Device* before = find(old_devices, d.name);
    if (!before)
      result.added.push_back(d.name);
    else if (*before == d)
      result.unchanged.push_back(d.name);
    else
      result.changed.push_back(d.name);
  }
  for (const Device& d : old_devices)
    if (!find(new_devices, d.name)) result.removed.push_back(d.name);
  return result;
}

}  // namespace gpioirq::config
