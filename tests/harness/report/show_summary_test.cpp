// show's leading matrix, its filters and colours, and show/compare as CSV.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/report/csv.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/report/show.hpp"
#include "harness/report/summary.hpp"
#include "support/synthetic_report.hpp"

using namespace ioduel::harness;
namespace t = ioduel::harness::testing;
using nlohmann::json;

namespace {

bool has(const std::string& text, const std::string& words) { return text.find(words) != std::string::npos; }

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The quick suite's shape: 12 workloads, three servers with long names, the
// comparisons computed as the runner does.  "fast" is 20% faster everywhere
// (and steady, so that it gets verdicts); "proactor-shared" 1% off.
json quick_like() {
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, t::samples>>>> workloads;
  for (int i = 0; i < 12; ++i)
    workloads.push_back({"workload-" + std::to_string(i) + (i == 4 ? "-open" : ""),
                         {{"reactor", t::typical()},
                          {"proactor-fast", t::scaled(t::typical(), 1.2, 1 / 1.2, 1 / 1.2)},
                          {"proactor-shared", t::scaled(t::typical(), 0.99, 1.01, 1.0)}}});
  json report = t::report(workloads, readable_schema_version);
  report["margin"] = 0.03;
  for (json& w : report["workloads"]) {
    const bool open = w["name"].get<std::string>().ends_with("-open");
    w["workload"]["groups"] = json::array({{{"loop", open ? "open" : "closed"}, {"rate", 1000}}});
    w["comparisons"] = comparisons_json(w["results"], "reactor", 0.03, open);
  }
  correct_report_verdicts(report["workloads"]);
  return report;
}

std::string show_text(const json& report, const show_options& o = {}) {
  std::ostringstream out;
  print_summary(filter_summary(summarize_report(report, "quick.json"), o), out, o);
  return out.str();
}

// A minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF rows.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') rows.back().back() += '"', ++i;
      else if (c == '"') quoted = false;
      else rows.back().back() += c;
    } else if (c == '"') quoted = true;
    else if (c == ',') rows.back().emplace_back();
    else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') rows.emplace_back(1), ++i;
    else rows.back().back() += c;
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(show_matrix)

BOOST_AUTO_TEST_CASE(summary_of_12_workloads_by_3_servers_fits_40_lines) {
  const std::string text = show_text(quick_like());
  const std::string summary = text.substr(0, text.find("\ndetails:"));
  BOOST_TEST(lines(summary) <= 40u, summary);
  BOOST_TEST(t::widest_line(text) < 100u, text);
  // Full names, never cut, and each workload once in the matrix and once with its winner.
  BOOST_TEST(has(summary, "proactor-shared"), summary);
  BOOST_TEST(has(summary, "reactor (baseline)"), summary);
  BOOST_TEST(has(summary, "workload-0: proactor-fast wins, 20% more req/s than reactor"), summary);
  // Open loop: the headline is p99, lower by 1 - 1/1.2.
  BOOST_TEST(has(summary, "workload-4-open: proactor-fast wins, 17% lower p99 us than reactor"), summary);
  BOOST_TEST(has(summary, "1.200 faster"), summary);
  BOOST_TEST(has(summary, "0.833 faster"), summary);
  BOOST_TEST(!has(summary, "\033["), "no colour unless asked");
}

// The full suite's seven servers with their full names do not fit one
// 100-column matrix: the columns go in blocks, each with the workload and
// metric again, and every server's name whole in one of them.
BOOST_AUTO_TEST_CASE(seven_servers_fit_100_columns_in_blocks) {
  const std::vector<std::string> names = {"reactor", "reactor-poll", "reactor-select", "reactor-epoll-edge",
                                          "proactor", "proactor-uring", "proactor-shared"};
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, t::samples>>>> workloads;
  for (const char* w : {"pingpong", "echo-16k/connections=1000"}) {
    std::vector<std::pair<std::string, t::samples>> servers;
    for (std::size_t i = 0; i < names.size(); ++i)
      servers.push_back({names[i], t::scaled(t::typical(), 1.0 + 0.05 * double(i), 1.0, 1.0)});
    workloads.push_back({w, servers});
  }
  json report = t::report(workloads, readable_schema_version);
  for (json& w : report["workloads"]) {
    w["workload"]["groups"] = json::array({{{"loop", "closed"}}});
    w["comparisons"] = comparisons_json(w["results"], "reactor", 0.03, false);
  }
  correct_report_verdicts(report["workloads"]);
  const std::string text = show_text(report);
  const std::string summary = text.substr(0, text.find("\ndetails:"));
  BOOST_TEST(t::widest_line(summary) < 100u, summary);
  std::size_t heads = 0;
  for (std::size_t at = 0; (at = summary.find("\nworkload ", at)) != std::string::npos; ++at) ++heads;
  BOOST_TEST(heads >= 2u, summary);
  for (const auto& name : names)
    BOOST_TEST((has(summary, " " + name + " ") || has(summary, " " + name + "\n")), name << " not whole in\n" << summary);
  BOOST_TEST(has(summary, "reactor (baseline)"), summary);
  // Each block has a row per workload: pingpong's row is there once per block.
  std::size_t rows = 0;
  for (std::size_t at = 0; (at = summary.find("\npingpong ", at)) != std::string::npos; ++at) ++rows;
  BOOST_TEST(rows == heads, summary);
}

