#pragma once
// A server's summary over its repetitions (median and 95% interval of each
// figure, from the valid repetitions only) and the comparisons of each
// server with the baseline, round by round (harness/measure/paired.hpp: ratio,
// interval, verdict), as the report holds them (docs/results.md).

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/measure/paired.hpp"
#include "harness/report/report_reader.hpp"

namespace ioduel::harness {

// Round r of `candidate` against round r of `baseline` (two servers'
// "repetitions" arrays, matched by repetition number) for one metric.
// `saturated_rounds` counts the compared rounds in which either side's load
// generator was saturated: a verdict resting on them is "generator_bound".
struct round_comparison {
  paired_comparison result;
  std::size_t saturated_rounds = 0;
};
round_comparison compare_rounds(const nlohmann::json& candidate, const nlohmann::json& baseline,
                                const report_metric& m, double margin);

// Median with its exact order-statistic interval and that interval's level
// (an "estimate" of results/schema.json); with fewer than two samples, no
// interval and the reason why; null for no samples.
nlohmann::json estimate_json(const std::vector<double>& samples);

// "the load generator was saturated in 1 of the 5 rounds compared"
std::string saturated_reason(std::size_t saturated, std::size_t compared);

// The "summary" object of one server's result, from its "repetitions".  With
// `offered_rps` (an open-loop workload's rate, of which `poisson_rps` has
// Poisson arrivals) it holds that rate, "rate_floor_rps" and "rate_shortfall":
// null, or the median achieved rate and how far short of the offered one it
// fell when that is below the floor: rate_shortfall_flag less the spread of a
// Poisson count over the median window (achieved_rate_floor).
nlohmann::json summary_json(const nlohmann::json& repetitions, std::optional<double> offered_rps = std::nullopt,
                            double poisson_rps = 0);

// The "comparisons" array of one workload: each server of `results` against
// `baseline` (empty when the baseline has no result there), pairing the two
// servers' repetitions of the same round.  `margin` is the verdicts'
// practical margin (a fraction); with `open_loop`, throughput is the
// workload's offered rate and is not compared.
nlohmann::json comparisons_json(const nlohmann::json& results, const std::string& baseline, double margin,
                                bool open_loop);

// The report-wide correction (harness/measure/multiplicity.hpp) over comparison rows
// that carry "interval_verdict" (the rank interval's verdict), "p_beyond", "p_within" and
// "rounds": each row that could carry a verdict gets "p_adjusted", and its
// "verdict" stands only when the adjusted p-value is at most fdr_level
// ("undetermined: not kept by the FDR correction" otherwise).  Idempotent:
// the runner applies it again each time a workload joins the report.
void correct_verdicts(const std::vector<nlohmann::json*>& rows);

// The same over every comparison of a run report's "workloads".
void correct_report_verdicts(nlohmann::json& workloads);

}  // namespace ioduel::harness
