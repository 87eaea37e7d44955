#include "harness/run/capacity_run.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "harness/report/report.hpp"
#include "harness/report/summary.hpp"
#include "harness/run/measurement.hpp"
#include "harness/run/progress.hpp"
#include "harness/run/report_start.hpp"

namespace ioduel::harness {

namespace {

using json = nlohmann::json;

// Steps a search usually takes (growing, then bisecting to 2%): for the
// progress estimate only.
constexpr unsigned expected_steps = 10;

std::string rate_text(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", r);
  return buf;
}

// Where one server's search stands.
struct server_search {
  const server_spec* spec;
  rate_search search;
  json result;       // server_result of the report
  json steps = json::array();
};

}  // namespace

int execute_capacity(const capacity_plan& plan, const std::atomic<bool>& interrupt) {
  const run_plan& rp = plan.run;
  report_start start(rp);
  const bool drive = start.drive();
  const std::vector<server_spec>& servers = start.servers();
  const std::uint64_t nofile = start.nofile();

  workload base = plan.w;
  const std::uint64_t requested = base.total_connections();
  const std::string scaled = fit_connections(base, nofile);

  const auto command_of = [&start](const server_spec& s) { return start.command_of(s); };
  json objectives = json::array();
  for (const auto& o : plan.criteria.objectives) objectives.push_back(o.text);
  json& report = start.report();
  report["repetitions"] = plan.repetitions;  // per step
  report["capacity"] = {{"objectives", objectives},
                        {"rate_tolerance", plan.criteria.rate_tolerance},
                        {"repetitions_per_step", plan.repetitions},
                        {"start_rps", plan.search.start_rps},
                        {"growth", plan.search.growth},
                        {"resolution", plan.search.resolution},
                        {"max_rps", plan.search.max_rps},
                        {"max_steps", plan.search.max_steps}};

  std::vector<server_search> searches;
  for (const auto& s : servers)
    searches.push_back({&s, rate_search(plan.search),
                        {{"server", s.name}, {"command", command_of(s)}, {"status", "ok"},
                         {"status_reason", nullptr}, {"repetitions", json::array()}},
                        json::array()});

  const auto workload_entry = [&] {
    json entry = {{"name", base.name},
                  {"file", base.file.empty() ? json(nullptr) : json(base.file)},
                  {"workload", plan.w.to_json()},
                  {"results", json::array()},
                  {"comparisons", json::array()}};
    for (const auto& s : searches) {
      json r = s.result;
      r["summary"] = summary_json(json::array());
      r["capacity"] = capacity_json(s.search, plan.criteria, s.steps);
      entry["results"].push_back(std::move(r));
    }
    return entry;
  };
  const auto write = [&](bool complete, const std::string& reason) {
    report["workloads"] = json::array({workload_entry()});
    start.write(complete, reason);
  };

  const double item_s = base.warmup_s + base.duration_s + item_overhead_s;
  progress prog(expected_steps * plan.repetitions * servers.size(),
                expected_steps * plan.repetitions * servers.size() * item_s, rp.quiet);
  if (!scaled.empty()) prog.note(base.name + ": " + scaled);
  notify(rp, run_point::workload_begin, base.name);

  bool all_well = true;
  std::size_t measured = 0, planned = expected_steps * plan.repetitions * servers.size();
  for (unsigned step = 1; !interrupt.load(); ++step) {
    std::vector<std::size_t> active;
    for (std::size_t k = 0; k < searches.size(); ++k)
      if (!searches[k].search.done()) active.push_back(k);
    if (active.empty()) break;
    std::map<std::size_t, double> rate;
    std::map<std::size_t, std::vector<json>> reps;
    for (const std::size_t k : active) rate[k] = *searches[k].search.next_rate();
    if (measured + active.size() * plan.repetitions > planned) {
      prog.extend(active.size() * plan.repetitions, active.size() * plan.repetitions * item_s);
      planned += active.size() * plan.repetitions;
    }
    for (unsigned rep = 1; rep <= plan.repetitions && !interrupt.load(); ++rep) {
      const auto order = round_order(active.size(), rp.seed, step, rep);
      for (std::size_t pos = 0; pos < order.size() && !interrupt.load(); ++pos) {
        server_search& s = searches[active[order[pos]]];
        if (s.search.done()) continue;  // unavailable or failed earlier in this step
        const double r = rate[active[order[pos]]];
        workload w = base;
        scale_offered_rate(w, r);
        prog.begin(base.name + " x " + s.spec->name + ": step " + std::to_string(step) + " at " + rate_text(r) +
                       " req/s (" + std::to_string(rep) + "/" + std::to_string(plan.repetitions) + ")",
                   item_s);
        ++measured;
        const measurement_context ctx{rp, w, rep, pos, nofile, interrupt, prog, requested, scaled};
        measurement_run m = drive ? measure_target(ctx) : measure_server(ctx, *s.spec);
        if (m.status == "unavailable") {
          s.result["status"] = "unavailable";
          s.result["status_reason"] = m.reason;
          s.search.stop("unavailable: " + m.reason);
          prog.note(s.spec->name + " is unavailable here: " + m.reason);
          continue;
        }
        if (m.measurement.is_null()) {
          s.result["status"] = "failed";
          s.result["status_reason"] = m.reason;
          s.search.stop("failed: " + m.reason);
          all_well = false;
          prog.note(s.spec->name + " failed: " + m.reason);
          continue;
        }
        m.measurement.erase("intervals");  // the steps are many; their figures are what is read
        if (m.status == "failed") {
          s.result["status"] = "failed";
          s.result["status_reason"] = m.reason.empty() ? "see the step's repetitions" : m.reason;
          all_well = false;
        }
        std::ostringstream line;
        line.precision(0);
        line << std::fixed << m.measurement.value("throughput_rps", 0.0) << " req/s";
        if (m.measurement["latency_us"].is_object())
          line << ", p50 " << m.measurement["latency_us"]["p50"] << " us, p99 " << m.measurement["latency_us"]["p99"]
               << " us";
        if (!m.valid) line << "  [invalid: " << m.measurement["invalid_reasons"].dump() << "]";
        if (m.measurement["client"]["generator_saturated"].get<bool>()) line << "  [harness saturated]";
        prog.note(line.str());
        reps[active[order[pos]]].push_back(std::move(m.measurement));
        notify(rp, run_point::measurement_end, base.name);
      }
    }
    if (interrupt.load()) break;
    for (const std::size_t k : active) {
      server_search& s = searches[k];
      if (s.search.done()) continue;
      const step_judgement j = judge_step(reps[k], rate[k], plan.criteria);
      json st = j.figures;
      st["step"] = step;
      st["phase"] = s.search.current_phase() == rate_search::phase::growing     ? "growing"
                    : s.search.current_phase() == rate_search::phase::shrinking ? "shrinking"
                                                                                : "bisecting";
      st["verdict"] = to_string(j.verdict);
      st["every_repetition_held"] = j.every_repetition_held;
      st["reasons"] = j.reasons;
      st["repetitions"] = std::move(reps[k]);
      s.steps.push_back(std::move(st));
      s.search.record(rate[k], j.verdict);
      prog.note(s.spec->name + ": " + rate_text(rate[k]) + " req/s " + to_string(j.verdict) +
                (j.reasons.empty() ? std::string() : " (" + j.reasons.front() + ")"));
      if (s.search.done()) prog.note(s.spec->name + ": search done, " + s.search.stopped());
    }
    write(false, "still running");
  }
  for (auto& s : searches) {
    if (interrupt.load() && !s.search.done()) {
      s.search.stop("interrupted");
      if (s.result["status"] == "ok") s.result["status"] = "incomplete";
    }
    if (s.result["status"] != "ok" && s.result["status"] != "incomplete") all_well = false;
  }
  notify(rp, run_point::workload_end, base.name);
  prog.end();
  const bool interrupted = interrupt.load();
  write(!interrupted, interrupted ? "interrupted (Ctrl-C): only the steps that finished are here" : "");
  std::cerr << "searched " << searches.size() << " server(s) in " << format_duration(prog.elapsed())
            << "\nreport: " << rp.out.string() << "\n";
  if (interrupted) return 130;
  return all_well ? 0 : 1;
}

}  // namespace ioduel::harness