// The baseline wins when every other server is slower; a tie when all are the same.
BOOST_AUTO_TEST_CASE(winner_lines_for_a_slower_field_and_a_tie) {
  json report = t::report({{"slow", {{"reactor", t::typical()}, {"proactor", t::scaled(t::typical(), 0.8, 1.25, 1.25)}}},
                           {"tie", {{"reactor", t::typical()}, {"proactor", t::scaled(t::typical(), 1.0, 1.0, 1.0)}}}},
                          readable_schema_version);
  for (json& w : report["workloads"]) w["comparisons"] = comparisons_json(w["results"], "reactor", 0.03, false);
  correct_report_verdicts(report["workloads"]);
  const std::string text = show_text(report);
  BOOST_TEST(has(text, "slow: reactor wins, 25% more req/s than proactor"), text);
  BOOST_TEST(has(text, "tie: a tie, every server within 3% of reactor"), text);
}

BOOST_AUTO_TEST_CASE(colour_only_when_asked) {
  show_options o;
  o.color = true;
  const std::string text = show_text(quick_like(), o);
  BOOST_TEST(has(text, "\033[32m1.200 faster\033[0m"), text);
  // Not a terminal (a pipe, a file): plain.
  int pipe_fds[2];
  BOOST_TEST_REQUIRE(::pipe(pipe_fds) == 0);
  BOOST_TEST(!color_wanted(pipe_fds[1]));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

// A real terminal (a pseudo-terminal's far end): colour, unless NO_COLOR.
BOOST_AUTO_TEST_CASE(no_color_turns_colour_off_on_a_terminal) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  BOOST_TEST_REQUIRE(master >= 0);
  BOOST_TEST_REQUIRE((::grantpt(master) == 0 && ::unlockpt(master) == 0));
  const int tty = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  BOOST_TEST_REQUIRE(tty >= 0);
  const char* before = std::getenv("NO_COLOR");
  const std::string saved = before ? before : "";
  ::unsetenv("NO_COLOR");
  BOOST_TEST(color_wanted(tty));
  ::setenv("NO_COLOR", "1", 1);
  BOOST_TEST(!color_wanted(tty));
  ::setenv("NO_COLOR", "", 1);  // empty counts as unset (no-color.org)
  BOOST_TEST(color_wanted(tty));
  if (before) ::setenv("NO_COLOR", saved.c_str(), 1);
  else ::unsetenv("NO_COLOR");
  ::close(tty);
  ::close(master);
}

