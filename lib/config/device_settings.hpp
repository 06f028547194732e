#pragma once
// A device's settings as its kind parsed them: plain data behind a small interface, so that
// Config, the reload diff and the daemon hold and compare every device without naming a
// kind. Each kind parses its [[table]] (config/device_reader.hpp) into its own plain struct
// and wraps it in SettingsOf<ItsStruct>; code of that kind gets the struct back with
// settings_cast<ItsStruct>().
//
// This header does not include config/schema.hpp: schema.hpp's Config holds the
// DeviceConfigs, so it includes this one. settings_of<T>(const Config&) therefore lives in
// schema.hpp, right after Config.

#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "config/source_place.hpp"

namespace gpioirq::config {

struct LineRef;  // config/schema.hpp

class DeviceSettings {
 public:
  virtual ~DeviceSettings() = default;
  // Same kind and every key equal, SourcePlaces ignored: the reload diff's "unchanged".
  virtual bool same_settings(const DeviceSettings& other) const = 0;
  // Same, places included (Config::operator==).
  virtual bool equals(const DeviceSettings& other) const = 0;
  // Its GPIO lines, the first one's chip telling whether a down device may be back. The
  // pointers point into these settings.
  virtual std::vector<const LineRef*> line_refs() const = 0;
};

// T: a plain struct with operator==. Found by ADL, next to T:
//   void blank_places(T&)                              sets every SourcePlace in it to {}
//   std::vector<const LineRef*> line_refs_of(const T&)  its lines, in the kind's order
template <typename T>
class SettingsOf final : public DeviceSettings {
 public:
  explicit SettingsOf(T v) : value(std::move(v)) {}

  T value;

  bool same_settings(const DeviceSettings& o) const override {
    const auto* other = dynamic_cast<const SettingsOf*>(&o);
    if (other == nullptr) return false;
    T mine = value;
    T theirs = other->value;
    blank_places(mine);
    blank_places(theirs);
    return mine == theirs;
  }
  bool equals(const DeviceSettings& o) const override {
    const auto* other = dynamic_cast<const SettingsOf*>(&o);
    return other != nullptr && value == other->value;
  }
  std::vector<const LineRef*> line_refs() const override { return line_refs_of(value); }
};

struct DeviceConfig {
  std::string kind;  // "encoder": its [[table]] name
  std::string name;
  SourcePlace place;  // its [[table]] header
  // Shared, never changed once parsed: a device keeps its DeviceConfig (and with it every
  // LineRef* it handed out) alive across the reloads that replace the daemon's Config.
  std::shared_ptr<const DeviceSettings> settings;

  // kind, name, place and settings->equals (two devices without settings are equal).
  bool operator==(const DeviceConfig& o) const {
    if (kind != o.kind || name != o.name || !(place == o.place)) return false;
    if (settings == nullptr || o.settings == nullptr) return settings == o.settings;
    return settings->equals(*o.settings);
  }
};

// The settings of a device of kind T. Throws std::bad_cast if the device is of another kind
// (or has no settings).
template <typename T>
const T& settings_cast(const DeviceConfig& d) {
  const auto* s = dynamic_cast<const SettingsOf<T>*>(d.settings.get());
  if (s == nullptr) throw std::bad_cast();
  return s->value;
}

}  // namespace gpioirq::config
