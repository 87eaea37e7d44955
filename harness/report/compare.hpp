#pragma once
// `ioduel compare A.json [B.json]`: ratios with exact intervals and verdicts
// against a practical margin (harness/measure/paired.hpp).
//
// One report: its servers side by side; every server is compared with the
// report's baseline (the first server named) in each workload, round by
// round (paired).  Two reports: before (A) and after (B): each server in each
// workload the reports share is compared with itself, B over A, as two
// independent sets of repetitions; a workload whose definition differs
// between the reports is "not comparable" and gets no rows.  Only valid
// repetitions count.  The metrics are throughput, p50, p99, p99.9 and server
// CPU per request; the verdict says "faster" whenever the candidate (the
// other server, or B) is better, whichever way the metric goes.

#include <cstdint>
#include <ostream>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

struct named_report {
  std::string name;  // how messages refer to it: its path
  nlohmann::json report;
};

// The comparison as JSON (what --format json prints):
//   { "kind": "ioduel-comparison", "mode": "servers" | "reports",
//     "schema_version": 1, "reports": [ { "name", "started_at", "host", "git_commit" } ],
//     "notes": [ "..." ],
//     "margin", "workloads": [ { "name", "not_comparable": null | "WHY",
//       "rows": [ { "metric", "label", "higher_is_better",
//         "baseline":  { "report", "server", "median", "samples" },
//         "candidate": { "report", "server", "median", "samples" },
//         "ratio", "ci95": { "low", "high" } | null, "level", "verdict", "reason",
//         "group" (only on a group's rows) } ] } ] }
// A workload with two or more groups also gets each group's rows (every
// metric but the server's CPU, on the group's own figures); they stay
// outside the report-wide correction, so their verdict is the interval's.
// "verdict" is faster, slower, same, undetermined or generator_bound (a
// repetition compared had a saturated load generator); "reason" says why it
// is undetermined.  Throws std::runtime_error with a message for the user
// when a report has an unreadable schema version, or two have no workload in
// common.  `margin` is a fraction (0.03 = 3%).
nlohmann::json compare_reports(std::span<const named_report> reports, double margin = 0.03);

// The comparison as tables that fit 100 columns.
void print_comparison(const nlohmann::json& comparison, std::ostream& out);

// The command: reads the one or two reports at `paths`, prints the comparison
// as `format` (text, json or csv: harness/report/csv.hpp) to out.  Returns 0, or 1
// after a message on err.
int run_compare(std::span<const std::string> paths, const std::string& format, std::ostream& out,
                std::ostream& err, double margin = 0.03);
inline int run_compare(std::span<const std::string> paths, bool json, std::ostream& out,
                       std::ostream& err, double margin = 0.03) {
  return run_compare(paths, std::string(json ? "json" : "text"), out, err, margin);
}

}  // namespace ioduel::harness
