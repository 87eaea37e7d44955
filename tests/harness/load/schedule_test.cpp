// The open-loop schedule: its rate, and its Poisson gaps' mean and spread.

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <vector>

#include "harness/load/schedule.hpp"

using namespace ioduel::harness;

BOOST_AUTO_TEST_SUITE(open_loop_schedule)

BOOST_AUTO_TEST_CASE(uniform_arrivals_are_evenly_spaced) {
  arrival_schedule s(1000.0, arrival_kind::uniform, 1);
  for (int i = 1; i <= 5000; ++i) {
    BOOST_TEST_REQUIRE(std::llabs(s.next_offset_ns() - std::int64_t{i} * 1'000'000) <= 1);
    s.advance();
  }
  // At a rate that is no whole number of nanoseconds apart, no drift either.
  arrival_schedule fast(3'000'000.0, arrival_kind::uniform, 1);
  for (int i = 0; i < 3'000'000; ++i) fast.advance();
  // 3,000,001 arrivals at 333.33 ns: the last one is 1 s (plus one gap) in.
  BOOST_TEST(std::llabs(fast.next_offset_ns() - 1'000'000'333) <= 2);
}

BOOST_AUTO_TEST_CASE(poisson_arrivals_have_the_rate_as_mean_and_exponential_spread) {
  const double rate = 20'000;
  arrival_schedule s(rate, arrival_kind::poisson, 4);
  const int n = 200'000;
  std::vector<double> gaps;
  std::int64_t prev = 0;
  for (int i = 0; i < n; ++i) {
    gaps.push_back(static_cast<double>(s.next_offset_ns() - prev));
    prev = s.next_offset_ns();
    s.advance();
  }
  double mean = 0;
  for (double g : gaps) mean += g;
  mean /= n;
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  const double sd = std::sqrt(var / (n - 1));
  const double expected = 1e9 / rate;  // 50 us
  BOOST_TEST(std::abs(mean - expected) < expected * 0.01, "mean gap " << mean);
  // An exponential's standard deviation equals its mean (uniform's is 0).
  BOOST_TEST(std::abs(sd - expected) < expected * 0.02, "sd " << sd);
  // Arrivals in one second ~ rate.
  BOOST_TEST(std::abs(static_cast<double>(prev) / 1e9 * rate - n) < n * 0.01);
}

BOOST_AUTO_TEST_CASE(one_seed_gives_one_schedule) {
  arrival_schedule a(5000, arrival_kind::poisson, 9), b(5000, arrival_kind::poisson, 9),
      c(5000, arrival_kind::poisson, 10);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    BOOST_TEST_REQUIRE(a.next_offset_ns() == b.next_offset_ns());
    differs |= a.next_offset_ns() != c.next_offset_ns();
    a.advance();
    b.advance();
    c.advance();
  }
  BOOST_TEST(differs);
}

BOOST_AUTO_TEST_SUITE_END()
