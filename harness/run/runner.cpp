#include "harness/run/runner.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "harness/run/measurement.hpp"
#include "harness/run/progress.hpp"
#include "harness/run/report_start.hpp"
#include "harness/report/report.hpp"
#include "harness/servers/server_process.hpp"
#include "harness/servers/stats_client.hpp"
#include "harness/report/summary.hpp"

namespace ioduel::harness {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

// Connections the harness keeps for itself (STATS, files, pipes).
constexpr std::uint64_t nofile_margin = 64;

}  // namespace

std::vector<std::size_t> round_order(std::size_t servers, std::uint64_t seed, std::size_t workload_index,
                                     unsigned round) {
  std::vector<std::size_t> order(servers);
  for (std::size_t k = 0; k < servers; ++k) order[k] = k;
  // Fisher-Yates with a generator of its own per (seed, workload, round), so
  // that an order does not depend on how many rounds came before it.
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(workload_index), static_cast<std::uint32_t>(round)};
  std::mt19937_64 rng(seq);
  for (std::size_t k = servers; k > 1; --k) {
    const std::uint64_t range = k, reject_below = (0 - range) % range;  // unbiased: no modulo skew
    std::uint64_t r;
    do r = rng();
    while (r < reject_below);
    std::swap(order[k - 1], order[static_cast<std::size_t>(r % range)]);
  }
  return order;
}

std::uint64_t raise_nofile_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

std::string fit_connections(workload& w, std::uint64_t limit) {
  const std::uint64_t want = w.total_connections();
  if (want + nofile_margin <= limit) return "";
  const double scale = static_cast<double>(limit > nofile_margin ? limit - nofile_margin : 1) /
                       static_cast<double>(want);
  for (auto& g : w.groups)
    if (g.connections > 0)
      g.connections = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(g.connections * scale));
  return "the open-file limit is " + std::to_string(limit) + ", too low for " + std::to_string(want) +
         " connections: scaled down to " + std::to_string(w.total_connections());
}

widest_interval round_widths(const json& results, const std::string& baseline, double margin) {
  static constexpr std::array<const char*, 4> headline{"throughput_rps", "p50_us", "p99_us",
                                                       "server_cpu_us_per_request"};
  widest_interval widest;
  // A figure that was not measured (no CPU for a drive, a side with no valid
  // round) has no interval to wait for and is left out; a measured one
  // without an interval yet (one round) is infinitely wide.
  const auto consider = [&widest](const json& estimate, const char* centre, const std::string& what) {
    if (!estimate.is_object() || !estimate[centre].is_number()) return;
    const json& ci = estimate["ci95"];
    double width = std::numeric_limits<double>::infinity();
    if (ci.is_object() && estimate[centre].get<double>() > 0)
      width = (ci["high"].get<double>() - ci["low"].get<double>()) / estimate[centre].get<double>();
    if (widest.what.empty() || width > widest.width) widest = {width, what};
  };
  const bool has_baseline = std::any_of(results.begin(), results.end(), [&](const json& r) {
    return r["server"] == baseline && !r["repetitions"].empty();
  });
  if (results.size() > 1 && has_baseline) {
    for (const json& c : comparisons_json(results, baseline, margin, /*open_loop=*/false))
      for (const char* key : headline)
        consider(c["metrics"][key], "ratio", c["candidate"].get<std::string>() + "/" + baseline + " " + key);
  } else {
    for (const json& r : results) {
      const json s = summary_json(r["repetitions"]);
      for (const char* key : headline) consider(s[key], "median", r["server"].get<std::string>() + " " + key);
    }
  }
  return widest;  // what is empty: nothing measured, nothing to wait for
}

std::string length_stop(const widest_interval& widest, unsigned rounds, double until_width, unsigned max_repeat) {
  if (widest.what.empty()) return "nothing measured";
  if (widest.width <= until_width) return "width reached";
  if (rounds >= max_repeat) return "max-repeat reached";
  return "";
}

