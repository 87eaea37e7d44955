// How long a run goes on: --until-width adds rounds until the widest
// headline interval (harness/run/runner.hpp, round_widths) is narrow enough, or
// the cap is reached, and the report says which held.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
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
