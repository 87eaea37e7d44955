#pragma once
// One measurement: one repetition of a workload against one server, started
// fresh on a free port, driven by the engine while its CPU, memory and STATS
// are sampled at the window's edges, then stopped with SIGTERM; or, for
// `drive`, the engine alone against a server already running.  The result is
// the repetition's JSON as the report holds it (docs/results.md), with the
// reasons it is invalid, if any.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/run/progress.hpp"
#include "harness/run/runner.hpp"

namespace ioduel::harness {

struct measurement_run {
  nlohmann::json measurement;  // null when the server never started
  bool valid = false;
  std::string status = "ok";  // ok, invalid, unavailable, failed
  std::string reason;
};

// What one measurement needs from the run around it.
struct measurement_context {
  const run_plan& plan;
  const workload& w;            // as run: connections fitted to the open-file limit
  unsigned repetition;          // the round, from 1
  std::size_t position;         // the server's place in the round's order
  std::uint64_t nofile;         // the servers' open-file limit
  const std::atomic<bool>& interrupt;
  progress& prog;
  std::uint64_t requested;      // connections the workload asked for
  const std::string& scaled;    // why fewer were used, or ""
};

measurement_run measure_server(const measurement_context& ctx, const server_spec& server);
measurement_run measure_target(const measurement_context& ctx);

// A measurement that is invalid only because Ctrl-C cut it short: it says
// nothing against the server.
bool cut_by_interrupt(const nlohmann::json& measurement);

// A workload whose request rate is set by the workload itself (every group
// open loop, or a trace replayed at its recorded times): its throughput is
// an input, not a result, and is not compared.
bool is_open_loop(const workload& w);

// Calls the plan's observer, if any.
void notify(const run_plan& plan, run_point point, const std::string& workload);

}  // namespace ioduel::harness
