#include <boost/test/unit_test.hpp>

#include <sstream>
#include <stdexcept>
#include <string>

#include "harness/report/report_reader.hpp"
#include "harness/report/show.hpp"
#include "support/synthetic_report.hpp"

using namespace ioduel::harness;
namespace t = ioduel::harness::testing;
using nlohmann::json;

namespace {

bool has(const std::string& text, const std::string& words) {
  return text.find(words) != std::string::npos;
}

json flawed_report() {
  auto saturated = t::typical();
  saturated.saturated = {true, false, true};
  auto invalid = t::scaled(t::typical(), 0.9, 1.0, 1.0);
  invalid.invalid = {false, true};
  // Of the current schema, so that its comparisons are shown as written.
  json report = t::report({{"pingpong", {{"reactor", saturated}, {"proactor", invalid}}}}, readable_schema_version);
  report["complete"] = false;
  report["incomplete_reason"] = "interrupted by SIGINT";
  report["workloads"][0]["comparisons"] = json::array(
      {{{"candidate", "proactor"},
        {"baseline", "reactor"},
        {"metrics",
         {{"throughput_rps",
           {{"ratio", 0.9},
            {"ci95", {{"low", 0.88}, {"high", 0.92}}},
            {"verdict", "slower"},
            {"higher_is_better", true},
            {"reason", nullptr}}},
          {"p99_us",
           {{"ratio", 1.0},
            {"ci95", {{"low", 0.97}, {"high", 1.03}}},
            {"verdict", "no_significant_difference"},
            {"higher_is_better", false},
            {"reason", nullptr}}}}}}});
  return report;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(show_summary)

BOOST_AUTO_TEST_CASE(summary_holds_estimates_errors_and_flags) {
  const json s = summarize_report(flawed_report(), "run.json");
  BOOST_TEST(s.at("kind") == "ioduel-summary");
  BOOST_TEST(s.at("complete") == false);
  const json& servers = s.at("workloads").at(0).at("servers");
  BOOST_TEST_REQUIRE(servers.size() == 2u);
  const json& reactor = servers.at(0);
  BOOST_TEST(reactor.at("server") == "reactor");
  BOOST_TEST(reactor.at("throughput_rps").at("median") == 40'000.0);
  BOOST_TEST(reactor.at("p99_us").at("median") == 40.0);
  BOOST_TEST(reactor.at("generator_saturated") == 2);
  BOOST_TEST(reactor.at("saturated_reasons").size() == 1u);
  BOOST_TEST(reactor.at("peak_rss_bytes") == double(8 << 20));
  BOOST_TEST(reactor.at("errors") == 0);
  const json& proactor = servers.at(1);
  BOOST_TEST(proactor.at("status") == "invalid");
  BOOST_TEST(proactor.at("valid_repetitions") == 4);
  BOOST_TEST(proactor.at("errors") == 3);
  BOOST_TEST(proactor.at("invalid_reasons").at(0) == "repetition 2: 3 mismatched replies");
}

// Reasons that differ only in their figures are one reason with ranges, and
// a count of the repetitions it fired in; different kinds stay apart.
BOOST_AUTO_TEST_CASE(saturation_reasons_of_one_kind_are_merged) {
  auto saturated = t::typical();
  saturated.saturated = {true, true, true, true};
  json report = t::report({{"pingpong", {{"reactor", saturated}}}});
  const std::vector<std::vector<std::string>> reasons = {
      {"an engine thread waited for a CPU 23% of the window (over 10%): the machine's cores were taken"},
      {"an engine thread waited for a CPU 65% of the window (over 10%): the machine's cores were taken",
       "the open-loop schedule slipped: 120 of 8000 arrivals issued over 1 ms late"},
      {"an engine thread waited for a CPU 45% of the window (over 10%): the machine's cores were taken"},
      {"the open-loop schedule slipped: 95 of 8010 arrivals issued over 1 ms late"}};
  json& reps = report["workloads"][0]["results"][0]["repetitions"];
  for (std::size_t i = 0; i < reasons.size(); ++i) reps[i]["client"]["saturated_reasons"] = reasons[i];
  const json s = summarize_report(report, "run.json");
  const json& merged = s.at("workloads").at(0).at("servers").at(0).at("saturated_reasons");
  BOOST_TEST_REQUIRE(merged.size() == 2u, merged.dump());
  BOOST_TEST(merged[0] == "an engine thread waited for a CPU 23% to 65% of the window (over 10%): the machine's "
                          "cores were taken (in 3 repetitions)",
             merged.dump());
  BOOST_TEST(merged[1] == "the open-loop schedule slipped: 95 to 120 of 8000 to 8010 arrivals issued over 1 ms "
                          "late (in 2 repetitions)",
             merged.dump());
}

BOOST_AUTO_TEST_CASE(text_shows_tables_verdicts_and_flags_in_100_columns) {
  std::ostringstream out;
  print_summary(summarize_report(flawed_report(), "results/runs/a-long-name-for-a-report.json"), out);
  const std::string text = out.str();
  BOOST_TEST(t::widest_line(text) < 100u, text);
  BOOST_TEST(has(text, "== pingpong"), text);
  BOOST_TEST(has(text, "INCOMPLETE: interrupted by SIGINT"), text);
  BOOST_TEST(has(text, "reactor        ok!"), text);  // ! marks a saturated generator
  BOOST_TEST(has(text, "40.0k"), text);
  BOOST_TEST(has(text, "proactor vs reactor"), text);
  BOOST_TEST(has(text, "0.900 [0.880, 0.920]"), text);
  BOOST_TEST(has(text, "slower"), text);
  BOOST_TEST(has(text, "no significant difference"), text);
  BOOST_TEST(has(text, "! reactor: the load generator was saturated in 2 of 5 repetitions"), text);
  BOOST_TEST(has(text, "! proactor: invalid repetition 2: 3 mismatched replies"), text);
}

// The example report the engine's schema comes with.
BOOST_AUTO_TEST_CASE(command_reads_the_example_report) {
  const std::string example = IODUEL_SOURCE_DIR "/results/examples/example-run.json";
  std::ostringstream text, json_text, err;
  BOOST_TEST(run_show(example, false, text, err) == 0, err.str());
  BOOST_TEST(t::widest_line(text.str()) < 100u, text.str());
  BOOST_TEST(run_show(example, true, json_text, err) == 0, err.str());
  const json s = json::parse(json_text.str());
  BOOST_TEST(s.at("kind") == "ioduel-summary");
  BOOST_TEST(!s.at("workloads").empty());
}

// A schema 1 report's stored verdicts came from rules this ioduel no longer
// keeps (an unpaired bootstrap that called 3 repetitions "faster" whenever
// the sets did not overlap): show makes the summaries and comparisons anew
// from the repetitions and says so; a current report is read as written.
BOOST_AUTO_TEST_CASE(older_reports_get_their_verdicts_made_anew) {
  t::samples three = t::typical();
  three.throughput.resize(3);
  three.p50.resize(3);
  three.p99.resize(3);
  three.p99_9.resize(3);
  three.cpu.resize(3);
  json old = t::report({{"pingpong", {{"reactor", three}, {"proactor", t::scaled(three, 1.2, 1.0, 1.0)}}}}, 1);
  old["workloads"][0]["comparisons"] = json::array(
      {{{"candidate", "proactor"},
        {"baseline", "reactor"},
        {"metrics",
         {{"throughput_rps",
           {{"ratio", 1.2}, {"ci95", {{"low", 1.1}, {"high", 1.3}}}, {"verdict", "faster"},
            {"higher_is_better", true}, {"reason", nullptr}}}}}}});
  const json s = summarize_report(old, "old.json");
  BOOST_TEST(has(s.at("recomputed").get<std::string>(), "schema version 1"));
  const json& c = s.at("workloads").at(0).at("comparisons").at(0);
  BOOST_TEST(c.at("candidate") == "proactor");
  const json& tp = c.at("metrics").at("throughput_rps");
  BOOST_TEST(tp.at("ratio").get<double>() == 1.2, tp.dump());
  BOOST_TEST(tp.at("verdict") != "faster", tp.dump());
  BOOST_TEST(has(tp.dump(), "rounds"), tp.dump());
  std::ostringstream text;
  print_summary(s, text);
  BOOST_TEST(has(text.str(), "recomputed from its repetitions"), text.str());
  BOOST_TEST(!has(text.str(), "no significant difference"), text.str());

  // The same figures under the current schema keep what was written.
  json current = old;
  current["schema_version"] = readable_schema_version;
  const json kept = summarize_report(current, "new.json");
  BOOST_TEST(!kept.contains("recomputed"));
  BOOST_TEST(kept.at("workloads").at(0).at("comparisons").at(0).at("metrics").at("throughput_rps").at("verdict") ==
             "faster");
}

// With --until-width the rounds actually run and the rule that ended them
// are on screen: the header gives only the rounds planned.
BOOST_AUTO_TEST_CASE(until_width_says_how_many_rounds_and_why) {
  json report = t::report({{"pingpong", {{"reactor", t::typical()}, {"proactor", t::typical()}}}}, readable_schema_version);
  report["workloads"][0]["rounds"] = {{"rounds", 9},
                                      {"until_width", 0.05},
                                      {"max_repeat", 20},
                                      {"widest", {{"what", "proactor p99_us"}, {"width", 0.042}}},
                                      {"stopped", "width reached"}};
  std::ostringstream text;
  print_summary(summarize_report(report, "w.json"), text);
  BOOST_TEST(has(text.str(), "9 rounds (--until-width 5%, --max-repeat 20): width reached"), text.str());
  BOOST_TEST(has(text.str(), "p99_us, is 4.2% wide"), text.str());
}

BOOST_AUTO_TEST_CASE(command_refuses_with_a_message) {
  std::ostringstream out, err;
  BOOST_TEST(run_show("/nonexistent/report.json", false, out, err) == 1);
  BOOST_TEST(has(err.str(), "ioduel show: /nonexistent/report.json: cannot open it"), err.str());
  BOOST_CHECK_THROW(summarize_report(t::report({}, readable_schema_version + 1), "future.json"),
                    std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()
