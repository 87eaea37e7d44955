// `ioduel show`'s detailed tables, after the matrix: per workload, the
// servers' figures with a row per load group, the comparisons with the
// baseline, and the flags.
#include <algorithm>
#include <cstdio>
#include <set>

#include "harness/report/report_reader.hpp"
#include "harness/report/show_text.hpp"

namespace ioduel::harness::show_detail {
namespace {

using nlohmann::json;

// Server names are never cut: the column is as wide as the longest (up to
// 15 characters the table fits 100 columns).
std::size_t name_width(const json& servers) {
  std::size_t width = 14;
  for (const json& s : servers) {
    width = std::max(width, s.value("server", "").size());
    for (const json& g : array_field(s, "groups")) width = std::max(width, g.value("name", "").size() + 2);
  }
  return width;
}

std::string figures(const json& s) {
  const json throughput = s.value("throughput_rps", json());
  const std::optional<interval> ci =
      throughput.is_object() ? interval_of(throughput.value("ci95", json())) : std::nullopt;
  return cell(estimate_text(throughput), 7, true) + cell(format_interval(ci, format_number), 14) +
         cell(estimate_text(s.value("p50_us", json())), 7, true) +
         cell(estimate_text(s.value("p99_us", json())), 7, true) +
         cell(estimate_text(s.value("p99_9_us", json())), 8, true);
}

void print_servers(const json& servers, std::ostream& out) {
  const std::size_t width = name_width(servers);
  out << row_end(cell("server", width) + cell("status", 8) + cell("req/s", 7, true) +
                 cell("95% CI", 14) + cell("p50 us", 7, true) + cell("p99 us", 7, true) +
                 cell("p99.9 us", 8, true) + cell("cpu us/req", 10, true) +
                 cell("RSS MiB", 7, true) + cell("errors", 6, true));
  for (const json& s : servers) {
    // The flags under the table spell out every status but ok.
    std::string status = s.value("status", "");
    if (status == "unavailable") status = "unavail";
    if (s.value("generator_saturated", 0) > 0) status += "!";
    out << row_end(cell(s.value("server", ""), width) + cell(status, 8) + figures(s) +
                   cell(estimate_text(s.value("server_cpu_us_per_request", json())), 10, true) +
                   cell(mib_text(s.value("peak_rss_bytes", json())), 7, true) +
                   cell(std::to_string(s.value("errors", std::uint64_t{0})), 6, true));
    // A workload's groups are often its point (hog's light clients beside
    // the heavy ones): each gets its own row under its server.
    for (const json& g : array_field(s, "groups"))
      out << row_end(cell("  " + g.value("name", ""), width) + cell("group", 8) + figures(g));
  }
}

// The candidate's groups against the baseline's: throughput and p99 (or
// --metric), marked as outside the report-wide correction.
void print_group_comparisons(const json& servers, const std::string& candidate, std::ostream& out,
                             const show_options& o) {
  for (const json& s : servers) {
    if (s.value("server", "") != candidate) continue;
    for (const json& g : array_field(s, "groups"))
      for (const auto& m : report_metrics()) {
        const bool wanted = o.metric.empty() ? (m.key == "throughput_rps" || m.key == "p99_us")
                                             : metric_key(o.metric) == m.key;
        const json& r = object_field(object_field(g, "vs_baseline"), m.key);
        if (!wanted || r.empty()) continue;
        out << cell("    " + g.value("name", "") + " " + std::string(m.label), 30)
            << cell(format_ratio(number(r, "ratio")), 6, true)
            << cell(format_interval(interval_of(r.value("ci95", json()))), 16)
            << words(r.value("interval_verdict", "")) << " (group; not corrected)\n";
      }
  }
}

void print_comparisons(const json& comparisons, const json& servers, std::ostream& out,
                       const show_options& o) {
  for (const json& c : comparisons) {
    out << "\n"
        << cell("  " + c.value("candidate", "") + " vs " + c.value("baseline", ""), 30)
        << cell("ratio", 6, true) << cell("95% CI", 16) << "verdict\n";
    std::set<std::string> reasons;
    const json& metrics = object_field(c, "metrics");
    for (const auto& m : report_metrics()) {
      if (!o.metric.empty() && metric_key(o.metric) != m.key) continue;
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
    print_group_comparisons(servers, c.value("candidate", ""), out, o);
    for (const auto& reason : reasons) out << wrap("note: " + reason, 4);
  }
}

void print_flags(const json& servers, std::ostream& out) {
  for (const json& s : servers)
    for (const json& f : array_field(s, "flags")) out << wrap("! " + text(f, "text", ""), 2);
}

// Open loop: the latency with coordinated omission left in, beside the
// corrected one the table shows, says how far each server let the schedule slip.
void print_uncorrected(const json& servers, std::ostream& out) {
  std::string line;
  for (const json& s : servers)
    if (const json& e = s.value("uncorrected_p99_us", json()); e.is_object())
      line += (line.empty() ? "" : ", ") + s.value("server", "") + " " + estimate_text(e);
  if (!line.empty())
    out << wrap("p99 us from the actual send (coordinated omission left in): " + line, 2);
}

void print_length(const json& length, std::ostream& out) {
  if (length.is_object()) out << wrap(text(length, "line", ""), 0);
}

}  // namespace

void print_details(const json& s, std::ostream& out, const show_options& o) {
  out << "\ndetails: status ! = generator saturated; figures are medians over valid repetitions\n";
  for (const json& w : s.at("workloads")) {
    out << "\n== " << w.value("name", "");
    if (const json file = w.value("file", json()); file.is_string()) out << " (" << file.get<std::string>() << ")";
    out << "\n";
    print_length(w.value("rounds", json()), out);
    print_servers(w.at("servers"), out);
    print_uncorrected(w.at("servers"), out);
    print_comparisons(w.at("comparisons"), w.at("servers"), out, o);
    print_flags(w.at("servers"), out);
  }
}

json flag_sentences(const json& s) {
  json flags = json::array();
  const auto add = [&](const char* kind, const std::string& sentence) {
    flags.push_back({{"kind", kind}, {"text", sentence}});
  };
  {
    const std::string name = s.value("server", "");
    const std::string status = s.value("status", "");
    if (status != "ok") {
      std::string sentence = name + ": " + status;
      if (const json why = s.value("status_reason", json()); why.is_string())
        sentence += " (" + why.get<std::string>() + ")";
      add("status", sentence);
    }
    for (const json& reason : array_field(s, "invalid_reasons"))
      add("invalid", name + ": invalid " + reason.get<std::string>());
    if (const json& short_by = s["rate_shortfall"]; short_by.is_object()) {
      char text[200];
      std::snprintf(text, sizeof text,
                    "%s: achieved %.1f%% less than the offered %s req/s (median %s req/s), so its "
                    "latency was measured at a load it did not carry",
                    name.c_str(), short_by.value("fraction", 0.0) * 100,
                    format_number(number(s, "offered_rps")).c_str(),
                    format_number(number(short_by, "achieved_rps")).c_str());
      add("rate_shortfall", text);
    }
    if (const int n = s.value("busy_repetitions", 0); n > 0) {
      char text[240];
      std::snprintf(text, sizeof text,
                    "%s: the machine was busy in %d of %s repetitions (other processes used up to %.2f "
                    "cores, or the hypervisor took over 10%%): its figures carry their noise",
                    name.c_str(), n, s.value("repetitions", json()).dump().c_str(),
                    s.value("most_other_cpu_cores", 0.0));
      add("busy", text);
    }
    if (const int n = s.value("drifting_repetitions", 0); n > 0)
      add("drifting", name + ": throughput or p50 drifted across the window in " + std::to_string(n) + " of " +
                          s.value("repetitions", json()).dump() +
                          " repetitions (not stationary: the warm-up was too short, or the load beside it changed)");
    if (const int n = s.value("generator_saturated", 0); n > 0) {
      std::string sentence = name + ": the load generator was saturated in " +
                         std::to_string(n) + " of " + s.value("repetitions", json()).dump() +
                         " repetitions, so its figures may be the harness's limit";
      for (const json& reason : array_field(s, "saturated_reasons"))
        sentence += "; " + reason.get<std::string>();
      add("generator_saturated", sentence);
    }
  }
  return flags;
}

std::string rounds_line(const json& length) {
  if (!length.is_object()) return "";
  const auto percent = [](double fraction) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g%%", fraction * 100);
    return std::string(buf);
  };
  std::string line = length.value("rounds", json()).dump() + " rounds (--until-width " +
                     percent(length.value("until_width", 0.0)) + ", --max-repeat " +
                     length.value("max_repeat", json()).dump() + "): " + text(length, "stopped", "?");
  const json& widest = length.value("widest", json());
  if (widest.is_object()) {
    const json width = widest.value("width", json());
    line += "; the widest headline interval, " + text(widest, "what", "?") + ", is " +
            (width.is_number() ? percent(width.get<double>()) : std::string("not yet")) +
            " wide";
  }
  return line;
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

}  // namespace ioduel::harness::show_detail
