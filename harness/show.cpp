#include "harness/show.hpp"

#include <cstdio>
#include <set>
#include <stdexcept>
#include <vector>

#include "harness/report_reader.hpp"
#include "harness/statistics.hpp"

namespace ioduel::harness {
namespace {

using nlohmann::json;

// Per server: what the report's summary says, plus what only the
// repetitions hold (RSS, errors, validity, saturation).
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
            {"saturated_reasons", json::array()}};
  for (const auto& m : report_metrics()) s[m.key] = summary.value(m.key, json());
  s["offered_rps"] = summary.value("offered_rps", json());
  s["rate_shortfall"] = summary.value("rate_shortfall", json());

  std::vector<double> rss;
  std::uint64_t errors = 0;
  int valid = 0, saturated = 0;
  std::set<std::string> saturated_reasons;
  for (const json& rep : reps) {
    const std::string which = "repetition " + rep.value("repetition", json()).dump();
    if (rep.value("valid", false)) ++valid;
    for (const json& reason : array_field(rep, "invalid_reasons"))
      s["invalid_reasons"].push_back(which + ": " + reason.get<std::string>());
    for (const auto& [kind, n] : object_field(rep, "errors").items())
      if (n.is_number_integer() && n.get<std::int64_t>() > 0) errors += n.get<std::uint64_t>();
    if (const auto v = number_at(rep, "/server/peak_rss_bytes")) rss.push_back(*v);
    const json& client = object_field(rep, "client");
    if (client.value("generator_saturated", false)) {
      ++saturated;
      for (const json& reason : array_field(client, "saturated_reasons"))
        saturated_reasons.insert(reason.get<std::string>());
    }
  }
  s["valid_repetitions"] = valid;
  s["errors"] = errors;
  if (!rss.empty()) s["peak_rss_bytes"] = median(rss);
  s["generator_saturated"] = saturated;
  for (const auto& r : saturated_reasons) s["saturated_reasons"].push_back(r);
  return s;
}

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

std::string estimate_text(const json& estimate) {
  return estimate.is_object() ? format_number(number(estimate, "median")) : "-";
}

