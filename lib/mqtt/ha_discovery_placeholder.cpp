// PLACEHOLDER for lib/mqtt/ha_discovery.cpp (part HA writes the real one; the lead deletes
// this file at the merge): no discovery messages yet, so that the sink links and runs.
#include "mqtt/ha_discovery.hpp"

namespace gpioirq::mqtt {

std::vector<DiscoveryMessage> ha_discovery_messages(
    const DiscoveryNode& /*node*/, const std::vector<SinkSource::PublishedDevice>& /*devices*/) {
  return {};
}

std::vector<DiscoveryMessage> ha_discovery_removal(const DiscoveryNode& /*node*/,
                                                   const SinkSource::PublishedDevice& /*device*/) {
  return {};
}

std::string ha_id(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace gpioirq::mqtt
