#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <string>
#include <vector>

#include "control/protocol.hpp"

using namespace gpioirq::control;
using Catch::Matchers::StartsWith;
using namespace std::string_literals;

TEST_CASE("the command table: thirteen commands, four of them privileged", "[control][protocol]") {
  CHECK(command_list() ==
        "status, encoders, buttons, counters, imu, devices, latency, monitor, reset, set, reload, "
        "reopen, metrics");
  for (const auto& spec : commands())
    CHECK(spec.privileged == (spec.name == "reset" || spec.name == "set" || spec.name == "reload" ||
                              spec.name == "reopen"));
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
  // set: a name and a number.
  CHECK(parse_and_validate(R"({"v":1,"cmd":"set","name":"water","value":12345.6})", request)
            .error.empty());
  CHECK(parse_and_validate(R"({"v":1,"cmd":"set","name":"water","value":"12"})", request).error ==
        "argument 'value' of 'set' must be a number, not \"12\"");
  CHECK(parse_and_validate(R"({"v":1,"cmd":"set","names":["water"]})", request).error ==
        "unknown argument \"names\" for 'set' (accepted: name, value)");
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

TEST_CASE("no request line makes the parser or the validator throw", "[control][protocol]") {
  // Each line is one class of malformed input a client can send; each must come back as
  // an error message, never as an exception (which would end the daemon's loop).
  struct Case {
    std::string line;
    std::string error_start;
  };
  const std::string deep_array = std::string(10'000, '[') + std::string(10'000, ']');
  const std::string deep_in_arg =
      R"({"v":1,"cmd":"status","names":)" + std::string(40, '[') + std::string(40, ']') + "}";
  const std::vector<Case> cases = {
      {R"({"v":1,"cmd":"status","names":[1e999]})",
       "malformed JSON: number overflow parsing '1e999'"},
      {R"({"v":1e999,"cmd":"status"})", "malformed JSON: number overflow parsing '1e999'"},
      {R"({"v":-1e400,"cmd":"status"})", "malformed JSON: number overflow parsing '-1e400'"},
      {R"({"v":1,"cmd":"status","id":1E+99999999999999999999})", "malformed JSON: number overflow"},
      {deep_array, "malformed JSON: nested deeper than 16 arrays or objects"},
      {deep_in_arg, "malformed JSON: nested deeper than 16 arrays or objects"},
      {"{\"v\":1,\"cmd\":\"st\xc3\x28\"}", "malformed JSON: "},    // invalid UTF-8
      {"{\"v\":1,\"cmd\":\"\xed\xa0\x80\"}", "malformed JSON: "},  // a UTF-16 surrogate
      {"{\"v\":1,\0\"cmd\":\"status\"}"s, "malformed JSON: "},     // a NUL byte
      {"{\"v\":1,\"cmd\":\"\\ud800\"}", "malformed JSON: "},       // a lone surrogate escape
      {R"({"v":18446744073709551616,"cmd":"status"})", "unsupported protocol version"},
      {R"({"v":18446744073709551615,"cmd":"status"})", "unsupported protocol version"},
      {R"({"v":-9223372036854775808,"cmd":"status"})", "unsupported protocol version"},
      {R"({"v":1,"cmd":"status","id":1.5})", "\"id\" must be a string or an integer"},
      {R"({"v":1,"cmd":"status","id":null})", "\"id\" must be a string or an integer"},
      {R"({"v":1,"cmd":"latency","buckets":"no"})",
       "argument 'buckets' of 'latency' must be a boolean"},
      {R"({"v":1,"cmd":"monitor","names":[["a"]]})",
       "argument 'names' of 'monitor' must be an array of strings"},
      {R"({"v":1,"cmd":"monitor","names":[1e308]})",
       "argument 'names' of 'monitor' must be an array of strings"},
  };
  for (const auto& c : cases) {
    INFO(c.line.substr(0, 80));
    nlohmann::json request;
    Validation result;
    REQUIRE_NOTHROW(result = parse_and_validate(c.line, request));
    CHECK(result.spec == nullptr);
    CHECK_THAT(result.error, StartsWith(c.error_start));
    CHECK(result.error.size() < 300);  // a 64 KiB token is not quoted whole
  }
  // A number token as long as a request line may be is quoted cut short.
  nlohmann::json request;
  const std::string long_number =
      R"({"v":1,"cmd":"status","id":)" + std::string(60'000, '9') + "e99999}";
  const Validation cut = parse_and_validate(long_number, request);
  CHECK_THAT(cut.error, StartsWith("malformed JSON: number overflow parsing '999"));
  CHECK(cut.error.size() < 300);
}

TEST_CASE("nesting up to the limit is parsed; valid requests still pass", "[control][protocol]") {
  nlohmann::json request;
  // 15 levels inside the request object: the type check, not the parser, refuses it.
  const std::string inner = std::string(15, '[') + std::string(15, ']');
  CHECK_THAT(parse_and_validate(R"({"v":1,"cmd":"status","names":)" + inner + "}", request).error,
             StartsWith("argument 'names' of 'status' must be an array of strings"));
  CHECK(parse_and_validate(R"({"v":1,"cmd":"latency","buckets":false,"names":["knob"]})", request)
            .spec == find_command("latency"));
}

TEST_CASE("request_id: the id a refused request still gets back", "[control][protocol]") {
  nlohmann::json request;
  CHECK_FALSE(parse_and_validate(R"({"v":1,"cmd":"nope","id":7})", request).error.empty());
  REQUIRE(request_id(request) != nullptr);
  CHECK(*request_id(request) == 7);
  CHECK_FALSE(parse_and_validate(R"({"v":2,"cmd":"status","id":"q"})", request).error.empty());
  REQUIRE(request_id(request) != nullptr);
  CHECK(*request_id(request) == "q");
  // Ids of a type the protocol does not allow, and lines that are no object, have none.
  parse_and_validate(R"({"v":1,"cmd":"status","id":[1]})", request);
  CHECK(request_id(request) == nullptr);
  parse_and_validate(R"({"v":1,"cmd":"status","id":1e999})", request);
  CHECK(request_id(request) == nullptr);
  parse_and_validate("[1,2]", request);
  CHECK(request_id(request) == nullptr);
}
