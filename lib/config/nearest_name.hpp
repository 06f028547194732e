#pragma once
// "Did you mean ...?" for config keys and enum values: the closest candidate by edit
// distance, offered only when it is close enough to be a plausible typo.

#include <optional>
#include <span>
#include <string_view>

namespace gpioirq::config {

// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), so that
// "preiod" is one step from "period" like "perid" is.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word` (compared case-insensitively), or nothing when none is
// close: within 1 edit for words up to 4 characters, 2 up to 8, 3 beyond; or when one is a
// prefix of the other and the shorter has at least 3 characters ("rt_prio" -> "rt_priority").
// Ties go to the earlier candidate.
std::optional<std::string_view> nearest_name(std::string_view word,
                                             std::span<const std::string_view> candidates);

}  // namespace gpioirq::config
