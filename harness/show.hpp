#pragma once
// `ioduel show REPORT.json`: a report (results/schema.json) as a summary that
// fits a 100-column terminal: per workload, a table of servers (throughput
// with its 95% interval, latency percentiles, server CPU per request, peak
// RSS, errors), the report's verdicts, and flags for results that are not
// valid or were measured by a saturated load generator.

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

// The summary as JSON (what --format json prints):
//   { "kind": "ioduel-summary", "report", "schema_version", "command", "complete",
//     "incomplete_reason", "started_at", "duration_s", "host", "build", "git_commit",
//     "repetitions", "baseline",
//     "workloads": [ { "name", "file",
//       "servers": [ { "server", "status", "status_reason", "repetitions",
//         "valid_repetitions", "throughput_rps", "p50_us", "p99_us", "p99_9_us",
//         "server_cpu_us_per_request" (the report's estimates: median, ci95, reason),
//         "peak_rss_bytes" (median over repetitions), "errors" (sum over
//         repetitions), "invalid_reasons", "generator_saturated" (repetitions
//         saturated), "saturated_reasons" } ],
//       "comparisons": the report's own comparisons } ] }
// `name` is how the summary refers to the report (its path).  Throws
// std::runtime_error when the report's schema version is not readable.
nlohmann::json summarize_report(const nlohmann::json& report, const std::string& name);

// The summary as text.
void print_summary(const nlohmann::json& summary, std::ostream& out);

// The command: reads the report at `path` and prints its summary (as JSON
// when `json`) to out.  Returns 0, or 1 after a message on err.
int run_show(const std::string& path, bool json, std::ostream& out, std::ostream& err);

}  // namespace ioduel::harness
