#include "config/config_diff.hpp"

#include <algorithm>
#include <memory>
#include <utility>

namespace gpioirq::config {

namespace {

// One device as compared across a reload: its kind and settings (compared with their places
// blanked: DeviceSettings::same_settings), plus the chips its lines are on.
struct Device {
  std::string name;
  std::string kind;
  std::shared_ptr<const DeviceSettings> settings;
  std::vector<ChipConfig> chips;

  bool operator==(const Device& o) const {
    return name == o.name && kind == o.kind && settings->same_settings(*o.settings) &&
           chips == o.chips;
  }
};

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
  for (const DeviceConfig& d : config.devices)
    placed.emplace_back(
        d.place, Device{d.name, d.kind, d.settings, chips_of(config, d.settings->line_refs())});
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
