#include "harness/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

namespace ioduel::harness {
namespace {

// A uniform index below n from the generator's raw output.  Not
// std::uniform_int_distribution: its algorithm differs between standard
// libraries, and the intervals must not.
std::size_t draw_index(std::mt19937_64& rng, std::size_t n) {
  const auto range = static_cast<std::uint64_t>(n);
  const std::uint64_t reject_below = (0 - range) % range;  // 2^64 mod n
  for (;;)
    if (const std::uint64_t r = rng(); r >= reject_below) return static_cast<std::size_t>(r % range);
}

// Median of v, reordering it (linear time, no full sort).
double median_in_place(std::vector<double>& v) {
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double below = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return below + (v[mid] - below) / 2;
}

// One bootstrap replicate: the median of a resample of `from`.
double resampled_median(std::span<const double> from, std::vector<double>& buf,
                        std::mt19937_64& rng) {
  buf.resize(from.size());
  for (auto& x : buf) x = from[draw_index(rng, from.size())];
  return median_in_place(buf);
}

// The 2.5th and 97.5th percentiles of the replicates, interpolating linearly
// between order statistics.
interval central_95(std::vector<double>& replicates) {
  std::sort(replicates.begin(), replicates.end());
  auto quantile = [&](double q) {
    const double h = q * static_cast<double>(replicates.size() - 1);
    const auto lo = static_cast<std::size_t>(h);
    const std::size_t hi = std::min(lo + 1, replicates.size() - 1);
    const double a = replicates[lo], b = replicates[hi];
    return a == b ? a : a + (h - static_cast<double>(lo)) * (b - a);  // a == b: also for infinities
  };
  return {quantile(0.025), quantile(0.975)};
}

void check_resamples(int resamples) {
  if (resamples < 1) throw std::invalid_argument("bootstrap: resamples must be at least 1");
}

}  // namespace

double median(std::span<const double> samples) {
  if (samples.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v(samples.begin(), samples.end());
  return median_in_place(v);
}

estimate median_with_ci(std::span<const double> samples, std::uint64_t seed, int resamples) {
  check_resamples(resamples);
  estimate e{median(samples), std::nullopt};
  if (samples.size() < 2) return e;
  std::mt19937_64 rng(seed);
  std::vector<double> buf, replicates(static_cast<std::size_t>(resamples));
  for (auto& r : replicates) r = resampled_median(samples, buf, rng);
  e.ci95 = central_95(replicates);
  return e;
}

verdict verdict_for(interval ci95, bool higher_is_better) {
  if (ci95.low <= 1.0 && 1.0 <= ci95.high) return verdict::no_significant_difference;
  const bool candidate_higher = ci95.low > 1.0;
  return candidate_higher == higher_is_better ? verdict::faster : verdict::slower;
}

ratio_estimate ratio_of_medians(std::span<const double> candidate,
                                std::span<const double> baseline, bool higher_is_better,
                                std::uint64_t seed, int resamples) {
  check_resamples(resamples);
  const double base = median(baseline);
  ratio_estimate r{median(candidate) / base, std::nullopt, verdict::undetermined};
  if (candidate.size() < 2 || baseline.size() < 2 || !(base > 0.0)) {
    if (!(base > 0.0)) r.ratio = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  std::mt19937_64 rng(seed);
  std::vector<double> buf, replicates(static_cast<std::size_t>(resamples));
  for (auto& x : replicates) {
    const double num = resampled_median(candidate, buf, rng);
    const double den = resampled_median(baseline, buf, rng);
    x = den != 0.0 ? num / den : num == 0.0 ? 1.0 : std::numeric_limits<double>::infinity();
  }
  r.ci95 = central_95(replicates);
  r.v = verdict_for(*r.ci95, higher_is_better);
  return r;
}

std::string_view verdict_name(verdict v) {
  switch (v) {
    case verdict::faster: return "faster";
    case verdict::slower: return "slower";
    case verdict::no_significant_difference: return "no significant difference";
    case verdict::undetermined: return "undetermined";
  }
  return "undetermined";
}

}  // namespace ioduel::harness
