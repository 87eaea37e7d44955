#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "harness/report/compare.hpp"
#include "harness/report/csv.hpp"
#include "harness/report/report_reader.hpp"
#include "support/synthetic_report.hpp"

using namespace ioduel::harness;
namespace t = ioduel::harness::testing;
using nlohmann::json;

namespace {

const json& row(const json& comparison, const std::string& workload, const std::string& server,
                const std::string& metric) {
  for (const json& w : comparison.at("workloads"))
    if (w.at("name") == workload)
      for (const json& r : w.at("rows"))
        if (r.at("candidate").at("server") == server && r.at("metric") == metric) return r;
  throw std::runtime_error("no row " + workload + "/" + server + "/" + metric);
}

// compare_reports throws a runtime_error whose message contains `words`.
void check_refused(const std::vector<named_report>& reports, const std::string& words) {
  try {
    (void)compare_reports(reports);
    BOOST_ERROR("compared without complaint");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find(words) != std::string::npos,
               "message '" << e.what() << "' lacks '" << words << "'");
  }
}

// A report written to a file of its own, removed with the fixture.
struct report_files {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("ioduel-compare-test-" + std::to_string(::getpid()));
  report_files() { std::filesystem::create_directories(dir); }
  ~report_files() { std::filesystem::remove_all(dir); }
  std::string write(const std::string& name, const json& report) const {
    const auto path = (dir / name).string();
    std::ofstream(path) << report.dump();
    return path;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(compare_reports_tests)

BOOST_AUTO_TEST_CASE(before_and_after_with_known_ratios) {
  const auto before = t::typical();
  // After: 1.5x the throughput, half the latency, the same CPU per request.
  const auto after = t::scaled(before, 1.5, 0.5, 1.0);
  const std::vector<named_report> reports{
      {"a.json", t::report({{"pingpong", {{"reactor", before}}}})},
      {"b.json", t::report({{"pingpong", {{"reactor", after}}}})}};
  const json c = compare_reports(reports);
  BOOST_TEST(c.at("mode") == "reports");

  const json& throughput = row(c, "pingpong", "reactor", "throughput_rps");
  BOOST_TEST(throughput.at("ratio").get<double>() == 1.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(throughput.at("verdict") == "faster");
  BOOST_TEST(throughput.at("ci95").at("low").get<double>() > 1.4);
  BOOST_TEST(throughput.at("ci95").at("high").get<double>() < 1.6);
  BOOST_TEST(throughput.at("baseline").at("report") == "a.json");
  BOOST_TEST(throughput.at("candidate").at("report") == "b.json");
  BOOST_TEST(throughput.at("candidate").at("samples") == 5);

  const json& p99 = row(c, "pingpong", "reactor", "p99_us");
  BOOST_TEST(p99.at("ratio").get<double>() == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(p99.at("verdict") == "faster");  // lower latency is better
  BOOST_TEST(p99.at("higher_is_better") == false);

  const json& cpu = row(c, "pingpong", "reactor", "server_cpu_us_per_request");
  BOOST_TEST(cpu.at("ratio").get<double>() == 1.0);
  // The same figures, 5 a side with a 6% spread: the interval reaches past
  // the 3% margin, so no verdict; a 5% margin holds it, so the same.
  BOOST_TEST(cpu.at("verdict") == "undetermined");
  BOOST_TEST(cpu.at("reason") == "straddles the 3% margin");
  BOOST_TEST(row(compare_reports(reports, 0.05), "pingpong", "reactor", "server_cpu_us_per_request").at("verdict") ==
             "same");

  // The other way round, the same figures are a slowdown.
  const std::vector<named_report> reversed{reports[1], reports[0]};
  const json r = compare_reports(reversed);
  BOOST_TEST(row(r, "pingpong", "reactor", "throughput_rps").at("verdict") == "slower");
  BOOST_TEST(row(r, "pingpong", "reactor", "p50_us").at("verdict") == "slower");
}

BOOST_AUTO_TEST_CASE(one_report_compares_its_servers_with_the_baseline) {
  const auto base = t::typical();
  const json report = t::report({{"pingpong",
                                   {{"reactor", base},
                                    {"proactor", t::scaled(base, 0.8, 1.25, 1.2)},
                                    {"twin", base}}}});
  const std::vector<named_report> one{{"run.json", report}};
  const json c = compare_reports(one);
  BOOST_TEST(c.at("mode") == "servers");
  BOOST_TEST(c.at("baseline") == "reactor");
  BOOST_TEST(c.at("workloads").at(0).at("rows").size() == 10u);  // 2 servers x 5 metrics
  const json& throughput = row(c, "pingpong", "proactor", "throughput_rps");
  BOOST_TEST(throughput.at("ratio").get<double>() == 0.8, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(throughput.at("verdict") == "slower");
  BOOST_TEST(row(c, "pingpong", "proactor", "p99_9_us").at("verdict") == "slower");
  BOOST_TEST(row(c, "pingpong", "proactor", "server_cpu_us_per_request").at("verdict") == "slower");
  // Round by round, the twin is the baseline exactly: the same.
  BOOST_TEST(row(c, "pingpong", "twin", "p50_us").at("verdict") == "same");
  BOOST_TEST(row(c, "pingpong", "twin", "p50_us").at("ratio") == 1.0);
  BOOST_CHECK_THROW(row(c, "pingpong", "reactor", "p50_us"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(one_repetition_is_undetermined_with_a_reason) {
  auto single = t::typical();
  for (auto* v : {&single.throughput, &single.p50, &single.p99, &single.p99_9, &single.cpu})
    v->resize(1);
  const std::vector<named_report> reports{
      {"a.json", t::report({{"pingpong", {{"reactor", single}}}})},
      {"b.json", t::report({{"pingpong", {{"reactor", t::typical()}}}})}};
  const json c = compare_reports(reports);
  const json& r = row(c, "pingpong", "reactor", "throughput_rps");
  BOOST_TEST(r.at("verdict") == "undetermined");
  BOOST_TEST(r.at("ci95").is_null());
  BOOST_TEST(r.at("reason") == "1 repetition on a side; verdicts need 5 a side");
}

BOOST_AUTO_TEST_CASE(invalid_repetitions_are_left_out_and_noted) {
  auto flawed = t::scaled(t::typical(), 2.0, 1.0, 1.0);
  flawed.throughput[0] = 1.0;  // the invalid repetition's figure must not count
  flawed.invalid = {true};
  flawed.saturated = {false, true};
  const std::vector<named_report> reports{
      {"a.json", t::report({{"pingpong", {{"reactor", t::typical()}}}})},
      {"b.json", t::report({{"pingpong", {{"reactor", flawed}}}})}};
  const json c = compare_reports(reports);
  const json& r = row(c, "pingpong", "reactor", "throughput_rps");
  BOOST_TEST(r.at("candidate").at("samples") == 4);
  // 4 valid repetitions: no verdict could be drawn, saturated or not.
  BOOST_TEST(r.at("verdict") == "undetermined");
  BOOST_TEST(r.at("reason") == "4 repetitions on a side; verdicts need 5 a side");
  // With 5 valid a side, repetition 2's saturated generator withholds the
  // verdict: its figure may be the harness's.
  auto saturated = t::scaled(t::typical(), 2.0, 1.0, 1.0);
  saturated.saturated = {false, true};
  const json c5 = compare_reports(std::vector<named_report>{
      {"a.json", t::report({{"pingpong", {{"reactor", t::typical()}}}})},
      {"b.json", t::report({{"pingpong", {{"reactor", saturated}}}})}});
  const json& r5 = row(c5, "pingpong", "reactor", "throughput_rps");
  BOOST_TEST(r5.at("verdict") == "generator_bound");
  BOOST_TEST(r5.at("reason") == "the load generator was saturated in 1 of the repetitions compared");
  const std::string notes = c.at("notes").dump();
  BOOST_TEST(notes.find("reactor: status invalid") != std::string::npos, notes);
  BOOST_TEST(notes.find("saturated in 1 of 5") != std::string::npos, notes);
}

BOOST_AUTO_TEST_CASE(unreadable_schema_versions_are_refused) {
  const auto s = t::typical();
  const int future = ioduel::harness::readable_schema_version + 1;
  const std::string readable = "this ioduel reads versions 1 to " + std::to_string(ioduel::harness::readable_schema_version);
  check_refused({{"old.json", t::report({{"pingpong", {{"reactor", s}}}}, 1)},
                 {"future.json", t::report({{"pingpong", {{"reactor", s}}}}, future)}},
                "future.json: schema version " + std::to_string(future) + "; " + readable);
  check_refused({{"ancient.json", t::report({{"pingpong", {{"reactor", s}}}}, 0)}},
                "ancient.json: schema version 0; " + readable);
}

BOOST_AUTO_TEST_CASE(versions_1_and_2_compare_on_their_repetitions) {
  const auto s = t::typical();
  const std::vector<named_report> reports = {{"v1.json", t::report({{"pingpong", {{"reactor", s}}}}, 1)},
                                             {"v2.json", t::report({{"pingpong", {{"reactor", s}}}}, 2)}};
  BOOST_CHECK_NO_THROW(compare_reports(reports));
}

BOOST_AUTO_TEST_CASE(a_workload_defined_differently_is_not_comparable) {
  const auto s = t::typical();
  json a = t::report({{"openloop", {{"reactor", s}}}, {"pingpong", {{"reactor", s}}}});
  json b = t::report({{"openloop", {{"reactor", t::scaled(s, 2.0, 1.0, 1.0)}}}, {"pingpong", {{"reactor", s}}}});
  a["workloads"][0]["workload"] = {{"name", "openloop"}, {"groups", {{{"rate", 10000}}}}};
  b["workloads"][0]["workload"] = {{"name", "openloop"}, {"groups", {{{"rate", 20000}}}}};
  const std::vector<named_report> reports{{"quick.json", a}, {"full.json", b}};
  const json c = compare_reports(reports);
  const json& w = c.at("workloads").at(0);
  BOOST_TEST(w.at("name") == "openloop");
  BOOST_TEST(w.at("not_comparable") == "groups/0/rate: 10000 vs 20000");
  BOOST_TEST(w.at("rows").empty());  // no "req/s 2.0 faster"
  BOOST_TEST(c.at("workloads").at(1).at("not_comparable").is_null());
  std::ostringstream text;
  print_comparison(c, text);
  BOOST_TEST(text.str().find("not comparable: groups/0/rate: 10000 vs 20000") != std::string::npos, text.str());
}

BOOST_AUTO_TEST_CASE(a_report_compared_with_itself_gives_no_verdict) {
  const json r = t::report({{"pingpong", {{"reactor", t::typical()}, {"proactor", t::typical()}}}});
  const std::vector<named_report> twice{{"a.json", r}, {"a.json", r}};
  for (const json& c : {compare_reports(twice), compare_reports(std::vector<named_report>{{"a.json", r}})})
    for (const json& w : c.at("workloads"))
      for (const json& row : w.at("rows")) {
        BOOST_TEST(row.at("ratio") == 1.0);
        BOOST_TEST((row.at("verdict") != "faster" && row.at("verdict") != "slower"), row.dump());
      }
}

BOOST_AUTO_TEST_CASE(reports_without_a_common_workload_are_refused) {
  const auto s = t::typical();
  check_refused({{"a.json", t::report({{"pingpong", {{"reactor", s}}}, {"fanout", {{"reactor", s}}}})},
                 {"b.json", t::report({{"stream", {{"reactor", s}}}})}},
                "a.json and b.json have no workload in common (a.json: pingpong, fanout; b.json: "
                "stream)");
}

BOOST_AUTO_TEST_CASE(partial_overlap_and_other_machines_are_noted) {
  const auto s = t::typical();
  const std::vector<named_report> reports{
      {"a.json", t::report({{"pingpong", {{"reactor", s}, {"proactor", s}}}, {"fanout", {{"reactor", s}}}})},
      {"b.json", t::report({{"pingpong", {{"reactor", s}}}, {"stream", {{"reactor", s}}}}, 1, "host-b")}};
  const json c = compare_reports(reports);
  BOOST_TEST(c.at("workloads").size() == 1u);
  const std::string notes = c.at("notes").dump();
  BOOST_TEST(notes.find("only in a.json: fanout") != std::string::npos, notes);
  BOOST_TEST(notes.find("only in b.json: stream") != std::string::npos, notes);
  BOOST_TEST(notes.find("proactor is only in a.json") != std::string::npos, notes);
  BOOST_TEST(notes.find("different machines") != std::string::npos, notes);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(compare_command)

BOOST_AUTO_TEST_CASE(text_fits_100_columns_and_json_parses) {
  const report_files files;
  const auto base = t::typical();
  const std::vector<std::string> paths{
      files.write("a-rather-long-report-name-from-the-results-directory.json",
                  t::report({{"pingpong", {{"reactor", base}, {"proactor-with-a-long-name", base}}}})),
      files.write("b.json", t::report({{"pingpong",
                                        {{"reactor", t::scaled(base, 1.1, 0.9, 1.0)},
                                         {"proactor-with-a-long-name", base}}}}))};
  std::ostringstream text, json_text, err;
  BOOST_TEST(run_compare(paths, false, text, err) == 0);
  BOOST_TEST(err.str().empty());
  BOOST_TEST(t::widest_line(text.str()) < 100u, text.str());
  BOOST_TEST(text.str().find("faster") != std::string::npos, text.str());
  std::ostringstream servers;
  const std::vector<std::string> first{paths[0]};
  BOOST_TEST(run_compare(first, false, servers, err) == 0);
  BOOST_TEST(t::widest_line(servers.str()) < 100u, servers.str());
  BOOST_TEST(servers.str().find("baseline: reactor") != std::string::npos, servers.str());
  // Server names in full, never cut to a column's width.
  BOOST_TEST(servers.str().find("proactor-with-a-long-name ") != std::string::npos, servers.str());
  BOOST_TEST(run_compare(paths, true, json_text, err) == 0);
  const json c = json::parse(json_text.str());
  BOOST_TEST(row(c, "pingpong", "reactor", "throughput_rps").at("verdict") == "faster");
}

BOOST_AUTO_TEST_CASE(capacity_reports_are_sent_to_show) {
  json capacity = t::report({{"capacity", {{"reactor", t::typical()}, {"proactor", t::typical()}}}});
  capacity["command"] = "capacity";
  check_refused({{"cap.json", capacity}}, "cap.json is a capacity report");
  check_refused({{"run.json", t::report({{"capacity", {{"reactor", t::typical()}}}})}, {"cap.json", capacity}},
                "read it with `ioduel show cap.json`");
}

BOOST_AUTO_TEST_CASE(errors_go_to_err_with_status_1) {
  const report_files files;
  const auto s = t::typical();
  const std::vector<std::string> paths{
      files.write("a.json", t::report({{"pingpong", {{"reactor", s}}}})),
      files.write("b.json", t::report({{"stream", {{"reactor", s}}}}))};
  std::ostringstream out, err;
  BOOST_TEST(run_compare(paths, false, out, err) == 1);
  BOOST_TEST(err.str().find("no workload in common") != std::string::npos, err.str());
  BOOST_TEST(out.str().empty());

  std::ostringstream out2, err2;
  const std::vector<std::string> missing{(files.dir / "absent.json").string()};
  BOOST_TEST(run_compare(missing, false, out2, err2) == 1);
  BOOST_TEST(err2.str().find("cannot open") != std::string::npos, err2.str());

  std::ostringstream out3, err3;
  const std::vector<std::string> three{paths[0], paths[0], paths[1]};
  BOOST_TEST(run_compare(three, false, out3, err3) == 1);
  BOOST_TEST(err3.str().find("one report") != std::string::npos, err3.str());
}

// A workload with groups (the hog's light group is its point) gets each
// group's rows on the group's own figures, named by the group, outside the
// report-wide correction; the CSV names the group in its own column.
BOOST_AUTO_TEST_CASE(groups_get_rows_of_their_own) {
  const auto s = t::typical();
  json r = t::report({{"hog", {{"reactor", s}, {"proactor", t::scaled(s, 1.0, 1.0, 1.0)}}}}, 3);
  for (json& result : r["workloads"][0]["results"]) {
    const bool faster = result.at("server") == "proactor";
    for (json& rep : result["repetitions"]) {
      const double p99 = rep["latency_us"]["p99"].get<double>();
      rep["groups"] = json::array({{{"name", "hog"}, {"throughput_rps", 100.0}, {"latency_us", {{"p99", 9000.0}}}},
                                   {{"name", "light"},
                                    {"throughput_rps", 1000.0},
                                    {"latency_us", {{"p99", faster ? p99 / 2 : p99}}}}});
    }
  }
  const json c = compare_reports(std::vector<named_report>{{"r.json", r}});
  const json* light = nullptr;
  std::size_t cpu_rows = 0;
  for (const json& row : c.at("workloads").at(0).at("rows")) {
    if (row.value("group", "") == "light" && row.at("metric") == "p99_us") light = &row;
    if (row.contains("group") && row.at("metric") == "server_cpu_us_per_request") ++cpu_rows;
  }
  BOOST_TEST_REQUIRE(light != nullptr);
  BOOST_TEST(light->at("ratio").get<double>() == 0.5, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(light->at("verdict") == "faster");  // the interval's: 5 rounds all at 0.5
  BOOST_TEST(light->at("p_adjusted").is_null());
  BOOST_TEST(cpu_rows == 0u, "the server's CPU is not per group");
  BOOST_TEST(row(c, "hog", "proactor", "p99_us").value("group", "") == "", "the server's own row stays");
  BOOST_TEST(row(c, "hog", "proactor", "p99_us").at("p_adjusted").is_number());

  std::ostringstream text;
  print_comparison(c, text);
  BOOST_TEST(text.str().find("proactor [light]") != std::string::npos, text.str());
  BOOST_TEST(text.str().find("[group]: that group's own figures") != std::string::npos, text.str());

  std::ostringstream csv;
  write_comparison_csv(c, csv);
  BOOST_TEST(csv.str().find("mode,workload,group,not_comparable,metric") == 0u, csv.str());
  BOOST_TEST(csv.str().find("servers,hog,light,,p99_us") != std::string::npos, csv.str());
}

BOOST_AUTO_TEST_SUITE_END()
