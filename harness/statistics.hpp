#pragma once
// Medians with bootstrap confidence intervals, and the rule that turns the
// ratio of two medians into a verdict.
//
// A benchmark is repeated a few times per server; each repetition gives one
// sample (its throughput, its p99, its CPU per request).  The median of the
// samples is the estimate, because one disturbed repetition must not move it.
// Its 95% interval is a percentile bootstrap: resample the samples with
// replacement, take each resample's median, and report the 2.5th and 97.5th
// percentiles of those medians.  A ratio of medians is bootstrapped the same
// way, resampling the two sides independently.  The generator is seeded, so
// the same samples and seed give the same interval on every machine.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ioduel::harness {

struct interval {
  double low, high;
};

struct estimate {
  double median;
  std::optional<interval> ci95;  // empty with fewer than 2 samples
};

enum class verdict { faster, slower, no_significant_difference, undetermined };

struct ratio_estimate {
  double ratio;                  // median(candidate) / median(baseline)
  std::optional<interval> ci95;  // empty when undetermined
  verdict v;
};

// The middle sample, or the mean of the middle two; NaN for no samples.
double median(std::span<const double> samples);

estimate median_with_ci(std::span<const double> samples, std::uint64_t seed = 1,
                        int resamples = 10000);

// The verdict for a ratio's interval: no significant difference when it
// contains 1; otherwise the candidate is faster when its value is higher and
// higher_is_better (throughput), or lower and not higher_is_better (latency,
// CPU per request); slower in the two other cases.
verdict verdict_for(interval ci95, bool higher_is_better);

// Undetermined, with no interval, when either side has fewer than 2 samples
// or the baseline's median is not positive (the ratio means nothing then).
// A resample whose baseline median is 0 counts as a ratio of +infinity, or of
// 1 when the candidate's is 0 too.
ratio_estimate ratio_of_medians(std::span<const double> candidate,
                                std::span<const double> baseline, bool higher_is_better,
                                std::uint64_t seed = 1, int resamples = 10000);

// "faster", "slower", "no significant difference", "undetermined".
std::string_view verdict_name(verdict v);

}  // namespace ioduel::harness
