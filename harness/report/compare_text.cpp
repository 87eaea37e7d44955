// compare's text: the comparison as tables that fit 100 columns (compare.hpp).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <ostream>
#include <set>
#include <string>

#include "harness/measure/statistics.hpp"
#include "harness/report/compare.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/report/summary.hpp"

namespace ioduel::harness {
namespace {

using nlohmann::json;

std::string describe(const json& info) {
  std::string s = info.value("name", "");
  std::string details;
  for (const char* key : {"started_at", "host", "git_commit"})
    if (const json v = info.value(key, json()); v.is_string())
      details += (details.empty() ? "" : ", ") +
                 (std::string(key) == "git_commit" ? "commit " + v.get<std::string>().substr(0, 10)
                                                  : v.get<std::string>());
  return details.empty() ? s : s + " (" + details + ")";
}


std::string median_text(const json& s) {
  const json m = s.value("median", json());
  return m.is_number() ? format_number(m.get<double>()) : "-";
}

}  // namespace

void print_comparison(const json& c, std::ostream& out) {
  const bool servers = c.value("mode", "") == "servers";
  const json& reports = c.at("reports");
  char margin[16];
  std::snprintf(margin, sizeof margin, "%g%%", c.value("margin", 0.03) * 100);
  if (servers) {
    out << wrap("servers of " + describe(reports.at(0)), 0)
        << "baseline: " << c.value("baseline", "") << "; ratio = server / baseline, round by round\n"
        << "faster/slower: better/worse than the baseline by more than " << margin
        << ", 95% confident; same: within " << margin << "\n";
  } else {
    out << wrap("before: " + describe(reports.at(0)), 0)
        << wrap("after:  " + describe(reports.at(1)), 0) << "ratio = after / before\n"
        << "faster/slower: after is better/worse than before by more than " << margin
        << ", 95% confident; same: within " << margin << "\n";
  }

  for (const json& w : c.at("workloads")) {
    out << "\n== " << w.value("name", "") << "\n";
    if (const json why = w.value("not_comparable", json()); why.is_string()) {
      out << wrap("not comparable: " + why.get<std::string>(), 2);
      continue;
    }
    // Server names in full: the column is as wide as the longest.
    // A group's rows name it beside the server: "proactor [light]".
    const auto who = [](const json& row) {
      const std::string server = row.at("candidate").value("server", "");
      return row.contains("group") ? server + " [" + row.value("group", "") + "]" : server;
    };
    std::size_t server_w = 6;
    bool grouped = false;
    for (const json& row : w.at("rows")) {
      server_w = std::max(server_w, who(row).size());
      grouped = grouped || row.contains("group");
    }
    out
        << cell("server", server_w) << cell("metric", 10) << cell(servers ? "baseline" : "before", 9, true)
        << cell(servers ? "server" : "after", 9, true) << cell("ratio", 6, true)
        << cell("95% CI", 16) << "verdict\n";
    std::string previous;
    std::set<std::string> reasons;
    for (const json& row : w.at("rows")) {
      const std::string server = who(row);
      const json ci = row.value("ci95", json());
      std::optional<interval> ci95;
      if (ci.is_object()) ci95 = interval{ci.value("low", 0.0), ci.value("high", 0.0)};
      const json ratio = row.value("ratio", json());
      const auto ratio_value =
          ratio.is_number() ? std::optional(ratio.get<double>()) : std::nullopt;
      out << row_end(cell(server == previous ? "" : server, server_w) + cell(row.value("label", ""), 10) +
                     cell(median_text(row.at("baseline")), 9, true) +
                     cell(median_text(row.at("candidate")), 9, true) +
                     cell(format_ratio(ratio_value), 6, true) + cell(format_interval(ci95), 16) +
                     words(row.value("verdict", "")));
      previous = server;
      if (const json reason = row.value("reason", json()); reason.is_string())
        reasons.insert(reason.get<std::string>());
    }
    for (const auto& reason : reasons) out << wrap("why: " + reason, 2);
    if (grouped)
      out << wrap("[group]: that group's own figures; their verdicts are the interval's alone, outside the "
                  "report-wide correction",
                  2);
  }
  if (!c.at("notes").empty()) out << "\n";
  for (const json& note : c.at("notes")) out << wrap("note: " + note.get<std::string>(), 2);
}

}  // namespace ioduel::harness
