#include "harness/measure/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace ioduel::harness {
namespace {

// Median of v, reordering it (linear time, no full sort).
double median_in_place(std::vector<double>& v) {
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double below = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return below + (v[mid] - below) / 2;
}

}  // namespace

double median(std::span<const double> samples) {
  if (samples.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v(samples.begin(), samples.end());
  return median_in_place(v);
}

std::size_t median_interval_rank(std::size_t n, double* achieved) {
  // P(B <= j) for B ~ Binomial(n, 1/2), summed in logs so that large n does
  // not overflow: the interval [x(k), x(n-k+1)] misses with 2 P(B <= k-1).
  const auto log_pmf = [n](std::size_t j) {
    return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(j) + 1) -
           std::lgamma(static_cast<double>(n - j) + 1) - static_cast<double>(n) * std::log(2.0);
  };
  std::size_t k = 0;
  double below = 0, cdf = 0;  // cdf: P(B <= k - 1) for the k found so far
  for (std::size_t j = 0; j <= n / 2; ++j) {
    below += std::exp(log_pmf(j));
    if (below > 0.025) break;
    k = j + 1;
    cdf = below;
  }
  if (k == 0) {
    k = 1;
    cdf = n ? std::exp(log_pmf(0)) : 0.5;
  }
  if (achieved) *achieved = n >= 2 ? 1 - 2 * cdf : 0;
  return k;
}

estimate median_with_ci(std::span<const double> samples) {
  estimate e{median(samples), std::nullopt, 0};
  if (samples.size() < 2) return e;
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  const std::size_t k = median_interval_rank(sorted.size(), &e.level);
  e.ci95 = interval{sorted[k - 1], sorted[sorted.size() - k]};
  return e;
}

double achieved_rate_floor(double offered_rps, double poisson_rps, double window_s, double tolerance) noexcept {
  const double sampling = window_s > 0 && poisson_rps > 0 ? 3 * std::sqrt(poisson_rps * window_s) / window_s : 0;
  return std::max(0.0, offered_rps * (1 - tolerance) - sampling);
}

}  // namespace ioduel::harness
