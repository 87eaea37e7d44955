// What show says of each server in a workload (show_text.hpp): the report's
// summary of it, what only its repetitions hold (RSS, errors, the machine
// beside it, saturation with its reasons merged), and its groups' figures,
// each against the baseline's same group.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness/measure/paired.hpp"
#include "harness/measure/statistics.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/report/show_text.hpp"
#include "harness/report/summary.hpp"

namespace ioduel::harness::show_detail {
namespace {

using nlohmann::json;

// The saturation reasons of a server's repetitions, each kind once: reasons
// of one kind differ from one repetition to the next only in their figures
// ("an engine thread waited for a CPU 23% of the window (over 10%): ..."), so
// each figure that varies becomes a range, and the kind says in how many
// repetitions it fired ("23% to 65% ... (in 4 repetitions)"), where a list of
// near-identical sentences said nothing more.
std::vector<std::string> merged_reasons(const std::vector<std::string>& reasons) {
  struct figure {
    double low, high;
    std::string low_text, high_text;
  };
  struct kind {
    std::vector<std::string> words;  // the text between the figures
    std::vector<figure> figures;
    int count = 0;
  };
  std::vector<kind> kinds;
  for (const auto& r : reasons) {
    kind k;
    std::size_t at = 0;
    for (;;) {
      const auto digit = r.find_first_of("0123456789", at);
      k.words.push_back(r.substr(at, digit == std::string::npos ? std::string::npos : digit - at));
      if (digit == std::string::npos) break;
      auto end = r.find_first_not_of("0123456789.", digit);
      if (end == std::string::npos) end = r.size();
      const std::string text = r.substr(digit, end - digit);
      const double v = std::strtod(text.c_str(), nullptr);
      k.figures.push_back({v, v, text, text});
      at = end;
    }
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](const kind& o) { return o.words == k.words; });
    if (it == kinds.end()) {
      kinds.push_back(std::move(k));
      it = kinds.end() - 1;
    } else {
      for (std::size_t f = 0; f < k.figures.size(); ++f) {
        figure& mine = it->figures[f];
        if (k.figures[f].low < mine.low) mine.low = k.figures[f].low, mine.low_text = k.figures[f].low_text;
        if (k.figures[f].high > mine.high) mine.high = k.figures[f].high, mine.high_text = k.figures[f].high_text;
      }
    }
    ++it->count;
  }
  std::vector<std::string> out;
  for (const auto& k : kinds) {
    std::string text = k.words[0];
    for (std::size_t f = 0; f < k.figures.size(); ++f) {
      const figure& g = k.figures[f];
      const std::string& next = k.words[f + 1];
      // A percent sign goes with both ends of a range: "23% to 65%".
      text += g.low_text == g.high_text ? g.low_text
                                        : g.low_text + (next.starts_with("%") ? "%" : "") + " to " + g.high_text;
      text += next;
    }
    if (k.count > 1) text += " (in " + std::to_string(k.count) + " repetitions)";
    out.push_back(std::move(text));
  }
  return out;
}

// The samples at `pointer` in each valid repetition's group `index`; the
// report's summary has none per group, so they are estimated here the same
// way (median and order-statistic interval over valid repetitions).
json group_summaries(const json& reps) {
  json groups = json::array();
  std::size_t count = 0;
  for (const json& rep : reps) count = std::max(count, array_field(rep, "groups").size());
  if (count < 2) return groups;  // one group is the whole workload
  for (std::size_t i = 0; i < count; ++i) {
    std::string name;
    json g = json::object();
    for (const auto& m : report_metrics()) {
      if (m.key == "server_cpu_us_per_request") continue;  // the server's CPU is not per group
      std::vector<double> samples;
      for (const json& rep : reps) {
        const json& gs = array_field(rep, "groups");
        if (!rep.value("valid", false) || i >= gs.size()) continue;
        if (name.empty()) name = gs[i].value("name", "");
        if (const auto v = number_at(gs[i], m.pointer)) samples.push_back(*v);
      }
      g[m.key] = estimate_json(samples);
    }
    g["name"] = name.empty() ? "group " + std::to_string(i + 1) : name;
    groups.push_back(std::move(g));
  }
  return groups;
}

// Per server: what the report's summary says, plus what only the
// repetitions hold (RSS, errors, validity, saturation, groups).
}  // namespace

