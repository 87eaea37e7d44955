#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "harness/measure/statistics.hpp"

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
  const estimate a = median_with_ci(samples);
  const estimate b = median_with_ci(samples);
  BOOST_TEST_REQUIRE(a.ci95.has_value());
  BOOST_TEST(a.ci95->low <= a.median);
  BOOST_TEST(a.median <= a.ci95->high);
  BOOST_TEST(a.ci95->low < a.ci95->high);
  BOOST_TEST(a.ci95->low == b.ci95->low);
  BOOST_TEST(a.ci95->high == b.ci95->high);
  // 20 samples: the 6th smallest and the 6th largest, at 95.9%.
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  BOOST_TEST(a.ci95->low == sorted[5]);
  BOOST_TEST(a.ci95->high == sorted[14]);
  BOOST_TEST(a.level == 1 - 2 * 0.020694732666015625, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(ranks_and_levels_are_the_binomial_ones) {
  double level = 0;
  // 3 samples: [min, max] covers 75%; 5: 93.75%; 6: 96.875%; 9: the 2nd, 98.0%.
  BOOST_TEST(median_interval_rank(3, &level) == 1u);
  BOOST_TEST(level == 0.75);
  BOOST_TEST(median_interval_rank(5, &level) == 1u);
  BOOST_TEST(level == 0.9375);
  BOOST_TEST(median_interval_rank(6, &level) == 1u);
  BOOST_TEST(level == 0.96875);
  BOOST_TEST(median_interval_rank(9, &level) == 2u);
  BOOST_TEST(level == 1 - 2 * 10.0 / 512, boost::test_tools::tolerance(1e-12));
  // Large n does not overflow and stays at or above 95%.
  BOOST_TEST(median_interval_rank(1000, &level) > 400u);
  BOOST_TEST(level >= 0.95);
}

// The interval of the median of 25 lognormal samples covers the
// distribution's true median about 95% of the time (at least its level,
// 95.7%, in expectation).
BOOST_AUTO_TEST_CASE(median_interval_coverage_is_near_nominal) {
  check_coverage("median", 1000.0, [](std::mt19937_64& rng, std::uint64_t) {
    return *median_with_ci(draw(rng, 25, 1000.0, 0.5)).ci95;
  });
}

BOOST_AUTO_TEST_SUITE_END()
