#pragma once
// What `ioduel show` and `ioduel compare` share: reading a report
// (results/schema.json), the metrics they compare, the per-repetition samples
// behind each metric, and how numbers are printed in 100 columns.

#include <functional>
#include <optional>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/measure/statistics.hpp"

namespace ioduel::harness {

// The report schema versions these readers understand.  Version 2 changed
// the comparisons (paired rounds, the verdict "same", a margin), version 3
// added the report-wide correction (p_beyond, p_within, p_adjusted, interval_verdict)
// and an open-loop server's rate_shortfall; the repetitions are as in 1, so
// the readers take all three.
inline constexpr int oldest_readable_schema_version = 1;
inline constexpr int readable_schema_version = 3;

// Parses the file and checks that it is an ioduel report with a schema
// version; throws std::runtime_error with a message naming the file.
nlohmann::json read_report(const std::string& path);
// Throws std::runtime_error, naming the report `name`, unless its schema
// version is one of the readable ones and it has a workloads array.
void require_readable(const nlohmann::json& report, const std::string& name);

// A figure compared between servers: its key in a summary and a comparison,
// its label in a table, where a repetition holds it, and which way is better.
struct report_metric {
  std::string_view key;
  std::string_view label;
  std::string_view pointer;  // JSON pointer into a measurement
  bool higher_is_better;
};
std::span<const report_metric> report_metrics();

// j[key] when it is an array (an object), else an empty one.  References into
// j, so that loops over them and addresses of their elements are safe.
const nlohmann::json& array_field(const nlohmann::json& j, std::string_view key);
const nlohmann::json& object_field(const nlohmann::json& j, std::string_view key);

// The number at `pointer` in j, or nothing when it is absent, null or not a number.
std::optional<double> number_at(const nlohmann::json& j, std::string_view pointer);

// The metric's value in each valid repetition of a server_result.
std::vector<double> metric_samples(const nlohmann::json& server_result, const report_metric& m);

// Whether a workload definition (a report's "workload") sets its own request
// rate: every group open loop, or a trace replayed at its recorded times.
// Its throughput is then an input, and is not compared.
bool definition_is_open_loop(const nlohmann::json& definition);

// The rate an open-loop definition offers, the sum of its groups' rates;
// nothing for a trace (its rate is the recording's) or a closed loop.
std::optional<double> offered_rate(const nlohmann::json& definition);
// The part of it whose arrivals are Poisson (a group's default), 0 for none.
double poisson_rate(const nlohmann::json& definition);

// An achieved rate this far below the offered one is flagged (rate_shortfall).
inline constexpr double rate_shortfall_flag = 0.02;

// The first server_result in a workload_result for `server`, or nullptr.
const nlohmann::json* find_result(const nlohmann::json& workload_result, std::string_view server);

// s cut or padded to width (right-aligned when `right`), then one space.
std::string cell(std::string_view s, std::size_t width, bool right = false);
// A table row built of cells: trailing spaces dropped, newline added.
std::string row_end(std::string row);

// A report's token as words: "generator_bound" -> "generator bound".
std::string words(std::string token);

// text wrapped to 100 columns: the first line indented by `indent`, the
// others by two more; ends with a newline.
std::string wrap(std::string_view text, std::size_t indent);

// 3 significant figures with a k/M/G suffix ("40.0k", "5.10", "160"); "-"
// for nothing or not a number.
std::string format_number(std::optional<double> v);
// A ratio with three decimals ("0.950"), "inf", or "-".
std::string format_ratio(std::optional<double> v);
// "[low, high]" with each end printed by `format` ("[0.930, 0.970]"), or "-".
std::string format_interval(const std::optional<interval>& ci,
                            std::string (*format)(std::optional<double>) = format_ratio);
// What show and compare do as commands: make the result, print it to out as
// `format` (json: the result itself; text and csv: by their printers), and
// return 0; or print "ioduel COMMAND: why" to err and return 1 when make()
// or a printer throws.
using result_printer = std::function<void(const nlohmann::json&, std::ostream&)>;
int print_or_fail(std::string_view command, std::string_view format, std::ostream& out, std::ostream& err,
                  const std::function<nlohmann::json()>& make, const result_printer& print_text,
                  const result_printer& print_csv);

}  // namespace ioduel::harness
