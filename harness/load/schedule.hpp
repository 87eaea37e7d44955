#pragma once
// The open-loop arrival schedule: when each request should be sent, as an
// offset from the start of the run, independent of when replies come back
// (so a slow server cannot slow the client down: coordinated omission is
// avoided by measuring from these times, as wrk2 does).

#include <cstdint>

#include "harness/workload/random.hpp"
#include "harness/workload/workload.hpp"

namespace ioduel::harness {

class arrival_schedule {
 public:
  // `rate` in requests per second; uniform arrivals are evenly spaced,
  // Poisson arrivals have exponential gaps with the same mean.
  arrival_schedule(double rate, arrival_kind kind, std::uint64_t seed)
      : mean_gap_ns_(1e9 / rate), kind_(kind), rng_(seed) {
    next_ = gap();
  }

  // Offset of the next arrival, in nanoseconds from the start.
  std::int64_t next_offset_ns() const noexcept { return static_cast<std::int64_t>(next_); }
  void advance() noexcept { next_ += gap(); }
  double mean_gap_ns() const noexcept { return mean_gap_ns_; }

 private:
  double gap() noexcept {
    return kind_ == arrival_kind::uniform ? mean_gap_ns_ : rng_.exponential(mean_gap_ns_);
  }

  double mean_gap_ns_;
  arrival_kind kind_;
  rng rng_;
  double next_ = 0;  // a double: whole-nanosecond gaps would drift at high rates
};

}  // namespace ioduel::harness
