#pragma once
// A server's summary over its repetitions (median and 95% interval of each
// figure, from the valid repetitions only) and the comparisons of each
// server with the baseline, round by round (harness/paired.hpp: ratio,
// interval, verdict), as the report holds them (docs/results.md).

#include <string>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

// The "summary" object of one server's result, from its "repetitions".
nlohmann::json summary_json(const nlohmann::json& repetitions);

// The "comparisons" array of one workload: each server of `results` against
// `baseline` (empty when the baseline has no result there), pairing the two
// servers' repetitions of the same round.  `margin` is the verdicts'
// practical margin (a fraction); with `open_loop`, throughput is the
// workload's offered rate and is not compared.
nlohmann::json comparisons_json(const nlohmann::json& results, const std::string& baseline, double margin,
                                bool open_loop);

}  // namespace ioduel::harness
