// `ioduel show` of a capacity report: one line per server with the highest
// rate it held under the objective and that figure's bracket, the ratio
// between servers, then each server's steps.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "harness/report/csv.hpp"
#include "harness/report/report_reader.hpp"
#include "harness/report/show_text.hpp"

namespace ioduel::harness::show_detail {

namespace {

using nlohmann::json;

std::string rate(const json& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v.get<double>());
  return buf;
}

std::string ratio(double r) { return format_ratio(r); }

// 3 significant figures, or "-".
std::string figure(const json& v) { return v.is_number() ? format_number(v.get<double>()) : "-"; }

// "p99 <= 1000 us and p50 <= 200 us"
std::string objectives_text(const json& objectives) {
  std::string out;
  for (const json& o : objectives) {
    if (!out.empty()) out += " and ";
    const double b = o.value("bound_us", 0.0);
    char buf[64];
    if (b >= 1000) std::snprintf(buf, sizeof buf, "%g ms", b / 1000);
    else std::snprintf(buf, sizeof buf, "%g us", b);
    std::string p = o.value("percentile", std::string("?"));
    std::replace(p.begin(), p.end(), '_', '.');
    out += p + " <= " + buf;
  }
  return out.empty() ? "the objective" : out;
}

}  // namespace

json capacity_summary(const json& capacity) {
  json steps = json::array();
  for (const json& st : array_field(capacity, "steps")) {
    const json& lat = object_field(st, "latency_us");
    json row = {{"step", st.value("step", json())},
                {"offered_rps", st.value("offered_rps", json())},
                {"achieved_rps", object_field(st, "achieved_rps").value("median", json())},
                {"verdict", st.value("verdict", json())},
                {"reasons", st.value("reasons", json::array())}};
    for (const char* p : {"p50", "p99", "p99_9"}) row[std::string(p) + "_us"] = object_field(lat, p).value("median", json());
    row["cpu_us_per_request"] = object_field(st, "cpu_us_per_request").value("median", json());
    steps.push_back(std::move(row));
  }
  return {{"objectives", capacity.value("objectives", json::array())},
          {"max_rate_rps", capacity.value("max_rate_rps", json())},
          {"max_rate_interval", capacity.value("max_rate_interval", json())},
          {"server_figure", capacity.value("server_figure", false)},
          {"stopped", capacity.value("stopped", json())},
          {"generator_limit_rps", capacity.value("generator_limit_rps", json())},
          {"steps", steps}};
}

std::string capacity_line(const std::string& server, const json& c) {
  const json& bracket = object_field(c, "max_rate_interval");
  const std::string obj = objectives_text(c.value("objectives", json::array()));
  const std::string stopped = text(c, "stopped", "not searched");
  if (!c["max_rate_rps"].is_number()) {
    if (stopped == "generator limit")
      return server + " holds no rate tried: the generator failed at " + rate(c["generator_limit_rps"]) +
             " req/s (its limit, not the server's)";
    return server + " holds " + obj + " at no rate tried (" + stopped + ")";
  }
  std::string line = server + " holds " + rate(c["max_rate_rps"]) + " req/s [" + rate(bracket.value("low", json())) +
                     ", " + rate(bracket.value("high", json())) + "] at " + obj;
  if (stopped == "generator limit")
    line += "; then the generator failed at " + rate(c["generator_limit_rps"]) +
            " req/s: at least this much, the server's own limit unmeasured";
  else if (stopped != "resolution reached")
    line += " (" + stopped + ": at least this much)";
  return line;
}

std::string capacity_ratio_line(const std::string& candidate, const json& c, const std::string& baseline,
                                const json& b) {
  const auto num = [](const json& j, const char* k) {
    const json v = j.value(k, json());
    return v.is_number() ? std::optional<double>(v.get<double>()) : std::nullopt;
  };
  const auto cm = num(c, "max_rate_rps"), bm = num(b, "max_rate_rps");
  if (!cm || !bm || *bm <= 0) return candidate + "/" + baseline + ": no ratio (one of them held no rate)";
  const json& cb = object_field(c, "max_rate_interval");
  const json& bb = object_field(b, "max_rate_interval");
  const auto cl = num(cb, "low"), ch = num(cb, "high"), bl = num(bb, "low"), bh = num(bb, "high");
  std::string line = candidate + "/" + baseline + ": " + ratio(*cm / *bm);
  if (cl && bh && ch && bl && *bh > 0 && *bl > 0)
    line += " [" + ratio(*cl / *bh) + ", " + ratio(*ch / *bl) + "]";
  if (!c.value("server_figure", false) || !b.value("server_figure", false))
    line += " (not both the servers' own limits: see why each search stopped)";
  return line;
}

