#pragma once
// `ioduel show REPORT.json`: a report (results/schema.json) for people.  It
// leads with the answer: a matrix of workloads (down) by servers (across),
// each cell the headline ratio against the baseline with its verdict, and
// one line per workload naming the winner and by how much.  The detailed
// tables follow: per workload, the servers' figures (throughput with its 95%
// interval, latency percentiles, server CPU per request, peak RSS, errors),
// a row per load group where the workload has several, the report's
// comparisons, and flags for results that are not valid, fell short of an
// open-loop rate or were measured by a saturated load generator.
//
// The headline metric of a workload: throughput, unless the workload sets
// its own request rate (every group open loop, or a trace replayed at its
// recorded times: definition_is_open_loop), where throughput is an input and
// the headline is p99 latency.  --metric picks one metric for all.

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

struct show_options {
  std::string metric;                  // a report_metric key; "" = each workload's headline
  std::vector<std::string> workloads;  // only these (empty: all)
  std::vector<std::string> servers;    // only these columns and rows (empty: all); the baseline stays
  bool color = false;                  // ANSI colours for verdicts (a terminal without NO_COLOR)
};

// The report_metric key a --metric names ("p99", "p99_us", "throughput",
// "cpu", ...); throws std::runtime_error listing the names it knows.
std::string metric_key(const std::string& name);
// Whether standard output should be coloured: a terminal, and NO_COLOR unset.
bool color_wanted(int fd);

// The summary as JSON (what --format json prints):
//   { "kind": "ioduel-summary", "report", "schema_version", "command", "complete",
//     "incomplete_reason", "started_at", "duration_s", "host", "build", "git_commit",
//     "repetitions", "baseline", "margin",
//     "workloads": [ { "name", "file", "open_loop", "headline" (a metric key),
//       "rounds" (with --until-width: the report's rounds object plus "line",
//         the sentence show and the page print),
//       "servers": [ { "server", "status", "status_reason", "repetitions",
//         "valid_repetitions", "throughput_rps", "p50_us", "p99_us", "p99_9_us",
//         "server_cpu_us_per_request" (the report's estimates: median, ci95, reason),
//         "uncorrected_p99_us" (open loop: the estimate of latency_uncorrected_us.p99),
//         "peak_rss_bytes" (median over repetitions), "errors" (sum over
//         repetitions), "invalid_reasons", "generator_saturated" (repetitions
//         saturated), "saturated_reasons", "busy_repetitions",
//         "most_other_cpu_cores", "drifting_repetitions",
//         "flags": [ { "kind", "text" } ] (the sentences show prints after "! "
//           and the page lists; kind is status, invalid, rate_shortfall, busy,
//           drifting or generator_saturated),
//         "groups": [ { "name", "throughput_rps", "p50_us", "p99_us", "p99_9_us"
//           (estimates over the valid repetitions), "vs_baseline" (not on the
//           baseline): { metric: { "ratio", "ci95", "interval_verdict",
//           "corrected": false } }, the group against the baseline's same
//           group, round by round } ] (only when the workload has more than
//           one group) } ],
//       "comparisons": the report's own comparisons } ] }
// `name` is how the summary refers to the report (its path).  Throws
// std::runtime_error when the report's schema version is not readable.
nlohmann::json summarize_report(const nlohmann::json& report, const std::string& name);

// The summary with only the workloads and servers `o` names (the baseline's
// figures stay, as the ratios' reference); throws std::runtime_error naming
// an unknown workload or server and listing the known ones.
nlohmann::json filter_summary(nlohmann::json summary, const show_options& o);

// The matrix that leads show and the HTML page: per workload of the summary,
//   { "workload", "metric" (key), "label", "higher_is_better",
//     "baseline": { "server", "median" },
//     "cells": [ { "server", "ratio", "ci95", "verdict", "reason" } ] (one per
//       other server, from the report's comparisons; verdict is the corrected one),
//     "winner": null | "SERVER", "line": "pingpong: ..." (who won and by how much) }
// `metric` is a key, or "" for each workload's headline.
nlohmann::json headline_matrix(const nlohmann::json& summary, const std::string& metric);

// A capacity report's answer (show_capacity.cpp): one line per server ("reactor
// holds N req/s [low, high] at p99 <= 1 ms"), then each server's ratio to
// the first; empty for other reports.
nlohmann::json capacity_answer_lines(const nlohmann::json& summary);

// The summary as text: the matrix and winners, then the detailed tables
// (a capacity report: its answer and each server's steps).
void print_summary(const nlohmann::json& summary, std::ostream& out, const show_options& o = {});

// The command: reads the report at `path` and prints its summary as `format`
// (text, json or csv) to out.  Returns 0, or 1 after a message on err.
int run_show(const std::string& path, const std::string& format, const show_options& o,
             std::ostream& out, std::ostream& err);
inline int run_show(const std::string& path, bool json, std::ostream& out, std::ostream& err) {
  return run_show(path, json ? "json" : "text", {}, out, err);
}

}  // namespace ioduel::harness
