#pragma once
// The correction for making many comparisons at once.
//
// A report compares every server with the baseline on five metrics in every
// workload: the quick suite makes about 120 comparisons, the full one 330.
// Each interval misses with probability up to 5% (6.25% at 5 rounds), so
// without a correction a report of real differences would still carry a
// handful of verdicts that chance made.  The verdicts of a report are
// therefore corrected together by the Benjamini-Hochberg procedure: of the
// verdicts that stand, at most fdr_level (5%) are expected to be false,
// and when no server differs from another (an A/A run), the chance of even
// one false verdict in the whole report is at most 5%.
//
// The p-values it ranks come from a t test on the same log ratios as the
// interval (paired t for rounds, Welch's for two reports), of two claims each
// comparison may make: "beyond the margin" (outside the band [1/(1+m), 1+m],
// two-sided) and "within the margin" (two one-sided tests).  Each claim is a
// family of its own, with every comparison in it: a "faster"/"slower" stands
// when its beyond-margin p-value survives the correction among all
// beyond-margin p-values, a "same" when its within-margin one does among
// those.  (One family mixing both would let the many true "same" claims of
// an A/A run raise the bar's height for the noisy rows, and a noisy row's
// false "faster" would then pass.)
// The exact rank interval cannot serve here: with 5 rounds the smallest
// p-value it can give is 1/16, and a correction over 120 comparisons needs
// some to be far smaller.  A verdict stands only when the rank interval gives
// it and its corrected p-value is at most fdr_level: both tests must agree.
// docs/results.md gives the reasons and the calibration.

#include <cstddef>
#include <span>
#include <vector>

namespace ioduel::harness {

inline constexpr double fdr_level = 0.05;

// The p-values of the two claims about a log ratio whose estimate is `mean`
// with standard error `se` on `df` degrees of freedom, against the margin m
// (a fraction); NaN when df < 1.
struct margin_p {
  double beyond;  // beyond the margin on `side`, doubled (two-sided)
  double within;  // within the margin (two one-sided tests)
};
// side: +1 above the band, -1 below it, 0 whichever gives the smaller p-value.
margin_p margin_claim_p(double mean, double se, double df, double margin, int side = 0);

// The paired t test's inputs from per-round log ratios.
margin_p margin_claim_p_paired(std::span<const double> logs, double margin, int side = 0);

// Welch's test's inputs from two samples of logs.
margin_p margin_claim_p_welch(std::span<const double> a, std::span<const double> b, double margin,
                              int side = 0);

// Benjamini-Hochberg adjusted p-values, in the order given: adjusted[i] <= q
// exactly for the hypotheses the procedure rejects at false discovery rate q.
std::vector<double> benjamini_hochberg(std::span<const double> p);

}  // namespace ioduel::harness
