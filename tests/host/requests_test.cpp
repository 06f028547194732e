// Malformed request lines against the real gpioirqd through its real control socket
// (issue #10: "one request line can end the daemon"). Every line gets one error reply, the
// same connection stays usable, other and new clients are served, and the daemon still
// stops cleanly (exit 0) when told to.

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using namespace host;
using Catch::Matchers::StartsWith;
using namespace std::string_literals;

std::string config() {
  return daemon_section() + sim_chip_section() + R"(

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 500

[[counter]]
name = "flow"
chip = "sim0"
line = 4
edge = "rising"
sim_rate_hz = 100
)";
}

struct BadLine {
  std::string what;   // the class of input, for the test's messages
  std::string line;   // without its '\n'
  std::string error;  // the reply's error starts with this
  Json id;            // the id the reply must carry (null: none)
};

std::vector<BadLine> bad_lines() {
  return {
      {"float exponent out of range in an argument", R"({"v":1,"cmd":"status","names":[1e999]})",
       "malformed JSON: number overflow parsing '1e999'", nullptr},
      {"negative float out of range", R"({"v":-1e400,"cmd":"status"})",
       "malformed JSON: number overflow parsing '-1e400'", nullptr},
      {"integer of 400 digits with an exponent",
       R"({"v":1,"cmd":"status","id":)" + std::string(400, '9') + "e400}",
       "malformed JSON: number overflow parsing '999", nullptr},
      {"integer beyond 64 bits as the version", R"({"v":18446744073709551616,"cmd":"status"})",
       "unsupported protocol version", nullptr},
      {"monitor names not strings", R"({"v":1,"cmd":"monitor","id":3,"names":[1,2]})",
       "argument 'names' of 'monitor' must be an array of strings", 3},
      {"monitor names an object", R"({"v":1,"cmd":"monitor","id":"m","names":{"knob":true}})",
       "argument 'names' of 'monitor' must be an array of strings", "m"},
      {"id an array", R"({"v":1,"cmd":"status","id":[1]})", "\"id\" must be a string or an integer",
       nullptr},
      {"id a float", R"({"v":1,"cmd":"status","id":0.5})", "\"id\" must be a string or an integer",
       nullptr},
      {"id a huge float", R"({"v":1,"cmd":"status","id":1e308})",
       "\"id\" must be a string or an integer", nullptr},
      {"deeply nested arrays", std::string(20'000, '[') + std::string(20'000, ']'),
       "malformed JSON: nested deeper than 16", nullptr},
      {"deeply nested objects in an argument",
       R"({"v":1,"cmd":"status","names":)" +
           [] {
             std::string s;
             for (int i = 0; i < 3000; ++i) s += R"({"a":)";
             s += "1";
             for (int i = 0; i < 3000; ++i) s += "}";
             return s;
           }() +
           "}",
       "malformed JSON: nested deeper than 16", nullptr},
      {"invalid UTF-8 in a string", "{\"v\":1,\"cmd\":\"stat\xc3\x28s\"}",
       "malformed JSON: ", nullptr},
      {"invalid UTF-8 outside strings", "{\"v\":1,\xff\xfe}", "malformed JSON: ", nullptr},
      {"a NUL byte", "{\"v\":1,\"cmd\":\"status\"\0}"s, "malformed JSON: ", nullptr},
      {"a lone surrogate escape", R"({"v":1,"cmd":"\udc00"})", "malformed JSON: ", nullptr},
      {"unknown stream", R"({"v":1,"cmd":"encoders","id":"e","names":["nosuch"]})",
       "unknown stream 'nosuch'", "e"},
      {"unknown command with an id", R"({"v":1,"cmd":"shutdown","id":99})", "unknown command", 99},
      {"buckets not a boolean", R"({"v":1,"cmd":"latency","id":4,"buckets":0})",
       "argument 'buckets' of 'latency' must be a boolean", 4},
      {"truncated JSON", R"({"v":1,"cmd":"stat)", "malformed JSON: ", nullptr},
  };
}

void check_error_reply(const BadLine& bad, const std::optional<std::string>& line) {
  INFO(bad.what);
  REQUIRE(line.has_value());  // no reply: the daemon died or stalled on this line
  const Json reply = Json::parse(*line);
  CHECK(reply.at("v") == 1);
  CHECK(reply.at("ok") == false);
  CHECK_THAT(reply.at("error").get<std::string>(), StartsWith(bad.error));
  CHECK(reply.at("error").get<std::string>().size() < 400);
  if (bad.id.is_null())
    CHECK_FALSE(reply.contains("id"));
  else
    CHECK(reply.value("id", Json()) == bad.id);
}

// After the bad lines: the same connection, a new one and the daemon as a whole are fine.
void check_still_serving(Daemon& d, Connection& c, std::size_t bad_lines) {
  CHECK(c.request(make_request("status")).value("ok", false));
  CHECK(d.ok("encoders").at("encoders").size() == 1);
  const Json status = d.ok("status");
  CHECK(status.at("control").at("error_replies").get<std::size_t>() >= bad_lines);
  CHECK(status.at("pid") == d.process().pid());
  // latency takes `buckets` as PROTOCOL.md says.
  const Json latency = d.ok("latency", {{"buckets", false}});
  CHECK_FALSE(latency.at("all").contains("buckets"));
  CHECK(d.ok("latency").at("all").contains("buckets"));
  REQUIRE_FALSE(d.process().exited());
  CHECK(d.stop() == 0);
}

}  // namespace

TEST_CASE("malformed request lines one at a time: an error reply each; the daemon keeps serving",
          "[host][requests]") {
  TempDir dir;
  Daemon d(dir, config());
  const auto lines = bad_lines();
  Connection c(d.socket());
  for (const auto& bad : lines) {
    c.send_raw(bad.line + "\n");
    check_error_reply(bad, c.read_line(5s));
    REQUIRE_FALSE(d.process().exited());
  }
  check_still_serving(d, c, lines.size());
}

TEST_CASE("malformed request lines pipelined in one write: an error reply each, in order",
          "[host][requests]") {
  TempDir dir;
  Daemon d(dir, config());
  const auto lines = bad_lines();
  Connection c(d.socket());
  std::string all;
  for (const auto& bad : lines) all += bad.line + "\n";
  c.send_raw(all);
  for (const auto& bad : lines) check_error_reply(bad, c.read_line(5s));
  check_still_serving(d, c, lines.size());
}

TEST_CASE("a request line over 64 KiB is refused on its connection only", "[host][requests]") {
  TempDir dir;
  Daemon d(dir, config());
  Connection other(d.socket());
  Connection c(d.socket());
  c.send_raw(R"({"v":1,"cmd":"status","names":[")" + std::string(70 * 1024, 'n') + "\"]}\n");
  const auto reply = c.read_line(5s);
  REQUIRE(reply.has_value());
  CHECK(Json::parse(*reply).at("error") == "request line over 65536 bytes; closing");
  CHECK_FALSE(c.read_line(5s).has_value());  // closed, as documented
  CHECK(other.request(make_request("status")).value("ok", false));
  CHECK(d.ok("status").value("pid", 0) == d.process().pid());
  CHECK(d.stop() == 0);
}
