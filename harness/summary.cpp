#include "harness/summary.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "harness/statistics.hpp"

namespace ioduel::harness {

namespace {

using json = nlohmann::json;

json interval_json(double low, double high) { return {{"low", low}, {"high", high}}; }

// Median with its 95% interval; with fewer than two samples, no interval
// and the reason why.
json estimate_json(const std::vector<double>& samples) {
  if (samples.empty()) return nullptr;
  const estimate e = median_with_ci(samples);
  json j = {{"median", e.median}, {"ci95", nullptr}, {"reason", nullptr}};
  if (e.ci95) j["ci95"] = interval_json(e.ci95->low, e.ci95->high);
  if (j["ci95"].is_null() && j["reason"].is_null())
    j["reason"] = samples.size() < 2 ? "one repetition: no interval can be given"
                                     : "too few repetitions for a 95% interval";
  return j;
}

json ratio_json(const std::vector<double>& candidate, const std::vector<double>& baseline,
                bool higher_is_better) {
  json j = {{"ratio", nullptr},
            {"ci95", nullptr},
            {"verdict", "undetermined"},
            {"higher_is_better", higher_is_better},
            {"reason", nullptr}};
  if (candidate.empty() || baseline.empty()) {
    j["reason"] = "no valid repetition on one side";
    return j;
  }
  const ratio_estimate r = ratio_of_medians(candidate, baseline, higher_is_better);
  j["ratio"] = std::isfinite(r.ratio) ? json(r.ratio) : json(nullptr);
  if (r.ci95) j["ci95"] = interval_json(r.ci95->low, r.ci95->high);
  switch (r.v) {
    case verdict::faster: j["verdict"] = "faster"; break;
    case verdict::slower: j["verdict"] = "slower"; break;
    case verdict::no_significant_difference: j["verdict"] = "no_significant_difference"; break;
    case verdict::undetermined: j["verdict"] = "undetermined"; break;
  }
  if (j["ci95"].is_null())
    j["reason"] = std::min(candidate.size(), baseline.size()) < 2
                      ? "one repetition: no interval can be given"
                      : "too few repetitions for a 95% interval";
  return j;
}



double number_at(const json& j, const std::array<const char*, 2>& path) {
  const json* p = &j;
  for (const char* k : path) {
    if (k == nullptr) break;
    if (!p->is_object() || !p->contains(k) || (*p)[k].is_null()) return NAN;
    p = &(*p)[k];
  }
  return p->is_number() ? p->get<double>() : NAN;
}

struct metric {
  const char* name;
  std::array<const char*, 2> path;  // a second key, or nullptr
  bool higher_is_better;
};
const metric summary_metrics[] = {
    {"throughput_rps", {"throughput_rps", nullptr}, true},
    {"p50_us", {"latency_us", "p50"}, false},
    {"p99_us", {"latency_us", "p99"}, false},
    {"p99_9_us", {"latency_us", "p99_9"}, false},
    {"server_cpu_us_per_request", {"server", "cpu_us_per_request"}, false},
};

std::vector<double> samples_of(const json& reps, const metric& m) {
  std::vector<double> v;
  for (const auto& r : reps) {
    if (!r.value("valid", false)) continue;
    const double x = number_at(r, m.path);
    if (std::isfinite(x)) v.push_back(x);
  }
  return v;
}

}  // namespace

json summary_json(const json& reps) {
  std::size_t valid = 0;
  for (const auto& r : reps) valid += r.value("valid", false) ? 1 : 0;
  json s = {{"repetitions", reps.size()}, {"valid_repetitions", valid}};
  for (const auto& m : summary_metrics) s[m.name] = estimate_json(samples_of(reps, m));
  return s;
}

json comparisons_json(const json& results, const std::string& baseline) {
  json out = json::array();
  const json* base = nullptr;
  for (const auto& r : results)
    if (r["server"] == baseline) base = &r;
  if (!base) return out;
  for (const auto& r : results) {
    if (r["server"] == baseline) continue;
    json metrics = json::object();
    for (const auto& m : summary_metrics)
      metrics[m.name] = ratio_json(samples_of(r["repetitions"], m), samples_of((*base)["repetitions"], m),
                                   m.higher_is_better);
    out.push_back({{"candidate", r["server"]}, {"baseline", baseline}, {"metrics", std::move(metrics)}});
  }
  return out;
}

}  // namespace ioduel::harness
