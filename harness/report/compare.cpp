#include "harness/report/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "harness/report/csv.hpp"
#include "harness/measure/multiplicity.hpp"
#include "harness/measure/paired.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/measure/statistics.hpp"
#include "harness/report/summary.hpp"

namespace ioduel::harness {
namespace {

using nlohmann::json;

// One side of a comparison: a server's result in a report.
struct side {
  const std::string& report;
  const json& result;
  std::string server() const { return result.value("server", ""); }
};

json side_json(const side& s, const std::vector<double>& samples) {
  return {{"report", s.report},
          {"server", s.server()},
          {"median", samples.empty() ? json(nullptr) : json(median(samples))},
          {"samples", samples.size()}};
}

// The row for one metric; nothing when neither side measured it (a drive
// report has no server CPU, for instance).  `paired`: the two sides ran in
// the same rounds (one report), so round r of one is compared with round r
// of the other.
std::optional<json> compare_metric(const report_metric& m, const side& candidate, const side& baseline,
                                   bool paired, double margin) {
  const auto c = metric_samples(candidate.result, m);
  const auto base = metric_samples(baseline.result, m);
  if (c.empty() && base.empty()) return std::nullopt;
  std::size_t saturated = 0;
  paired_comparison p;
  if (paired) {
    const round_comparison r = compare_rounds(array_field(candidate.result, "repetitions"),
                                              array_field(baseline.result, "repetitions"), m, margin);
    p = r.result;
    saturated = r.saturated_rounds;
  } else {
    for (const side* s : {&candidate, &baseline})
      for (const json& rep : array_field(s->result, "repetitions"))
        if (rep.is_object() && rep.value("valid", false) && number_at(rep, m.pointer) &&
            rep.value("/client/generator_saturated"_json_pointer, false))
          ++saturated;
    p = compare_independent(c, base, m.higher_is_better, margin);
  }
  json row = {{"metric", m.key},
              {"label", m.label},
              {"higher_is_better", m.higher_is_better},
              {"baseline", side_json(baseline, base)},
              {"candidate", side_json(candidate, c)},
              {"ratio", std::isfinite(p.ratio) ? json(p.ratio) : json(nullptr)},
              {"ci95", nullptr},
              {"level", p.ci ? json(p.level) : json(nullptr)},
              {"rounds", p.rounds},
              {"verdict", paired_verdict_name(p.verdict)},
              {"reason", p.reason.empty() ? json(nullptr) : json(p.reason)},
              {"p_beyond", std::isfinite(p.p_beyond) ? json(p.p_beyond) : json(nullptr)},
              {"p_within", std::isfinite(p.p_within) ? json(p.p_within) : json(nullptr)},
              {"p_adjusted", nullptr}};
  if (p.ci) row["ci95"] = {{"low", p.ci->low}, {"high", p.ci->high}};
  if (saturated > 0 && p.rounds >= min_rounds_for_verdict) {
    row["verdict"] = "generator_bound";
    row["reason"] = paired ? saturated_reason(saturated, p.rounds)
                           : "the load generator was saturated in " + std::to_string(saturated) +
                                 " of the repetitions compared";
  }
  row["interval_verdict"] = row["verdict"];
  return row;
}

// The names of a result's groups, from its repetitions; none when it has
// fewer than two (one group is the whole workload).
std::vector<std::string> group_names(const json& result) {
  std::vector<std::string> names;
  for (const json& rep : array_field(result, "repetitions")) {
    const json& gs = array_field(rep, "groups");
    for (std::size_t i = names.size(); i < gs.size(); ++i)
      names.push_back(gs[i].value("name", "group " + std::to_string(i + 1)));
  }
  if (names.size() < 2) names.clear();
  return names;
}

// With `open_loop`, throughput is the workload's rate, not a result: no row.
// Then each group's rows (the hog workload's point is its light group), on
// the group's own figures in every repetition; the server's CPU is not per
// group.  They carry "group" and stay outside the report-wide correction, as
// show's group rows do: their verdicts are the interval's alone.  Where the
// two sides' repetitions hold different groups (one side's all failed before
// reporting any), there are none, and `notes` says so under `where`.
void add_rows(json& rows, const side& candidate, const side& baseline, bool paired, double margin,
              bool open_loop, json& notes, const std::string& where) {
  for (const auto& m : report_metrics()) {
    if (open_loop && m.key == "throughput_rps") continue;
    if (auto row = compare_metric(m, candidate, baseline, paired, margin)) rows.push_back(std::move(*row));
  }
  const std::vector<std::string> groups = group_names(candidate.result);
  if (const std::size_t other = group_names(baseline.result).size(); groups.size() != other) {
    notes.push_back(where + ": no group rows, the repetitions hold " + std::to_string(groups.size()) +
                    " groups on one side and " + std::to_string(other) + " on the other");
    return;
  }
  for (std::size_t i = 0; i < groups.size(); ++i)
    for (const auto& m : report_metrics()) {
      if (m.key == "server_cpu_us_per_request" || (open_loop && m.key == "throughput_rps")) continue;
      const std::string pointer = "/groups/" + std::to_string(i) + std::string(m.pointer);
      const report_metric per_group{m.key, m.label, pointer, m.higher_is_better};
      if (auto row = compare_metric(per_group, candidate, baseline, paired, margin)) {
        (*row)["group"] = groups[i];
        rows.push_back(std::move(*row));
      }
    }
}

// The first place where two workload definitions differ ("groups/1/rate:
// 10000 vs 20000"), or "" when they are the same.
std::string first_difference(const json& a, const json& b, const std::string& path = "") {
  const auto here = [&](const std::string& what) { return (path.empty() ? std::string("the workload") : path) + what; };
  if (a.type() != b.type()) return here(" differs");
  if (a.is_object()) {
    std::set<std::string> keys;
    for (const auto& [k, v] : a.items()) keys.insert(k);
    for (const auto& [k, v] : b.items()) keys.insert(k);
    for (const auto& k : keys) {
      const std::string sub = path.empty() ? k : path + "/" + k;
      if (!a.contains(k) || !b.contains(k)) return sub + " is in only one";
      if (auto d = first_difference(a[k], b[k], sub); !d.empty()) return d;
    }
    return "";
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return here(" has " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " entries");
    for (std::size_t i = 0; i < a.size(); ++i)
      if (auto d = first_difference(a[i], b[i], path + "/" + std::to_string(i)); !d.empty()) return d;
    return "";
  }
  if (a == b) return "";
  return here(": " + a.dump() + " vs " + b.dump());
}

// Notes on results whose figures need care: not "ok", or measured by a
// saturated generator.
void note_result(json& notes, const std::string& where, const json& result) {
  const std::string status = result.value("status", "");
  if (status != "ok") {
    const json reason = result.value("status_reason", json());
    notes.push_back(where + ": status " + status +
                    (reason.is_string() ? " (" + reason.get<std::string>() + ")" : "") +
                    "; only its valid repetitions are compared");
  }
  int saturated = 0, total = 0;
  for (const json& rep : array_field(result, "repetitions")) {
    ++total;
    if (rep.value("/client/generator_saturated"_json_pointer, false)) ++saturated;
  }
  if (saturated > 0)
    notes.push_back(where + ": the load generator was saturated in " + std::to_string(saturated) +
                    " of " + std::to_string(total) +
                    " repetitions; those figures may be the harness's limit, not the server's");
}

std::string workload_names(const json& report) {
  std::string names;
  for (const json& w : report.at("workloads"))
    names += (names.empty() ? "" : ", ") + w.value("name", std::string("?"));
  return names.empty() ? "none" : names;
}

const json* find_workload(const json& report, const std::string& name) {
  for (const json& w : report.at("workloads"))
    if (w.value("name", "") == name) return &w;
  return nullptr;
}

std::string baseline_of(const json& report) {
  if (const json b = report.value("baseline", json()); b.is_string()) return b.get<std::string>();
  for (const json& w : report.at("workloads"))
    for (const json& r : array_field(w, "results")) return r.value("server", "");
  return "";
}

void compare_servers(const named_report& r, double margin, json& out) {
  const std::string baseline = baseline_of(r.report);
  out["baseline"] = baseline;
  for (const json& w : r.report.at("workloads")) {
    const std::string name = w.value("name", "");
    json rows = json::array();
    const json* base = find_result(w, baseline);
    if (base == nullptr) {
      out["notes"].push_back(name + ": no result for the baseline " + baseline);
      continue;
    }
    for (const json& result : array_field(w, "results")) {
      note_result(out["notes"], name + ": " + result.value("server", ""), result);
      if (&result != base)
        add_rows(rows, side{r.name, result}, side{r.name, *base}, /*paired=*/true, margin,
                 definition_is_open_loop(w.value("workload", json())), out["notes"],
                 name + ": " + result.value("server", ""));
    }
    if (!rows.empty())
      out["workloads"].push_back({{"name", name}, {"not_comparable", nullptr}, {"rows", std::move(rows)}});
  }
  if (out["workloads"].empty())
    out["notes"].push_back("the report has no server besides the baseline: nothing to compare");
}

void compare_before_after(const named_report& before, const named_report& after, double margin,
                          json& out) {
  std::vector<std::string> only_before, only_after;
  for (const json& w : after.report.at("workloads"))
    if (!find_workload(before.report, w.value("name", ""))) only_after.push_back(w.value("name", ""));
  for (const json& wa : before.report.at("workloads")) {
    const std::string name = wa.value("name", "");
    const json* wb = find_workload(after.report, name);
    if (wb == nullptr) {
      only_before.push_back(name);
      continue;
    }
    // Different definitions measure different things: no verdict at all.
    // The description is prose about the workload, not part of it.
    json da = wa.value("workload", json()), db = wb->value("workload", json());
    for (json* d : {&da, &db})
      if (d->is_object()) d->erase("description");
    if (const std::string d = first_difference(da, db); !d.empty()) {
      out["workloads"].push_back({{"name", name}, {"not_comparable", d}, {"rows", json::array()}});
      continue;
    }
    json rows = json::array();
    for (const json& ra : array_field(wa, "results")) {
      const std::string server = ra.value("server", "");
      const json* rb = find_result(*wb, server);
      if (rb == nullptr) {
        out["notes"].push_back(name + ": " + server + " is only in " + before.name);
        continue;
      }
      note_result(out["notes"], before.name + ", " + name + ": " + server, ra);
      note_result(out["notes"], after.name + ", " + name + ": " + server, *rb);
      add_rows(rows, side{after.name, *rb}, side{before.name, ra}, /*paired=*/false, margin,
               definition_is_open_loop(wa.value("workload", json())), out["notes"], name + ": " + server);
    }
    for (const json& rb : array_field(*wb, "results"))
      if (!find_result(wa, rb.value("server", "")))
        out["notes"].push_back(name + ": " + rb.value("server", "") + " is only in " + after.name);
    out["workloads"].push_back({{"name", name}, {"not_comparable", nullptr}, {"rows", std::move(rows)}});
  }
  if (out["workloads"].empty())
    throw std::runtime_error(before.name + " and " + after.name +
                             " have no workload in common (" + before.name + ": " +
                             workload_names(before.report) + "; " + after.name + ": " +
                             workload_names(after.report) + ")");
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (!only_before.empty())
    out["notes"].push_back("only in " + before.name + ": " + list(only_before));
  if (!only_after.empty()) out["notes"].push_back("only in " + after.name + ": " + list(only_after));
  const json host_a = before.report.value("/metadata/host/hostname"_json_pointer, json());
  const json host_b = after.report.value("/metadata/host/hostname"_json_pointer, json());
  if (host_a != host_b)
    out["notes"].push_back("the reports come from different machines (" + host_a.dump() + " and " +
                           host_b.dump() + ")");
}

json report_info(const named_report& r) {
  const json& m = object_field(r.report, "metadata");
  return {{"name", r.name},
          {"started_at", m.value("started_at", json())},
          {"host", m.value("/host/hostname"_json_pointer, json())},
          {"git_commit", m.value("git_commit", json())}};
}

}  // namespace

json compare_reports(std::span<const named_report> reports, double margin) {
  if (reports.empty() || reports.size() > 2)
    throw std::runtime_error("compare takes one report (its servers side by side) or two "
                             "(before and after)");
  // Readable versions differ only in their comparisons, which compare
  // computes anew from the repetitions.
  for (const auto& r : reports) {
    require_readable(r.report, r.name);
    // A capacity search's steps are measured at rates of its own choosing, so
    // there are no like-for-like repetitions to pair or rank.
    if (r.report.value("command", json()) == "capacity")
      throw std::runtime_error(r.name + " is a capacity report: its answer is a rate per server, "
                               "with no repetitions to compare; read it with `ioduel show " +
                               r.name + "` (which gives the servers' ratios) or `ioduel html`");
  }

  json out = {{"kind", "ioduel-comparison"},
              {"mode", reports.size() == 1 ? "servers" : "reports"},
              {"schema_version", readable_schema_version},
              {"reports", json::array()},
              {"notes", json::array()},
              {"workloads", json::array()}};
  for (const auto& r : reports) out["reports"].push_back(report_info(r));
  out["margin"] = margin;
  if (reports.size() == 1)
    compare_servers(reports[0], margin, out);
  else
    compare_before_after(reports[0], reports[1], margin, out);
  // One family: every row of every workload (harness/measure/multiplicity.hpp).
  std::vector<json*> rows;
  for (json& w : out["workloads"])
    if (w.contains("rows"))
      for (json& row : w["rows"])
        if (!row.contains("group")) rows.push_back(&row);
  correct_verdicts(rows);
  out["fdr_level"] = fdr_level;
  return out;
}

int run_compare(std::span<const std::string> paths, const std::string& format, std::ostream& out,
                std::ostream& err, double margin) {
  return print_or_fail(
      "compare", format, out, err,
      [&] {
        std::vector<named_report> reports;
        for (const auto& p : paths) reports.push_back({p, read_report(p)});
        return compare_reports(reports, margin);
      },
      print_comparison, write_comparison_csv);
}

}  // namespace ioduel::harness
