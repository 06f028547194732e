#include "config/schema.hpp"

namespace gpioirq::config {

void blank_places(EncoderConfig& c) {
  c.place = {};
  c.a.place = {};
  c.b.place = {};
}

void blank_places(ButtonConfig& c) {
  c.place = {};
  c.line.place = {};
}

void blank_places(CounterConfig& c) {
  c.place = {};
  c.line.place = {};
}

void blank_places(ImuConfig& c) {
  c.place = {};
  if (c.data_ready) c.data_ready->place = {};
}

void blank_places(PollConfig& c) {
  c.place = {};
}

std::vector<const LineRef*> line_refs_of(const EncoderConfig& c) {
  return {&c.a, &c.b};
}

std::vector<const LineRef*> line_refs_of(const ButtonConfig& c) {
  return {&c.line};
}

std::vector<const LineRef*> line_refs_of(const CounterConfig& c) {
  return {&c.line};
}

std::vector<const LineRef*> line_refs_of(const ImuConfig& c) {
  if (c.data_ready) return {&*c.data_ready};
  return {};
}

std::vector<const LineRef*> line_refs_of(const PollConfig&) {
  return {};
}

}  // namespace gpioirq::config
