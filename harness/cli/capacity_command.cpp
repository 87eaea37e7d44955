// `ioduel capacity`: its options, their checks, and the plan they make
// (harness/run/capacity_run.hpp does the search).

#include <cmath>
#include <iostream>

#include "harness/cli/cli.hpp"
#include "harness/run/capacity_run.hpp"

namespace ioduel::harness::cli {

CLI::App* add_capacity(CLI::App& app, capacity_options& c) {
  auto* cmd = app.add_subcommand(
      "capacity",
      "for each server, the highest offered rate at which a latency objective holds: an open-loop rate "
      "search (grow, then bisect), the servers searched side by side");
  add_common(cmd, c.common, false);
  cmd->get_option("--workload")->required();
  add_servers(cmd, c.servers);
  cmd->remove_option(cmd->get_option("--margin"));
  cmd->add_option("--target,-t", c.target, "search a server already running at HOST:PORT instead of starting them")
      ->excludes("--server")
      ->excludes("--server-cmd");
  cmd->add_option("--slo", c.slo,
                  "latency objective PERCENTILE=BOUND, e.g. p99=1ms (repeatable; p50, p90, p99, p99.9, p99.99, "
                  "max; ns, us, ms or s)")
      ->required();
  cmd->add_option("--repeat,-r", c.repeat, "measurements per step and server (the step's median and interval)")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  cmd->add_option("--start-rate", c.start_rps, "the first step's offered rate, req/s (default: the workload's own)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-rate", c.max_rps, "the highest rate the search offers, req/s")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--growth", c.growth, "factor between steps until the first failure")
      ->check(CLI::Range(1.05, 100.0))
      ->capture_default_str();
  cmd->add_option("--resolution", c.resolution_pct,
                  "stop when the lowest failing rate is within PCT percent of the highest holding one")
      ->check(CLI::Range(0.1, 100.0))
      ->capture_default_str();
  cmd->add_option("--rate-tolerance", c.tolerance_pct,
                  "a step holds only if the achieved rate is within PCT percent of the offered")
      ->check(CLI::Range(0.0, 50.0))
      ->capture_default_str();
  cmd->add_option("--max-steps", c.max_steps, "the most steps per server")
      ->check(CLI::Range(1u, 200u))
      ->capture_default_str();
  cmd->add_option("--pin-server", c.common.pin_server, "CPUs for the servers, e.g. 0");
  return cmd;
}

int capacity_command(const capacity_options& c, const std::vector<std::string>& argv,
                     const std::atomic<bool>& interrupt) {
  capacity_plan plan;
  plan.run.command = "capacity";
  plan.run.argv = argv;
  const auto loaded = load_all(c.common.workload_files, c.common);
  if (loaded.size() != 1)
    throw CLI::ValidationError("--workload", "the file holds " + std::to_string(loaded.size()) +
                                                 " workloads (variants); capacity searches one");
  plan.w = loaded.front();
  if (const std::string why = why_not_rate_searchable(plan.w); !why.empty())
    throw CLI::ValidationError("capacity", why);
  for (const auto& text : c.slo) {
    try {
      plan.criteria.objectives.push_back(parse_objective(text));
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError("--slo", e.what());
    }
  }
  plan.criteria.rate_tolerance = c.tolerance_pct / 100;
  plan.criteria.poisson_share = poisson_share(plan.w);
  plan.search.start_rps = c.start_rps ? *c.start_rps : offered_rate_rps(plan.w);
  plan.search.max_rps = c.max_rps;
  plan.search.growth = c.growth;
  plan.search.resolution = c.resolution_pct / 100;
  plan.search.max_steps = c.max_steps;
  if (plan.search.start_rps > plan.search.max_rps)
    throw CLI::ValidationError("--max-rate", "is below the start rate (" +
                                                 std::to_string(std::lround(plan.search.start_rps)) + " req/s)");
  plan.repetitions = c.repeat;
  if (!c.target.empty()) {
    plan.run.target = parse_endpoint(c.target);
  } else {
    std::vector<std::string> names = c.servers.names;
    if (names.empty() && c.servers.commands.empty()) names = {"reactor", "proactor"};
    plan.run.servers = resolve_servers(c.servers, names);
  }
  plan.run.seed = c.servers.seed;
  plan.run.pin_client = c.common.pin_client.empty() ? std::vector<int>{} : parse_cpus(c.common.pin_client);
  plan.run.pin_server = c.common.pin_server.empty() ? std::vector<int>{} : parse_cpus(c.common.pin_server);
  plan.run.out = c.common.out.empty() ? default_out("capacity") : c.common.out;
  plan.run.quiet = c.common.quiet;
  return execute_capacity(plan, interrupt);
}

}  // namespace ioduel::harness::cli
