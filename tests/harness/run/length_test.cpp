// How long a run goes on: --until-width adds rounds until the widest
// headline interval (harness/run/runner.hpp, round_widths) is narrow enough, or
// the cap is reached, and the report says which held.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness/report/json_schema.hpp"
#include "harness/run/runner.hpp"
#include "harness/workload/workload.hpp"

namespace fs = std::filesystem;
using namespace ioduel::harness;
using nlohmann::json;

namespace {

// A server_result whose repetitions carry these figures (every headline metric alike).
json result(const std::string& server, const std::vector<double>& figures) {
  json reps = json::array();
  for (std::size_t i = 0; i < figures.size(); ++i)
    reps.push_back({{"repetition", i + 1},
                    {"valid", true},
                    {"throughput_rps", figures[i]},
                    {"latency_us", {{"p50", figures[i]}, {"p99", figures[i]}, {"p99_9", figures[i]}}},
                    {"server", {{"cpu_us_per_request", figures[i]}}},
                    {"client", {{"generator_saturated", false}}}});
  return {{"server", server}, {"repetitions", reps}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(run_length)

BOOST_AUTO_TEST_CASE(the_widest_interval_is_named_and_measured) {
  // One server: the median's interval, [min, max] at 5 samples: 20% of 100.
  const widest_interval one = round_widths(json::array({result("a", {90, 100, 100, 100, 110})}), "a", 0.03);
  BOOST_TEST(one.width == 0.2, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(one.what.find("a ") == 0u, one.what);
  // Two: the paired ratio's interval; b is exactly 2x a in every round: zero width.
  const json a = result("a", {90, 100, 95, 105, 110}), b = result("b", {180, 200, 190, 210, 220});
  const widest_interval two = round_widths(json::array({a, b}), "a", 0.03);
  BOOST_TEST(two.width == 0.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(two.what.find("b/a") == 0u, two.what);
  // One repetition: no interval yet, so infinitely wide.
  BOOST_TEST(std::isinf(round_widths(json::array({result("a", {100})}), "a", 0.03).width));
}

// The rule itself, on rounds that arrive one by one as a run adds them: two
// servers, the candidate 10% faster, every figure with 4% lognormal noise and
// p99 with 8% (the usual widest).  Starting from 2 rounds with a 12% target,
// rounds are added until the widest interval, which is p99's, is that narrow,
// and no later: the round before it was still too wide.  A cap below that
// stops at the cap instead; a figure with no interval yet is never "reached".
BOOST_AUTO_TEST_CASE(until_width_adds_rounds_until_the_widest_interval_is_narrow) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0, 0.04), tail(0, 0.08);
  json a = result("a", {}), b = result("b", {});
  const auto add_round = [&] {
    for (json* r : {&a, &b}) {
      const double scale = r == &b ? 1.1 : 1.0;
      const double x = 1000 * scale * std::exp(noise(rng));
      (*r)["repetitions"].push_back({{"repetition", (*r)["repetitions"].size() + 1},
                                     {"valid", true},
                                     {"throughput_rps", x},
                                     {"latency_us", {{"p50", 100 / scale * std::exp(noise(rng))},
                                                     {"p99", 500 / scale * std::exp(tail(rng))},
                                                     {"p99_9", 900.0}}},
                                     {"server", {{"cpu_us_per_request", 10 / scale * std::exp(noise(rng))}}},
                                     {"client", {{"generator_saturated", false}}}});
    }
  };
  const auto widest = [&] { return round_widths(json::array({a, b}), "a", 0.03); };
  add_round();
  BOOST_TEST(length_stop(widest(), 1, 1e9, 40) == "", "one round: no interval yet, however wide the target");
  add_round();
  unsigned rounds = 2;
  double before = widest().width;
  while (length_stop(widest(), rounds, 0.12, 40).empty()) {
    before = widest().width;
    add_round();
    ++rounds;
  }
  const widest_interval last = widest();
  BOOST_TEST(length_stop(last, rounds, 0.12, 40) == "width reached");
  BOOST_TEST(rounds > 5u, "a 12% target at 8% noise a side needs more than a few rounds: " << rounds);
  BOOST_TEST(rounds < 40u);
  BOOST_TEST(last.width <= 0.12);
  BOOST_TEST(before > 0.12, "it stopped at the first round that was narrow enough");
  BOOST_TEST(last.what == "b/a p99_us", last.what);
  // The same rounds against a cap below that count: the cap ends them.
  BOOST_TEST(length_stop(last, 5, 0.01, 5) == "max-repeat reached");
  BOOST_TEST(length_stop(widest_interval{}, 5, 0.12, 40) == "nothing measured");
}

#if defined(IODUEL_TEST_SERVERS_BUILT)
BOOST_AUTO_TEST_CASE(until_width_stops_at_the_target_or_at_the_cap) {
  const fs::path source_dir = IODUEL_SOURCE_DIR;
  workload w = load_workload_file(source_dir / "workloads/pingpong.json").at(0);
  w.warmup_s = 0.05;
  w.duration_s = 0.2;
  const fs::path out = fs::temp_directory_path() / ("ioduel-length-" + std::to_string(::getpid()) + ".json");
  const auto run = [&](double width, unsigned max_repeat) {
    run_plan plan;
    plan.workloads = {w};
    plan.servers = {*named_server("reactor", IODUEL_BUILD_DIR), *named_server("reactor-poll", IODUEL_BUILD_DIR)};
    plan.repetitions = 2;
    plan.until_width = width;
    plan.max_repeat = max_repeat;
    plan.out = out;
    plan.quiet = true;
    std::atomic<bool> never{false};
    BOOST_TEST(execute(plan, never) == 0);
    std::ifstream in(out);
    const json report = json::parse(in);
    std::ifstream schema_in(source_dir / "results/schema.json");
    const auto problems = validate_json(report, json::parse(schema_in));
    for (const auto& p : problems) BOOST_ERROR("schema: " << p);
    return report["workloads"][0];
  };
  // A target no interval can miss (a width of 10^9 times the estimate): the
  // 2 planned rounds are enough.
  const json wide = run(1e9, 4);
  BOOST_TEST(wide["rounds"]["stopped"] == "width reached");
  BOOST_TEST(wide["rounds"]["rounds"] == 2);
  BOOST_TEST(wide["results"][0]["repetitions"].size() == 2u);
  // A target no real interval meets: rounds are added up to the cap.
  const json narrow = run(1e-12, 3);
  BOOST_TEST(narrow["rounds"]["stopped"] == "max-repeat reached");
  BOOST_TEST(narrow["rounds"]["rounds"] == 3);
  for (const json& r : narrow["results"]) BOOST_TEST(r["repetitions"].size() == 3u);
  BOOST_TEST(narrow["rounds"]["widest"]["width"].get<double>() > 1e-12);
  fs::remove(out);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
