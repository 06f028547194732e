#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <sstream>

#include "control/render.hpp"

using namespace gpioirq::control;
using Catch::Matchers::ContainsSubstring;

TEST_CASE("generic rendering: scalars, sections, aligned tables", "[control][render]") {
  const nlohmann::json body = {{"v", 1},
                               {"ok", true},
                               {"version", "0.1.0"},
                               {"uptime_s", 12.25},
                               {"mlock", true},
                               {"cpus", {2, 3}},
                               {"rt", {{"priority", 80}, {"cpu", 2}}},
                               {"lines",
                                {{{"name", "knob_a"}, {"edges", 1234567}, {"lost", 0}},
                                 {{"name", "b"}, {"edges", 3}, {"lost", 12}, {"note", nullptr}}}}};
  std::ostringstream out;
  render_body(body, out);
  CHECK(out.str() ==
        "cpus: 2, 3\n"
        "mlock: yes\n"
        "uptime_s: 12.25\n"
        "version: 0.1.0\n"
        "lines:\n"
        "  name      edges  lost  note\n"
        "  knob_a  1234567     0     -\n"
        "  b             3    12     -\n"
        "rt:\n"
        "  cpu: 2\n"
        "  priority: 80\n");
}

TEST_CASE("latency buckets become a text histogram", "[control][render]") {
  const nlohmann::json body = {
      {"streams",
       {{{"name", "knob"},
         {"p50", 12},
         {"unit", "us"},
         {"buckets", {{0, 10, 0}, {10, 20, 100}, {20, 40, 1}, {40, 80, 0}}}}}}};
  std::ostringstream out;
  render_body(body, out);
  const std::string text = out.str();
  CHECK_THAT(text, ContainsSubstring("name  p50  unit\n"));  // buckets are not a column
  CHECK_THAT(text, ContainsSubstring("histogram knob:\n"));
  CHECK_THAT(text, ContainsSubstring("10 .. 20 us  100  99.01% |" + std::string(40, '#') + "\n"));
  CHECK_THAT(text, ContainsSubstring("20 .. 40 us    1   0.99% |#\n"));  // rare, still visible
  CHECK(text.find("0 .. 10 us") == std::string::npos);                   // empty ends trimmed
  CHECK(text.find("40 .. 80") == std::string::npos);
}

TEST_CASE("monitor event formats", "[control][render]") {
  const nlohmann::json event = {{"v", 1},        {"name", "knob"}, {"t", 1.5},
                                {"event", "cw"}, {"value", 7},     {"seq", 3}};
  CHECK(format_event(event, "%t %n %e %v") == "1.5 knob cw 7");
  CHECK(format_event(event, "%n:%{seq} 100%% %x %{missing}") == "knob:3 100% %x -");
  CHECK(format_event({{"name", "b"}}, "%t %n %e %v") == "- b - -");
  CHECK(format_event({{"ts_ns", 123456789}, {"name", "b"}, {"event", "press"}}, "%t %n %e") ==
        "123456789 b press");
  CHECK(format_event({{"a", 1}}, "%j") == "{\"a\":1}");
}

TEST_CASE("top frames show rates from the previous frame", "[control][render]") {
  TopState state;
  const nlohmann::json latency = {{"streams", {{{"name", "knob"}, {"p99", 40}}}}};
  auto status = [](int edges) {
    return nlohmann::json{{"version", "t"},
                          {"lines", {{{"name", "knob"}, {"edges", edges}, {"lost", 0}}}}};
  };
  const std::string first = render_top_frame(status(100), latency, state, 10.0);
  CHECK_THAT(first, ContainsSubstring("name  edges  edges/s  lost\n"));
  CHECK_THAT(first, ContainsSubstring("knob    100        -     0\n"));
  const std::string second = render_top_frame(status(350), latency, state, 12.0);
  CHECK_THAT(second, ContainsSubstring("knob    350      125     0\n"));
  CHECK_THAT(second, ContainsSubstring("latency streams:\nname  p99\nknob   40\n"));
  CHECK(render_top_frame(status(1), latency, state, 13.0, 2) == "gpioirqd  version t\n\n");
}
