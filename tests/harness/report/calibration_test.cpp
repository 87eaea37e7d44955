#include <boost/test/unit_test.hpp>

#include <cmath>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/report/calibration.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/report/show.hpp"
#include "harness/report/summary.hpp"
#include "support/synthetic_report.hpp"

using namespace ioduel::harness;
namespace t = ioduel::harness::testing;
using nlohmann::json;

namespace {

json row(double ratio, double low, double high, const std::string& verdict) {
  return {{"ratio", ratio}, {"ci95", {{"low", low}, {"high", high}}}, {"rounds", 5},
          {"p_beyond", 0.5}, {"p_within", 0.5},  {"verdict", verdict},                    {"interval_verdict", verdict}};
}

// A calibrate report of two workloads whose A/A comparisons are given per metric.
json calibrate_report(const json& first, const json& second) {
  json r = {{"baseline", "reactor"}, {"repetitions", 5}, {"margin", 0.03},
            {"metadata", {{"host", {{"hostname", "vm"}}}, {"started_at", "2026-12-02T01:00:00Z"}}},
            {"workloads", json::array()}};
  for (const json* m : {&first, &second})
    r["workloads"].push_back({{"name", m == &first ? "pingpong" : "hog"},
                              {"comparisons", json::array({{{"candidate", "reactor#2"},
                                                            {"baseline", "reactor"},
                                                            {"metrics", *m}}})}});
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(calibration)

BOOST_AUTO_TEST_CASE(the_noise_floor_counts_false_verdicts_and_widths) {
  const json report = calibrate_report(
      {{"throughput_rps", row(1.0, 0.95, 1.05, "same")}, {"p99_us", row(1.0, 0.8, 1.2, "undetermined")}},
      {{"throughput_rps", row(1.0, 0.90, 1.10, "undetermined")}, {"p99_us", row(1.1, 1.04, 1.1, "slower")}});
  const json s = calibration_summary(report);
  BOOST_TEST(s["kind"] == "ioduel-calibration");
  BOOST_TEST(s["server"] == "reactor");
  const json& tp = s["metrics"]["throughput_rps"];
  BOOST_TEST(tp["comparisons"] == 2);
  BOOST_TEST(tp["false_verdicts"] == 0);
  BOOST_TEST(tp["same"] == 1);
  // Widths 10% and 20%: median 15%, widest 20% in hog.
  BOOST_TEST(tp["median_width"].get<double>() == 0.15, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(tp["widest"].get<double>() == 0.20, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(tp["widest_workload"] == "hog");
  // (1 + m) / (1 - w / 2) - 1 with m = 3%, w = 15%.
  BOOST_TEST(tp["resolves_beyond"].get<double>() == 1.03 / (1 - 0.075) - 1, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(s["metrics"]["p99_us"]["false_verdicts"] == 1);  // "slower" against itself is false
  std::ostringstream text;
  print_calibration(s, text);
  BOOST_TEST(text.str().find("reactor against itself, 5 rounds") != std::string::npos, text.str());
  BOOST_TEST(text.str().find("15.0%") != std::string::npos, text.str());
}

// Rows that could carry no verdict (3 rounds; a saturated generator) are not
// comparisons that produced no false verdict: they are counted apart, and a
// metric with none that could is "-", not "0 false".
BOOST_AUTO_TEST_CASE(rows_that_could_carry_no_verdict_are_not_counted_as_clean) {
  json short_row = row(1.0, 0.9, 1.1, "undetermined");
  short_row["rounds"] = 3;
  const json bound = row(1.0, 0.95, 1.05, "generator_bound");
  const json report = calibrate_report({{"throughput_rps", short_row}, {"p99_us", row(1.0, 0.9, 1.1, "same")}},
                                       {{"throughput_rps", bound}, {"p99_us", bound}});
  const json s = calibration_summary(report);
  const json& tp = s["metrics"]["throughput_rps"];
  BOOST_TEST(tp["comparisons"] == 0);
  BOOST_TEST(tp["no_verdict_possible"] == 2);
  BOOST_TEST(tp["false_verdicts"].is_null());
  BOOST_TEST(tp["same"].is_null());
  // The 3-round row's interval (75%, not 95%) is left out of the widths; the
  // generator-bound row's (a 95% one) is in.
  BOOST_TEST(tp["median_width"].get<double>() == 0.10, boost::test_tools::tolerance(1e-9));
  const json& p99 = s["metrics"]["p99_us"];
  BOOST_TEST(p99["comparisons"] == 1);
  BOOST_TEST(p99["no_verdict_possible"] == 1);
  BOOST_TEST(p99["false_verdicts"] == 0);
  BOOST_TEST(p99["same"] == 1);
  std::ostringstream text;
  print_calibration(s, text);
  // req/s: 0 compared, 2 n/a, false and same "-".
  BOOST_TEST(text.str().find("req/s               0    2      -     -") != std::string::npos, text.str());
  BOOST_TEST(text.str().find("n/a: comparisons that could carry no verdict") != std::string::npos, text.str());
  // One round: no interval and no p-value, but still a comparison that could
  // carry no verdict, so counted as one; with only such rows there are no widths.
  json one = row(1.0, 0.9, 1.1, "undetermined");
  one["rounds"] = 1;
  one["ci95"] = nullptr;
  one["p_beyond"] = nullptr;
  const json single = calibration_summary(calibrate_report({{"throughput_rps", one}}, {{"throughput_rps", one}}));
  BOOST_TEST(single["metrics"]["throughput_rps"]["no_verdict_possible"] == 2);
  BOOST_TEST(single["metrics"]["throughput_rps"]["median_width"].is_null());
  BOOST_TEST(single["metrics"]["throughput_rps"]["resolves_beyond"].is_null());
  BOOST_TEST(single["workloads"] == 2);
}

BOOST_AUTO_TEST_CASE(show_prints_the_noise_floor_and_rate_shortfalls) {
  json report = t::report({{"open-loop", {{"reactor", t::typical()}, {"proactor", t::typical()}}}}, 3);
  report["metadata"]["calibration"] = calibration_summary(calibrate_report(
      {{"throughput_rps", row(1.0, 0.95, 1.05, "same")}}, {{"throughput_rps", row(1.0, 0.95, 1.05, "same")}}));
  report["workloads"][0]["results"][1]["summary"]["offered_rps"] = 10000.0;
  report["workloads"][0]["results"][1]["summary"]["rate_shortfall"] = {{"achieved_rps", 8800.0}, {"fraction", 0.12}};
  std::ostringstream text;
  print_summary(summarize_report(report, "r.json"), text);
  BOOST_TEST(text.str().find("noise floor (reactor against itself, 5 rounds)") != std::string::npos, text.str());
  BOOST_TEST(text.str().find("! proactor: achieved 12.0% less than the offered 10.0k req/s") != std::string::npos,
             text.str());
}

// From a workload definition to the flag, through the functions the runner
// calls: the offered rate is the groups' sum; a server 12% short is flagged,
// one 1% short is not, and a closed loop or a trace has no offered rate.
BOOST_AUTO_TEST_CASE(a_rate_shortfall_is_found_from_the_definition) {
  const json open = {{"trace", nullptr},
                     {"groups", json::array({{{"loop", "open"}, {"rate", 6000.0}}, {{"loop", "open"}, {"rate", 4000.0}}})}};
  BOOST_TEST(definition_is_open_loop(open));
  BOOST_TEST(offered_rate(open).value_or(0) == 10000.0);
  const auto reps = [](double achieved) {
    json r = json::array();
    for (int i = 1; i <= 5; ++i)
      r.push_back({{"repetition", i}, {"valid", true}, {"throughput_rps", achieved + i}});
    return r;
  };
  const json short_by = summary_json(reps(8800), offered_rate(open));
  BOOST_TEST(short_by["offered_rps"] == 10000.0);
  BOOST_TEST_REQUIRE(short_by["rate_shortfall"].is_object());
  BOOST_TEST(short_by["rate_shortfall"]["fraction"].get<double>() == 1 - 8803.0 / 10000, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(summary_json(reps(9900), offered_rate(open))["rate_shortfall"].is_null());
  const json closed = {{"trace", nullptr}, {"groups", json::array({{{"loop", "closed"}}})}};
  const json trace = {{"trace", {{"as_fast_as_possible", false}}}, {"groups", json::array()}};
  BOOST_TEST(!definition_is_open_loop(closed));
  BOOST_TEST(!offered_rate(closed));
  BOOST_TEST(definition_is_open_loop(trace));
  BOOST_TEST(!offered_rate(trace));
  BOOST_TEST(!summary_json(reps(8800), offered_rate(closed)).contains("rate_shortfall"));
}

// At a low Poisson rate the achieved count varies by itself: 500 req/s over
// 1 s has a standard deviation of 22 requests (4.5%), so the floor is
// 500 x 0.98 - 3 x 22.4 = 422.9 req/s; with uniform arrivals the count is
// exact and the floor is 490.
BOOST_AUTO_TEST_CASE(a_poisson_count_is_not_a_shortfall) {
  const auto open = [](const char* arrivals) {
    return json{{"trace", nullptr},
                {"groups", json::array({{{"loop", "open"}, {"rate", 500.0}, {"arrivals", arrivals}}})}};
  };
  const auto reps = [](double achieved) {
    json r = json::array();
    for (int i = 1; i <= 5; ++i)
      r.push_back({{"repetition", i}, {"valid", true}, {"window_s", 1.0}, {"throughput_rps", achieved}});
    return r;
  };
  const json poisson = open("poisson"), uniform = open("uniform");
  BOOST_TEST(poisson_rate(poisson) == 500.0);
  BOOST_TEST(poisson_rate(uniform) == 0.0);
  BOOST_TEST(poisson_rate(json{{"trace", nullptr}, {"groups", json::array({{{"loop", "open"}, {"rate", 70.0}}})}}) == 70.0,
             "a group's arrivals are Poisson unless it says otherwise");
  const json p = summary_json(reps(460), offered_rate(poisson), poisson_rate(poisson));
  BOOST_TEST(p["rate_floor_rps"].get<double>() == 490 - 3 * std::sqrt(500.0), boost::test_tools::tolerance(1e-9));
  BOOST_TEST(p["rate_shortfall"].is_null(), p.dump());
  BOOST_TEST(summary_json(reps(410), offered_rate(poisson), poisson_rate(poisson))["rate_shortfall"].is_object());
  const json u = summary_json(reps(480), offered_rate(uniform), poisson_rate(uniform));
  BOOST_TEST(u["rate_floor_rps"].get<double>() == 490.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST_REQUIRE(u["rate_shortfall"].is_object(), u.dump());
  BOOST_TEST(u["rate_shortfall"]["fraction"].get<double>() == 0.04, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_SUITE_END()

// A busy machine and a drifting window are flagged under the tables.
BOOST_AUTO_TEST_CASE(show_flags_a_busy_machine_and_a_drifting_window) {
  json report = t::report({{"pingpong", {{"reactor", t::typical()}, {"proactor", t::typical()}}}}, 3);
  json& reps = report["workloads"][0]["results"][1]["repetitions"];
  reps[0]["host"] = {{"busy", true}, {"other_cpu_cores", 1.85}};
  reps[1]["host"] = {{"busy", false}, {"other_cpu_cores", 0.01}};
  reps[2]["intervals"] = {{"stationary", false}};
  std::ostringstream text;
  print_summary(summarize_report(report, "r.json"), text);
  BOOST_TEST(text.str().find("! proactor: the machine was busy in 1 of 5 repetitions (other processes used up to 1.85") !=
                 std::string::npos,
             text.str());
  BOOST_TEST(text.str().find("! proactor: throughput or p50 drifted across the window in 1 of 5") != std::string::npos,
             text.str());
  BOOST_TEST(text.str().find("! reactor: the machine") == std::string::npos);
}
