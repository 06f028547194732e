// The one table of kinds: each kind found by its name, each reading the [[table]] of that
// name, in the table's order (the order of Config::devices and of every kind-major output).
#include <catch2/catch_test_macros.hpp>

#include <set>
#include <string_view>

#include "kinds/kind.hpp"

using namespace gpioirq;

TEST_CASE("every kind is found by its name and reads the table of that name", "[kinds]") {
  const auto kinds = kinds::registry();
  const auto sections = kinds::config_sections();
  REQUIRE(sections.size() == kinds.size());
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const kinds::Kind* kind = kinds[i];
    INFO("kind " << kind->name());
    CHECK(names.insert(kind->name()).second);
    CHECK(kinds::find_kind(kind->name()) == kind);
    CHECK(sections[i].table == kind->name());
    CHECK(sections[i].parse != nullptr);
    CHECK_FALSE(kind->plural().empty());
  }
  CHECK(kinds::find_kind("no_such_kind") == nullptr);
  CHECK(kinds::find_kind("") == nullptr);
}
