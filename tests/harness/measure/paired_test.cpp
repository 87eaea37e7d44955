#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "harness/measure/paired.hpp"

using namespace ioduel::harness;

namespace {

// Round figures of two servers on a shared, drifting machine: a random walk
// common to both (load, clock frequency), each measurement's own lognormal
// noise, and now and then a disturbed measurement 30% low (a neighbour's
// burst).  `effect` is the true ratio candidate / baseline.
struct machine {
  double noise;           // sigma of each measurement's log noise
  double disturbed = 0.1; // the share of disturbed measurements
};

void simulate(std::mt19937_64& rng, const machine& m, std::size_t rounds, double effect,
              std::vector<double>& candidate, std::vector<double>& baseline) {
  std::normal_distribution<double> noise(0, m.noise), step(0, 0.03);
  std::bernoulli_distribution disturbed(m.disturbed);
  candidate.clear();
  baseline.clear();
  double drift = 0;
  for (std::size_t i = 0; i < rounds; ++i) {
    drift += step(rng);
    const auto one = [&](double truth) {
      return 1000 * truth * std::exp(drift + noise(rng) + (disturbed(rng) ? std::log(0.7) : 0.0));
    };
    baseline.push_back(one(1.0));
    candidate.push_back(one(effect));
  }
}

struct rates {
  double faster = 0, slower = 0, same = 0;
  // faster or slower, and kept by the t test at 5% (what a report with this
  // one comparison keeps: Benjamini-Hochberg over one p-value is p <= 0.05).
  double kept = 0;
};

rates verdict_rates(const machine& m, std::size_t rounds, double effect, int trials = 2000) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(rounds * 7919 + static_cast<std::size_t>(m.noise * 1e4)));
  std::vector<double> c, b;
  rates r;
  for (int t = 0; t < trials; ++t) {
    simulate(rng, m, rounds, effect, c, b);
    const paired_comparison p = compare_paired(c, b, /*higher_is_better=*/true);
    const paired_verdict v = p.verdict;
    r.faster += v == paired_verdict::faster;
    r.slower += v == paired_verdict::slower;
    r.same += v == paired_verdict::same;
    r.kept += (v == paired_verdict::faster || v == paired_verdict::slower) && p.p_beyond <= 0.05;
  }
  r.faster /= trials;
  r.slower /= trials;
  r.same /= trials;
  r.kept /= trials;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(paired_comparisons)

