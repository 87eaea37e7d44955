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

// The sentences show and the page both print, made once (show_tables.cpp)
// and carried in the summary as data: a server's flags, each {kind, text}
// with kind status, invalid, rate_shortfall, busy, drifting or
// generator_saturated (its "flags"); and, for a workload run with
// --until-width, how many rounds it ran and which rule ended them (its
// rounds' "line").
nlohmann::json flag_sentences(const nlohmann::json& server_summary);
std::string rounds_line(const nlohmann::json& rounds);

// Per server (show_servers.cpp): the summary's entry for one server_result,
// and each server's groups against the baseline's same groups, round by
// round (their "vs_baseline"; the interval's verdict, outside the correction).
nlohmann::json summarize_result(const nlohmann::json& result);
void compare_groups(nlohmann::json& servers, const nlohmann::json& results, const std::string& baseline,
                    double margin);

// The header: report, run, host, build, noise floor, INCOMPLETE.
void print_header(const nlohmann::json& summary, std::ostream& out);
// The matrix of headline ratios and one line per workload naming its winner.
void print_matrix(const nlohmann::json& summary, std::ostream& out, const show_options& o);
// Per workload: the servers' figures (and their groups'), the comparisons, the flags.
void print_details(const nlohmann::json& summary, std::ostream& out, const show_options& o);

// Capacity reports (show_capacity.cpp): a server's capacity object as the
// summary holds it (the answer, its bracket, a row per step); the one-line
// answer for a server ("reactor holds N req/s [low, high] at p99 <= 1 ms");
// the ratio of two servers' answers with their brackets' ratio; and the
// whole capacity part of show.
nlohmann::json capacity_summary(const nlohmann::json& capacity);
std::string capacity_line(const std::string& server, const nlohmann::json& capacity_summary);
std::string capacity_ratio_line(const std::string& candidate, const nlohmann::json& candidate_summary,
                                const std::string& baseline, const nlohmann::json& baseline_summary);
nlohmann::json workload_answer(const nlohmann::json& workload_summary);
void print_capacity(const nlohmann::json& summary, std::ostream& out);
// show --format csv of a capacity report: a row per server and step, with the
// server's answer repeated on each.
void write_capacity_csv(const nlohmann::json& summary, std::ostream& out);

}  // namespace ioduel::harness::show_detail
