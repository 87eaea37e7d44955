#include "harness/measure/histogram.hpp"

#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "harness/measure/histogram_codec.hpp"

namespace ioduel::harness {

histogram::histogram() : histogram(1, 60'000'000, 3) {}

histogram::histogram(std::int64_t lowest, std::int64_t highest, int significant_figures)
    : lowest_(lowest), highest_(highest), significant_figures_(significant_figures) {
  if (lowest < 1)
    throw std::invalid_argument("histogram: the lowest trackable value must be at least 1");
  if (highest / 2 < lowest)
    throw std::invalid_argument(
        "histogram: the highest trackable value must be at least twice the lowest");
  if (significant_figures < 0 || significant_figures > 5)
    throw std::invalid_argument("histogram: significant figures must be between 0 and 5");

  // Values below largest_exact are counted exactly (at the unit's resolution):
  // the first bucket holds 2 * 10^figures sub-buckets, rounded up to a power of 2.
  std::int64_t largest_exact = 2;
  for (int i = 0; i < significant_figures; ++i) largest_exact *= 10;
  const int sub_bucket_count_magnitude =
      std::bit_width(static_cast<std::uint64_t>(largest_exact - 1));
  unit_magnitude_ = std::bit_width(static_cast<std::uint64_t>(lowest)) - 1;
  sub_bucket_half_count_magnitude_ = std::max(sub_bucket_count_magnitude, 1) - 1;
  if (unit_magnitude_ + sub_bucket_half_count_magnitude_ > 61)
    throw std::invalid_argument(
        "histogram: the lowest trackable value is too large for that many significant figures");
  sub_bucket_count_ = std::int64_t{1} << (sub_bucket_half_count_magnitude_ + 1);
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = static_cast<std::uint64_t>(sub_bucket_count_ - 1) << unit_magnitude_;
  leading_zero_count_base_ = 64 - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);

  // Each further bucket doubles the range (and the sub-bucket width); only its
  // upper half is new, which is why the array holds (buckets + 1) half-buckets.
  std::int64_t smallest_untrackable = sub_bucket_count_ << unit_magnitude_;
  int buckets = 1;
  while (smallest_untrackable <= highest) {
    if (smallest_untrackable > std::numeric_limits<std::int64_t>::max() / 2) {
      ++buckets;
      break;
    }
    smallest_untrackable <<= 1;
    ++buckets;
  }
  counts_.assign(static_cast<std::size_t>((buckets + 1) * sub_bucket_half_count_), 0);
}

std::int64_t histogram::value_at_index(std::size_t index) const noexcept {
  auto bucket = static_cast<int>(index >> sub_bucket_half_count_magnitude_) - 1;
  auto sub = static_cast<std::int64_t>(index & static_cast<std::size_t>(sub_bucket_half_count_ - 1)) +
             sub_bucket_half_count_;
  if (bucket < 0) {
    sub -= sub_bucket_half_count_;
    bucket = 0;
  }
  return sub << (bucket + unit_magnitude_);
}

std::int64_t histogram::equivalent_range(std::int64_t v) const noexcept {
  const auto u = static_cast<std::uint64_t>(std::max(v, std::int64_t{0}));
  const int bucket = bucket_of(u);
  const auto sub = static_cast<std::int64_t>(u >> (bucket + unit_magnitude_));
  return std::int64_t{1} << (unit_magnitude_ + (sub >= sub_bucket_count_ ? bucket + 1 : bucket));
}

std::int64_t histogram::lowest_equivalent(std::int64_t v) const noexcept {
  const auto u = static_cast<std::uint64_t>(std::max(v, std::int64_t{0}));
  const int shift = bucket_of(u) + unit_magnitude_;
  return static_cast<std::int64_t>((u >> shift) << shift);
}

std::int64_t histogram::highest_equivalent(std::int64_t v) const noexcept {
  return lowest_equivalent(v) + equivalent_range(v) - 1;
}

std::int64_t histogram::median_equivalent(std::int64_t v) const noexcept {
  return lowest_equivalent(v) + equivalent_range(v) / 2;
}

bool histogram::same_layout(const histogram& other) const noexcept {
  return unit_magnitude_ == other.unit_magnitude_ &&
         sub_bucket_half_count_magnitude_ == other.sub_bucket_half_count_magnitude_ &&
         counts_.size() == other.counts_.size();
}

void histogram::merge(const histogram& other) {
  if (same_layout(other)) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    clamped_ += other.clamped_;
    return;
  }
  for (std::size_t i = 0; i < other.counts_.size(); ++i)
    if (other.counts_[i] != 0) record_n(other.value_at_index(i), other.counts_[i]);
}

void histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  clamped_ = 0;
}

std::int64_t histogram::value_at_percentile(double p) const {
  if (total_ == 0) return 0;
  if (std::isnan(p)) p = 0.0;  // clamp() would pass NaN through to the integer conversion
  // One ulp below p, so that rounding in p * count cannot push the rank past
  // a whole count into the next bucket (HdrHistogram does the same).
  const double requested =
      std::clamp(std::nextafter(p, -std::numeric_limits<double>::infinity()), 0.0, 100.0);
  const auto rank = std::max<std::uint64_t>(
      static_cast<std::uint64_t>(std::ceil(requested * static_cast<double>(total_) / 100.0)), 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::int64_t v = value_at_index(i);
      return p <= 0.0 ? lowest_equivalent(v) : highest_equivalent(v);
    }
  }
  return highest_equivalent(value_at_index(counts_.size() - 1));  // not reached
}

std::int64_t histogram::min() const {
  for (std::size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i] != 0) return value_at_index(i);
  return 0;
}

std::int64_t histogram::max() const {
  for (std::size_t i = counts_.size(); i-- > 0;)
    if (counts_[i] != 0) return highest_equivalent(value_at_index(i));
  return 0;
}

double histogram::mean() const {
  if (total_ == 0) return 0.0;
  double sum = 0.0;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i] != 0)
      sum += static_cast<double>(median_equivalent(value_at_index(i))) *
             static_cast<double>(counts_[i]);
  return sum / static_cast<double>(total_);
}

std::string histogram::encode() const { return encode_compressed_base64(*this); }

histogram histogram::decode(std::string_view text) { return decode_compressed_base64(text); }

}  // namespace ioduel::harness
