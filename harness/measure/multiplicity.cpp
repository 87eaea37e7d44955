#include "harness/measure/multiplicity.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <boost/math/distributions/students_t.hpp>

namespace ioduel::harness {

namespace {

// P(T >= t) for Student's t on df degrees of freedom; t may be infinite.
double upper_tail(double t, double df) {
  if (t == std::numeric_limits<double>::infinity()) return 0;
  if (t == -std::numeric_limits<double>::infinity()) return 1;
  return boost::math::cdf(boost::math::complement(boost::math::students_t(df), t));
}

// (x - c) / se, with se == 0 giving an infinite (or, at x == c, zero) statistic.
double t_statistic(double x, double c, double se) {
  if (se > 0) return (x - c) / se;
  if (x == c) return 0;
  return x > c ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

double mean_of(std::span<const double> v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double variance_of(std::span<const double> v, double mean) {
  double ss = 0;
  for (const double x : v) ss += (x - mean) * (x - mean);
  return ss / static_cast<double>(v.size() - 1);
}

}  // namespace

margin_p margin_claim_p(double mean, double se, double df, double margin, int side) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  if (!(df >= 1) || !std::isfinite(mean) || !(se >= 0)) return {nan, nan};
  const double band = std::log1p(margin);
  // One-sided: above the band (null: at or below +band), below it (null: at or above -band).
  const double above = upper_tail(t_statistic(mean, band, se), df);
  const double below = upper_tail(-t_statistic(mean, -band, se), df);
  const double one_sided = side > 0 ? above : side < 0 ? below : std::min(above, below);
  // Within: both nulls (at or below -band, at or above +band) rejected; the
  // larger p-value is the test's.
  const double above_low = upper_tail(t_statistic(mean, -band, se), df);
  const double below_high = upper_tail(-t_statistic(mean, band, se), df);
  return {std::min(1.0, 2 * one_sided), std::max(above_low, below_high)};
}

margin_p margin_claim_p_paired(std::span<const double> logs, double margin, int side) {
  const std::size_t n = logs.size();
  if (n < 2) return margin_claim_p(0, 0, 0, margin);
  const double mean = mean_of(logs);
  const double se = std::sqrt(variance_of(logs, mean) / static_cast<double>(n));
  return margin_claim_p(mean, se, static_cast<double>(n - 1), margin, side);
}

margin_p margin_claim_p_welch(std::span<const double> a, std::span<const double> b, double margin, int side) {
  if (a.size() < 2 || b.size() < 2) return margin_claim_p(0, 0, 0, margin);
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  const double ma = mean_of(a), mb = mean_of(b);
  const double va = variance_of(a, ma) / na, vb = variance_of(b, mb) / nb;
  const double se = std::sqrt(va + vb);
  // Welch-Satterthwaite degrees of freedom; with no spread on either side,
  // the smaller sample's.
  const double df = va + vb > 0 ? (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1))
                                : std::min(na, nb) - 1;
  return margin_claim_p(ma - mb, se, df, margin, side);
}

std::vector<double> benjamini_hochberg(std::span<const double> p) {
  const std::size_t m = p.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&p](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 1;
  // From the largest p down: adjusted(i) = min over j >= i of m p(j) / j.
  for (std::size_t rank = m; rank >= 1; --rank) {
    const std::size_t i = order[rank - 1];
    running = std::min(running, p[i] * static_cast<double>(m) / static_cast<double>(rank));
    adjusted[i] = running;
  }
  return adjusted;
}

}  // namespace ioduel::harness
