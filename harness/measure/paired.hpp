#pragma once
// Paired comparison of two servers measured in the same rounds.
//
// In round i every server runs once, in an order shuffled per round, so the
// ratio d_i = candidate_i / baseline_i cancels what drifts between rounds on
// a shared machine (load, clock frequency, cache and allocator state).  The
// comparison works on log d_i:
//
//   estimate  exp(Hodges-Lehmann): the median of the Walsh averages
//             (log d_i + log d_j) / 2, i <= j;
//   interval  the Wilcoxon signed-rank interval: the k-th smallest and k-th
//             largest Walsh averages, k from the exact null distribution of
//             the signed-rank statistic, so that the interval holds the true
//             ratio with probability at least 95% (93.75% at 5 rounds, the
//             most 5 pairs can give: 1 - 2/2^5).
//
// Why this interval: it is exact for any noise distribution that is
// symmetric about the true log ratio, and under "no difference" the paired,
// shuffled design makes log d_i symmetric about 0 (each server is equally
// likely to be first), so a false verdict is bounded whatever the noise looks
// like.  Its estimate does not move for one disturbed round, and from about
// 12 rounds its interval does not either; a t interval on the same logs, whose
// variance one such round inflates, loses much more power to it
// (docs/results.md has the figures).
//
// The verdict applies a practical margin m (3% by default): the candidate is
// "faster" or "slower" only when the whole interval lies beyond the band
// [1/(1+m), 1+m] on the side that means it, "same" when the whole interval
// lies inside the band, "undetermined" otherwise, and always below
// min_rounds_for_verdict rounds.

#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>

#include "harness/measure/statistics.hpp"

namespace ioduel::harness {

inline constexpr std::size_t min_rounds_for_verdict = 5;
inline constexpr double default_margin = 0.03;

enum class paired_verdict { faster, slower, same, undetermined };

struct paired_comparison {
  std::size_t rounds = 0;        // pairs with both sides valid and positive
  double ratio = 0;              // exp(Hodges-Lehmann estimate); NaN without pairs
  std::optional<interval> ci;    // of the ratio; empty below 2 rounds
  double level = 0;              // the interval's exact confidence level
  paired_verdict verdict = paired_verdict::undetermined;
  std::string reason;            // why undetermined; empty otherwise
  // The t test's p-values of the claims "beyond the margin" (on the side the
  // interval is, when it is beyond) and "within it", which the report-wide
  // correction ranks (harness/measure/multiplicity.hpp); NaN below 2 rounds.
  // `verdict` is the interval's alone: a report corrects it with the others.
  double p_beyond = std::numeric_limits<double>::quiet_NaN();
  double p_within = std::numeric_limits<double>::quiet_NaN();
};

// candidate[i] and baseline[i] are round i's figures; a pair in which either
// is NaN or not positive is left out.  `margin` is a fraction (0.03 = 3%).
paired_comparison compare_paired(std::span<const double> candidate, std::span<const double> baseline,
                                 bool higher_is_better, double margin = default_margin);

// Two independent sets of repetitions (two reports: before and after), where
// no round pairs them: the same margin and verdicts, on the Hodges-Lehmann
// shift of the logs (the median of log c_i - log b_j over all pairs) and the
// exact Mann-Whitney interval (the k-th smallest and largest of those
// differences), which holds with probability at least 95% for any noise
// that has the same shape on both sides.  A verdict needs 5 valid
// repetitions on each side.  `rounds` is the smaller side's count.
paired_comparison compare_independent(std::span<const double> candidate, std::span<const double> baseline,
                                      bool higher_is_better, double margin = default_margin);

// "faster", "slower", "same", "undetermined".
const char* paired_verdict_name(paired_verdict v) noexcept;

// The rank k (from 1) of the Wilcoxon signed-rank interval for n pairs: the
// largest k with P(T <= k - 1) <= (1 - level) / 2 under the null, or 1 when
// even k = 1 does not reach it; `achieved` receives the exact level of the
// interval [W(k), W(N - k + 1)].
std::size_t wilcoxon_rank(std::size_t n, double level, double* achieved = nullptr);

// The same for the Mann-Whitney interval of samples of m and n.
std::size_t mann_whitney_rank(std::size_t m, std::size_t n, double level, double* achieved = nullptr);

}  // namespace ioduel::harness
