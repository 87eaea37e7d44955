// The capacity search (harness/run/capacity.hpp): objectives as written,
// the verdict on one step, the search against simulated servers of known
// capacity (monotone steps, the resolution, the generator's limit, the
// edges), the workloads it refuses, and one real search against an echo
// server that serves at most N requests a second.

#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness/report/json_schema.hpp"
#include "harness/run/capacity.hpp"
#include "harness/run/capacity_run.hpp"
#include "harness/workload/workload.hpp"
#include "protocol/frame.hpp"
#include "support/echo_server.hpp"

namespace fs = std::filesystem;
using namespace ioduel::harness;
using nlohmann::json;

namespace ioduel::harness {
// For Boost.Test's messages.
inline std::ostream& operator<<(std::ostream& out, step_verdict v) { return out << to_string(v); }
}  // namespace ioduel::harness

namespace {

const fs::path source_dir = IODUEL_SOURCE_DIR;

// Under a sanitizer the engine runs several times slower, so a search that
// depends on latency in real time says nothing about accuracy: there the
// end-to-end case checks what the search did, not what it found.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized_build = true;
#else
constexpr bool sanitized_build = false;
#endif

// A measurement as the report holds it, with what judge_step reads.
json measurement(double achieved, double p99_us, bool saturated = false, std::uint64_t timeouts = 0) {
  return {{"valid", timeouts == 0},
          {"window_s", 10.0},  // 10,000 arrivals at 1000/s: the count alone varies by 1%, 3% at 3 sigma
          {"invalid_reasons", timeouts ? json::array({std::to_string(timeouts) + " timeouts"}) : json::array()},
          {"throughput_rps", achieved},
          {"errors", {{"timeouts", timeouts}, {"resets", 0}}},
          {"latency_us", {{"p50", p99_us / 4}, {"p99", p99_us}, {"p99_9", p99_us * 2}}},
          // From the actual send: a saturated generator's lateness (500 us) taken away.
          {"latency_uncorrected_us", {{"p50", p99_us / 4}, {"p99", saturated ? p99_us - 500 : p99_us}, {"p99_9", p99_us * 2}}},
          {"client", {{"generator_saturated", saturated},
                      {"saturated_reasons", saturated ? json::array({"an engine thread was busy"}) : json::array()}}},
          {"server", {{"cpu_us_per_request", 10.0}}}};
}

capacity_criteria p99_within(double bound_us) {
  capacity_criteria c;
  c.objectives.push_back(parse_objective("p99=" + std::to_string(bound_us) + "us"));
  return c;
}

// Runs a search to the end against `verdict_at`; returns the steps' rates
// and verdicts in order.
std::vector<std::pair<double, step_verdict>> search(rate_search& s,
                                                    const std::function<step_verdict(double)>& verdict_at) {
  std::vector<std::pair<double, step_verdict>> steps;
  while (const auto r = s.next_rate()) {
    const step_verdict v = verdict_at(*r);
    steps.emplace_back(*r, v);
    s.record(*r, v);
    BOOST_TEST_REQUIRE(steps.size() < 200u);
  }
  return steps;
}

// Whatever held lies below whatever failed.
void check_monotone(const std::vector<std::pair<double, step_verdict>>& steps) {
  for (const auto& [held, v1] : steps)
    for (const auto& [failed, v2] : steps)
      if (v1 == step_verdict::holds && v2 == step_verdict::fails)
        BOOST_TEST(held < failed, "held at " << held << " but failed at " << failed);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(capacity_objectives)

BOOST_AUTO_TEST_CASE(objectives_are_read_in_every_unit_and_mistakes_named) {
  const latency_objective a = parse_objective("p99=1ms");
  BOOST_TEST(a.percentile == "p99");
  BOOST_TEST(a.bound_us == 1000.0);
  BOOST_TEST(a.text == "p99=1ms");
  BOOST_TEST(parse_objective("p99.9=5ms").percentile == "p99_9");
  BOOST_TEST(parse_objective("p50=200us").bound_us == 200.0);
  BOOST_TEST(parse_objective("p90=1500").bound_us == 1500.0);
  BOOST_TEST(parse_objective("p99.99=500000ns").bound_us == 500.0);
  BOOST_TEST(parse_objective("max=2s").bound_us == 2e6);
  for (const char* bad : {"p99", "p98=1ms", "p99=-1ms", "p99=1h", "p99=", "q99=1ms", "p99.9.9=1ms"}) {
    BOOST_CHECK_THROW(parse_objective(bad), std::invalid_argument);
  }
  try {
    parse_objective("p99=1h");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("'1h'") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(capacity_step)

BOOST_AUTO_TEST_CASE(a_step_holds_only_when_every_criterion_does) {
  const capacity_criteria c = p99_within(1000);
  const step_judgement ok = judge_step({measurement(1000, 800), measurement(995, 900), measurement(999, 1200)}, 1000, c);
  BOOST_TEST(ok.verdict == step_verdict::holds);  // the median p99 is 900
  BOOST_TEST(!ok.every_repetition_held);          // one was over on its own
  BOOST_TEST(ok.figures["latency_us"]["p99"]["median"].get<double>() == 900.0);
  BOOST_TEST(ok.figures["achieved_rps"]["median"].get<double>() == 999.0);

  const step_judgement slow = judge_step({measurement(1000, 1100), measurement(1000, 1300)}, 1000, c);
  BOOST_TEST(slow.verdict == step_verdict::fails);
  BOOST_TEST_REQUIRE(!slow.reasons.empty());
  BOOST_TEST(slow.reasons[0].find("p99") != std::string::npos, slow.reasons[0]);

  // The floor: 1000 less 2%, less 3 x sqrt(10,000) / 10 s = 30 req/s: 950.
  const step_judgement short_rate = judge_step({measurement(940, 100), measurement(945, 100)}, 1000, c);
  BOOST_TEST(short_rate.verdict == step_verdict::fails);
  BOOST_TEST(short_rate.reasons[0].find("below the floor of 950") != std::string::npos, short_rate.reasons[0]);
  BOOST_TEST(judge_step({measurement(955, 100), measurement(960, 100)}, 1000, c).verdict == step_verdict::holds);

  const step_judgement errors = judge_step({measurement(1000, 100), measurement(1000, 100, false, 3)}, 1000, c);
  BOOST_TEST(errors.verdict == step_verdict::fails);

  BOOST_TEST(judge_step({}, 1000, c).verdict == step_verdict::fails);
}

// A saturated generator sends late and makes latency look worse: a step
// that holds all the same holds; one that fails is the generator's.
BOOST_AUTO_TEST_CASE(a_failure_with_a_saturated_generator_is_the_generators) {
  const capacity_criteria c = p99_within(1000);
  // 1,200 and 1,300 us from the intended time, 700 and 800 from the actual send.
  const step_judgement late = judge_step({measurement(1000, 1200, true), measurement(1000, 1300, true)}, 1000, c);
  BOOST_TEST(late.verdict == step_verdict::generator_limited);
  BOOST_TEST(late.reasons[0].find("saturated in 2 of 2") != std::string::npos, late.reasons[0]);
  // Over the bound even from the actual send: the server failed, saturated or not.
  const step_judgement slow = judge_step({measurement(1000, 5000, true), measurement(1000, 6000, true)}, 1000, c);
  BOOST_TEST(slow.verdict == step_verdict::fails);
  const step_judgement held = judge_step({measurement(1000, 500, true), measurement(1000, 600, true)}, 1000, c);
  BOOST_TEST(held.verdict == step_verdict::holds);
  BOOST_TEST(held.every_repetition_held);  // a late generator does not undo a hold
  const step_judgement one = judge_step({measurement(1000, 1200, true), measurement(1000, 1300, false),
                                         measurement(1000, 1400, false)}, 1000, c);
  BOOST_TEST(one.verdict == step_verdict::fails);  // one in three saturated: the server's failure
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(capacity_search)

// A server that holds up to 12,345 req/s: the search grows by doubling from
// 1,000, then bisects until the bracket is within 2%, and N lies inside it.
BOOST_AUTO_TEST_CASE(the_search_brackets_a_known_capacity_to_its_resolution) {
  const double n = 12'345;
  search_settings set;
  set.start_rps = 1000;
  rate_search s(set);
  const auto steps = search(s, [n](double r) { return r <= n ? step_verdict::holds : step_verdict::fails; });
  BOOST_TEST(s.stopped() == "resolution reached");
  BOOST_TEST_REQUIRE(s.highest_held().has_value());
  BOOST_TEST_REQUIRE(s.lowest_failed().has_value());
  BOOST_TEST(*s.highest_held() <= n);
  BOOST_TEST(*s.lowest_failed() > n);
  BOOST_TEST(*s.lowest_failed() <= *s.highest_held() * 1.02);
  // Growing: 1000, 2000, 4000, 8000, 16000 (the first failure).
  for (std::size_t k = 0; k < 5; ++k) BOOST_TEST(steps[k].first == 1000 * std::pow(2, k));
  check_monotone(steps);
  BOOST_TEST(steps.size() <= 12u);
}

BOOST_AUTO_TEST_CASE(a_start_above_the_capacity_shrinks_first) {
  search_settings set;
  set.start_rps = 100'000;
  rate_search s(set);
  const auto steps = search(s, [](double r) { return r <= 3000 ? step_verdict::holds : step_verdict::fails; });
  BOOST_TEST(steps[0].first == 100'000);
  BOOST_TEST(steps[1].first == 50'000);
  BOOST_TEST(s.stopped() == "resolution reached");
  BOOST_TEST(*s.highest_held() <= 3000);
  BOOST_TEST(*s.highest_held() >= 3000 / 1.02);
  check_monotone(steps);
}

// The generator gives out at 5,000 req/s, before the server (20,000): the
// step is measured once more, then the search stops and says so; the figure
// it keeps is a floor, not the server's.
BOOST_AUTO_TEST_CASE(the_generators_limit_ends_the_search_and_is_said) {
  search_settings set;
  set.start_rps = 1000;
  rate_search s(set);
  const auto steps = search(s, [](double r) {
    if (r > 5000) return step_verdict::generator_limited;
    return r <= 20'000 ? step_verdict::holds : step_verdict::fails;
  });
  BOOST_TEST(s.stopped() == "generator limit");
  BOOST_TEST_REQUIRE(steps.size() >= 2u);
  BOOST_TEST(steps[steps.size() - 1].first == steps[steps.size() - 2].first);  // measured twice
  BOOST_TEST(*s.highest_held() == 4000);
  json step_json = json::array();
  for (const auto& [r, v] : steps)
    step_json.push_back({{"offered_rps", r}, {"verdict", to_string(v)}, {"every_repetition_held", true}});
  const json c = capacity_json(s, p99_within(1000), step_json);
  BOOST_TEST(c["server_figure"] == false);
  BOOST_TEST(c["generator_limit_rps"].get<double>() == 8000);
  BOOST_TEST(c["max_rate_rps"].get<double>() == 4000);
}

BOOST_AUTO_TEST_CASE(a_passing_generator_limit_is_measured_again_and_the_search_goes_on) {
  search_settings set;
  set.start_rps = 1000;
  rate_search s(set);
  bool once = true;
  const auto steps = search(s, [&once](double r) {
    if (r == 4000 && once) {  // a neighbour's burst, once
      once = false;
      return step_verdict::generator_limited;
    }
    return r <= 10'000 ? step_verdict::holds : step_verdict::fails;
  });
  BOOST_TEST(s.stopped() == "resolution reached");
  BOOST_TEST(*s.highest_held() <= 10'000);
  BOOST_TEST(*s.lowest_failed() > 10'000);
}

BOOST_AUTO_TEST_CASE(the_search_ends_at_its_edges) {
  search_settings set;
  set.start_rps = 1000;
  set.max_rps = 50'000;
  rate_search fast(set);
  search(fast, [](double) { return step_verdict::holds; });
  BOOST_TEST(fast.stopped() == "max rate reached");
  BOOST_TEST(*fast.highest_held() == 50'000);

  set.min_rps = 10;
  rate_search never(set);
  search(never, [](double) { return step_verdict::fails; });
  BOOST_TEST(never.stopped() == "held at no rate tried");
  BOOST_TEST(!never.highest_held().has_value());

  set.max_steps = 3;
  rate_search few(set);
  const auto steps = search(few, [](double r) { return r <= 1e6 ? step_verdict::holds : step_verdict::fails; });
  BOOST_TEST(steps.size() == 3u);
  BOOST_TEST(few.stopped() == "max steps reached");

  BOOST_CHECK_THROW(rate_search(search_settings{0, 2, 0.02, 1e7, 1, 24}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(capacity_workloads)

BOOST_AUTO_TEST_CASE(only_open_loop_workloads_are_searched) {
  const workload pingpong = load_workload_file(source_dir / "workloads/pingpong.json").at(0);
  const std::string why = why_not_rate_searchable(pingpong);
  BOOST_TEST(why.find("closed loop") != std::string::npos, why);
  BOOST_TEST(why.find("'" + pingpong.groups.at(0).name + "'") != std::string::npos, why);
  const workload trace = load_workload_file(source_dir / "workloads/trace.json").at(0);
  BOOST_TEST(why_not_rate_searchable(trace).find("trace") != std::string::npos);
  const workload hog = load_workload_file(source_dir / "workloads/hog.json").at(0);
  BOOST_TEST(!why_not_rate_searchable(hog).empty());  // its hog is closed loop
  const workload cap = load_workload_file(source_dir / "workloads/capacity.json").at(0);
  BOOST_TEST(why_not_rate_searchable(cap).empty());
}

BOOST_AUTO_TEST_CASE(the_rate_scales_every_open_loop_group_in_proportion) {
  workload w = parse_workload(
      json{{"name", "two"}, {"description", "two open groups"}, {"duration_s", 1},
           {"groups", json::array({{{"name", "a"}, {"connections", 1}, {"rate", 100}, {"mix", json::array({{{"op", "echo"}, {"size", 8}}})}},
                                   {{"name", "b"}, {"connections", 1}, {"rate", 300}, {"mix", json::array({{{"op", "echo"}, {"size", 8}}})}}})}},
      "two", ".");
  BOOST_TEST(offered_rate_rps(w) == 400.0);
  scale_offered_rate(w, 800);
  BOOST_TEST(w.groups[0].rate == 200.0);
  BOOST_TEST(w.groups[1].rate == 600.0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(capacity_end_to_end)

// An echo server that sends back at most 2,000 requests' worth of bytes a
// second (80-byte ECHO frames: a 16-byte header and 64 bytes): the search finds its capacity to within 5%,
// with monotone steps, and its report passes the schema.  Above capacity the
// backlog grows by r - N requests a second, so p99 reaches the objective
// (30 ms) at about 2.5% over N in the 1.2 s a step runs (warm-up and window);
// below it, latency is about 1 ms, and it takes a stall of over 30 ms in two
// of a step's three measurements (a busy machine) to fail a step.
BOOST_AUTO_TEST_CASE(the_search_finds_a_servers_known_capacity) {
  constexpr double n = 2000;
  test::echo_server server(test::echo_server::options{0, std::chrono::milliseconds(0), 0,
                                                      static_cast<std::uint64_t>(n * (ioduel::protocol::header_size + 64))});
  capacity_plan plan;
  plan.run.command = "capacity";
  plan.run.target = endpoint{"127.0.0.1", server.port()};
  plan.run.quiet = true;
  plan.run.out = fs::temp_directory_path() / ("ioduel-capacity-" + std::to_string(::getpid()) + ".json");
  plan.w = parse_workload(json{{"name", "known"}, {"description", "uniform ECHOs"}, {"seed", 5},
                               {"warmup_s", 0.4}, {"duration_s", 0.8}, {"timeout_ms", 5000},
                               {"groups", json::array({{{"name", "open"}, {"connections", 4}, {"rate", 500},
                                                        {"arrivals", "uniform"},
                                                        {"mix", json::array({{{"op", "echo"}, {"size", 64}}})}}})}},
                          "known", ".");
  plan.criteria = p99_within(30'000);
  plan.search.start_rps = 500;
  plan.repetitions = 3;
  const std::atomic<bool> interrupt{false};
  const int rc = execute_capacity(plan, interrupt);
  std::ifstream in(plan.run.out);
  const json report = json::parse(in);
  BOOST_TEST(rc == 0);
  std::ifstream schema_in(source_dir / "results/schema.json");
  const auto problems = validate_json(report, json::parse(schema_in));
  BOOST_TEST(problems.empty(), (problems.empty() ? std::string() : problems.front()));
  const json& c = report["workloads"][0]["results"][0]["capacity"];
  BOOST_TEST_MESSAGE("capacity " << n << " req/s, found " << c["max_rate_rps"] << " req/s in " << c["steps"].size()
                                 << " steps, bracket " << c["max_rate_interval"].dump() << ", stopped: " << c["stopped"]);
  BOOST_TEST(c["stopped"].is_string());
  BOOST_TEST(!c["steps"].empty());
  if (!sanitized_build) {
    BOOST_TEST_REQUIRE(c["max_rate_rps"].is_number(), c.dump());
    const double found = c["max_rate_rps"].get<double>();
    BOOST_TEST(std::abs(found - n) <= 0.05 * n, "found " << found << " req/s; stopped: " << c["stopped"]);
    BOOST_TEST(c["stopped"] == "resolution reached");
    BOOST_TEST(c["server_figure"] == true);
  }
  std::vector<std::pair<double, step_verdict>> steps;
  for (const json& st : c["steps"])
    steps.emplace_back(st["offered_rps"].get<double>(),
                       st["verdict"] == "holds" ? step_verdict::holds
                       : st["verdict"] == "fails" ? step_verdict::fails
                                                  : step_verdict::generator_limited);
  check_monotone(steps);
  for (const json& st : c["steps"]) BOOST_TEST(st["repetitions"].size() == 3u);
  // A failure leaves the report for `ioduel show`.
  const auto id = boost::unit_test::framework::current_test_case().p_id;
  if (boost::unit_test::results_collector.results(id).passed()) fs::remove(plan.run.out);
  else BOOST_TEST_MESSAGE("the report is " << plan.run.out);
}

BOOST_AUTO_TEST_SUITE_END()