std::string mib_text(const json& bytes) {
  if (!bytes.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", bytes.get<double>() / (1024.0 * 1024.0));
  return buf;
}

std::string words(std::string token) {
  for (auto& ch : token)
    if (ch == '_') ch = ' ';
  return token;
}

void print_header(const json& s, std::ostream& out) {
  const json& host = object_field(s, "host");
  const json& build = object_field(s, "build");
  out << wrap("report " + text(s, "report", "") + " (ioduel " + text(s, "command", "?") + ")", 0);
  out << wrap("started " + text(s, "started_at", "?") + ", " +
                  format_number(number(s, "duration_s")) + " s; " +
                  s.value("repetitions", json()).dump() + " round(s), each server once a round; baseline " +
                  text(s, "baseline", "-"),
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
  if (const json& cal = object_field(s, "calibration"); !cal.empty()) {
    // The noise floor measured before this run: what it can resolve.
    std::string line = "noise floor (" + cal.value("server", std::string("?")) + " against itself, " +
                       cal.value("rounds", json()).dump() + " rounds): resolves";
    for (const char* key : {"throughput_rps", "p99_us", "server_cpu_us_per_request"}) {
      const json& e = object_field(object_field(cal, "metrics"), key);
      const json v = e.value("resolves_beyond", json());
      char buf[48];
      std::snprintf(buf, sizeof buf, " %s %s", key, v.is_number() ? (format_number(v.get<double>() * 100) + "%").c_str() : "-");
      line += buf;
    }
    out << wrap(line, 0);
  }
  if (s.value("complete", json()) == false)
    out << wrap("INCOMPLETE: " + text(s, "incomplete_reason", "interrupted") +
                    "; only what finished is shown",
                0);
}

void print_servers(const json& servers, std::ostream& out) {
  out << row_end(cell("server", 14) + cell("status", 8) + cell("req/s", 7, true) +
                 cell("95% CI", 15) + cell("p50 us", 7, true) + cell("p99 us", 7, true) +
                 cell("p99.9 us", 8, true) + cell("cpu us/req", 10, true) +
                 cell("RSS MiB", 7, true) + cell("errors", 6, true));
  for (const json& s : servers) {
    const json throughput = s.value("throughput_rps", json());
    const std::optional<interval> ci =
        throughput.is_object() ? interval_of(throughput.value("ci95", json())) : std::nullopt;
    // The flags under the table spell out every status but ok.
    std::string status = s.value("status", "");
    if (status == "unavailable") status = "unavail";
    if (s.value("generator_saturated", 0) > 0) status += "!";
    out << row_end(cell(s.value("server", ""), 14) + cell(status, 8) +
                   cell(estimate_text(throughput), 7, true) +
                   cell(format_interval(ci, format_number), 15) +
                   cell(estimate_text(s.value("p50_us", json())), 7, true) +
                   cell(estimate_text(s.value("p99_us", json())), 7, true) +
                   cell(estimate_text(s.value("p99_9_us", json())), 8, true) +
                   cell(estimate_text(s.value("server_cpu_us_per_request", json())), 10, true) +
                   cell(mib_text(s.value("peak_rss_bytes", json())), 7, true) +
                   cell(std::to_string(s.value("errors", std::uint64_t{0})), 6, true));
  }
}

void print_comparisons(const json& comparisons, std::ostream& out) {
  for (const json& c : comparisons) {
    out << "\n"
        << cell("  " + c.value("candidate", "") + " vs " + c.value("baseline", ""), 30)
        << cell("ratio", 6, true) << cell("95% CI", 16) << "verdict\n";
    std::set<std::string> reasons;
    const json& metrics = object_field(c, "metrics");
    for (const auto& m : report_metrics()) {
      const json r = metrics.value(m.key, json());
      if (!r.is_object()) continue;
      // An undetermined verdict says why in its row ("undetermined: 3
      // rounds; verdicts need 5") when that fits; other reasons go below.
      std::string verdict = words(r.value("verdict", ""));
      if (const json reason = r.value("reason", json()); reason.is_string()) {
        const std::string why = reason.get<std::string>();
        if (verdict == "undetermined" && why.size() <= 33) verdict += ": " + why;  // 100 columns
        else reasons.insert(why);
      }
      out << cell("    " + std::string(m.label), 30) << cell(format_ratio(number(r, "ratio")), 6, true)
          << cell(format_interval(interval_of(r.value("ci95", json()))), 16) << verdict << "\n";
    }
    for (const auto& reason : reasons) out << wrap("note: " + reason, 4);
  }
}

void print_flags(const json& servers, std::ostream& out) {
  for (const json& s : servers) {
    const std::string name = s.value("server", "");
    const std::string status = s.value("status", "");
    if (status != "ok") {
      std::string text = "! " + name + ": " + status;
      if (const json why = s.value("status_reason", json()); why.is_string())
        text += " (" + why.get<std::string>() + ")";
      out << wrap(text, 2);
    }
    for (const json& reason : array_field(s, "invalid_reasons"))
      out << wrap("! " + name + ": invalid " + reason.get<std::string>(), 2);
    if (const json& short_by = s["rate_shortfall"]; short_by.is_object()) {
      char text[200];
      std::snprintf(text, sizeof text,
                    "! %s: achieved %.1f%% less than the offered %s req/s (median %s req/s), so its "
                    "latency was measured at a load it did not carry",
                    name.c_str(), short_by.value("fraction", 0.0) * 100,
                    format_number(number(s, "offered_rps")).c_str(),
                    format_number(number(short_by, "achieved_rps")).c_str());
      out << wrap(text, 2);
    }
    if (const int n = s.value("generator_saturated", 0); n > 0) {
      std::string text = "! " + name + ": the load generator was saturated in " +
                         std::to_string(n) + " of " + s.value("repetitions", json()).dump() +
                         " repetitions, so its figures may be the harness's limit";
      for (const json& reason : array_field(s, "saturated_reasons"))
        text += "; " + reason.get<std::string>();
      out << wrap(text, 2);
    }
  }
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
            {"workloads", json::array()}};
  for (const json& w : report.at("workloads")) {
    json servers = json::array();
    for (const json& r : array_field(w, "results")) servers.push_back(summarize_result(r));
    s["workloads"].push_back({{"name", w.value("name", "")},
                              {"file", w.value("file", json())},
                              {"servers", std::move(servers)},
                              {"comparisons", array_field(w, "comparisons")}});
  }
  return s;
}

void print_summary(const json& s, std::ostream& out) {
  print_header(s, out);
  out << "status ! = generator saturated; figures are medians over valid repetitions\n";
  for (const json& w : s.at("workloads")) {
    out << "\n== " << w.value("name", "");
    if (const json file = w.value("file", json()); file.is_string()) out << " (" << file.get<std::string>() << ")";
    out << "\n";
    print_servers(w.at("servers"), out);
    print_comparisons(w.at("comparisons"), out);
    print_flags(w.at("servers"), out);
  }
}

int run_show(const std::string& path, bool json_output, std::ostream& out, std::ostream& err) {
  return print_or_fail(
      "show", json_output, out, err, [&] { return summarize_report(read_report(path), path); },
      print_summary);
}

}  // namespace ioduel::harness
