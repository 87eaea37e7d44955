#pragma once
// `ioduel show --format csv` and `ioduel compare --format csv`: the figures
// as RFC 4180 CSV for spreadsheets and pandas: a header row, then one row per
// workload x server (x group) or per comparison row; numbers at full
// precision, absent figures as empty fields.

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

// One field: quoted ("...", with " doubled) when it holds a comma, a quote,
// CR or LF, or starts or ends with a space; as it is otherwise.
std::string csv_field(const std::string& s);
// Fields joined by commas, ended by CRLF (RFC 4180).
std::string csv_row(const std::vector<std::string>& fields);

// From a show summary (harness/report/show.hpp): per workload and server, then per
// group of that server: status, repetitions, each metric's median and
// interval, the ratio to the baseline with its interval, verdict,
// interval_verdict and p_adjusted, RSS, errors, saturation, offered rate,
// shortfall and the uncorrected open-loop p99.
void write_summary_csv(const nlohmann::json& summary, std::ostream& out);

// From a comparison (harness/report/compare.hpp): one row per workload, server
// (x group) and metric; `group` is empty on a server's own rows.
void write_comparison_csv(const nlohmann::json& comparison, std::ostream& out);

}  // namespace ioduel::harness
