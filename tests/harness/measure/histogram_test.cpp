#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>
#include <vector>

#include "harness/measure/histogram.hpp"

using ioduel::harness::histogram;

namespace {

// The recorded value at rank ceil(p/100 * n), HdrHistogram's definition of
// the p-th percentile before its bucketing.
std::int64_t exact_percentile(const std::vector<std::int64_t>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n - 1e-9));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// 3 significant figures: the reported value is the top of the exact value's
// bucket, and no bucket is wider than 1/1000 of the values in it.
void check_within_precision(std::int64_t reported, std::int64_t exact, double p) {
  BOOST_TEST(reported >= exact, "p" << p << ": " << reported << " < exact " << exact);
  BOOST_TEST(reported - exact <= exact / 1000,
             "p" << p << ": " << reported << " is more than 0.1% above exact " << exact);
}

void check_distribution(const char* name, const std::function<std::int64_t(std::mt19937_64&)>& draw) {
  BOOST_TEST_CONTEXT(name) {
    std::mt19937_64 rng(42);
    histogram h;
    std::vector<std::int64_t> values(100'000);
    for (auto& v : values) {
      v = draw(rng);
      h.record(v);
    }
    std::sort(values.begin(), values.end());
    BOOST_TEST(h.total_count() == values.size());
    for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0})
      check_within_precision(h.value_at_percentile(p), exact_percentile(values, p), p);
    BOOST_TEST(h.min() <= values.front());
    BOOST_TEST(values.front() - h.min() <= values.front() / 1000);
    check_within_precision(h.max(), values.back(), 100.0);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(histogram_layout)

BOOST_AUTO_TEST_CASE(default_layout_is_hdr_histogram_1us_to_60s_3_figures) {
  const histogram h;
  BOOST_TEST(h.lowest_trackable() == 1);
  BOOST_TEST(h.highest_trackable() == 60'000'000);
  BOOST_TEST(h.significant_figures() == 3);
  // 2048 sub-buckets, 16 buckets to reach 60e6 (2048 * 2^15 > 60e6 >= 2048 * 2^14).
  BOOST_TEST(h.counts().size() == 17u * 1024u);
}

BOOST_AUTO_TEST_CASE(small_values_are_exact_and_large_ones_share_buckets) {
  const histogram h;
  for (std::int64_t v : {0, 1, 2, 1000, 2047}) {
    BOOST_TEST(h.lowest_equivalent(v) == v);
    BOOST_TEST(h.highest_equivalent(v) == v);
  }
  // 2048..4095 in steps of 2, 4096..8191 in steps of 4.
  BOOST_TEST(h.lowest_equivalent(2049) == 2048);
  BOOST_TEST(h.highest_equivalent(2048) == 2049);
  BOOST_TEST(h.lowest_equivalent(10'007) == 10'000);
  BOOST_TEST(h.highest_equivalent(10'000) == 10'007);
  BOOST_TEST(h.median_equivalent(10'000) == 10'004);
}

BOOST_AUTO_TEST_CASE(every_index_maps_back_to_itself) {
  histogram h;
  for (std::size_t i = 0; i < h.counts().size(); ++i) {
    const auto v = h.value_at_index(i);
    if (v > h.highest_trackable()) break;
    h.reset();
    h.record(v);
    BOOST_TEST_REQUIRE(h.counts()[i] == 1u, "index " << i << " value " << v);
    BOOST_TEST_REQUIRE(h.lowest_equivalent(h.highest_equivalent(v)) == v);
  }
}

BOOST_AUTO_TEST_CASE(invalid_layouts_are_refused) {
  BOOST_CHECK_THROW(histogram(0), std::invalid_argument);
  BOOST_CHECK_THROW(histogram(10, 19), std::invalid_argument);
  BOOST_CHECK_THROW(histogram(1, 1000, 6), std::invalid_argument);
  BOOST_CHECK_THROW(histogram(1, 1000, -1), std::invalid_argument);
  BOOST_CHECK_NO_THROW(histogram(1, 2, 0));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(histogram_queries)

BOOST_AUTO_TEST_CASE(percentiles_match_sorted_values_within_precision) {
  check_distribution("uniform 1us..60s", [](std::mt19937_64& r) {
    return std::uniform_int_distribution<std::int64_t>(1, 60'000'000)(r);
  });
  check_distribution("exponential, mean 200us", [](std::mt19937_64& r) {
    return static_cast<std::int64_t>(std::exponential_distribution<double>(1.0 / 200)(r));
  });
  check_distribution("lognormal, heavy tail", [](std::mt19937_64& r) {
    return std::min<std::int64_t>(
        static_cast<std::int64_t>(std::lognormal_distribution<double>(6.0, 1.5)(r)), 60'000'000);
  });
  check_distribution("bimodal 80us / 40ms", [](std::mt19937_64& r) {
    return std::bernoulli_distribution(0.97)(r)
               ? std::uniform_int_distribution<std::int64_t>(60, 100)(r)
               : std::uniform_int_distribution<std::int64_t>(30'000, 50'000)(r);
  });
  check_distribution("one value", [](std::mt19937_64&) { return std::int64_t{123'456}; });
}

BOOST_AUTO_TEST_CASE(percentile_edges) {
  histogram h;
  BOOST_TEST(h.value_at_percentile(50) == 0);
  BOOST_TEST(h.min() == 0);
  BOOST_TEST(h.max() == 0);
  BOOST_TEST(h.mean() == 0.0);
  for (std::int64_t v = 1; v <= 100; ++v) h.record(v);
  BOOST_TEST(h.value_at_percentile(50) == 50);
  BOOST_TEST(h.value_at_percentile(50.5) == 51);
  BOOST_TEST(h.value_at_percentile(99) == 99);
  BOOST_TEST(h.value_at_percentile(100) == 100);
  BOOST_TEST(h.value_at_percentile(250) == 100);
  BOOST_TEST(h.value_at_percentile(0) == 1);
  BOOST_TEST(h.value_at_percentile(-5) == 1);
  BOOST_TEST(h.value_at_percentile(std::nan("")) == 1);
}

BOOST_AUTO_TEST_CASE(min_max_mean) {
  histogram h;
  h.record(10);
  h.record(20);
  h.record_n(30, 2);
  BOOST_TEST(h.total_count() == 4u);
  BOOST_TEST(h.min() == 10);
  BOOST_TEST(h.max() == 30);
  BOOST_TEST(h.mean() == 22.5);
  // Above 2048 the answers are bucket edges: min the bucket's bottom, max its
  // top, mean from the buckets' middles.
  h.reset();
  h.record(10'001);
  h.record(20'003);
  BOOST_TEST(h.min() == 10'000);
  BOOST_TEST(h.max() == 20'015);
  BOOST_TEST(h.mean() == (10'004 + 20'008) / 2.0);
}

BOOST_AUTO_TEST_CASE(out_of_range_values_are_clamped_and_counted) {
  histogram h;
  h.record(-7);
  h.record(60'000'000);
  h.record_n(90'000'000, 3);
  BOOST_TEST(h.total_count() == 5u);
  BOOST_TEST(h.clamped_count() == 3u);
  BOOST_TEST(h.min() == 0);
  BOOST_TEST(h.max() == h.highest_equivalent(60'000'000));
  BOOST_TEST(h.value_at_percentile(50) == h.highest_equivalent(60'000'000));
}

BOOST_AUTO_TEST_CASE(reset_empties) {
  histogram h;
  h.record_n(5, 10);
  h.record(99'999'999);
  h.reset();
  BOOST_TEST(h.total_count() == 0u);
  BOOST_TEST(h.clamped_count() == 0u);
  BOOST_TEST(h.max() == 0);
  BOOST_TEST(std::all_of(h.counts().begin(), h.counts().end(), [](auto c) { return c == 0; }));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(histogram_merge)

BOOST_AUTO_TEST_CASE(merging_equals_recording_everything_in_one) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(7.0, 1.0);
  histogram all, a, b, c;
  for (int i = 0; i < 30'000; ++i) {
    const auto v = static_cast<std::int64_t>(d(rng));
    all.record(v);
    (i % 3 == 0 ? a : i % 3 == 1 ? b : c).record(v);
  }
  a.record(70'000'000);
  all.record(70'000'000);
  a.merge(b);
  a.merge(c);
  BOOST_TEST(a.total_count() == all.total_count());
  BOOST_TEST(a.clamped_count() == 1u);
  BOOST_TEST(std::equal(a.counts().begin(), a.counts().end(), all.counts().begin()));
  for (double p : {50.0, 99.0, 99.9})
    BOOST_TEST(a.value_at_percentile(p) == all.value_at_percentile(p));
  BOOST_TEST(a.mean() == all.mean());
}

BOOST_AUTO_TEST_CASE(merging_a_different_layout_keeps_counts_and_precision) {
  histogram coarse(1, 3'600'000'000, 2);  // an hour, 2 figures
  histogram fine;
  coarse.record_n(1'500, 10);
  coarse.record_n(250'000, 5);
  coarse.record(2'000'000'000);  // beyond fine's range: clamped
  fine.record(100);
  fine.merge(coarse);
  BOOST_TEST(fine.total_count() == 17u);
  BOOST_TEST(fine.clamped_count() == 1u);
  BOOST_TEST(fine.min() == 100);
  BOOST_TEST(fine.value_at_percentile(50) == fine.highest_equivalent(coarse.lowest_equivalent(1'500)));
  BOOST_TEST(std::abs(fine.value_at_percentile(90) - 250'000) <= 250'000 / 100);
  BOOST_TEST(fine.max() == fine.highest_equivalent(60'000'000));
}

BOOST_AUTO_TEST_SUITE_END()

// HdrHistogram's recordValueWithExpectedInterval: a 10 ms reply with 2 ms
// expected between requests stands for the 4 requests that would have been
// sent meanwhile (8, 6, 4 and 2 ms); a value under the interval, for itself.
BOOST_AUTO_TEST_CASE(the_expected_interval_correction_fills_in_what_was_omitted) {
  ioduel::harness::histogram h = ioduel::harness::histogram::nanoseconds();
  h.record_with_expected_interval(10'000'000, 2'000'000);
  BOOST_TEST(h.total_count() == 5u);
  BOOST_TEST(h.min() == h.lowest_equivalent(2'000'000));
  h.record_with_expected_interval(1'000'000, 2'000'000);
  BOOST_TEST(h.total_count() == 6u);
  h.record_with_expected_interval(10'000'000, 0);
  BOOST_TEST(h.total_count() == 7u);
}
