#include "harness/measure/paired.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include <boost/math/distributions/normal.hpp>

#include "harness/measure/multiplicity.hpp"

namespace ioduel::harness {

namespace {

// P(T <= t) for t = 0..N under the null, T the signed-rank statistic of n
// pairs: the number of subsets of {1..n} with each sum, over 2^n.
std::vector<double> signed_rank_cdf(std::size_t n) {
  const std::size_t total = n * (n + 1) / 2;
  std::vector<double> count(total + 1, 0.0);
  count[0] = 1;
  for (std::size_t r = 1; r <= n; ++r)
    for (std::size_t t = total; t >= r; --t) count[t] += count[t - r];
  const double subsets = std::ldexp(1.0, static_cast<int>(n));
  double cum = 0;
  for (auto& c : count) {
    cum += c / subsets;
    c = cum;
  }
  return count;
}

// P(U <= u) for u = 0..mn under the null, U the Mann-Whitney statistic of
// samples of m and n: the number of ways, over C(m + n, m).
std::vector<double> mann_whitney_cdf(std::size_t m, std::size_t n) {
  // ways[i][j][u]: arrangements of i and j items with statistic u, kept as a
  // rolling table over i.
  const std::size_t top = m * n;
  std::vector<std::vector<double>> prev(n + 1, std::vector<double>(top + 1, 0.0)), cur = prev;
  for (std::size_t j = 0; j <= n; ++j) prev[j][0] = 1;  // i = 0
  for (std::size_t i = 1; i <= m; ++i) {
    for (auto& row : cur) std::fill(row.begin(), row.end(), 0.0);
    cur[0][0] = 1;
    for (std::size_t j = 1; j <= n; ++j)
      for (std::size_t u = 0; u <= top; ++u)
        cur[j][u] = (u >= j ? prev[j][u - j] : 0.0) + cur[j - 1][u];
    std::swap(prev, cur);
  }
  std::vector<double> cdf = prev[n];
  double total = 0;
  for (double c : cdf) total += c;
  double cum = 0;
  for (auto& c : cdf) {
    cum += c / total;
    c = cum;
  }
  return cdf;
}

// The rank k of an interval [X(k), X(N - k + 1)] of a rank statistic whose
// null CDF is `cdf` (cdf[t] = P(S <= t)): the largest k with
// P(S <= k - 1) <= tail, at least 1; `coverage` is then 1 - 2 P(S <= k - 1).
std::size_t exact_rank(const std::vector<double>& cdf, double tail, double& coverage) {
  std::size_t k = 0;
  while (k < cdf.size() && cdf[k] <= tail) ++k;
  k = std::max<std::size_t>(k, 1);
  coverage = 1 - 2 * cdf[k - 1];
  return k;
}

// The same from the normal approximation to the statistic (its null mean and
// standard deviation), with a continuity correction: for samples too large
// for the exact table.
std::size_t normal_rank(double mean, double sd, double tail) {
  const double z = boost::math::quantile(boost::math::complement(boost::math::normal(), tail));
  return static_cast<std::size_t>(std::max(1.0, std::floor(mean - z * sd - 0.5) + 1));
}

// The verdict of an interval of a ratio against the margin's band.
void decide(paired_comparison& out, bool higher_is_better, double margin);

// +1 when the interval lies wholly above the band, -1 wholly below, else 0:
// the side whose beyond-margin claim the t test is asked about.
int beyond_side(const interval& ci, double margin) {
  if (ci.low > 1 + margin) return 1;
  if (ci.high < 1 / (1 + margin)) return -1;
  return 0;
}

std::string fmt(const char* format, double a) {
  char buf[96];
  std::snprintf(buf, sizeof buf, format, a);
  return buf;
}

}  // namespace

std::size_t wilcoxon_rank(std::size_t n, double level, double* achieved) {
  const double tail = (1 - level) / 2;
  std::size_t k;
  double coverage;
  if (n <= 300) {
    // The interval [W(k), W(N - k + 1)] misses with probability 2 P(T <= k - 1).
    k = exact_rank(signed_rank_cdf(n), tail, coverage);
  } else {
    // Beyond 300 pairs: T has mean n(n+1)/4 and variance n(n+1)(2n+1)/24.
    const double dn = static_cast<double>(n);
    k = normal_rank(dn * (dn + 1) / 4, std::sqrt(dn * (dn + 1) * (2 * dn + 1) / 24), tail);
    coverage = level;
  }
  if (achieved) *achieved = coverage;
  return k;
}

paired_comparison compare_paired(std::span<const double> candidate, std::span<const double> baseline,
                                 bool higher_is_better, double margin) {
  paired_comparison out;
  std::vector<double> logs;
  for (std::size_t i = 0; i < std::min(candidate.size(), baseline.size()); ++i) {
    const double c = candidate[i], b = baseline[i];
    if (std::isfinite(c) && std::isfinite(b) && c > 0 && b > 0) logs.push_back(std::log(c / b));
  }
  out.rounds = logs.size();
  const std::size_t n = logs.size();
  if (n == 0) {
    out.ratio = std::numeric_limits<double>::quiet_NaN();
    out.reason = "no round with both sides valid";
    return out;
  }
  std::vector<double> walsh;
  walsh.reserve(n * (n + 1) / 2);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i; j < n; ++j) walsh.push_back((logs[i] + logs[j]) / 2);
  std::sort(walsh.begin(), walsh.end());
  const std::size_t m = walsh.size();
  out.ratio = std::exp(median(walsh));
  const std::string counted = std::to_string(n) + (n == 1 ? " round" : " rounds");
  if (n < 2) {
    out.reason = counted + "; verdicts need " + std::to_string(min_rounds_for_verdict);
    return out;
  }
  const std::size_t k = wilcoxon_rank(n, 0.95, &out.level);
  out.ci = interval{std::exp(walsh[k - 1]), std::exp(walsh[m - k])};
  {
    const margin_p p = margin_claim_p_paired(logs, margin, beyond_side(*out.ci, margin));
    out.p_beyond = p.beyond;
    out.p_within = p.within;
  }
  if (n < min_rounds_for_verdict) {
    out.reason = counted + "; verdicts need " + std::to_string(min_rounds_for_verdict);
    return out;
  }
  decide(out, higher_is_better, margin);
  return out;
}

