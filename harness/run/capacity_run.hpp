#pragma once
// `ioduel capacity`: for each server, the rate search of capacity.hpp with
// real measurements.  The servers are searched side by side: at each step
// every server still searching measures its own next rate, `repetitions`
// times, in rounds whose server order is shuffled as in a run, so that drift
// on the machine hits every server's step alike.  The report is written after
// every step (atomically), so an interrupted search keeps what it found.

#include <atomic>

#include "harness/run/capacity.hpp"
#include "harness/run/runner.hpp"
#include "harness/workload/workload.hpp"

namespace ioduel::harness {

struct capacity_plan {
  // command "capacity"; servers or target, pins, seed, out, quiet, argv.
  run_plan run;
  workload w;  // at its own rate; each step scales its open-loop groups
  capacity_criteria criteria;
  search_settings search;
  unsigned repetitions = 3;  // per step and server
};

// Returns 0 when every server's search ended with a figure for the server
// (or the generator's limit, said so), 1 when a server failed or was
// unavailable, 130 when interrupted.
int execute_capacity(const capacity_plan& plan, const std::atomic<bool>& interrupt);

}  // namespace ioduel::harness