BOOST_AUTO_TEST_CASE(metric_picks_another_headline) {
  show_options o;
  o.metric = "cpu";
  const std::string text = show_text(quick_like(), o);
  BOOST_TEST(has(text, "workload-0: proactor-fast wins, 17% lower cpu us/req than reactor"), text);
  BOOST_TEST(has(text, "workload-0      cpu us/req 5.00"), text);  // the label whole
  // The comparisons below show only that metric.
  BOOST_TEST(!has(text.substr(text.find("details:")), "\n    req/s"), text);
  BOOST_TEST(has(text.substr(text.find("details:")), "\n    cpu us/req"), text);
  o.metric = "bandwidth";
  BOOST_CHECK_THROW(show_text(quick_like(), o), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(filters_keep_what_they_name_and_refuse_unknown_names) {
  show_options o;
  o.workloads = {"workload-3"};
  o.servers = {"proactor-shared"};
  const json s = filter_summary(summarize_report(quick_like(), "quick.json"), o);
  BOOST_TEST_REQUIRE(s["workloads"].size() == 1u);
  BOOST_TEST(s["workloads"][0]["name"] == "workload-3");
  BOOST_TEST(s["workloads"][0]["servers"].size() == 2u);  // the baseline stays
  BOOST_TEST(s["workloads"][0]["comparisons"].size() == 1u);
  const std::string text = show_text(quick_like(), o);
  BOOST_TEST(!has(text, "proactor-fast"), text);
  for (auto [field, value] : {std::pair{"workload", "nope"}, std::pair{"server", "nginx"}}) {
    show_options bad;
    (std::string(field) == "workload" ? bad.workloads : bad.servers) = {value};
    try {
      show_text(quick_like(), bad);
      BOOST_TEST(false, "no error for an unknown " << field);
    } catch (const std::runtime_error& e) {
      BOOST_TEST(has(e.what(), std::string("no ") + field + " '" + value + "'"), e.what());
      BOOST_TEST(has(e.what(), "it has"), e.what());
    }
  }
}

BOOST_AUTO_TEST_CASE(group_rows_appear_where_a_workload_has_groups) {
  json report = quick_like();
  for (json& r : report["workloads"][0]["results"])
    for (json& rep : r["repetitions"])
      rep["groups"] = json::array({{{"name", "heavy"}, {"throughput_rps", 100.0}, {"latency_us", {{"p99", 900.0}}}},
                                   {{"name", "light"}, {"throughput_rps", 39'000.0}, {"latency_us", {{"p99", 41.0}}}}});
  const json s = summarize_report(report, "quick.json");
  const json& groups = s["workloads"][0]["servers"][0]["groups"];
  BOOST_TEST_REQUIRE(groups.size() == 2u);
  BOOST_TEST(groups[1]["name"] == "light");
  BOOST_TEST(groups[1]["p99_us"]["median"] == 41.0);
  const std::string text = show_text(report);
  BOOST_TEST(has(text, "  light         group      39.0k [39.0k, 39.0k]"), text);
  BOOST_TEST(s["workloads"][1]["servers"][0]["groups"].empty());
  // Each group against the baseline's same group: equal figures, "same";
  // outside the report-wide correction, and said so.
  BOOST_TEST(!groups[1].contains("vs_baseline"));  // the baseline's own
  const json& vs = s["workloads"][0]["servers"][1]["groups"][1]["vs_baseline"]["p99_us"];
  BOOST_TEST(vs["ratio"] == 1.0);
  BOOST_TEST(vs["interval_verdict"] == "same");
  BOOST_TEST(vs["corrected"] == false);
  BOOST_TEST(has(text, "    light p99 us                1.000 [1.000, 1.000]   same (group; not corrected)"), text);
}

BOOST_AUTO_TEST_CASE(csv_round_trips_through_a_csv_parser) {
  json report = quick_like();
  report["workloads"][0]["results"][0]["status_reason"] = "a \"quoted\", odd\r\nreason";
  const json s = summarize_report(report, "runs/a, b.json");
  std::ostringstream out;
  write_summary_csv(s, out);
  const auto rows = parse_csv(out.str());
  BOOST_TEST_REQUIRE(rows.size() == 1u + 12 * 3);
  const auto& head = rows[0];
  const auto col = [&](const std::string& name) {
    const auto it = std::find(head.begin(), head.end(), name);
    BOOST_TEST_REQUIRE((it != head.end()), "no column " << name);
    return static_cast<std::size_t>(it - head.begin());
  };
  for (const auto& r : rows) BOOST_TEST(r.size() == head.size());
  BOOST_TEST(rows[1][col("report")] == "runs/a, b.json");
  BOOST_TEST(rows[1][col("server")] == "reactor");
  BOOST_TEST(std::stod(rows[1][col("throughput_rps")]) == 40'000.0);
  BOOST_TEST(std::stod(rows[1][col("throughput_rps_low")]) == 39'600.0);
  BOOST_TEST(std::stod(rows[1][col("throughput_rps_high")]) == 40'400.0);
  BOOST_TEST(rows[1][col("throughput_rps_ratio")].empty());  // the baseline against itself
  BOOST_TEST(rows[2][col("server")] == "proactor-fast");
  BOOST_TEST(std::abs(std::stod(rows[2][col("throughput_rps_ratio")]) - 1.2) < 1e-9);
  BOOST_TEST(rows[2][col("throughput_rps_verdict")] == "faster");
  // compare's CSV: one row per workload, server and metric.
  std::ostringstream c;
  write_comparison_csv(json{{"mode", "servers"}, {"workloads", json::array({{{"name", "w,1"}, {"not_comparable", nullptr},
      {"rows", json::array({{{"metric", "p99_us"}, {"ratio", 0.5}, {"reason", "say \"why\""},
                             {"baseline", {{"server", "reactor"}}}, {"candidate", {{"server", "proactor"}}}}})}}})}},
                       c);
  const auto crows = parse_csv(c.str());
  BOOST_TEST_REQUIRE(crows.size() == 2u);
  BOOST_TEST(crows[1].size() == crows[0].size());
  BOOST_TEST(crows[1][1] == "w,1");
  BOOST_TEST(crows[1].back() == "say \"why\"");
}

BOOST_AUTO_TEST_CASE(csv_field_quotes_only_what_needs_it) {
  BOOST_TEST(csv_field("plain") == "plain");
  BOOST_TEST(csv_field("a,b") == "\"a,b\"");
  BOOST_TEST(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  BOOST_TEST(csv_field("two\nlines") == "\"two\nlines\"");
  BOOST_TEST(csv_row({"a", "", "c"}) == "a,,c\r\n");
}

BOOST_AUTO_TEST_SUITE_END()