int execute(const run_plan& plan, const std::atomic<bool>& interrupt) {
  report_start start(plan);
  const bool drive = start.drive();
  const std::vector<server_spec>& servers = start.servers();
  const std::string& baseline = start.baseline();
  const std::uint64_t nofile = start.nofile();
  json& report = start.report();
  const auto command_of = [&start](const server_spec& s) { return start.command_of(s); };
  const auto write = [&start](bool complete, const std::string& reason) { start.write(complete, reason); };

  double estimate = 0;
  for (const auto& w : plan.workloads)
    estimate += (w.warmup_s + w.duration_s + item_overhead_s) * plan.repetitions * servers.size();
  progress prog(plan.workloads.size() * plan.repetitions * servers.size(), estimate, plan.quiet);

  bool all_valid = true;
  std::set<std::string> unavailable;
  for (std::size_t workload_index = 0; workload_index < plan.workloads.size(); ++workload_index) {
    const workload& original = plan.workloads[workload_index];
    if (interrupt.load()) break;
    workload w = original;
    const std::uint64_t requested = w.total_connections();
    const std::string scaled = fit_connections(w, nofile);
    if (!scaled.empty()) prog.note(w.name + ": " + scaled);
    std::map<std::string, json> per_server;  // name -> server_result
    for (const auto& s : servers)
      per_server[s.name] = {{"server", s.name}, {"command", command_of(s)}, {"status", "ok"},
                            {"status_reason", nullptr}, {"repetitions", json::array()}};
    notify(plan, run_point::workload_begin, w.name);
    json length = nullptr;  // with --until-width: the rounds run, and why they stopped
    const auto results_so_far = [&] {
      json results = json::array();
      for (const auto& s : servers)
        if (!unavailable.count(s.name)) results.push_back(per_server[s.name]);
      return results;
    };
    for (unsigned rep = 1; !interrupt.load(); ++rep) {
      if (rep > plan.repetitions) {
        if (!plan.until_width) break;
        const widest_interval widest = round_widths(results_so_far(), baseline, plan.margin);
        length = {{"rounds", rep - 1},
                  {"until_width", *plan.until_width},
                  {"max_repeat", plan.max_repeat},
                  {"widest", {{"what", widest.what},
                              {"width", std::isfinite(widest.width) ? json(widest.width) : json(nullptr)}}},
                  {"stopped", nullptr}};
        if (const std::string stop = length_stop(widest, rep - 1, *plan.until_width, plan.max_repeat);
            !stop.empty()) {
          length["stopped"] = stop;
          break;
        }
        prog.note(w.name + ": the widest interval, " + widest.what + ", is " +
                  (std::isfinite(widest.width) ? std::to_string(static_cast<int>(std::ceil(widest.width * 100))) + "%"
                                               : std::string("not yet there")) +
                  " wide; target " + std::to_string(static_cast<int>(*plan.until_width * 100)) + "%: round " +
                  std::to_string(rep));
        prog.extend(servers.size(), (w.warmup_s + w.duration_s + item_overhead_s) * servers.size());
      }
      std::vector<const server_spec*> order;
      for (const std::size_t k : round_order(servers.size(), plan.seed, workload_index, rep))
        order.push_back(&servers[k]);
      for (std::size_t pos = 0; pos < order.size() && !interrupt.load(); ++pos) {
        const server_spec& s = *order[pos];
        json& res = per_server[s.name];
        const double item_s = w.warmup_s + w.duration_s + item_overhead_s;
        prog.begin(w.name + " x " + s.name + " (round " + std::to_string(rep) + "/" +
                       std::to_string(rep > plan.repetitions ? plan.max_repeat : plan.repetitions) +
                       (plan.until_width && rep <= plan.repetitions ? "+" : "") + ")",
                   item_s);
        if (unavailable.count(s.name)) {
          prog.note(s.name + ": unavailable (skipped)");
          continue;
        }
        const measurement_context ctx{plan, w, rep, pos, nofile, interrupt, prog, requested, scaled};
        measurement_run r = drive ? measure_target(ctx) : measure_server(ctx, s);
        if (r.status == "unavailable") {
          unavailable.insert(s.name);
          res["status"] = "unavailable";
          res["status_reason"] = r.reason;
          prog.note(s.name + " is unavailable here: " + r.reason);
          continue;
        }
        if (!r.measurement.is_null()) res["repetitions"].push_back(r.measurement);
        notify(plan, run_point::measurement_end, w.name);
        if (r.status == "failed") {
          res["status"] = "failed";
          res["status_reason"] = r.reason.empty() ? "see the repetitions' invalid_reasons" : r.reason;
          all_valid = false;
          prog.note(s.name + " failed: " + (r.reason.empty() ? r.measurement["invalid_reasons"].dump() : r.reason));
        } else if (r.status == "invalid" && cut_by_interrupt(r.measurement)) {
          prog.note("interrupted");  // the result is marked incomplete below
        } else if (r.status == "invalid") {
          if (res["status"] == "ok") res["status"] = "invalid";
          all_valid = false;
          prog.note("invalid: " + r.measurement["invalid_reasons"].dump());
        } else {
          const auto& m = r.measurement;
          std::ostringstream line;
          line.precision(0);
          line << std::fixed << m["throughput_rps"].get<double>() << " req/s";
          if (m["latency_us"].is_object())
            line << ", p50 " << m["latency_us"]["p50"] << " us, p99 " << m["latency_us"]["p99"] << " us";
          if (m["client"]["generator_saturated"].get<bool>()) line << "  [harness saturated]";
          prog.note(line.str());
        }
      }
    }
    if (unavailable.size() && per_server.size())
      for (const auto& n : unavailable)
        if (per_server.count(n) && per_server[n]["repetitions"].empty()) per_server[n]["status"] = "unavailable";
    json entry = {{"name", w.name},
                  {"file", original.file.empty() ? json(nullptr) : json(original.file)},
                  {"workload", original.to_json()},
                  {"results", json::array()},
                  {"comparisons", json::array()}};
    if (plan.until_width) {
      if (length.is_null() || length["stopped"].is_null()) {
        std::size_t rounds_run = 0;  // the most any server ran (an unavailable one ran none)
        for (const auto& [name, res] : per_server) rounds_run = std::max(rounds_run, res["repetitions"].size());
        length = {{"rounds", rounds_run},
                  {"until_width", *plan.until_width},
                  {"max_repeat", plan.max_repeat},
                  {"widest", nullptr}};
        length["stopped"] = "interrupted";
      }
      entry["rounds"] = std::move(length);
    }
    for (const auto& s : servers) {
      json& res = per_server[s.name];
      // Fewer repetitions than planned, or the last one cut short.
      const json& reps = res["repetitions"];
      if (interrupt.load() && res["status"] == "ok" &&
          (reps.size() < plan.repetitions || (!reps.empty() && cut_by_interrupt(reps.back()))))
        res["status"] = "incomplete";
      res["summary"] = summary_json(res["repetitions"], offered_rate(entry["workload"]),
                                    poisson_rate(entry["workload"]));
      entry["results"].push_back(std::move(res));
    }
    if (!drive) entry["comparisons"] = comparisons_json(entry["results"], baseline, plan.margin, is_open_loop(w));
    report["workloads"].push_back(std::move(entry));
    correct_report_verdicts(report["workloads"]);
    write(false, "still running");
    notify(plan, run_point::workload_end, w.name);
  }
  prog.end();
  const bool interrupted = interrupt.load();
  write(!interrupted, interrupted ? "interrupted (Ctrl-C): only what finished is here" : "");
  std::cerr << "ran " << report["workloads"].size() << " workload(s) in "
            << format_duration(prog.elapsed()) << "\nreport: " << plan.out.string() << "\n";
  if (interrupted) return 130;
  return all_valid ? 0 : 1;
}

}  // namespace ioduel::harness