std::size_t mann_whitney_rank(std::size_t m, std::size_t n, double level, double* achieved) {
  const double tail = (1 - level) / 2;
  std::size_t k;
  double coverage;
  if (m * n <= 2500) {
    k = exact_rank(mann_whitney_cdf(m, n), tail, coverage);
  } else {
    // Beyond 2,500 pairs: U has mean mn/2 and variance mn(m+n+1)/12.
    const double dm = static_cast<double>(m), dn = static_cast<double>(n);
    k = normal_rank(dm * dn / 2, std::sqrt(dm * dn * (dm + dn + 1) / 12), tail);
    coverage = level;
  }
  if (achieved) *achieved = coverage;
  return k;
}

paired_comparison compare_independent(std::span<const double> candidate, std::span<const double> baseline,
                                      bool higher_is_better, double margin) {
  paired_comparison out;
  const auto logs = [](std::span<const double> v) {
    std::vector<double> l;
    for (const double x : v)
      if (std::isfinite(x) && x > 0) l.push_back(std::log(x));
    return l;
  };
  const std::vector<double> c = logs(candidate), b = logs(baseline);
  out.rounds = std::min(c.size(), b.size());
  if (c.empty() || b.empty()) {
    out.ratio = std::numeric_limits<double>::quiet_NaN();
    out.reason = "no valid repetition on one side";
    return out;
  }
  std::vector<double> diffs;
  diffs.reserve(c.size() * b.size());
  for (const double x : c)
    for (const double y : b) diffs.push_back(x - y);
  std::sort(diffs.begin(), diffs.end());
  const std::size_t total = diffs.size();
  out.ratio = std::exp(median(diffs));
  const std::string counts = std::to_string(out.rounds) + (out.rounds == 1 ? " repetition" : " repetitions") +
                             " on a side";
  if (c.size() < 2 || b.size() < 2) {
    out.reason = counts + "; verdicts need " + std::to_string(min_rounds_for_verdict) + " a side";
    return out;
  }
  const std::size_t k = mann_whitney_rank(c.size(), b.size(), 0.95, &out.level);
  out.ci = interval{std::exp(diffs[k - 1]), std::exp(diffs[total - k])};
  {
    const margin_p p = margin_claim_p_welch(c, b, margin, beyond_side(*out.ci, margin));
    out.p_beyond = p.beyond;
    out.p_within = p.within;
  }
  if (out.rounds < min_rounds_for_verdict) {
    out.reason = counts + "; verdicts need " + std::to_string(min_rounds_for_verdict) + " a side";
    return out;
  }
  decide(out, higher_is_better, margin);
  return out;
}

namespace {

void decide(paired_comparison& out, bool higher_is_better, double margin) {
  const double above = 1 + margin, below = 1 / (1 + margin);
  if (out.ci->low > above || out.ci->high < below) {
    const bool candidate_higher = out.ci->low > above;
    out.verdict = candidate_higher == higher_is_better ? paired_verdict::faster : paired_verdict::slower;
  } else if (out.ci->low >= below && out.ci->high <= above) {
    out.verdict = paired_verdict::same;
  } else {
    out.reason = fmt("straddles the %g%% margin", margin * 100);
  }
}

}  // namespace

const char* paired_verdict_name(paired_verdict v) noexcept {
  switch (v) {
    case paired_verdict::faster: return "faster";
    case paired_verdict::slower: return "slower";
    case paired_verdict::same: return "same";
    case paired_verdict::undetermined: return "undetermined";
  }
  return "undetermined";
}

}  // namespace ioduel::harness
