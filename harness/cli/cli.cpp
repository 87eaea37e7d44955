#include "harness/cli/cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "harness/report/calibration.hpp"
#include "harness/report/json_schema.hpp"
#include "harness/report/report.hpp"

#ifndef IODUEL_SOURCE_DIR
#define IODUEL_SOURCE_DIR "."
#endif

namespace ioduel::harness::cli {

namespace fs = std::filesystem;

// "0,2-3" -> {0, 2, 3}
std::vector<int> parse_cpus(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto dash = part.find('-');
    try {
      if (dash == std::string::npos) {
        cpus.push_back(std::stoi(part));
      } else {
        const int lo = std::stoi(part.substr(0, dash)), hi = std::stoi(part.substr(dash + 1));
        if (hi < lo) throw std::invalid_argument(part);
        for (int c = lo; c <= hi; ++c) cpus.push_back(c);
      }
    } catch (const std::exception&) {
      throw CLI::ValidationError("--pin", "'" + text + "' is not a CPU list like 0,2-3");
    }
  }
  for (int c : cpus)
    if (c < 0 || c >= CPU_SETSIZE) throw CLI::ValidationError("--pin", "CPU " + std::to_string(c) + " is out of range");
  return cpus;
}

fs::path workloads_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("IODUEL_WORKLOADS_DIR"); env && *env) return env;
  if (fs::exists("workloads/suites")) return "workloads";
  return fs::path(IODUEL_SOURCE_DIR) / "workloads";
}

std::string default_out(const std::string& what) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string stamp = utc_now_iso();
  std::erase(stamp, ':');
  std::erase(stamp, '-');
  return "results/runs/" + stamp + "-" + what + "-" + host + ".json";
}


void add_common(CLI::App* cmd, common_options& o, bool many_workloads) {
  auto* w = cmd->add_option("--workload,-w", o.workload_files, "workload file (JSON, see docs/workloads.md)")
                ->check(CLI::ExistingFile);
  if (!many_workloads) w->expected(1);
  cmd->add_option("--out,-o", o.out, "report file (default results/runs/<time>-<command>-<host>.json)");
  cmd->add_option("--pin-client", o.pin_client, "CPUs for the client engine's threads, e.g. 1 or 0,2-3");
  cmd->add_option("--duration", o.duration, "override every workload's measured seconds")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o.warmup, "override every workload's warm-up seconds")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet,-q", o.quiet, "no per-second progress line");
}

std::vector<workload> load_all(const std::vector<std::string>& files, const common_options& o) {
  std::vector<workload> out;
  for (const auto& f : files)
    for (auto& w : load_workload_file(f)) out.push_back(std::move(w));
  for (auto& w : out) {
    if (o.duration) w.duration_s = *o.duration;
    if (o.warmup) w.warmup_s = *o.warmup;
  }
  return out;
}


void add_servers(CLI::App* cmd, server_options_cli& s) {
  std::string known;
  for (const auto& n : known_server_names()) known += (known.empty() ? "" : ", ") + n;
  cmd->add_option("--server,-s", s.names, "server to measure, by name (" + known + ", or one from --server-cmd); the first is the baseline");
  cmd->add_option("--server-cmd", s.commands, "NAME='command line': another server (the harness adds --port 0)");
  cmd->add_option("--bin-dir", s.bin_dir, "where the server binaries are (default: $IODUEL_BIN_DIR, else this build tree)");
  cmd->add_option("--seed", s.seed, "draws each round's server order (the same seed, the same orders)")
      ->capture_default_str();
  cmd->add_option("--margin", s.margin_pct,
                  "practical margin in percent: faster/slower only beyond it, same within it (docs/results.md)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
}

std::vector<server_spec> resolve_servers(const server_options_cli& s, std::vector<std::string> names) {
  const fs::path bin = s.bin_dir.empty() ? default_bin_dir() : fs::path(s.bin_dir);
  std::map<std::string, server_spec> custom;
  std::vector<std::string> custom_order;
  for (const auto& c : s.commands) {
    const auto eq = c.find('=');
    if (eq == std::string::npos || eq == 0)
      throw CLI::ValidationError("--server-cmd", "'" + c + "' is not NAME='command line'");
    server_spec spec{c.substr(0, eq), split_command_line(c.substr(eq + 1))};
    if (spec.argv.empty()) throw CLI::ValidationError("--server-cmd", "'" + c + "' has an empty command");
    custom_order.push_back(spec.name);
    custom[spec.name] = std::move(spec);
  }
  if (names.empty()) names = custom_order;
  std::vector<server_spec> out;
  for (const auto& n : names) {
    if (custom.count(n)) {
      out.push_back(custom[n]);
    } else if (auto spec = named_server(n, bin)) {
      out.push_back(*spec);
    } else {
      throw CLI::ValidationError("--server", "no server named '" + n + "'");
    }
  }
  // --server-cmd servers not named with --server still run, after the named ones.
  for (const auto& n : custom_order)
    if (std::find(names.begin(), names.end(), n) == names.end()) out.push_back(custom[n]);
  return out;
}

void add_suite(run_plan& plan, const std::string& suite_name, const fs::path& workloads,
               const common_options& o, std::vector<std::string>& names) {
  const suite s = load_suite(suite_name, workloads / "suites");
  plan.suite = s.name;
  plan.repetitions = s.repetitions;
  for (const auto& e : s.workloads)
    for (auto& w : load_workload_file(e.file, e.overrides)) plan.workloads.push_back(std::move(w));
  if (names.empty()) names = s.servers;
  for (auto& w : plan.workloads) {
    if (o.duration) w.duration_s = *o.duration;
    if (o.warmup) w.warmup_s = *o.warmup;
  }
}

run_plan calibration_plan(const run_plan& plan, const server_spec& server) {
  run_plan cal = plan;
  cal.command = "calibrate";
  cal.until_width.reset();
  cal.calibration = nullptr;
  server_spec twin = server;
  twin.name = calibration_twin(server.name);
  cal.servers = {server, twin};
  cal.out = plan.out;
  cal.out.replace_extension(".calibration.json");
  return cal;
}

int calibrate_command(const run_plan& cal, const std::atomic<bool>& interrupt) {
  const int rc = execute(cal, interrupt);
  std::ifstream in(cal.out);
  if (!in) return rc;
  nlohmann::json report = nlohmann::json::parse(in);
  report["calibration"] = calibration_summary(report);
  write_report_atomically(report, cal.out);
  print_calibration(report["calibration"], std::cout);
  return rc;
}

nlohmann::json calibration_of(const std::string& report_file) {
  std::ifstream in(report_file);
  if (!in) throw std::runtime_error("cannot read " + report_file);
  const nlohmann::json report = nlohmann::json::parse(in);
  if (!report.contains("calibration") || !report["calibration"].is_object())
    throw std::runtime_error(report_file + " is not a calibrate report (it has no calibration)");
  nlohmann::json c = report["calibration"];
  c["file"] = report_file;
  return c;
}

int validate_command(const std::string& report_file, const std::string& schema_file) {
  const auto read = [](const std::string& f) {
    std::ifstream in(f);
    if (!in) throw std::runtime_error("cannot read " + f);
    return nlohmann::json::parse(in);
  };
  const auto problems = validate_json(read(report_file), read(schema_file));
  for (const auto& p : problems) std::cerr << report_file << ": " << p << "\n";
  if (problems.empty()) std::cout << report_file << ": valid (" << schema_file << ")\n";
  return problems.empty() ? 0 : 1;
}

}  // namespace ioduel::harness::cli
