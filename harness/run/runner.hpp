#pragma once
// The runner: for each workload, repetition and server, start the server on
// a free port, drive it with the engine, collect its metrics from /proc and
// STATS, stop it, and put it all in one report.  A repetition is a round in
// which every server runs once, in an order shuffled per round from the
// run's seed, so that drift hits every server alike and the comparisons can
// pair each round's figures (harness/measure/paired.hpp); each server is restarted
// for each repetition.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/load/engine.hpp"
#include "harness/servers/servers.hpp"
#include "harness/workload/workload.hpp"

namespace ioduel::harness {

// The points in a run that a caller can observe (run_plan::observer).
enum class run_point : std::uint8_t {
  workload_begin,   // a workload is about to start its first measurement
  window_start,     // a measurement's window has begun (its warm-up is over)
  measurement_end,  // a measurement has ended and is recorded
  workload_end,     // the workload is in the report, and the report is written
};

struct run_plan {
  std::string command = "run";  // run, drive or sweep
  std::vector<std::string> argv;
  std::optional<std::string> suite;
  std::optional<std::string> sweep_parameter;
  std::vector<double> sweep_values;
  unsigned repetitions = 1;
  // --until-width: after `repetitions` rounds, add rounds to each workload
  // until every headline interval (round_widths) is at most this wide (a
  // fraction of its estimate), or max_repeat rounds have run.
  std::optional<double> until_width;
  unsigned max_repeat = 0;
  std::vector<workload> workloads;
  std::vector<server_spec> servers;  // run, sweep
  std::optional<endpoint> target;    // drive
  std::vector<int> pin_server, pin_client;
  std::uint64_t seed = 1;  // draws each round's server order (round_order)
  double margin = 0.03;    // the verdicts' practical margin, a fraction (docs/results.md)
  std::filesystem::path out;
  // A calibration's noise floor (harness/report/calibration.hpp) for the report's
  // metadata, or null.
  nlohmann::json calibration;
  bool quiet = false;  // no per-second progress lines
  // Called on the runner's thread at each run_point, with the workload's
  // name: for callers (tests) that must act at a known point of the run,
  // such as an interrupt in the middle of a measured window.
  std::function<void(run_point, const std::string& workload)> observer;
};

// Runs the plan and writes the report to plan.out (after every workload, and
// at the end; on interrupt, what finished, marked incomplete).  Returns the
// exit status: 0 all valid (unavailable servers allowed), 1 some result
// invalid or failed, 130 interrupted.
int execute(const run_plan& plan, const std::atomic<bool>& interrupt);

// The order in which `servers` servers run in round `round` (from 1) of the
// workload at `workload_index`: a permutation of 0..servers-1 drawn from
// `seed`, different from round to round, so that no server is always first
// or last and a run with the same seed runs in the same order.
std::vector<std::size_t> round_order(std::size_t servers, std::uint64_t seed, std::size_t workload_index,
                                     unsigned round);

// The widest headline interval of a workload's results so far, as a
// fraction of its estimate: of each comparison with the baseline (the
// paired ratio's interval) where there is more than one server, else of each
// server's median; over throughput, p50, p99 and CPU per request.  `what`
// names it ("proactor/reactor p99_us"); infinite while a measured figure has
// no interval yet; `what` is empty when nothing was measured at all.  Without
// a baseline result (unavailable, or no valid round), each server's medians.
struct widest_interval {
  double width = 0;
  std::string what;
};
widest_interval round_widths(const nlohmann::json& results, const std::string& baseline, double margin);

// --until-width's rule after `rounds` rounds of a workload: "nothing
// measured", "width reached" (the widest interval is at most `until_width`),
// "max-repeat reached" (`rounds` is at least `max_repeat`), or "" to add a round.
std::string length_stop(const widest_interval& widest, unsigned rounds, double until_width, unsigned max_repeat);

// Raises the open-file soft limit to the hard limit; returns the new limit.
std::uint64_t raise_nofile_limit();

// Scales the workload's connections down to fit `limit` open files (keeping a
// margin for the harness itself).  Returns the reason, or "" when it fits.
std::string fit_connections(workload& w, std::uint64_t limit);

}  // namespace ioduel::harness
