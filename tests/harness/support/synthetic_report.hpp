#pragma once
// Reports built in the tests, shaped like results/schema.json but holding
// only what show and compare read, with the samples the test chooses.

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/measure/statistics.hpp"

namespace ioduel::harness::testing {

// Per-repetition samples of one server in one workload.
struct samples {
  std::vector<double> throughput, p50, p99, p99_9, cpu;
  std::vector<bool> saturated;  // empty: none
  std::vector<bool> invalid;    // empty: none
};

inline nlohmann::json estimate_json(const std::vector<double>& v) {
  const auto e = median_with_ci(v);
  nlohmann::json j = {{"median", e.median}, {"ci95", nullptr}, {"reason", nullptr}};
  if (e.ci95) j["ci95"] = {{"low", e.ci95->low}, {"high", e.ci95->high}};
  else j["reason"] = "one repetition: no interval can be given";
  return j;
}

inline nlohmann::json server_result(const std::string& server, const samples& s) {
  using nlohmann::json;
  json reps = json::array();
  bool any_invalid = false;
  for (std::size_t i = 0; i < s.throughput.size(); ++i) {
    const bool invalid = i < s.invalid.size() && s.invalid[i];
    const bool saturated = i < s.saturated.size() && s.saturated[i];
    any_invalid = any_invalid || invalid;
    reps.push_back({{"repetition", i + 1},
                    {"valid", !invalid},
                    {"invalid_reasons", invalid ? json::array({"3 mismatched replies"}) : json::array()},
                    {"throughput_rps", s.throughput[i]},
                    {"latency_us", {{"p50", s.p50[i]}, {"p99", s.p99[i]}, {"p99_9", s.p99_9[i]}}},
                    {"errors", {{"mismatches", invalid ? 3 : 0}, {"resets", 0}}},
                    {"client",
                     {{"generator_saturated", saturated},
                      {"saturated_reasons",
                       saturated ? json::array({"busiest engine thread 99% busy"}) : json::array()}}},
                    {"server", {{"cpu_us_per_request", s.cpu[i]}, {"peak_rss_bytes", 8 << 20}}}});
  }
  return {{"server", server},
          {"command", {server}},
          {"status", any_invalid ? "invalid" : "ok"},
          {"status_reason", any_invalid ? json("a repetition had unexpected errors") : json()},
          {"repetitions", reps},
          {"summary",
           {{"repetitions", reps.size()},
            {"throughput_rps", estimate_json(s.throughput)},
            {"p50_us", estimate_json(s.p50)},
            {"p99_us", estimate_json(s.p99)},
            {"p99_9_us", estimate_json(s.p99_9)},
            {"server_cpu_us_per_request", estimate_json(s.cpu)}}}};
}

// workloads: name -> (server -> samples); the first server is the baseline.
inline nlohmann::json report(
    const std::vector<std::pair<std::string, std::vector<std::pair<std::string, samples>>>>& workloads,
    int schema_version = 1, const std::string& hostname = "host-a") {
  using nlohmann::json;
  json report = {{"schema_version", schema_version},
                 {"kind", "ioduel-report"},
                 {"command", "run"},
                 {"complete", true},
                 {"incomplete_reason", nullptr},
                 {"metadata",
                  {{"started_at", "2026-11-23T02:10:00Z"},
                   {"duration_s", 12.5},
                   {"git_commit", "0123456789abcdef"},
                   {"host", {{"hostname", hostname}, {"cores", 2}, {"cpu_model", "Test CPU"}}}}},
                 {"repetitions", 5},
                 {"baseline", nullptr},
                 {"workloads", json::array()}};
  for (const auto& [name, servers] : workloads) {
    json results = json::array();
    for (const auto& [server, s] : servers) {
      if (report["baseline"].is_null()) report["baseline"] = server;
      results.push_back(server_result(server, s));
    }
    report["workloads"].push_back({{"name", name},
                                   {"workload", {{"name", name}}},
                                   {"results", results},
                                   {"comparisons", json::array()}});
  }
  return report;
}

// Every repetition's value times `factor`, for a known ratio.
inline samples scaled(const samples& s, double throughput, double latency, double cpu) {
  samples out = s;
  for (auto& v : out.throughput) v *= throughput;
  for (auto* l : {&out.p50, &out.p99, &out.p99_9})
    for (auto& v : *l) v *= latency;
  for (auto& v : out.cpu) v *= cpu;
  return out;
}

inline samples typical() {
  return {{40'000, 40'400, 39'600, 40'200, 39'800},
          {24, 25, 23, 24, 24},
          {40, 41, 39, 40, 42},
          {60, 62, 58, 61, 59},
          {5.0, 5.1, 4.9, 5.0, 5.2},
          {},
          {}};
}

// The length of the longest line: text output must fit 100 columns.
inline std::size_t widest_line(const std::string& text) {
  std::istringstream in(text);
  std::size_t widest = 0;
  for (std::string line; std::getline(in, line);) widest = std::max(widest, line.size());
  return widest;
}

}  // namespace ioduel::harness::testing
