#pragma once
// A latency histogram with HdrHistogram's bucket layout and precision.
//
// Values are integers.  The engine records latency in nanoseconds
// (histogram::nanoseconds(): 1 ns to 60 s); the default layout tracks 1 to
// 60,000,000 (1 us to 60 s in microseconds, as reports before schema version
// 3 held).  Either keeps 3 significant decimal digits: every value is counted
// in a bucket no wider than 1/1000 of the value, and values below 2048 are
// counted exactly.  The layout is HdrHistogram's, so
// the encoding (encode()/decode(), see histogram_codec.hpp) is the V2
// compressed "HISTFAAA..." form that HdrHistogram libraries in other
// languages read and write.
//
// Out-of-range values: a value above highest_trackable() is clamped to it and
// still counted (so total_count() counts every record, and the tail
// percentiles show the clamp value); clamped_count() says how many were.  A
// negative value is counted as 0.  Neither case costs a branch on the hot path.
//
// Queries follow HdrHistogram's definitions: value_at_percentile(p) is the
// highest value equivalent to (in the same bucket as) the recorded value at
// rank ceil(p/100 * count); min() and max() are the lowest and highest
// values equivalent to the smallest and largest recorded values; mean() uses
// the middle of each bucket.  Not thread-safe: each thread records into its
// own histogram and the results are merged.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ioduel::harness {

class histogram {
 public:
  // 1 to 60,000,000 (1 us to 60 s in microseconds) at 3 significant digits.
  histogram();
  // 1 ns to 60 s in nanoseconds at 3 significant digits: the engine's latency.
  static histogram nanoseconds() { return histogram(1, 60'000'000'000, 3); }
  // Throws std::invalid_argument unless lowest >= 1, highest >= 2 * lowest
  // and 0 <= significant_figures <= 5.  lowest is rounded down to a power of 2.
  explicit histogram(std::int64_t lowest, std::int64_t highest = 60'000'000,
                     int significant_figures = 3);

  // The hot path: an index computation and two additions, no allocation.
  void record(std::int64_t v) noexcept { record_n(v, 1); }
  void record_n(std::int64_t v, std::uint64_t n) noexcept {
    clamped_ += n * static_cast<std::uint64_t>(v > highest_);
    counts_[index_of(std::clamp(v, std::int64_t{0}, highest_))] += n;
    total_ += n;
  }

  // HdrHistogram's correction for coordinated omission: records v, and when
  // v exceeds the expected interval between requests, the values the
  // requests that would have been sent meanwhile would have seen (v - e,
  // v - 2e, ... down to e).  expected <= 0 records v alone.
  void record_with_expected_interval(std::int64_t v, std::int64_t expected) noexcept {
    record(v);
    if (expected <= 0) return;
    for (std::int64_t missing = v - expected; missing >= expected; missing -= expected) record(missing);
  }

  // Adds other's counts.  Histograms with the same layout add bucket by
  // bucket; otherwise each of other's buckets is recorded at its lowest value
  // (clamped like record()).
  void merge(const histogram& other);
  void reset() noexcept;

  // 0 for an empty histogram.  p is clamped to [0, 100]; NaN counts as 0.
  std::int64_t value_at_percentile(double p) const;
  std::int64_t min() const;
  std::int64_t max() const;
  double mean() const;
  std::uint64_t total_count() const noexcept { return total_; }
  std::uint64_t clamped_count() const noexcept { return clamped_; }  // not carried by encode()

  std::int64_t lowest_trackable() const noexcept { return lowest_; }
  std::int64_t highest_trackable() const noexcept { return highest_; }
  int significant_figures() const noexcept { return significant_figures_; }

  // The bucket layout, for the codec and for tests.
  std::span<const std::uint64_t> counts() const noexcept { return counts_; }
  std::int64_t value_at_index(std::size_t index) const noexcept;
  std::int64_t lowest_equivalent(std::int64_t v) const noexcept;
  std::int64_t highest_equivalent(std::int64_t v) const noexcept;
  std::int64_t median_equivalent(std::int64_t v) const noexcept;
  bool same_layout(const histogram& other) const noexcept;

  // The V2 compressed encoding, base64: "HISTFAAA...".  decode() throws
  // std::invalid_argument saying what is wrong with its input.
  std::string encode() const;
  static histogram decode(std::string_view text);

 private:
  friend histogram decode_compressed_base64(std::string_view text);  // fills counts_ directly

  // v | sub_bucket_mask_ is never 0, which std::countl_zero cannot know:
  // the builtin spares the hot path its zero test.
  int bucket_of(std::uint64_t v) const noexcept {
    return leading_zero_count_base_ - __builtin_clzll(v | sub_bucket_mask_);
  }
  std::size_t index_of(std::int64_t v) const noexcept {
    const auto u = static_cast<std::uint64_t>(v);
    const int bucket = bucket_of(u);
    const auto sub = static_cast<std::int64_t>(u >> (bucket + unit_magnitude_));
    return static_cast<std::size_t>((std::int64_t{bucket + 1} << sub_bucket_half_count_magnitude_) +
                                    sub - sub_bucket_half_count_);
  }
  std::int64_t equivalent_range(std::int64_t v) const noexcept;

  std::int64_t lowest_;
  std::int64_t highest_;
  int significant_figures_;
  int unit_magnitude_;
  int sub_bucket_half_count_magnitude_;
  std::int64_t sub_bucket_count_;
  std::int64_t sub_bucket_half_count_;
  std::uint64_t sub_bucket_mask_;
  int leading_zero_count_base_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t clamped_ = 0;
};

}  // namespace ioduel::harness