BOOST_AUTO_TEST_CASE(wilcoxon_ranks_match_the_exact_null_distribution) {
  double level = 0;
  // 5 pairs: only [min, max] is possible, at 1 - 2/32.
  BOOST_TEST(wilcoxon_rank(5, 0.95, &level) == 1u);
  BOOST_TEST(level == 0.9375);
  BOOST_TEST(wilcoxon_rank(6, 0.95, &level) == 1u);
  BOOST_TEST(level == 1 - 2.0 / 64);
  // 7 pairs: P(T <= 2) = 3/128 <= 0.025 < P(T <= 3) = 5/128.
  BOOST_TEST(wilcoxon_rank(7, 0.95, &level) == 3u);
  BOOST_TEST(level == 1 - 6.0 / 128);
  // The published two-sided 5% critical values: T <= 8 for 10 pairs, 25 for 15, 52 for 20.
  BOOST_TEST(wilcoxon_rank(10, 0.95) == 9u);
  BOOST_TEST(wilcoxon_rank(15, 0.95) == 26u);
  BOOST_TEST(wilcoxon_rank(20, 0.95) == 53u);
  // Far beyond the exact table, the normal approximation is used and still sane.
  // N/2 - 1.96 sd - 0.5 + 1 for 400 pairs: 40,100 - 1.96 x 2,313.7 = 35,565.
  BOOST_TEST(wilcoxon_rank(400, 0.95, &level) == 35'565u);
  BOOST_TEST(level == 0.95);
}

BOOST_AUTO_TEST_CASE(mann_whitney_ranks_match_the_exact_null_distribution) {
  double level = 0;
  // 5 and 5: P(U <= 2) = 4/252 <= 0.025 < P(U <= 3) = 7/252.
  BOOST_TEST(mann_whitney_rank(5, 5, 0.95, &level) == 3u);
  BOOST_TEST(level == 1 - 8.0 / 252, boost::test_tools::tolerance(1e-12));
  // The published two-sided 5% critical values: U <= 1 for 4 and 5, 23 for 10 and 10.
  BOOST_TEST(mann_whitney_rank(4, 5, 0.95) == 2u);
  BOOST_TEST(mann_whitney_rank(10, 10, 0.95) == 24u);
  BOOST_TEST(mann_whitney_rank(3, 3, 0.95, &level) == 1u);  // 95% is out of reach: [min, max]
  BOOST_TEST(level == 0.9);
}

BOOST_AUTO_TEST_CASE(below_five_rounds_there_is_an_interval_but_no_verdict) {
  const std::vector<double> c{110, 111, 112}, b{100, 100, 100};
  const paired_comparison p = compare_paired(c, b, true);
  BOOST_TEST(p.rounds == 3u);
  BOOST_TEST_REQUIRE(p.ci.has_value());
  BOOST_TEST((p.verdict == paired_verdict::undetermined));
  BOOST_TEST(p.reason == "3 rounds; verdicts need 5");
  BOOST_TEST(compare_paired(std::vector<double>{1}, std::vector<double>{1}, true).reason ==
             "1 round; verdicts need 5");
  BOOST_TEST(!compare_paired(std::vector<double>{1}, std::vector<double>{1}, true).ci.has_value());
}

BOOST_AUTO_TEST_CASE(pairs_with_an_invalid_side_are_left_out) {
  const double nan = std::nan("");
  const std::vector<double> c{110, nan, 112, 111, 109, 113, 0}, b{100, 100, nan, 100, 100, 100, 100};
  const paired_comparison p = compare_paired(c, b, true);
  BOOST_TEST(p.rounds == 4u);
  BOOST_TEST(compare_paired(std::vector<double>{}, std::vector<double>{}, true).reason ==
             "no round with both sides valid");
}

BOOST_AUTO_TEST_CASE(the_margin_gives_three_outcomes) {
  const std::vector<double> b{100, 100, 100, 100, 100, 100};
  // Wholly beyond +3%: faster for throughput, slower for latency.
  const std::vector<double> up{110, 111, 109, 112, 110, 108};
  BOOST_TEST((compare_paired(up, b, true).verdict == paired_verdict::faster));
  BOOST_TEST((compare_paired(up, b, false).verdict == paired_verdict::slower));
  const std::vector<double> down{90, 91, 89, 92, 90, 88};
  BOOST_TEST((compare_paired(down, b, true).verdict == paired_verdict::slower));
  BOOST_TEST((compare_paired(down, b, false).verdict == paired_verdict::faster));
  // Wholly inside the band: the same.
  const std::vector<double> level{100.5, 99.5, 101, 99, 100, 100.2};
  const paired_comparison same = compare_paired(level, b, true);
  BOOST_TEST((same.verdict == paired_verdict::same));
  BOOST_TEST(same.reason.empty());
  // About +2%, tightly: a real difference, but inside the margin, so the same.
  const std::vector<double> small{102, 102.2, 101.8, 102.1, 101.9, 102};
  BOOST_TEST((compare_paired(small, b, true).verdict == paired_verdict::same));
  BOOST_TEST((compare_paired(small, b, true, 0.0).verdict == paired_verdict::faster));
  // From +1% to +5%: excludes 1, reaches across +3%: undetermined, saying why.
  const std::vector<double> across{101, 105, 102, 104, 103, 103.5};
  const paired_comparison s = compare_paired(across, b, true);
  BOOST_TEST((s.verdict == paired_verdict::undetermined));
  BOOST_TEST(s.ci->low > 1.0);
  BOOST_TEST(s.reason == "straddles the 3% margin");
  BOOST_TEST((compare_paired(across, b, true, 0.06).verdict == paired_verdict::same));
}

BOOST_AUTO_TEST_CASE(the_estimate_is_the_hodges_lehmann_ratio_and_resists_one_bad_round) {
  // One round in 7 disturbed: the estimate does not move; the interval,
  // whose 3rd-lowest Walsh average is one of the 7 the bad round makes, does.
  std::vector<double> b(7, 100), c{110, 110, 110, 110, 110, 110, 30};
  paired_comparison p = compare_paired(c, b, true);
  BOOST_TEST(p.ratio == 1.1, boost::test_tools::tolerance(1e-9));
  BOOST_TEST((p.verdict == paired_verdict::undetermined));
  // In 15 rounds (k = 26 > 15 such averages) neither does.
  b.assign(15, 100);
  c.assign(14, 110);
  c.push_back(30);
  p = compare_paired(c, b, true);
  BOOST_TEST(p.ratio == 1.1, boost::test_tools::tolerance(1e-9));
  BOOST_TEST((p.verdict == paired_verdict::faster));
  BOOST_TEST(p.ci->low == 1.1, boost::test_tools::tolerance(1e-9));
}

// The calibration the verdicts promise (docs/results.md): with no real
// difference, a false "faster" or "slower" in at most 5% of comparisons at
// every round count that allows a verdict, for noise from 1% to 30% per
// measurement, drift, and one measurement in ten disturbed.
BOOST_AUTO_TEST_CASE(no_difference_gives_at_most_5_percent_false_verdicts) {
  for (double noise : {0.01, 0.03, 0.1, 0.3})
    for (std::size_t rounds : {5u, 6u, 7u, 10u, 15u}) {
      const rates r = verdict_rates({noise}, rounds, 1.0);
      BOOST_TEST_MESSAGE("A/A noise " << noise << ", " << rounds << " rounds: false verdicts "
                                      << r.faster + r.slower << ", same " << r.same);
      BOOST_TEST(r.faster + r.slower <= 0.05, "noise " << noise << ", " << rounds << " rounds");
    }
}

// Beyond realistic noise (50% and 100% per measurement, so the 3% margin
// hardly matters): from 6 rounds the rank interval alone still gives at most
// 5% false verdicts (its level is 96.9% or more); at 5 rounds its level is
// 93.75%, so alone it may reach 6.25% (5.7% measured at 50% noise), and what a
// report keeps, the interval with the t test beside it, stays at most 5%.
BOOST_AUTO_TEST_CASE(no_difference_at_extreme_noise_keeps_its_promise_in_the_report) {
  for (double noise : {0.5, 1.0})
    for (std::size_t rounds : {5u, 6u, 7u, 10u, 15u}) {
      const rates r = verdict_rates({noise}, rounds, 1.0);
      BOOST_TEST_MESSAGE("A/A noise " << noise << ", " << rounds << " rounds: interval's false verdicts "
                                      << r.faster + r.slower << ", kept by the t test " << r.kept);
      if (rounds >= 6) BOOST_TEST(r.faster + r.slower <= 0.05, "noise " << noise << ", " << rounds << " rounds");
      BOOST_TEST(r.faster + r.slower <= 0.0625 + 0.015, "noise " << noise << ", " << rounds << " rounds");
      BOOST_TEST(r.kept <= 0.05, "noise " << noise << ", " << rounds << " rounds");
    }
}

// And the power they promise: a 10% difference found (never reversed) at
// 3% noise per measurement in at least 70% of comparisons at 5 rounds, 85% at
// 7 and 95% at 10; at 1% noise in nearly every one from 5 rounds.
BOOST_AUTO_TEST_CASE(a_ten_percent_difference_is_found) {
  const machine quiet{0.01, 0}, typical{0.03, 0};
  for (std::size_t rounds : {5u, 7u, 10u})
    BOOST_TEST_MESSAGE("10% at 1% / 3% noise, " << rounds << " rounds: found in "
                                                << verdict_rates(quiet, rounds, 1.10).faster << " / "
                                                << verdict_rates(typical, rounds, 1.10).faster);
  BOOST_TEST(verdict_rates(quiet, 5, 1.10).faster >= 0.97);
  BOOST_TEST(verdict_rates(typical, 5, 1.10).faster >= 0.70);
  BOOST_TEST(verdict_rates(typical, 7, 1.10).faster >= 0.85);
  BOOST_TEST(verdict_rates(typical, 10, 1.10).faster >= 0.95);
  BOOST_TEST(verdict_rates(typical, 7, 1.10).slower == 0.0);
  // Reported, not promised: one measurement in ten disturbed costs power.
  BOOST_TEST_MESSAGE("10% at 3% noise, 10% disturbed, 7 rounds: found in "
                     << verdict_rates({0.03, 0.1}, 7, 1.10).faster);
}

BOOST_AUTO_TEST_SUITE_END()
