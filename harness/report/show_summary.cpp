// What `ioduel show` leads with: the headline ratio of every server against
// the baseline in every workload, as one matrix, and who won each workload.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "harness/report/report_reader.hpp"
#include "harness/report/show_text.hpp"

namespace ioduel::harness {
namespace {

using nlohmann::json;
using namespace show_detail;

const report_metric& metric_named(std::string_view key) {
  for (const auto& m : report_metrics())
    if (m.key == key) return m;
  return report_metrics().front();
}

// "21% more req/s", "18% lower p99 us": how much better `ratio` is.
std::string by_how_much(double ratio, const report_metric& m) {
  char buf[64];
  const double better = m.higher_is_better ? ratio - 1 : 1 - ratio;
  std::snprintf(buf, sizeof buf, "%.0f%% %s %.*s", std::abs(better) * 100,
                m.higher_is_better ? (better >= 0 ? "more" : "less") : (better >= 0 ? "lower" : "higher"),
                int(m.label.size()), m.label.data());
  return buf;
}

// Whether ratio a is better for the candidate than b.
bool better(double a, double b, const report_metric& m) { return m.higher_is_better ? a > b : a < b; }

std::string winner_line(json& row, const report_metric& m, double margin) {
  const std::string name = row.value("workload", "");
  const std::string baseline = row["baseline"].value("server", "");
  const json* best = nullptr;  // the best candidate that is faster
  const json* best_estimate = nullptr;
  std::string same, slower, open;  // the candidates by verdict
  const auto add = [](std::string& list, const json& c) { list += (list.empty() ? "" : ", ") + c.value("server", ""); };
  for (const json& c : row["cells"]) {
    const std::string v = c.value("verdict", "");
    if (!c["ratio"].is_number()) continue;
    if (v == "faster" && (!best || better(c["ratio"], (*best)["ratio"], m))) best = &c;
    if (!best_estimate || better(c["ratio"], (*best_estimate)["ratio"], m)) best_estimate = &c;
    if (v == "same") add(same, c);
    else if (v == "slower") add(slower, c);
    else if (v != "faster") add(open, c);
  }
  char pct[16];
  std::snprintf(pct, sizeof pct, "%g%%", margin * 100);
  if (row["cells"].empty() || !best_estimate) return name + ": nothing to compare";
  if (best) {
    // Faster than the baseline is a verdict; faster than a server whose own
    // verdict is open is not, so those are named.
    row["winner"] = (*best)["server"];
    return name + ": " + (*best).value("server", "") + " wins, " + by_how_much((*best)["ratio"], m) +
           " than " + baseline + (open.empty() ? "" : "; open: " + open);
  }
  if (open.empty() && same.empty()) {
    row["winner"] = baseline;
    // The baseline's lead is over the best of the others.
    return name + ": " + baseline + " wins, " + by_how_much(1 / (*best_estimate)["ratio"].get<double>(), m) +
           " than " + (*best_estimate).value("server", "");
  }
  if (open.empty() && slower.empty()) return name + ": a tie, every server within " + pct + " of " + baseline;
  if (open.empty()) return name + ": " + baseline + " and " + same + " tie (within " + pct + "); slower: " + slower;
  // No verdict: say who leads on the estimates alone, and how unsure that is.
  const json& e = *best_estimate;
  const bool bound = std::any_of(row["cells"].begin(), row["cells"].end(),
                                 [](const json& c) { return c.value("verdict", "") == "generator_bound"; });
  const std::string why = bound ? "no verdict (generator bound)" : "no verdict";
  const std::string interval = format_ratio(e["ratio"].get<double>()) + " " +
                               format_interval(interval_of(e.value("ci95", json())));
  if (better(1.0, e["ratio"].get<double>(), m))
    return name + ": " + why + "; " + baseline + " leads, next " + e.value("server", "") +
           " " + interval;
  return name + ": " + why + "; " + e.value("server", "") + " leads, " + interval;
}

// Verdicts as words that read alone in a cell; "?" is explained by the legend.
std::string verdict_mark(const std::string& verdict) {
  if (verdict == "faster" || verdict == "slower" || verdict == "same") return verdict;
  if (verdict == "generator_bound") return "gen-bound";
  return "?";
}

const char* colour_of(const std::string& verdict) {
  if (verdict == "faster") return "\033[32m";         // green
  if (verdict == "slower") return "\033[31m";         // red
  if (verdict == "same") return "\033[36m";           // cyan
  if (verdict == "generator_bound") return "\033[33m";  // yellow
  return "\033[2m";                                   // dim: undetermined
}

}  // namespace

json headline_matrix(const json& s, const std::string& metric) {
  const std::string baseline = s.value("baseline", json()).is_string() ? s["baseline"].get<std::string>() : "";
  json rows = json::array();
  for (const json& w : s.at("workloads")) {
    const std::string key = metric.empty() ? w.value("headline", "throughput_rps") : metric_key(metric);
    const report_metric& m = metric_named(key);
    json row = {{"workload", w.value("name", "")}, {"metric", key}, {"label", m.label},
                {"higher_is_better", m.higher_is_better}, {"cells", json::array()}, {"winner", nullptr}};
    row["baseline"] = {{"server", baseline}, {"median", nullptr}};
    for (const json& r : array_field(w, "servers"))
      if (r.value("server", "") == baseline)
        row["baseline"]["median"] = object_field(r, key).value("median", json());
    for (const json& c : array_field(w, "comparisons")) {
      const json& e = object_field(object_field(c, "metrics"), key);
      row["cells"].push_back({{"server", c.value("candidate", "")},
                              {"ratio", e.value("ratio", json())},
                              {"ci95", e.value("ci95", json())},
                              {"verdict", e.value("verdict", e.empty() ? "" : "undetermined")},
                              {"reason", e.value("reason", json())}});
    }
    row["line"] = winner_line(row, m, s.value("margin", 0.03));
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace show_detail {

void print_matrix(const json& s, std::ostream& out, const show_options& o) {
  const json rows = headline_matrix(s, o.metric);
  if (rows.empty()) return;
  // Columns: the servers in the order the first workload has them.
  std::vector<std::string> servers;
  const std::string baseline = text(s, "baseline", "");
  servers.push_back(baseline);
  for (const json& r : rows)
    for (const json& c : r["cells"])
      if (std::find(servers.begin(), servers.end(), c.value("server", "")) == servers.end())
        servers.push_back(c.value("server", ""));
  std::size_t name_w = 8, metric_w = 6;  // names and labels are never cut either
  for (const json& r : rows) {
    name_w = std::max(name_w, r.value("workload", "").size());
    metric_w = std::max(metric_w, r.value("label", "").size());
  }
  // A cell's text: the ratio and its verdict's word; the baseline's median.
  const auto content = [&](const json& r, std::size_t i) -> std::optional<std::string> {
    if (i == 0) return format_number(number(r["baseline"], "median"));
    for (const json& c : r["cells"])
      if (c.value("server", "") == servers[i])
        return format_ratio(number(c, "ratio")) + " " + verdict_mark(c.value("verdict", ""));
    return std::nullopt;
  };
  // Each column as wide as its name or its widest cell.
  std::vector<std::size_t> widths;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    widths.push_back(servers[i].size() + (i == 0 ? 11 : 0));  // " (baseline)"
    for (const json& r : rows) widths[i] = std::max(widths[i], content(r, i).value_or("-").size());
  }
  // Columns in blocks that each fit 100 columns (seven servers with full
  // names do not fit one): the workload and metric repeat in every block,
  // the baseline's median only in the first.
  // `width` counts each cell's trailing space, which row_end drops from the
  // last: a block is at most 100 - 1 = 99 visible columns.
  constexpr std::size_t max_width = 100;
  const std::size_t lead = name_w + metric_w + 2;
  std::vector<std::pair<std::size_t, std::size_t>> blocks;  // [first, last) of servers
  for (std::size_t i = 0, width = lead; i < servers.size(); ++i) {
    if (blocks.empty() || (width + widths[i] + 1 > max_width && blocks.back().second > blocks.back().first)) {
      blocks.emplace_back(i, i);
      width = lead;
    }
    width += widths[i] + 1;
    blocks.back().second = i + 1;
  }

  char pct[16];
  std::snprintf(pct, sizeof pct, "%g%%", s.value("margin", 0.03) * 100);
  out << "\n"
      << wrap(std::string("cell: server / ") + baseline + " of " +
                  (o.metric.empty() ? "req/s, or p99 us where the workload sets its rate (open loop)"
                                    : std::string(metric_key(o.metric))) +
                  ", the paired rounds' Hodges-Lehmann ratio (not a ratio of medians); the baseline's own "
                  "median in its column",
              0)
      << wrap(std::string("faster/slower: beyond ") + pct +
                  " at 95% after the report-wide correction; same: within; ? undetermined",
              0);
  for (const auto& [first, last] : blocks) {
    out << "\n";
    std::string head = cell("workload", name_w) + cell("metric", metric_w);
    for (std::size_t i = first; i < last; ++i)
      head += cell(i == 0 ? servers[i] + " (baseline)" : servers[i], widths[i]);
    out << row_end(head);
    for (const json& r : rows) {
      std::string line = cell(r.value("workload", ""), name_w) + cell(r.value("label", ""), metric_w);
      for (std::size_t i = first; i < last; ++i) {
        const auto text = content(r, i);
        std::string padded = cell(text.value_or("-"), widths[i]);
        if (i > 0 && text && o.color) {
          std::string v;
          for (const json& c : r["cells"])
            if (c.value("server", "") == servers[i]) v = c.value("verdict", "");
          // Colour codes take no columns: pad the visible text, then wrap it.
          padded = colour_of(v) + *text + "\033[0m" + padded.substr(text->size());
        }
        line += padded;
      }
      out << row_end(line);
    }
  }
  out << "\n";
  for (const json& r : rows) out << wrap(r.value("line", ""), 0);
}

}  // namespace show_detail
}  // namespace ioduel::harness
