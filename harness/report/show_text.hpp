#pragma once
// What the parts of `ioduel show` share (show.cpp: the summary JSON and the
// command; show_summary.cpp: the matrix that leads; show_tables.cpp: the
// detailed tables; csv.cpp: the same figures as CSV).  Internal to them.

#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/report/show.hpp"
#include "harness/measure/statistics.hpp"

namespace ioduel::harness::show_detail {

// j[key] when it is a string, else `otherwise` (absent and null alike).
std::string text(const nlohmann::json& j, const char* key, const std::string& otherwise);
std::optional<double> number(const nlohmann::json& j, const char* key);
std::optional<interval> interval_of(const nlohmann::json& ci);
// An estimate's median in 3 significant figures, or "-".
std::string estimate_text(const nlohmann::json& estimate);
// Bytes as MiB with one decimal, or "-".
std::string mib_text(const nlohmann::json& bytes);

// The header: report, run, host, build, noise floor, INCOMPLETE.
void print_header(const nlohmann::json& summary, std::ostream& out);
// The matrix of headline ratios and one line per workload naming its winner.
void print_matrix(const nlohmann::json& summary, std::ostream& out, const show_options& o);
// Per workload: the servers' figures (and their groups'), the comparisons, the flags.
void print_details(const nlohmann::json& summary, std::ostream& out, const show_options& o);

}  // namespace ioduel::harness::show_detail
