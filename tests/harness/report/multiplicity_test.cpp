#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/measure/multiplicity.hpp"
#include "harness/measure/paired.hpp"
#include "harness/report/summary.hpp"

using namespace ioduel::harness;
using nlohmann::json;

namespace {

// A comparison row as the report holds one, from a paired comparison.
json row_of(const paired_comparison& p) {
  return {{"verdict", paired_verdict_name(p.verdict)},
          {"interval_verdict", paired_verdict_name(p.verdict)},
          {"reason", p.reason.empty() ? json(nullptr) : json(p.reason)},
          {"rounds", p.rounds},
          {"p_beyond", std::isfinite(p.p_beyond) ? json(p.p_beyond) : json(nullptr)},
          {"p_within", std::isfinite(p.p_within) ? json(p.p_within) : json(nullptr)},
          {"p_adjusted", nullptr}};
}

// Per-round figures of two servers whose true ratio is `effect`: a drift
// common to both and each measurement's own lognormal noise.
// `disturbed`: the share of measurements 30% low (a neighbour's burst).
void simulate(std::mt19937_64& rng, double noise, std::size_t rounds, double effect,
              std::vector<double>& c, std::vector<double>& b, double disturbed = 0) {
  std::normal_distribution<double> own(0, noise), step(0, 0.03);
  std::bernoulli_distribution hit(disturbed);
  c.clear();
  b.clear();
  double drift = 0;
  const auto burst = [&] { return hit(rng) ? std::log(0.7) : 0.0; };
  for (std::size_t i = 0; i < rounds; ++i) {
    drift += step(rng);
    b.push_back(1000 * std::exp(drift + own(rng) + burst()));
    c.push_back(1000 * effect * std::exp(drift + own(rng) + burst()));
  }
}

// One simulated report of `comparisons` comparisons, `real` of which have a
// true ratio of `effect` (the rest none), corrected together; counts the
// directional verdicts that are right and wrong.
struct report_outcome {
  int right = 0, wrong = 0;
};
// `noisy` of the comparisons have `noisy_sigma` noise instead (p99.9 rows
// are far noisier than throughput rows).
report_outcome simulate_report(std::mt19937_64& rng, int comparisons, int real, double effect,
                               std::size_t rounds, double noise, double disturbed = 0, int noisy = 0,
                               double noisy_sigma = 0) {
  std::vector<double> c, b;
  std::vector<json> rows;
  std::vector<bool> is_real;
  for (int i = 0; i < comparisons; ++i) {
    const bool r = i < real;
    simulate(rng, i >= comparisons - noisy ? noisy_sigma : noise, rounds, r ? effect : 1.0, c, b, disturbed);
    rows.push_back(row_of(compare_paired(c, b, /*higher_is_better=*/true)));
    is_real.push_back(r);
  }
  std::vector<json*> ptrs;
  for (auto& r : rows) ptrs.push_back(&r);
  correct_verdicts(ptrs);
  report_outcome out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string v = rows[i]["verdict"];
    if (v == "faster") (is_real[i] ? out.right : out.wrong) += 1;
    if (v == "slower") out.wrong += 1;
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(multiplicity)

// The t quantiles of the tables: t(0.975; 4) = 2.7764, t(0.95; 4) = 2.1318.
BOOST_AUTO_TEST_CASE(claim_p_values_match_the_t_tables) {
  const double se = 0.01, band = std::log1p(0.03);
  const auto tol = boost::test_tools::tolerance(1e-3);
  // Beyond the margin: the statistic counts from the band, two-sided.
  BOOST_TEST(margin_claim_p(2.7764 * se, se, 4, 0.0).beyond == 0.05, tol);
  BOOST_TEST(margin_claim_p(band + 2.7764 * se, se, 4, 0.03).beyond == 0.05, tol);
  BOOST_TEST(margin_claim_p(-band - 2.7764 * se, se, 4, 0.03).beyond == 0.05, tol);
  BOOST_TEST(margin_claim_p(-band - 2.7764 * se, se, 4, 0.03, -1).beyond == 0.05, tol);
  // Asked about the other side, the same data is no evidence at all.
  BOOST_TEST(margin_claim_p(-band - 2.7764 * se, se, 4, 0.03, +1).beyond == 1.0);
  // Within it: the larger of the two one-sided p-values.
  BOOST_TEST(margin_claim_p(0.0, band / 2.1318, 4, 0.03).within == 0.05, tol);
  BOOST_TEST(margin_claim_p(0.0, 1.0, 4, 0.03).within > 0.4);
  BOOST_TEST(margin_claim_p(0.0, 1.0, 4, 0.03).beyond == 1.0);
  // No spread at all: certain either way.
  BOOST_TEST(margin_claim_p(0.1, 0.0, 4, 0.03).beyond == 0.0);
  BOOST_TEST(margin_claim_p(0.1, 0.0, 4, 0.03).within == 1.0);
  BOOST_TEST(margin_claim_p(0.0, 0.0, 4, 0.03).within == 0.0);
  BOOST_TEST(std::isnan(margin_claim_p(0.1, 0.01, 0, 0.03).beyond));
}

BOOST_AUTO_TEST_CASE(benjamini_hochberg_matches_the_textbook) {
  // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02
  const std::vector<double> p{0.01, 0.04, 0.03, 0.005};
  const std::vector<double> adj = benjamini_hochberg(p);
  const std::vector<double> want{0.02, 0.04, 0.04, 0.02};
  for (std::size_t i = 0; i < p.size(); ++i) BOOST_TEST(adj[i] == want[i], boost::test_tools::tolerance(1e-12));
  // One hypothesis: unchanged; many large ones: capped at 1.
  BOOST_TEST(benjamini_hochberg(std::vector<double>{0.3})[0] == 0.3);
  BOOST_TEST(benjamini_hochberg(std::vector<double>{0.9, 0.95, 1.0})[0] == 1.0);
  BOOST_TEST(benjamini_hochberg(std::vector<double>{}).empty());
}

BOOST_AUTO_TEST_CASE(the_correction_keeps_strong_verdicts_and_drops_weak_ones) {
  // Five rounds all 20% up, tightly: a verdict either way.
  const std::vector<double> base{100, 101, 99, 100, 102}, strong{120, 121, 119, 121, 122};
  // Five rounds all beyond the margin but widely spread: the interval says
  // faster, the t test is far from sure.
  const std::vector<double> weak{104, 105, 103.5, 160, 190};
  json a = row_of(compare_paired(strong, base, true));
  json b = row_of(compare_paired(weak, base, true));
  BOOST_TEST(a["interval_verdict"] == "faster");
  BOOST_TEST(b["interval_verdict"] == "faster");
  // Below 5 rounds and generator-bound rows are in no family.
  json few = row_of(compare_paired(std::vector<double>{120, 121}, std::vector<double>{100, 101}, true));
  json bound = a;
  bound["interval_verdict"] = bound["verdict"] = "generator_bound";
  std::vector<json*> rows{&a, &b, &few, &bound};
  correct_verdicts(rows);
  BOOST_TEST(a["verdict"] == "faster");
  BOOST_TEST(a["p_adjusted"].get<double>() <= fdr_level);
  BOOST_TEST(b["verdict"] == "undetermined");
  BOOST_TEST(b["reason"] == "not kept by the FDR correction");
  BOOST_TEST(b["p_adjusted"].get<double>() > fdr_level);
  BOOST_TEST(few["p_adjusted"].is_null());
  BOOST_TEST(bound["p_adjusted"].is_null());
  BOOST_TEST(bound["verdict"] == "generator_bound");
  // Applied again (the runner does, as workloads join): the same.
  const json before = json::array({a, b, few, bound});
  correct_verdicts(rows);
  BOOST_TEST(json::array({a, b, few, bound}) == before);
}

// The promise of docs/results.md: in a report with no real difference
// anywhere (120 comparisons, like the quick suite's), the chance that it
// holds even one false verdict is at most 5%, at every round count.
BOOST_AUTO_TEST_CASE(an_a_a_report_has_a_false_verdict_at_most_5_percent_of_the_time) {
  std::mt19937_64 rng(20261202);
  struct machine {
    double noise;
    int noisy;           // rows of the 120 with noisy_sigma instead
    double noisy_sigma;
    double disturbed;
  };
  // Alike rows; then 24 rows at 50% noise beside 96 quiet ones (where many
  // true "same" verdicts would lift one mixed family's bar for the noisy
  // rows); then 60 at 100%; then one measurement in ten disturbed.
  for (const machine m : {machine{0.01, 0, 0, 0}, machine{0.05, 0, 0, 0}, machine{0.01, 24, 0.5, 0},
                          machine{0.01, 60, 1.0, 0}, machine{0.03, 0, 0, 0.1}})
    for (std::size_t rounds : {5u, 7u, 10u}) {
      int with_false = 0;
      const int reports = 300;
      for (int i = 0; i < reports; ++i)
        with_false += simulate_report(rng, 120, 0, 1.0, rounds, m.noise, m.disturbed, m.noisy, m.noisy_sigma).wrong > 0;
      BOOST_TEST_MESSAGE("A/A reports, " << rounds << " rounds, noise " << m.noise << " (" << m.noisy << " rows at "
                                         << m.noisy_sigma << "), disturbed " << m.disturbed << ": " << with_false
                                         << " of " << reports << " with a false verdict");
      BOOST_TEST(with_false <= reports * 5 / 100, rounds << " rounds, noise " << m.noise << ", " << m.noisy);
    }
}

// And what it costs: in a report where a third of the comparisons differ by
// 10% at 3% noise (the rest not at all), most real differences are still
// found from 7 rounds, and large ones (30%, the reactor's ping-pong p50
// against the proactor's is 2.5x) at 5; the share of false verdicts among
// those given stays under 5%.
BOOST_AUTO_TEST_CASE(real_differences_survive_the_correction) {
  std::mt19937_64 rng(7);
  const auto found = [&](double effect, std::size_t rounds) {
    int right = 0, wrong = 0;
    const int reports = 100, real = 40;
    for (int i = 0; i < reports; ++i) {
      const report_outcome o = simulate_report(rng, 120, real, effect, rounds, 0.03);
      right += o.right;
      wrong += o.wrong;
    }
    BOOST_TEST_MESSAGE(effect << " at 3% noise, " << rounds << " rounds: found "
                              << double(right) / (reports * real) << ", false share "
                              << double(wrong) / std::max(1, right + wrong));
    BOOST_TEST(double(wrong) / std::max(1, right + wrong) <= 0.05);
    return double(right) / (reports * real);
  };
  BOOST_TEST(found(1.30, 5) >= 0.90);
  BOOST_TEST(found(1.10, 7) >= 0.60);
  BOOST_TEST(found(1.10, 10) >= 0.85);
  // Reported, not promised: what one measurement in ten 30% low costs (the
  // t test's variance takes the outlier in full).
  for (std::size_t rounds : {5u, 7u, 10u}) {
    int right = 0;
    for (int i = 0; i < 100; ++i) right += simulate_report(rng, 120, 40, 1.10, rounds, 0.03, 0.1).right;
    BOOST_TEST_MESSAGE("1.1 at 3% noise, one in ten disturbed, " << rounds << " rounds: found " << right / 4000.0);
  }
  // A 10% difference at 5 rounds, the main job's default (after the calls
  // above, so their draws are unchanged): the correction keeps only about
  // an eighth of them (12.6% with this seed), which docs/results.md says;
  // the floor guards against losing even that.
  BOOST_TEST(found(1.10, 5) >= 0.05);
}

BOOST_AUTO_TEST_SUITE_END()
