#include "harness/report/show.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "harness/report/csv.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/report/show_text.hpp"
#include "harness/measure/statistics.hpp"
#include "harness/report/summary.hpp"

namespace ioduel::harness {
namespace {

using nlohmann::json;
using namespace show_detail;

std::string names_of(const json& items, const char* key) {
  std::string names;
  for (const json& i : items) names += (names.empty() ? "" : ", ") + i.value(key, std::string("?"));
  return names.empty() ? "none" : names;
}

}  // namespace

namespace show_detail {

// j[key] when it is a string, else `otherwise` (absent and null alike).
std::string text(const json& j, const char* key, const std::string& otherwise) {
  const json v = j.value(key, json());
  return v.is_string() ? v.get<std::string>() : otherwise;
}

std::optional<double> number(const json& j, const char* key) {
  const json v = j.value(key, json());
  return v.is_number() ? std::optional(v.get<double>()) : std::nullopt;
}

std::optional<interval> interval_of(const json& ci) {
  if (!ci.is_object()) return std::nullopt;
  return interval{ci.value("low", 0.0), ci.value("high", 0.0)};
}

void print_header(const json& s, std::ostream& out) {
  const json& host = object_field(s, "host");
  const json& build = object_field(s, "build");
  out << wrap("report " + text(s, "report", "") + " (ioduel " + text(s, "command", "?") + ")", 0);
  out << wrap("started " + text(s, "started_at", "?") + ", " +
                  format_number(number(s, "duration_s")) + " s; " +
                  s.value("repetitions", json()).dump() +
                  (s.value("command", json()) == "capacity" ? " measurement(s) per step and server, in shuffled rounds"
                                                             : " round(s), each server once a round") +
                  "; baseline " + text(s, "baseline", "-"),
              0);
  const json memory = host.value("memory_bytes", json());
  out << wrap("host " + text(host, "hostname", "?") + ": " + text(host, "cpu_model", "?") + ", " +
                  host.value("cores", json()).dump() + " cores, " +
                  (memory.is_number() ? format_number(memory.get<double>() / (1u << 30)) : "?") +
                  " GiB, " + text(host, "kernel", "?"),
              0);
  out << wrap("build " + text(build, "compiler", "?") + " " + text(build, "build_type", "?") +
                  ", Boost " + text(build, "boost_version", "?") + ", commit " +
                  text(s, "git_commit", "unknown").substr(0, 12) +
                  (s.value("git_dirty", json()) == true ? " (with uncommitted changes)" : ""),
              0);
  if (const json why = s.value("recomputed", json()); why.is_string()) out << wrap(why.get<std::string>(), 0);
  if (const json& cal = object_field(s, "calibration"); !cal.empty()) {
    // The noise floor measured before this run: what it can resolve.
    std::string line = "noise floor (" + cal.value("server", std::string("?")) + " against itself, " +
                       cal.value("rounds", json()).dump() + " rounds): resolves";
    const std::pair<const char*, const char*> shown[] = {
        {"throughput_rps", "throughput"}, {"p99_us", "p99"}, {"server_cpu_us_per_request", "CPU per request"}};
    const char* separator = " ";
    for (const auto& [key, label] : shown) {
      const json& e = object_field(object_field(cal, "metrics"), key);
      const json v = e.value("resolves_beyond", json());
      line += separator + std::string(label) + " " +
              (v.is_number() ? format_number(v.get<double>() * 100) + "%" : "-");
      separator = ", ";
    }
    out << wrap(line, 0);
  }
  if (s.value("complete", json()) == false)
    out << wrap("INCOMPLETE: " + text(s, "incomplete_reason", "interrupted") +
                    "; only what finished is shown",
                0);
}

}  // namespace show_detail

std::string metric_key(const std::string& name) {
  // The short names are what the tables call them, less the unit.
  static const std::vector<std::pair<std::string, std::string>> aliases = {
      {"throughput", "throughput_rps"}, {"req/s", "throughput_rps"}, {"p50", "p50_us"},
      {"p99", "p99_us"}, {"p99.9", "p99_9_us"}, {"p99_9", "p99_9_us"},
      {"cpu", "server_cpu_us_per_request"}};
  for (const auto& m : report_metrics())
    if (name == m.key) return std::string(m.key);
  for (const auto& [alias, key] : aliases)
    if (name == alias) return key;
  std::string known;
  for (const auto& m : report_metrics()) known += (known.empty() ? "" : ", ") + std::string(m.key);
  throw std::runtime_error("unknown metric '" + name + "'; the metrics are " + known +
                           " (or throughput, p50, p99, p99.9, cpu)");
}

bool color_wanted(int fd) {
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  const char* no_color = std::getenv("NO_COLOR");
  return ::isatty(fd) == 1 && (no_color == nullptr || *no_color == '\0');
}

namespace {

// Schema 1 and 2 reports stored verdicts under older rules (an unpaired
// percentile bootstrap in 1, no report-wide correction in either) and
// schema 1 a bootstrap interval per server: quoted as they stand they would
// contradict the legend.  Their repetitions are as in version 3, so the
// summaries and comparisons are made anew here, under this ioduel's rules,
// as `compare` does; a report of the current schema is read as written.
bool stored_under_older_rules(const json& report) {
  return report.at("schema_version").get<int>() < readable_schema_version;
}

json current_workloads(const json& report) {
  json workloads = report.at("workloads");
  if (!stored_under_older_rules(report)) return workloads;
  const std::string baseline = text(report, "baseline", "");
  const double margin = report.value("margin", 0.03);
  bool compared = false;
  for (json& w : workloads) {
    if (!w.is_object() || !w.contains("results")) continue;
    const json& definition = w.value("workload", json());
    for (json& r : w["results"])
      if (r.is_object())
        r["summary"] = summary_json(array_field(r, "repetitions"), offered_rate(definition), poisson_rate(definition));
    // Only where the writer compared (drive and capacity reports do not).
    if (w.contains("comparisons")) {
      w["comparisons"] = comparisons_json(w["results"], baseline, margin, definition_is_open_loop(definition));
      compared = true;
    }
  }
  if (compared) correct_report_verdicts(workloads);
  return workloads;
}

}  // namespace

json summarize_report(const json& report, const std::string& name) {
  require_readable(report, name);
  const json& meta = object_field(report, "metadata");
  json s = {{"kind", "ioduel-summary"},
            {"report", name},
            {"schema_version", report.at("schema_version")},
            {"command", report.value("command", json())},
            {"complete", report.value("complete", true)},
            {"incomplete_reason", report.value("incomplete_reason", json())},
            {"started_at", meta.value("started_at", json())},
            {"duration_s", meta.value("duration_s", json())},
            {"host", meta.value("host", json())},
            {"build", meta.value("build", json())},
            {"git_commit", meta.value("git_commit", json())},
            {"git_dirty", meta.value("git_dirty", json())},
            {"repetitions", report.value("repetitions", json())},
            {"calibration", meta.value("calibration", json())},
            {"baseline", report.value("baseline", json())},
            {"margin", report.value("margin", 0.03)},
            {"workloads", json::array()}};
  if (stored_under_older_rules(report))
    s["recomputed"] = "schema version " + report.at("schema_version").dump() +
                      ": its intervals and verdicts are recomputed from its repetitions under this ioduel's rules";
  for (const json& w : current_workloads(report)) {
    json servers = json::array();
    for (const json& r : array_field(w, "results")) servers.push_back(summarize_result(r));
    compare_groups(servers, array_field(w, "results"), text(s, "baseline", ""), s["margin"].get<double>());
    for (json& r : servers) r["flags"] = flag_sentences(r);
    json rounds = w.value("rounds", json());
    if (rounds.is_object()) rounds["line"] = rounds_line(rounds);
    const bool open_loop = definition_is_open_loop(w.value("workload", json()));
    s["workloads"].push_back({{"name", w.value("name", "")},
                              {"file", w.value("file", json())},
                              {"open_loop", open_loop},
                              {"headline", open_loop ? "p99_us" : "throughput_rps"},
                              {"rounds", std::move(rounds)},
                              {"servers", std::move(servers)},
                              {"comparisons", array_field(w, "comparisons")}});
  }
  return s;
}

json filter_summary(json s, const show_options& o) {
  if (!o.metric.empty()) (void)metric_key(o.metric);
  for (const auto& name : o.workloads)
    if (std::none_of(s["workloads"].begin(), s["workloads"].end(),
                     [&](const json& w) { return w.value("name", "") == name; }))
      throw std::runtime_error("no workload '" + name + "' in the report; it has " +
                               names_of(s["workloads"], "name"));
  std::set<std::string> servers;
  for (const json& w : s["workloads"])
    for (const json& r : w["servers"]) servers.insert(r.value("server", ""));
  for (const auto& name : o.servers)
    if (!servers.count(name)) {
      std::string known;
      for (const auto& k : servers) known += (known.empty() ? "" : ", ") + k;
      throw std::runtime_error("no server '" + name + "' in the report; it has " + known);
    }
  const auto wanted = [](const std::vector<std::string>& only, const std::string& name) {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  };
  const std::string baseline = text(s, "baseline", "");
  json kept = json::array();
  for (json& w : s["workloads"]) {
    if (!wanted(o.workloads, w.value("name", ""))) continue;
    json rows = json::array(), comparisons = json::array();
    for (json& r : w["servers"])
      if (r.value("server", "") == baseline || wanted(o.servers, r.value("server", ""))) rows.push_back(r);
    for (json& c : w["comparisons"])
      if (wanted(o.servers, c.value("candidate", ""))) comparisons.push_back(c);
    w["servers"] = std::move(rows);
    w["comparisons"] = std::move(comparisons);
    kept.push_back(std::move(w));
  }
  s["workloads"] = std::move(kept);
  return s;
}

void print_summary(const json& s, std::ostream& out, const show_options& o) {
  print_header(s, out);
  if (s.value("command", json()) == "capacity") return print_capacity(s, out);
  print_matrix(s, out, o);
  print_details(s, out, o);
}

int run_show(const std::string& path, const std::string& format, const show_options& o,
             std::ostream& out, std::ostream& err) {
  return print_or_fail(
      "show", format, out, err, [&] { return filter_summary(summarize_report(read_report(path), path), o); },
      [&](const json& s, std::ostream& to) { print_summary(s, to, o); }, write_summary_csv);
}

}  // namespace ioduel::harness
