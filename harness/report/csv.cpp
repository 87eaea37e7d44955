#include "harness/report/csv.hpp"

#include "harness/report/report_reader.hpp"
#include "harness/report/show_text.hpp"

namespace ioduel::harness {
namespace {

using nlohmann::json;

// A JSON scalar as a field: numbers at full precision (nlohmann writes the
// shortest text that reads back to the same double), null as empty.
std::string value(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

const json& at(const json& j, std::string_view key) {
  static const json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

void estimate_fields(std::vector<std::string>& f, const json& e) {
  f.push_back(value(at(e, "median")));
  f.push_back(value(at(at(e, "ci95"), "low")));
  f.push_back(value(at(at(e, "ci95"), "high")));
}

const json* comparison_for(const json& w, const std::string& server) {
  for (const json& c : array_field(w, "comparisons"))
    if (c.value("candidate", "") == server) return &c;
  return nullptr;
}

}  // namespace

std::string csv_field(const std::string& s) {
  const bool quote = s.find_first_of(",\"\r\n") != std::string::npos ||
                     (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

std::string csv_row(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
  return out + "\r\n";
}

void write_summary_csv(const json& s, std::ostream& out) {
  if (s.value("command", json()) == "capacity") return show_detail::write_capacity_csv(s, out);
  std::vector<std::string> head = {"report", "workload", "group", "server", "baseline", "status",
                                   "repetitions", "valid_repetitions"};
  for (const auto& m : report_metrics())
    for (const char* suffix : {"", "_low", "_high"}) head.push_back(std::string(m.key) + suffix);
  for (const auto& m : report_metrics())
    for (const char* what : {"ratio", "ratio_low", "ratio_high", "verdict", "interval_verdict", "p_adjusted"})
      head.push_back(std::string(m.key) + "_" + what);
  for (const char* k : {"peak_rss_bytes", "errors", "generator_saturated", "offered_rps",
                        "rate_shortfall_fraction", "uncorrected_p99_us", "uncorrected_p99_us_low",
                        "uncorrected_p99_us_high"})
    head.push_back(k);
  out << csv_row(head);

  const std::string report = value(at(s, "report")), baseline = value(at(s, "baseline"));
  for (const json& w : array_field(s, "workloads")) {
    for (const json& r : array_field(w, "servers")) {
      const std::string server = r.value("server", "");
      std::vector<std::string> f = {report, w.value("name", ""), "", server,
                                    baseline, value(at(r, "status")), value(at(r, "repetitions")),
                                    value(at(r, "valid_repetitions"))};
      for (const auto& m : report_metrics()) estimate_fields(f, at(r, m.key));
      const json* c = comparison_for(w, server);
      for (const auto& m : report_metrics()) {
        const json& e = c ? at(at(*c, "metrics"), m.key) : at(json(), "");
        for (const char* k : {"ratio"}) f.push_back(value(at(e, k)));
        f.push_back(value(at(at(e, "ci95"), "low")));
        f.push_back(value(at(at(e, "ci95"), "high")));
        for (const char* k : {"verdict", "interval_verdict", "p_adjusted"}) f.push_back(value(at(e, k)));
      }
      f.push_back(value(at(r, "peak_rss_bytes")));
      f.push_back(value(at(r, "errors")));
      f.push_back(value(at(r, "generator_saturated")));
      f.push_back(value(at(r, "offered_rps")));
      f.push_back(value(at(at(r, "rate_shortfall"), "fraction")));
      estimate_fields(f, at(r, "uncorrected_p99_us"));
      out << csv_row(f);
      // A group's row: its own figures; what the report holds only per
      // server (CPU, RSS) is left empty rather than repeated.
      for (const json& g : array_field(r, "groups")) {
        std::vector<std::string> gf = {report, w.value("name", ""), g.value("name", ""), server, baseline,
                                       value(at(r, "status")), value(at(r, "repetitions")),
                                       value(at(r, "valid_repetitions"))};
        for (const auto& m : report_metrics()) estimate_fields(gf, at(g, m.key));
        // Against the baseline's same group: the interval's verdict only
        // (show.hpp), so the corrected verdict and p_adjusted stay empty.
        for (const auto& m : report_metrics()) {
          const json& e = at(at(g, "vs_baseline"), m.key);
          gf.insert(gf.end(), {value(at(e, "ratio")), value(at(at(e, "ci95"), "low")),
                               value(at(at(e, "ci95"), "high")), "", value(at(e, "interval_verdict")), ""});
        }
        gf.resize(head.size());
        out << csv_row(gf);
      }
    }
  }
}

void write_comparison_csv(const json& c, std::ostream& out) {
  out << csv_row({"mode", "workload", "group", "not_comparable", "metric", "higher_is_better", "baseline_report",
                  "baseline_server", "baseline_median", "baseline_samples", "candidate_report",
                  "candidate_server", "candidate_median", "candidate_samples", "ratio", "ratio_low",
                  "ratio_high", "level", "rounds", "verdict", "interval_verdict", "p_value",
                  "p_adjusted", "reason"});
  const std::string mode = value(at(c, "mode"));
  for (const json& w : array_field(c, "workloads")) {
    const std::string name = w.value("name", "");
    if (const json& why = at(w, "not_comparable"); why.is_string()) {
      std::vector<std::string> f(24);
      f[0] = mode, f[1] = name, f[3] = why.get<std::string>();
      out << csv_row(f);
      continue;
    }
    for (const json& row : array_field(w, "rows")) {
      std::vector<std::string> f = {mode, name, value(at(row, "group")), "", value(at(row, "metric")),
                                    value(at(row, "higher_is_better"))};
      for (const char* side : {"baseline", "candidate"})
        for (const char* k : {"report", "server", "median", "samples"}) f.push_back(value(at(at(row, side), k)));
      f.push_back(value(at(row, "ratio")));
      f.push_back(value(at(at(row, "ci95"), "low")));
      f.push_back(value(at(at(row, "ci95"), "high")));
      for (const char* k : {"level", "rounds", "verdict", "interval_verdict", "p_value", "p_adjusted", "reason"})
        f.push_back(value(at(row, k)));
      out << csv_row(f);
    }
  }
}

}  // namespace ioduel::harness
