#include <boost/test/unit_test.hpp>

#include <random>
#include <vector>

#include "harness/measure/interval_log.hpp"

using namespace ioduel::harness;

BOOST_AUTO_TEST_SUITE(interval_log)

// Written, read back, merged: the intervals equal the whole window.
BOOST_AUTO_TEST_CASE(the_log_round_trips_and_its_intervals_merge_to_the_whole) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> ns(11.0, 1.0);
  histogram whole = histogram::nanoseconds();
  std::vector<latency_interval> intervals;
  for (int k = 0; k < 8; ++k) {
    latency_interval i{k * 0.1, 0.1, histogram::nanoseconds()};
    for (int n = 0; n < 1000 + 100 * k; ++n) {
      const auto v = static_cast<std::int64_t>(ns(rng));
      i.latency.record(v);
      whole.record(v);
    }
    intervals.push_back(std::move(i));
  }
  const std::string text = write_interval_log(intervals, 1764633600.25);
  BOOST_TEST(text.find("#[Histogram log format version 1.3]") == 0u);
  BOOST_TEST(text.find("#[StartTime: 1764633600.250") != std::string::npos, text.substr(0, 300));
  const std::vector<latency_interval> back = read_interval_log(text);
  BOOST_TEST_REQUIRE(back.size() == intervals.size());
  histogram merged = histogram::nanoseconds();
  for (std::size_t k = 0; k < back.size(); ++k) {
    BOOST_TEST(back[k].start_s == intervals[k].start_s, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(back[k].length_s == 0.1, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(back[k].latency.total_count() == intervals[k].latency.total_count());
    merged.merge(back[k].latency);
  }
  BOOST_TEST(merged.total_count() == whole.total_count());
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0})
    BOOST_TEST(merged.value_at_percentile(p) == whole.value_at_percentile(p), "p" << p);
  BOOST_CHECK_THROW(read_interval_log("0.000,0.100,1.0\n"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(mann_kendall_sees_a_trend_and_not_noise) {
  // A steady climb: every pair rises, S = n(n-1)/2 = 28 for 8 values,
  // Var = 8 * 7 * 21 / 18 = 65.33, z = 27 / 8.08 = 3.34.
  BOOST_TEST(mann_kendall_z({1, 2, 3, 4, 5, 6, 7, 8}) == 27 / std::sqrt(8 * 7 * 21 / 18.0),
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(mann_kendall_z({8, 7, 6, 5, 4, 3, 2, 1}) < -trend_z);
  BOOST_TEST(mann_kendall_z({5, 5, 5, 5, 5}) == 0.0);
  BOOST_TEST(mann_kendall_z({1, 2}) == 0.0);
  // White noise: a trend in about 1% of series, not more.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(100, 5);
  int trends = 0;
  for (int s = 0; s < 2000; ++s) {
    std::vector<double> x(10);
    for (auto& v : x) v = noise(rng);
    trends += std::abs(mann_kendall_z(x)) > trend_z;
  }
  BOOST_TEST(trends <= 40, trends << " of 2000");
}

BOOST_AUTO_TEST_CASE(a_drifting_window_is_flagged) {
  std::vector<latency_interval> drifting, steady;
  for (int k = 0; k < 8; ++k) {
    latency_interval a{k * 0.1, 0.1, histogram::nanoseconds()}, b = a;
    a.latency.record_n(50'000, static_cast<std::uint64_t>(1000 - 100 * k));  // the rate halves
    b.latency.record_n(50'000, k % 2 ? 1000 : 990);
    drifting.push_back(std::move(a));
    steady.push_back(std::move(b));
  }
  const auto d = intervals_json(drifting, 0), s = intervals_json(steady, 0);
  BOOST_TEST(d["stationary"] == false);
  BOOST_TEST(d["trends"][0].get<std::string>().find("throughput falls") == 0u, d["trends"].dump());
  BOOST_TEST(s["stationary"] == true, s["trends"].dump());
  BOOST_TEST(d["throughput_rps"].size() == 8u);
  // 50 us, to the histogram's 3 significant digits (the bucket's highest value).
  BOOST_TEST(d["p50_us"][0].get<double>() == 50.0, boost::test_tools::tolerance(1e-3));
}

BOOST_AUTO_TEST_SUITE_END()