// The answer lines of one workload: each server's, then each ratio to the
// first server searched.
json workload_answer(const json& w) {
  json lines = json::array();
  std::string baseline;
  json base;
  for (const json& r : array_field(w, "servers")) {
    if (!r.contains("capacity")) continue;
    const std::string name = r.value("server", std::string("?"));
    lines.push_back(capacity_line(name, r["capacity"]));
    if (baseline.empty()) {
      baseline = name;
      base = r["capacity"];
    }
  }
  for (const json& r : array_field(w, "servers"))
    if (r.contains("capacity") && r.value("server", std::string()) != baseline)
      lines.push_back(capacity_ratio_line(r.value("server", std::string("?")), r["capacity"], baseline, base));
  return lines;
}

void print_capacity(const json& s, std::ostream& out) {
  for (const json& w : array_field(s, "workloads")) {
    const json& servers = array_field(w, "servers");
    json objectives = json::array();
    for (const json& r : servers)
      if (r.contains("capacity")) objectives = r["capacity"].value("objectives", json::array());
    out << "\n" << wrap("capacity of " + w.value("name", std::string("?")) + ": the highest offered rate at which " +
                            objectives_text(objectives) +
                            " held, with no errors and the achieved rate within tolerance; [bracket] from the "
                            "highest rate every measurement held to the lowest that failed",
                        0);
    for (const json& line : workload_answer(w)) out << wrap(line.get<std::string>(), 2);
    for (const json& r : servers)
      if (r.contains("capacity") && r.value("status", std::string("ok")) != "ok")
        out << wrap(r.value("server", std::string("?")) + ": " + r.value("status", std::string()) + " " +
                        text(r, "status_reason", ""),
                    4);
    std::size_t searched = 0;
    for (const json& r : servers) searched += r.contains("capacity") ? 1 : 0;
    const bool ratios = searched > 1;
    // No verdict: a bracket is where the search stopped, not a confidence
    // interval, and one noisy step moves it (docs/workloads.md, Capacity).
    if (ratios)
      out << wrap("(the ratio of the answers, [low/high, high/low] of the brackets; a bracket is the search's "
                  "resolution, not a confidence interval: each step is the median of " +
                      s.value("repetitions", json()).dump() +
                      " measurements, and a noisy step near the objective moves the answer; search again "
                      "with more --repeat before quoting a difference)",
                  2);
    for (const json& r : servers) {
      if (!r.contains("capacity")) continue;
      out << "\n  " << r.value("server", std::string("?")) << ": steps in the order measured\n";
      out << "    step   offered  achieved    p50 us    p99 us  p99.9 us  cpu/req  verdict\n";
      for (const json& st : array_field(r["capacity"], "steps")) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "    %4s %9s %9s %9s %9s %9s %8s  ", st.value("step", json()).dump().c_str(),
                      rate(st["offered_rps"]).c_str(), rate(st["achieved_rps"]).c_str(),
                      figure(st["p50_us"]).c_str(),
                      figure(st["p99_us"]).c_str(),
                      figure(st["p99_9_us"]).c_str(),
                      figure(st["cpu_us_per_request"]).c_str());
        std::string verdict = st.value("verdict", std::string("?"));
        if (!array_field(st, "reasons").empty()) verdict += ": " + st["reasons"][0].get<std::string>();
        out << buf << verdict << "\n";
      }
    }
  }
}

void write_capacity_csv(const json& s, std::ostream& out) {
  out << csv_row({"report", "workload", "server", "step", "offered_rps", "achieved_rps", "p50_us", "p99_us", "p99_9_us",
                  "cpu_us_per_request", "verdict", "reason", "max_rate_rps", "max_rate_low", "max_rate_high",
                  "server_figure", "stopped"});
  const auto field = [](const json& v) -> std::string {
    if (v.is_number()) return v.dump();
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    return "";
  };
  for (const json& w : array_field(s, "workloads"))
    for (const json& r : array_field(w, "servers")) {
      if (!r.contains("capacity")) continue;
      const json& c = r["capacity"];
      const json& bracket = object_field(c, "max_rate_interval");
      for (const json& st : array_field(c, "steps")) {
        const json& reasons = array_field(st, "reasons");
        out << csv_row({field(s.value("report", json())), field(w.value("name", json())), field(r.value("server", json())),
                        field(st["step"]), field(st["offered_rps"]), field(st["achieved_rps"]), field(st["p50_us"]),
                        field(st["p99_us"]), field(st["p99_9_us"]), field(st["cpu_us_per_request"]),
                        field(st["verdict"]), reasons.empty() ? "" : field(reasons[0]), field(c["max_rate_rps"]),
                        field(bracket.value("low", json())), field(bracket.value("high", json())),
                        field(c["server_figure"]), field(c["stopped"])});
      }
    }
}

}  // namespace ioduel::harness::show_detail

namespace ioduel::harness {

nlohmann::json capacity_answer_lines(const nlohmann::json& summary) {
  nlohmann::json lines = nlohmann::json::array();
  for (const auto& w : array_field(summary, "workloads"))
    for (auto& line : show_detail::workload_answer(w)) lines.push_back(std::move(line));
  return lines;
}

}  // namespace ioduel::harness
