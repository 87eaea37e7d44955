#pragma once
// What the ioduel command's subcommands share: the options of the measuring
// commands (run, sweep, drive, calibrate, capacity), CPU lists, where workloads and
// reports go, and the servers named on the command line.  Only main.cpp and
// calibrate.cpp include it: CLI11 stays out of the library.

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "harness/run/runner.hpp"
#include "harness/servers/servers.hpp"
#include "harness/workload/workload.hpp"

namespace ioduel::harness::cli {

// "0,2-3" -> {0, 2, 3}; throws CLI::ValidationError naming --pin.
std::vector<int> parse_cpus(const std::string& text);

// --workloads-dir, else $IODUEL_WORKLOADS_DIR, else ./workloads when it has
// suites, else the source tree's.
std::filesystem::path workloads_dir(const std::string& flag);

// results/runs/<time>-<what>-<host>.json
std::string default_out(const std::string& what);

// Options every measuring command shares.
struct common_options {
  std::vector<std::string> workload_files;
  std::string out;
  std::string pin_client, pin_server;
  std::optional<double> duration, warmup;
  bool quiet = false;
};

void add_common(CLI::App* cmd, common_options& o, bool many_workloads);

// The workloads of the files, with --duration and --warmup applied.
std::vector<workload> load_all(const std::vector<std::string>& files, const common_options& o);

struct server_options_cli {
  std::vector<std::string> names;
  std::vector<std::string> commands;  // NAME=command line
  std::string bin_dir;
  std::uint64_t seed = 1;
  double margin_pct = 3;
};

void add_servers(CLI::App* cmd, server_options_cli& s);

// The servers named (or, with none named, those of --server-cmd), then any
// --server-cmd ones not named; throws CLI::ValidationError for an unknown name.
std::vector<server_spec> resolve_servers(const server_options_cli& s, std::vector<std::string> names);

// The suite's workloads (with --duration and --warmup) and rounds into the
// plan; its servers into `names` when none were named.
void add_suite(run_plan& plan, const std::string& suite_name, const std::filesystem::path& workloads,
               const common_options& o, std::vector<std::string>& names);

// The A/A plan of `server` over the plan's workloads and rounds: the server
// as itself and as calibration_twin(server); its report goes beside the
// plan's (<out>.calibration.json).
run_plan calibration_plan(const run_plan& plan, const server_spec& server);

// Runs a calibration plan, adds its noise floor (calibration_summary) to the
// report as "calibration", and prints it.  Returns execute()'s status.
int calibrate_command(const run_plan& cal, const std::atomic<bool>& interrupt);

// The "calibration" of a calibrate report, plus its file name, for a run
// report's metadata; throws std::runtime_error if it has none.
nlohmann::json calibration_of(const std::string& report_file);

// `ioduel capacity` (capacity_command.cpp).
struct capacity_options {
  common_options common;
  server_options_cli servers;
  std::string target;  // HOST:PORT: a server already running
  std::vector<std::string> slo;
  unsigned repeat = 3;
  std::optional<double> start_rps;
  double max_rps = 1e7;
  double growth = 2;
  double resolution_pct = 2;
  double tolerance_pct = 2;
  unsigned max_steps = 24;
};
CLI::App* add_capacity(CLI::App& app, capacity_options& c);
int capacity_command(const capacity_options& c, const std::vector<std::string>& argv,
                     const std::atomic<bool>& interrupt);

// `ioduel validate`: 0 when the report matches the schema.
int validate_command(const std::string& report_file, const std::string& schema_file);

}  // namespace ioduel::harness::cli
