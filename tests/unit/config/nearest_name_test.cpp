#include <catch2/catch_test_macros.hpp>

#include <string_view>

#include "config/nearest_name.hpp"

using gpioirq::config::edit_distance;
using gpioirq::config::nearest_name;

TEST_CASE("edit distance counts a swap of neighbours as one step", "[config][suggest]") {
  CHECK(edit_distance("period", "period") == 0);
  CHECK(edit_distance("perid", "period") == 1);
  CHECK(edit_distance("preiod", "period") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("a suggestion is offered only when it is close", "[config][suggest]") {
  constexpr std::string_view keys[] = {"name", "chip", "line", "debounce_ms", "long_press_ms"};
  CHECK(nearest_name("lien", keys) == "line");
  CHECK(nearest_name("debounce", keys) == "debounce_ms");
  CHECK(nearest_name("Name", keys) == "name");
  CHECK(nearest_name("colour", keys) == std::nullopt);
  CHECK(nearest_name("x", keys) == std::nullopt);
}
