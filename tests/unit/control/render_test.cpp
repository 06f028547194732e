#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <sstream>
#include <string>
#include <vector>

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

namespace {

// What gpioirqd answers, shaped as docs/PROTOCOL.md shows: status, devices, latency.
nlohmann::json top_status(std::uint64_t knob_edges = 1000, std::uint64_t kernel_lost = 0) {
  return {{"version", "0.1.0"},
          {"uptime_s", 7980.5},
          {"rt", {{"priority", 80}, {"cpu", 3}}},
          {"ring", {{"capacity", 65536}, {"high_water", 2048}}},
          {"control", {{"clients", 2}}},
          {"reloads", 0},
          {"log", {{"lost", 0}}},
          {"latency", {{"count", 500}, {"p50_ns", 12000}, {"p99_ns", 48000}, {"max_ns", 1200000}}},
          {"devices_down", nlohmann::json::array()},
          {"lines",
           {{{"device", "knob"},
             {"role", "a"},
             {"edges", knob_edges / 2},
             {"kernel_lost", kernel_lost},
             {"ring_dropped", 0}},
            {{"device", "knob"},
             {"role", "b"},
             {"edges", knob_edges - knob_edges / 2},
             {"kernel_lost", 0},
             {"ring_dropped", 0}},
            {{"device", "start"},
             {"role", "line"},
             {"edges", 4},
             {"kernel_lost", 0},
             {"ring_dropped", 0}},
            {{"device", "flow"},
             {"role", "line"},
             {"edges", 90000},
             {"kernel_lost", 0},
             {"ring_dropped", 3}}}}};
}

nlohmann::json device(const std::string& name, std::uint64_t lost, const std::string& summary) {
  return {{"name", name}, {"down", false}, {"lost", lost}, {"summary", summary}};
}

nlohmann::json top_devices(std::uint64_t knob_lost = 0) {
  nlohmann::json imu = device("imu0", 0, "1000 Hz  frames 123456");
  imu["frames_lost_overrun"] = 4;
  imu["frames_lost_file"] = 1;
  return {{"devices",
           {{"encoder", {device("knob", knob_lost, "pos 1234  vel -12.5/s")}},
            {"button", {device("start", 0, "released  last click 3s")}},
            {"counter", {device("flow", 3, "12034 l  250 Hz")}},
            {"imu", {imu}},
            {"poll", {device("cpu_temp", 0, "47.3 °C")}}}}};
}

nlohmann::json top_latency() {
  return {{"latency",
           {{{"name", "knob"}, {"count", 10}, {"p99_ns", 18000}},
            {{"name", "start"}, {"count", 2}, {"p99_ns", 9000}},
            {{"name", "flow"}, {"count", 5}, {"p99_ns", 1260000}}}},
          {"all", {{"count", 17}}}};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("top: a header of two lines, then one row per device in designed columns",
          "[control][render][top]") {
  TopState state;
  const std::string frame =
      render_top_frame(top_status(), top_devices(), top_latency(), state, 10.0);
  // Kinds come in the reply's order (JSON objects are sorted by key), devices in theirs.
  CHECK(frame ==
        "gpioirqd 0.1.0  up 2h13m  rt 80 cpu3  ring 3% hw 2048  clients 2  reloads 0\n"
        "losses  kernel 0  ring 3!  log 0  frames 5!  latency p50 12µs p99 48µs max 1.2ms\n"
        "NAME         KIND    ST    EDGES/s   LOST  P99  VALUES\n"
        "start        button  up          -      0   9µ  released  last click 3s\n"
        "flow         counter up          -     3! 1.3m  12034 l  250 Hz\n"
        "knob         encoder up          -      0  18µ  pos 1234  vel -12.5/s\n"
        "imu0         imu     up          -      0    -  1000 Hz  frames 123456\n"
        "cpu_temp     poll    up          -      0    -  47.3 °C\n");
}

TEST_CASE("top: EDGES/s is the growth of the device's lines since the previous frame",
          "[control][render][top]") {
  TopState state;
  render_top_frame(top_status(1000), top_devices(), top_latency(), state, 10.0);
  // knob: lines a and b together, 2400 more in 2 s; start and flow unchanged.
  const auto lines =
      lines_of(render_top_frame(top_status(3400), top_devices(), top_latency(), state, 12.0));
  REQUIRE(lines.size() == 8);
  CHECK(lines[3].starts_with("start        button  up          0 "));
  CHECK(lines[4].starts_with("flow         counter up          0 "));
  CHECK(lines[5].starts_with("knob         encoder up       1.2k "));
  CHECK(lines[6].starts_with("imu0         imu     up          - "));  // no lines: no rate
  // 0.5 s later with 60 more edges: 120/s; then a counter that went back (a rebuilt line)
  // gives no rate rather than a negative one.
  CHECK(lines_of(render_top_frame(top_status(3460), top_devices(), top_latency(), state, 12.5))[5]
            .starts_with("knob         encoder up        120 "));
  CHECK(lines_of(render_top_frame(top_status(10), top_devices(), top_latency(), state, 13.5))[5]
            .starts_with("knob         encoder up          - "));
}

TEST_CASE("top: every line fits 80 columns, also with 30-character names",
          "[control][render][top]") {
  const std::string long_name(30, 'n');
  nlohmann::json devices = top_devices();
  devices["devices"]["encoder"].push_back(
      device(long_name, 123456789, "a summary far longer than the thirty-two columns it gets"));
  devices["devices"]["pwm_in"] = {
      device("fan_speed_sensor_of_the_rack", 0, "duty 41.2%  25.00 kHz")};
  nlohmann::json status = top_status();
  status["version"] = "0.1.0-123-gdeadbeefcafe-dirty";
  status["reloads"] = 123456;
  status["log"]["lost"] = 99999999;
  status["latency"]["max_ns"] = 12345678901.0;
  for (const bool highlight : {false, true}) {
    TopState state;
    const std::string frame =
        render_top_frame(status, devices, top_latency(), state, 1.0, 0, highlight);
    for (const auto& line : lines_of(frame)) {
      INFO(line);
      CHECK(display_width(line) <= 80);
    }
    CHECK_THAT(frame, ContainsSubstring("nnnnnnnnnnn~ encoder up "));  // 11 + '~'
    CHECK_THAT(frame, ContainsSubstring("fan_speed_s~ pwm_in  up "));
    CHECK_THAT(frame, ContainsSubstring("a summary far longer than the t~\n"));  // 32 columns
  }
  CHECK(display_width("47.3 °C \x1b[1;7m3\x1b[0m µ") == 11);
}

TEST_CASE("top: losses marked with '!' off a terminal, in reverse video on one",
          "[control][render][top]") {
  SECTION("not a terminal: no escape sequence at all") {
    TopState state;
    const std::string frame =
        render_top_frame(top_status(1000, 2), top_devices(7), top_latency(), state, 1.0, 0, false);
    CHECK(frame.find('\x1b') == std::string::npos);
    CHECK_THAT(frame, ContainsSubstring("losses  kernel 2!  ring 3!  log 0  frames 5!"));
    CHECK_THAT(frame, ContainsSubstring("knob         encoder up          -     7!"));
  }
  SECTION("a terminal: reverse video, bold once a count grew since the previous frame") {
    TopState state;
    const std::string first =
        render_top_frame(top_status(1000, 2), top_devices(7), top_latency(), state, 1.0, 0, true);
    CHECK(first.find('!') == std::string::npos);
    CHECK_THAT(first, ContainsSubstring("losses  kernel \x1b[7m2\x1b[0m  ring \x1b[7m3\x1b[0m  "
                                        "log 0  frames \x1b[7m5\x1b[0m"));
    CHECK_THAT(first, ContainsSubstring("knob         encoder up          -      \x1b[7m7\x1b[0m"));
    CHECK_THAT(first,
               ContainsSubstring("start        button  up          -      0 "));  // zero: plain
    const std::string second =
        render_top_frame(top_status(1000, 5), top_devices(8), top_latency(), state, 2.0, 0, true);
    CHECK_THAT(second, ContainsSubstring("losses  kernel \x1b[1;7m5\x1b[0m  ring \x1b[7m3\x1b[0m"));
    CHECK_THAT(second,
               ContainsSubstring("knob         encoder up          0      \x1b[1;7m8\x1b[0m"));
    CHECK_THAT(second,
               ContainsSubstring("flow         counter up          0      \x1b[7m3\x1b[0m"));
    // Unchanged since: plain reverse again.
    const std::string third =
        render_top_frame(top_status(1000, 5), top_devices(8), top_latency(), state, 3.0, 0, true);
    CHECK_THAT(third, ContainsSubstring("losses  kernel \x1b[7m5\x1b[0m"));
    CHECK_THAT(third, ContainsSubstring("knob         encoder up          0      \x1b[7m8\x1b[0m"));
  }
}

TEST_CASE("top: a DOWN device shows why in VALUES, bold on a terminal", "[control][render][top]") {
  nlohmann::json devices = top_devices();
  auto& knob = devices["devices"]["encoder"][0];
  knob["down"] = true;
  knob["down_reason"] = "chip 'gpiochip9' not found";
  auto& flow = devices["devices"]["counter"][0];
  flow["down"] = true;  // no down_reason: taken from status devices_down
  nlohmann::json status = top_status();
  status["devices_down"] = {{{"name", "flow"}, {"reason", "line 4 of sim0 is busy"}}};
  TopState plain_state, terminal_state;
  const std::string plain =
      render_top_frame(status, devices, top_latency(), plain_state, 1.0, 0, false);
  CHECK_THAT(plain,
             ContainsSubstring(
                 "knob         encoder DOWN        -      0  18µ  chip 'gpiochip9' not found\n"));
  CHECK_THAT(plain,
             ContainsSubstring(
                 "flow         counter DOWN        -     3! 1.3m  line 4 of sim0 is busy\n"));
  const std::string terminal =
      render_top_frame(status, devices, top_latency(), terminal_state, 1.0, 0, true);
  CHECK_THAT(terminal, ContainsSubstring("knob         encoder \x1b[1mDOWN\x1b[0m        -"));
  CHECK_THAT(terminal, ContainsSubstring("start        button  up   "));
}

TEST_CASE("top: a frame taller than the screen ends in '… N more'", "[control][render][top]") {
  TopState state;
  // 3 header lines + 5 devices = 8 lines.
  CHECK(lines_of(render_top_frame(top_status(), top_devices(), top_latency(), state, 1.0, 8))
            .size() == 8);
  const auto cut =
      lines_of(render_top_frame(top_status(), top_devices(), top_latency(), state, 2.0, 6));
  REQUIRE(cut.size() == 6);
  CHECK(cut[3].starts_with("start "));
  CHECK(cut[4].starts_with("flow "));
  CHECK(cut[5] == "… 3 more");
  const auto tiny =
      lines_of(render_top_frame(top_status(), top_devices(), top_latency(), state, 3.0, 2));
  REQUIRE(tiny.size() == 2);
  CHECK(tiny[0].starts_with("gpioirqd 0.1.0"));
  CHECK(tiny[1] == "… 5 more");
  // No devices (a daemon without the devices command): the header only.
  CHECK(
      lines_of(render_top_frame(top_status(), nlohmann::json::object(), top_latency(), state, 4.0))
          .size() == 3);
}

TEST_CASE("devices: one table per kind, shared columns first, nested objects flattened",
          "[control][render]") {
  const nlohmann::json body = {
      {"v", 1},
      {"ok", true},
      {"devices",
       {{"pwm_in",
         {{{"name", "fan"},
           {"down", false},
           {"lost", 0},
           {"summary", "duty 41.2%"},
           {"duty", 0.412},
           {"window", {{"min", 0.4}, {"max", 0.42}}}}}},
        {"encoder",
         {{{"name", "knob"}, {"down", false}, {"lost", 2}, {"summary", "pos 5"}, {"position", 5}},
          {{"name", "wheel"},
           {"down", true},
           {"down_reason", "chip gone"},
           {"lost", 0},
           {"summary", "-"},
           {"position", -17}}}}}}};
  std::ostringstream out;
  render_devices(body, out);
  CHECK(out.str() ==
        "encoder:\n"
        "  name   down  down_reason  lost  position\n"
        "  knob   no    -               2         5\n"
        "  wheel  yes   chip gone       0       -17\n"
        "pwm_in:\n"
        "  name  down  lost   duty  window.max  window.min\n"
        "  fan   no       0  0.412        0.42         0.4\n");
  std::ostringstream none;
  render_devices({{"devices", nlohmann::json::object()}}, none);
  CHECK(none.str() == "devices: none\n");

  // The reply's "kinds" carries the daemon's table order (object members arrive sorted);
  // a kind it does not list comes after, by name.
  nlohmann::json ordered = body;
  ordered["kinds"] = {"pwm_in"};
  std::ostringstream in_order;
  render_devices(ordered, in_order);
  CHECK(in_order.str().find("pwm_in:\n") == 0);
  CHECK(in_order.str().find("encoder:\n") != std::string::npos);
}
