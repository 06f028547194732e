#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "control/protocol.hpp"

using namespace gpioirq::control;
using Catch::Matchers::StartsWith;

TEST_CASE("the command table: eleven commands, three of them privileged", "[control][protocol]") {
  CHECK(
      command_list() ==
      "status, encoders, buttons, counters, imu, latency, monitor, reset, reload, reopen, metrics");
  for (const auto& spec : commands())
    CHECK(spec.privileged ==
          (spec.name == "reset" || spec.name == "reload" || spec.name == "reopen"));
  CHECK(find_command("status") != nullptr);
  CHECK(find_command("Status") == nullptr);
}

TEST_CASE("request validation", "[control][protocol]") {
  nlohmann::json request;
  CHECK(parse_and_validate(R"({"v":1,"cmd":"status"})", request).spec == find_command("status"));
  CHECK(
      parse_and_validate(R"({"cmd":"monitor","names":["a","b"],"v":1,"id":"q1"})", request).spec ==
      find_command("monitor"));
  CHECK(parse_and_validate(R"({"v":1,"cmd":"reset","names":[]})", request).error.empty());
  CHECK(parse_and_validate(R"({"v":0,"cmd":"status"})", request).error ==
        "unsupported protocol version 0 (this daemon speaks v 1)");
  CHECK_THAT(parse_and_validate("{", request).error,
             StartsWith("malformed JSON: parse error at line 1, column 2"));
  CHECK(parse_and_validate(R"({"v":1,"cmd":"metrics","x":1})", request).error ==
        "unknown argument \"x\" for 'metrics' (it takes no arguments)");
  CHECK(parse_and_validate(R"({"v":1,"cmd":"imu","names":[null]})", request).error ==
        "argument 'names' of 'imu' must be an array of strings, not [null]");
}

TEST_CASE("reply and request lines", "[control][protocol]") {
  CHECK(ok_line({{"a", 1}}) == "{\"a\":1,\"ok\":true,\"v\":1}\n");
  const nlohmann::json id = 9;
  CHECK(ok_line({{"ok", false}, {"v", 3}, {"b", "x"}}, &id) ==
        "{\"b\":\"x\",\"id\":9,\"ok\":true,\"v\":1}\n");
  CHECK(error_line("nope") == "{\"error\":\"nope\",\"ok\":false,\"v\":1}\n");
  CHECK(request_line("status") == "{\"cmd\":\"status\",\"v\":1}\n");
  CHECK(request_line("monitor", {{"names", {"k"}}}) ==
        "{\"cmd\":\"monitor\",\"names\":[\"k\"],\"v\":1}\n");
  // Invalid UTF-8 from a handler does not throw on the loop thread.
  CHECK(error_line(std::string("bad \xff byte")).find("bad") != std::string::npos);
}
