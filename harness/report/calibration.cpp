#include "harness/report/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <vector>

#include "harness/report/report_reader.hpp"
#include "harness/measure/paired.hpp"
#include "harness/measure/statistics.hpp"

namespace ioduel::harness {

namespace {
using nlohmann::json;
}  // namespace

std::string calibration_twin(const std::string& server) { return server + "#2"; }

json calibration_summary(const json& report) {
  const std::string baseline = report.value("baseline", json()).is_string() ? report["baseline"].get<std::string>() : "";
  const double margin = report.value("margin", 0.03);
  json out = {{"kind", "ioduel-calibration"},
              {"server", baseline},
              {"rounds", report.value("repetitions", json())},
              {"margin", margin},
              {"host", report.value("/metadata/host/hostname"_json_pointer, json())},
              {"started_at", report.value("/metadata/started_at"_json_pointer, json())},
              {"workloads", 0},
              {"metrics", json::object()}};
  std::size_t workloads = 0;
  for (const auto& m : report_metrics()) {
    std::vector<double> widths;
    std::string widest_in;
    double widest = 0;
    int compared = 0, barred = 0, false_verdicts = 0, same = 0;
    for (const json& w : array_field(report, "workloads")) {
      for (const json& c : array_field(w, "comparisons")) {
        const json& row = object_field(object_field(c, "metrics"), m.key);
        if (row.empty() || row.value("rounds", 0) == 0) continue;
        const std::string v = row.value("verdict", "");
        // A row that could carry no verdict (too few rounds, or resting on a
        // saturated generator) says nothing of the false-verdict rate: counting
        // it would make "0 false" read better than the machine deserves.
        // Below 5 rounds its interval is not a 95% one either (75% at 3
        // rounds), so it would flatter the widths too: it counts in neither.
        // A generator-bound row's interval is a 95% one: its width counts.
        if (row.value("rounds", 0) < static_cast<int>(min_rounds_for_verdict)) {
          ++barred;
          continue;
        }
        if (v == "generator_bound") {
          ++barred;
        } else {
          ++compared;
          false_verdicts += v == "faster" || v == "slower";
          same += v == "same";
        }
        const json& ci = row.value("ci95", json());
        const json& ratio = row.value("ratio", json());
        if (ci.is_object() && ratio.is_number() && ratio.get<double>() > 0) {
          const double width = (ci.value("high", 0.0) - ci.value("low", 0.0)) / ratio.get<double>();
          widths.push_back(width);
          if (width > widest) {
            widest = width;
            widest_in = w.value("name", "");
          }
        }
      }
    }
    workloads = std::max<std::size_t>(workloads, static_cast<std::size_t>(compared + barred));
    json entry = {{"comparisons", compared},
                  {"no_verdict_possible", barred},
                  {"false_verdicts", compared > 0 ? json(false_verdicts) : json(nullptr)},
                  {"same", compared > 0 ? json(same) : json(nullptr)},
                  {"median_width", nullptr}, {"widest", nullptr}, {"widest_workload", nullptr},
                  {"resolves_beyond", nullptr}};
    if (!widths.empty()) {
      const double w = median(widths);
      entry["median_width"] = w;
      entry["widest"] = widest;
      entry["widest_workload"] = widest_in;
      // The smallest true ratio whose interval of that width clears the margin.
      if (w < 2) entry["resolves_beyond"] = (1 + margin) / (1 - w / 2) - 1;
    }
    out["metrics"][std::string(m.key)] = std::move(entry);
  }
  out["workloads"] = workloads;
  return out;
}

void print_calibration(const json& s, std::ostream& out) {
  const auto pct = [](const json& v) {
    if (!v.is_number()) return std::string("-");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", v.get<double>() * 100);
    return std::string(buf);
  };
  out << wrap("noise floor of " + s.value("host", json()).dump() + ": " + s.value("server", "") +
                  " against itself, " + s.value("rounds", json()).dump() + " rounds, " +
                  s.value("workloads", json()).dump() + " workload(s); every faster/slower here is false",
              0);
  const auto count = [](const json& v) { return v.is_number() ? v.dump() : std::string("-"); };
  out << row_end(cell("metric", 12) + cell("compared", 8, true) + cell("n/a", 4, true) + cell("false", 6, true) +
                 cell("same", 5, true) + cell("median CI", 10, true) + cell("widest CI", 10, true) +
                 cell("resolves", 9, true) + "  widest in");
  for (const auto& m : report_metrics()) {
    const json& e = object_field(object_field(s, "metrics"), m.key);
    if (e.empty()) continue;
    const json& where = e.value("widest_workload", json());
    out << row_end(cell(m.label, 12) + cell(count(e.value("comparisons", json())), 8, true) +
                   cell(count(e.value("no_verdict_possible", json())), 4, true) +
                   cell(count(e.value("false_verdicts", json())), 6, true) +
                   cell(count(e.value("same", json())), 5, true) + cell(pct(e.value("median_width", json())), 10, true) +
                   cell(pct(e.value("widest", json())), 10, true) +
                   cell(pct(e.value("resolves_beyond", json())), 9, true) + "  " +
                   (where.is_string() ? where.get<std::string>() : "-"));
  }
  out << wrap("n/a: comparisons that could carry no verdict (fewer than " + std::to_string(min_rounds_for_verdict) +
                  " rounds, or the load generator was saturated): not in false or same; the generator-bound ones "
                  "count in the widths, those under " + std::to_string(min_rounds_for_verdict) +
                  " rounds (not 95% intervals) in neither",
              0);
  out << wrap("resolves: the smallest difference a comparison with the median interval width gets a "
              "verdict for, beyond the margin of " + pct(s.value("margin", json())),
              0);
}

}  // namespace ioduel::harness
