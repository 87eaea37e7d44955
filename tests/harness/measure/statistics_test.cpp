#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "harness/statistics.hpp"

using namespace ioduel::harness;

namespace {

std::vector<double> draw(std::mt19937_64& rng, int n, double median_value, double spread) {
  // Lognormal: skewed like benchmark samples, and its median is exp(mu).
  std::lognormal_distribution<double> d(std::log(median_value), spread);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

bool covers(const interval& ci, double truth) { return ci.low <= truth && truth <= ci.high; }

// Runs 400 seeded experiments, each giving an interval that should hold
// `truth`, and checks that about 95% of them do.
template <class Experiment>
void check_coverage(const char* what, double truth, Experiment&& experiment) {
  std::mt19937_64 rng(1234);
  const int trials = 400;
  int covered = 0;
  for (int t = 0; t < trials; ++t)
    covered += covers(experiment(rng, static_cast<std::uint64_t>(t) + 1), truth) ? 1 : 0;
  const double rate = static_cast<double>(covered) / trials;
  BOOST_TEST_MESSAGE(what << ": the 95% interval covered the truth in " << covered << " of "
                          << trials << " trials");
  BOOST_TEST(rate >= 0.88, what);
  BOOST_TEST(rate <= 0.99, what);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(statistics_median)

BOOST_AUTO_TEST_CASE(median_of_odd_even_and_empty) {
  const std::vector<double> odd{5, 1, 9, 3, 7}, even{4, 1, 3, 2};
  BOOST_TEST(median(odd) == 5.0);
  BOOST_TEST(median(even) == 2.5);
  BOOST_TEST(std::isnan(median({})));
}

BOOST_AUTO_TEST_CASE(one_sample_has_no_interval) {
  const std::vector<double> one{42.0};
  const estimate e = median_with_ci(one);
  BOOST_TEST(e.median == 42.0);
  BOOST_TEST(!e.ci95.has_value());
}

BOOST_AUTO_TEST_CASE(interval_surrounds_the_median_and_is_deterministic) {
  std::mt19937_64 rng(11);
  const auto samples = draw(rng, 20, 100.0, 0.2);
  const estimate a = median_with_ci(samples, 5);
  const estimate b = median_with_ci(samples, 5);
  BOOST_TEST_REQUIRE(a.ci95.has_value());
  BOOST_TEST(a.ci95->low <= a.median);
  BOOST_TEST(a.median <= a.ci95->high);
  BOOST_TEST(a.ci95->low < a.ci95->high);
  BOOST_TEST(a.ci95->low == b.ci95->low);
  BOOST_TEST(a.ci95->high == b.ci95->high);
  // Resampled medians are always among the samples' values.
  BOOST_TEST(a.ci95->low >= *std::min_element(samples.begin(), samples.end()));
  BOOST_TEST(a.ci95->high <= *std::max_element(samples.begin(), samples.end()));
}

// The interval of the median of 25 lognormal samples covers the
// distribution's true median about 95% of the time.
BOOST_AUTO_TEST_CASE(median_interval_coverage_is_near_nominal) {
  check_coverage("median", 1000.0, [](std::mt19937_64& rng, std::uint64_t seed) {
    return *median_with_ci(draw(rng, 25, 1000.0, 0.5), seed, 1000).ci95;
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(statistics_ratio)

// The same for the ratio of two medians, 15 samples a side, true ratio 1.2.
BOOST_AUTO_TEST_CASE(ratio_interval_coverage_is_near_nominal) {
  check_coverage("ratio", 1.2, [](std::mt19937_64& rng, std::uint64_t seed) {
    const auto candidate = draw(rng, 15, 1200.0, 0.3);
    const auto baseline = draw(rng, 15, 1000.0, 0.3);
    return *ratio_of_medians(candidate, baseline, true, seed, 1000).ci95;
  });
}

BOOST_AUTO_TEST_CASE(verdict_rule_on_intervals) {
  BOOST_TEST((verdict_for({0.9, 1.1}, true) == verdict::no_significant_difference));
  BOOST_TEST((verdict_for({1.0, 1.3}, false) == verdict::no_significant_difference));
  BOOST_TEST((verdict_for({1.1, 1.3}, true) == verdict::faster));   // more requests/s
  BOOST_TEST((verdict_for({1.1, 1.3}, false) == verdict::slower));  // more latency
  BOOST_TEST((verdict_for({0.7, 0.9}, true) == verdict::slower));
  BOOST_TEST((verdict_for({0.7, 0.9}, false) == verdict::faster));
}

BOOST_AUTO_TEST_CASE(verdicts_on_constructed_samples) {
  const std::vector<double> base{100, 101, 99, 102, 98, 100, 101};
  const std::vector<double> doubled{200, 202, 198, 204, 196, 200, 202};
  const std::vector<double> same{99, 103, 97, 100, 101, 102, 98};

  const auto throughput = ratio_of_medians(doubled, base, true);
  BOOST_TEST(throughput.ratio == 2.0);
  BOOST_TEST_REQUIRE(throughput.ci95.has_value());
  BOOST_TEST(throughput.ci95->low > 1.9);
  BOOST_TEST(throughput.ci95->high < 2.1);
  BOOST_TEST((throughput.v == verdict::faster));

  BOOST_TEST((ratio_of_medians(doubled, base, false).v == verdict::slower));
  BOOST_TEST((ratio_of_medians(base, doubled, false).v == verdict::faster));
  BOOST_TEST((ratio_of_medians(same, base, true).v == verdict::no_significant_difference));
  BOOST_TEST((ratio_of_medians(same, base, false).v == verdict::no_significant_difference));
}

BOOST_AUTO_TEST_CASE(too_few_samples_or_zero_baseline_is_undetermined) {
  const std::vector<double> one{5}, two{5, 6}, zeros{0, 0, 0}, mostly_zero{0, 0, 3};
  auto r = ratio_of_medians(one, two, true);
  BOOST_TEST((r.v == verdict::undetermined));
  BOOST_TEST(!r.ci95.has_value());
  BOOST_TEST(r.ratio == 5.0 / 5.5);
  BOOST_TEST((ratio_of_medians(two, one, false).v == verdict::undetermined));
  r = ratio_of_medians(two, zeros, true);
  BOOST_TEST((r.v == verdict::undetermined));
  BOOST_TEST(std::isnan(r.ratio));
  BOOST_TEST((ratio_of_medians(two, mostly_zero, true).v == verdict::undetermined));
}

BOOST_AUTO_TEST_CASE(verdict_names) {
  BOOST_TEST(verdict_name(verdict::faster) == "faster");
  BOOST_TEST(verdict_name(verdict::slower) == "slower");
  BOOST_TEST(verdict_name(verdict::no_significant_difference) == "no significant difference");
  BOOST_TEST(verdict_name(verdict::undetermined) == "undetermined");
}

BOOST_AUTO_TEST_SUITE_END()