json summarize_result(const json& result) {
  const json& reps = array_field(result, "repetitions");
  const json& summary = object_field(result, "summary");
  json s = {{"server", result.value("server", "")},
            {"status", result.value("status", "")},
            {"status_reason", result.value("status_reason", json())},
            {"repetitions", reps.size()},
            {"valid_repetitions", 0},
            {"peak_rss_bytes", nullptr},
            {"errors", 0},
            {"invalid_reasons", json::array()},
            {"generator_saturated", 0},
            {"saturated_reasons", json::array()},
            {"busy_repetitions", 0},
            {"most_other_cpu_cores", nullptr},
            {"drifting_repetitions", 0}};
  for (const auto& m : report_metrics()) s[m.key] = summary.value(m.key, json());
  s["offered_rps"] = summary.value("offered_rps", json());
  s["rate_shortfall"] = summary.value("rate_shortfall", json());

  std::vector<double> rss, uncorrected;
  std::uint64_t errors = 0;
  int valid = 0, saturated = 0;
  std::vector<std::string> saturated_reasons;
  for (const json& rep : reps) {
    const std::string which = "repetition " + rep.value("repetition", json()).dump();
    if (rep.value("valid", false)) ++valid;
    for (const json& reason : array_field(rep, "invalid_reasons"))
      s["invalid_reasons"].push_back(which + ": " + reason.get<std::string>());
    for (const auto& [kind, n] : object_field(rep, "errors").items())
      if (n.is_number_integer() && n.get<std::int64_t>() > 0) errors += n.get<std::uint64_t>();
    if (const auto v = number_at(rep, "/server/peak_rss_bytes")) rss.push_back(*v);
    if (const auto v = number_at(rep, "/latency_uncorrected_us/p99"); v && rep.value("valid", false))
      uncorrected.push_back(*v);
    // The machine beside the measurement, and a window that changed regime.
    const json& host = object_field(rep, "host");
    if (host.value("busy", false)) {
      s["busy_repetitions"] = s["busy_repetitions"].get<int>() + 1;
      const double other = host.value("other_cpu_cores", 0.0);
      if (!s["most_other_cpu_cores"].is_number() || other > s["most_other_cpu_cores"].get<double>())
        s["most_other_cpu_cores"] = other;
    }
    if (object_field(rep, "intervals").value("stationary", true) == false)
      s["drifting_repetitions"] = s["drifting_repetitions"].get<int>() + 1;
    const json& client = object_field(rep, "client");
    if (client.value("generator_saturated", false)) {
      ++saturated;
      for (const json& reason : array_field(client, "saturated_reasons"))
        saturated_reasons.push_back(reason.get<std::string>());
    }
  }
  s["valid_repetitions"] = valid;
  s["errors"] = errors;
  if (!rss.empty()) s["peak_rss_bytes"] = median(rss);
  s["uncorrected_p99_us"] = estimate_json(uncorrected);
  s["generator_saturated"] = saturated;
  for (const auto& r : merged_reasons(saturated_reasons)) s["saturated_reasons"].push_back(r);
  s["groups"] = group_summaries(reps);
  if (result.contains("capacity")) s["capacity"] = capacity_summary(result["capacity"]);
  return s;
}

// Each group of each server against the same group of the baseline, round
// by round, as the report compares whole servers: the hog workload's point
// is its light group.  The report holds no such rows, so these verdicts are
// the interval's alone, outside the report-wide correction, and say so.
void compare_groups(json& servers, const json& results, const std::string& baseline, double margin) {
  const json* base = nullptr;
  for (const json& r : results)
    if (r.value("server", "") == baseline) base = &r;
  if (base == nullptr) return;
  for (std::size_t k = 0; k < servers.size() && k < results.size(); ++k) {
    if (&results[k] == base) continue;
    json& groups = servers[k]["groups"];
    for (std::size_t i = 0; i < groups.size(); ++i) {
      json vs = json::object();
      for (const auto& m : report_metrics()) {
        if (m.key == "server_cpu_us_per_request") continue;
        const std::string pointer = "/groups/" + std::to_string(i) + std::string(m.pointer);
        const report_metric per_group{m.key, m.label, pointer, m.higher_is_better};
        const round_comparison r = compare_rounds(array_field(results[k], "repetitions"),
                                                  array_field(*base, "repetitions"), per_group, margin);
        const paired_comparison& p = r.result;
        // As for whole servers (and compare's group rows): only where a
        // verdict could be drawn is there one to withhold.
        std::string verdict = r.saturated_rounds > 0 && p.rounds >= min_rounds_for_verdict
                                  ? "generator_bound"
                                  : paired_verdict_name(p.verdict);
        vs[m.key] = {{"ratio", std::isfinite(p.ratio) ? json(p.ratio) : json(nullptr)},
                     {"ci95", p.ci ? json{{"low", p.ci->low}, {"high", p.ci->high}} : json(nullptr)},
                     {"interval_verdict", verdict},
                     {"corrected", false}};
      }
      groups[i]["vs_baseline"] = std::move(vs);
    }
  }
}

}  // namespace ioduel::harness::show_detail
