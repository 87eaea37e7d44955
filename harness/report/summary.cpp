#include "harness/report/summary.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "harness/measure/multiplicity.hpp"
#include "harness/measure/paired.hpp"
#include "harness/measure/statistics.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/measure/statistics.hpp"

namespace ioduel::harness {

namespace {

using json = nlohmann::json;

json interval_json(double low, double high) { return {{"low", low}, {"high", high}}; }

}  // namespace

json estimate_json(const std::vector<double>& samples) {
  if (samples.empty()) return nullptr;
  const estimate e = median_with_ci(samples);
  json j = {{"median", e.median}, {"ci95", nullptr}, {"level", nullptr}, {"reason", nullptr}};
  if (e.ci95) {
    j["ci95"] = interval_json(e.ci95->low, e.ci95->high);
    j["level"] = e.level;
    if (e.level < 0.95) j["reason"] = "only " + std::to_string(samples.size()) + " repetitions: the interval is below 95%";
  } else {
    j["reason"] = "one repetition: no interval can be given";
  }
  return j;
}

namespace {

// The metric's value in every valid repetition.
std::vector<double> samples_of(const json& reps, const report_metric& m) {
  std::vector<double> v;
  for (const auto& r : reps) {
    if (!r.value("valid", false)) continue;
    if (const auto x = number_at(r, m.pointer); x && std::isfinite(*x)) v.push_back(*x);
  }
  return v;
}

// One metric of one comparison: the paired rounds' ratio, interval and
// verdict; a verdict that rests on a round whose load generator was
// saturated is "generator_bound" instead, since the figure may be the
// harness's limit rather than the server's.
json paired_json(const json& candidate, const json& baseline, const report_metric& m, double margin) {
  const round_comparison r = compare_rounds(candidate, baseline, m, margin);
  const paired_comparison& p = r.result;
  json j = {{"ratio", std::isfinite(p.ratio) ? json(p.ratio) : json(nullptr)},
            {"ci95", p.ci ? interval_json(p.ci->low, p.ci->high) : json(nullptr)},
            {"level", p.ci ? json(p.level) : json(nullptr)},
            {"rounds", p.rounds},
            {"verdict", paired_verdict_name(p.verdict)},
            {"higher_is_better", m.higher_is_better},
            {"reason", p.reason.empty() ? json(nullptr) : json(p.reason)},
            {"p_beyond", std::isfinite(p.p_beyond) ? json(p.p_beyond) : json(nullptr)},
            {"p_within", std::isfinite(p.p_within) ? json(p.p_within) : json(nullptr)},
            {"p_adjusted", nullptr}};
  // Only where a verdict could be drawn: below 5 rounds there is none to withhold.
  if (r.saturated_rounds > 0 && p.rounds >= min_rounds_for_verdict) {
    j["verdict"] = "generator_bound";
    j["reason"] = saturated_reason(r.saturated_rounds, p.rounds);
  }
  j["interval_verdict"] = j["verdict"];
  return j;
}

json not_compared(const report_metric& m, const std::string& why) {
  return {{"ratio", nullptr}, {"ci95", nullptr}, {"level", nullptr}, {"rounds", 0}, {"verdict", "undetermined"},
          {"higher_is_better", m.higher_is_better}, {"reason", why}};
}

}  // namespace

round_comparison compare_rounds(const json& candidate, const json& baseline, const report_metric& m,
                                double margin) {
  // Round r's figure of each side (NaN where invalid or missing), by the
  // repetition's number, and the rounds where either side's generator was saturated.
  std::map<std::int64_t, std::pair<double, double>> rounds;
  std::set<std::int64_t> saturated;
  const auto collect = [&](const json& reps, bool is_candidate) {
    for (const auto& rep : reps) {
      if (!rep.is_object()) continue;
      const std::int64_t round = rep.value("repetition", std::int64_t{0});
      auto& pair = rounds.try_emplace(round, NAN, NAN).first->second;
      const auto x = rep.value("valid", false) ? number_at(rep, m.pointer) : std::nullopt;
      (is_candidate ? pair.first : pair.second) = x ? *x : NAN;
      if (rep.value("/client/generator_saturated"_json_pointer, false)) saturated.insert(round);
    }
  };
  collect(candidate, true);
  collect(baseline, false);
  std::vector<double> c, b;
  round_comparison out;
  for (const auto& [round, pair] : rounds) {
    c.push_back(pair.first);
    b.push_back(pair.second);
    if (std::isfinite(pair.first) && std::isfinite(pair.second) && saturated.count(round)) ++out.saturated_rounds;
  }
  out.result = compare_paired(c, b, m.higher_is_better, margin);
  return out;
}

std::string saturated_reason(std::size_t saturated, std::size_t compared) {
  return "the load generator was saturated in " + std::to_string(saturated) + " of the " +
         std::to_string(compared) + " rounds compared";
}

json summary_json(const json& reps, std::optional<double> offered_rps, double poisson_rps) {
  std::size_t valid = 0;
  for (const auto& r : reps) valid += r.value("valid", false) ? 1 : 0;
  json s = {{"repetitions", reps.size()}, {"valid_repetitions", valid}};
  for (const auto& m : report_metrics()) s[std::string(m.key)] = estimate_json(samples_of(reps, m));
  if (offered_rps) {
    // An open loop's rate is the workload's; a server that fell behind it is
    // flagged, since its latency was measured at a load it did not carry.
    s["offered_rps"] = *offered_rps;
    s["rate_shortfall"] = nullptr;
    std::vector<double> windows;
    for (const auto& r : reps)
      if (r.value("valid", false) && r.value("window_s", 0.0) > 0) windows.push_back(r["window_s"].get<double>());
    const double floor_rps = achieved_rate_floor(*offered_rps, poisson_rps,
                                                 windows.empty() ? 0.0 : median(windows), rate_shortfall_flag);
    s["rate_floor_rps"] = floor_rps;
    const json& achieved = s["throughput_rps"];
    if (achieved.is_object() && achieved["median"].is_number()) {
      const double a = achieved["median"].get<double>();
      if (a < floor_rps)
        s["rate_shortfall"] = {{"achieved_rps", a}, {"fraction", 1 - a / *offered_rps}};
    }
  }
  return s;
}

json comparisons_json(const json& results, const std::string& baseline, double margin, bool open_loop) {
  json out = json::array();
  const json* base = nullptr;
  for (const auto& r : results)
    if (r["server"] == baseline) base = &r;
  if (!base) return out;
  for (const auto& r : results) {
    if (r["server"] == baseline) continue;
    json metrics = json::object();
    for (const auto& m : report_metrics())
      metrics[std::string(m.key)] = open_loop && m.key == "throughput_rps"
                            ? not_compared(m, "open loop: the request rate is the workload's, not a result")
                            : paired_json(r["repetitions"], (*base)["repetitions"], m, margin);
    out.push_back({{"candidate", r["server"]}, {"baseline", baseline}, {"metrics", std::move(metrics)}});
  }
  return out;
}

void correct_verdicts(const std::vector<json*>& rows) {
  // Every row that could carry a verdict is in both families.
  std::vector<json*> family;
  std::vector<double> beyond, within;
  for (json* row : rows) {
    const json v = row->value("interval_verdict", json());  // value(): no key made where none was
    const json pb = row->value("p_beyond", json()), pw = row->value("p_within", json());
    if (!v.is_string() || v == "generator_bound" || !pb.is_number() || !pw.is_number() ||
        row->value("rounds", std::size_t{0}) < min_rounds_for_verdict)
      continue;
    family.push_back(row);
    beyond.push_back(pb.get<double>());
    within.push_back(pw.get<double>());
  }
  const std::vector<double> beyond_adjusted = benjamini_hochberg(beyond);
  const std::vector<double> within_adjusted = benjamini_hochberg(within);
  for (std::size_t i = 0; i < family.size(); ++i) {
    json& row = *family[i];
    const std::string claim = row["interval_verdict"].get<std::string>();
    // The adjusted p-value of the row's claim: "same" is the within-margin
    // one; a directional or undetermined row's is the beyond-margin one.
    const double adjusted = claim == "same" ? within_adjusted[i] : beyond_adjusted[i];
    row["p_adjusted"] = adjusted;
    if (claim == "undetermined") continue;  // its reason is the interval's
    const bool kept = adjusted <= fdr_level;
    row["verdict"] = kept ? claim : "undetermined";
    row["reason"] = kept ? json(nullptr) : json("not kept by the FDR correction");
  }
}

void correct_report_verdicts(json& workloads) {
  std::vector<json*> rows;
  for (json& w : workloads) {
    if (!w.is_object() || !w.contains("comparisons")) continue;
    for (json& c : w["comparisons"])
      if (c.is_object() && c.contains("metrics"))
        for (auto& [key, row] : c["metrics"].items())
          if (row.is_object()) rows.push_back(&row);
  }
  correct_verdicts(rows);
}

}  // namespace ioduel::harness
