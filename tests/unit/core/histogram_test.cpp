#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/histogram.hpp"

using gpioirq::core::Histogram;

TEST_CASE("Histogram buckets cover every value contiguously", "[core][histogram]") {
  for (unsigned i = 0; i + 1 < Histogram::kBuckets; ++i)
    REQUIRE(Histogram::bucket_upper(i) + 1 == Histogram::bucket_lower(i + 1));
  for (std::uint64_t v : {0ull, 1ull, 15ull, 16ull, 17ull, 1000ull, 123456789ull, ~0ull}) {
    const unsigned b = Histogram::bucket_of(v);
    CHECK(Histogram::bucket_lower(b) <= v);
    CHECK(v <= Histogram::bucket_upper(b));
  }
}

TEST_CASE("Histogram percentiles are within the bucket error", "[core][histogram]") {
  Histogram h;
  std::vector<std::uint64_t> values;
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(10.0, 1.5);  // ~20 us median, long tail
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  auto exact = [&](double q) {
    return values[static_cast<std::size_t>(q * static_cast<double>(values.size())) - 1];
  };
  for (double q : {0.5, 0.99, 0.999}) {
    const double got = static_cast<double>(h.quantile(q));
    const double want = static_cast<double>(exact(q));
    CHECK(got >= want);
    CHECK(got <= want * (1.0 + 1.0 / Histogram::kSub) + 1);
  }
  CHECK(h.max() == values.back());
  CHECK(h.min() == values.front());
  CHECK(h.count() == values.size());
  CHECK(h.quantile(1.0) == values.back());
}

TEST_CASE("Histogram small values are exact and merge adds up", "[core][histogram]") {
  Histogram a, b;
  for (std::uint64_t v = 1; v <= 10; ++v) a.record(v);
  b.record(1000);
  CHECK(a.quantile(0.5) == 5);
  a.merge(b);
  CHECK(a.count() == 11);
  CHECK(a.max() == 1000);
  a.reset();
  CHECK(a.count() == 0);
  CHECK(a.quantile(0.5) == 0);
}
