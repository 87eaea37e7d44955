#pragma once
// The median of a server's repetitions, with its exact confidence interval.
//
// A benchmark is repeated a few times per server; each repetition gives one
// sample (its throughput, its p99, its CPU per request).  The median of the
// samples is the estimate, because one disturbed repetition must not move it.
// Its interval is the distribution-free order-statistic interval: the k-th
// smallest and the k-th largest sample, with k the largest for which the
// number of samples below the true median, Binomial(n, 1/2), falls short of
// k with probability at most 2.5%.  It holds the true median with at least
// 95% probability for any continuous distribution, or, with too few samples
// to reach 95%, with the exact level `level` says (93.75% with 5 samples:
// [min, max]).  No resampling, no seed: the same samples give the same
// interval.  Comparisons between servers are in harness/measure/paired.hpp.

#include <cstddef>
#include <optional>
#include <span>

namespace ioduel::harness {

struct interval {
  double low, high;
};

struct estimate {
  double median;
  std::optional<interval> ci95;  // empty with fewer than 2 samples
  double level = 0;              // the interval's exact confidence level
};

// The middle sample, or the mean of the middle two; NaN for no samples.
double median(std::span<const double> samples);

estimate median_with_ci(std::span<const double> samples);

// The rank k (from 1) of that interval for n samples, and its exact level.
std::size_t median_interval_rank(std::size_t n, double* achieved = nullptr);

// The lowest achieved rate that still carries an offered one: the offered
// rate less `tolerance`, less three standard deviations of the request count
// where arrivals are Poisson. The achieved rate counts the requests whose
// intended send time fell in a window of w seconds; at a Poisson rate r that
// count has standard deviation sqrt(r w), so at 625 req/s over 1 s the count
// alone varies by 4%. `poisson_rps` is the part of the offered rate whose
// arrivals are Poisson (uniform arrivals give an exact count).
double achieved_rate_floor(double offered_rps, double poisson_rps, double window_s, double tolerance) noexcept;

}  // namespace ioduel::harness
