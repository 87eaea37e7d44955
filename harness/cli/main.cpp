// ioduel: replays client workloads against servers speaking the ioduel
// protocol and writes what it measured as a JSON report (docs/workloads.md,
// results/schema.json).

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "harness/cli/cli.hpp"
#include "harness/load/engine.hpp"
#include "harness/report/json_schema.hpp"
#include "harness/measure/paired.hpp"
#include "harness/report/report.hpp"
#include "harness/run/runner.hpp"
#include "harness/workload/workload.hpp"

#include "harness/report/compare.hpp"
#include "harness/report/html.hpp"
#include "harness/report/show.hpp"

#ifndef IODUEL_SOURCE_DIR
#define IODUEL_SOURCE_DIR "."
#endif

namespace {

namespace fs = std::filesystem;
using namespace ioduel::harness;
using namespace ioduel::harness::cli;

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) { interrupted.store(true); }

// Ctrl-C (or SIGTERM) ends the current measurement and writes what finished;
// a second one kills as usual.
void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

}  // namespace

int main(int argc, char** argv) {
  install_interrupt_handler();
  CLI::App app{"ioduel: replays client workloads against ioduel-protocol servers and reports, in JSON, how they did"};
  app.require_subcommand(1);
  std::vector<std::string> args(argv, argv + argc);

  // drive
  common_options drive_o;
  std::string target;
  auto* drive = app.add_subcommand("drive", "the client alone, against a server already running");
  drive->add_option("--target,-t", target, "HOST:PORT of the server")->required();
  add_common(drive, drive_o, true);
  drive->get_option("--workload")->required();

  // run
  common_options run_o;
  server_options_cli run_s;
  std::string suite_name, wl_dir;
  unsigned repeat = 0;
  auto* run = app.add_subcommand("run", "start each server, drive it with each workload, stop it; repeat");
  add_common(run, run_o, true);
  add_servers(run, run_s);
  run->add_option("--suite", suite_name, "a suite from workloads/suites (quick, full) or a suite file");
  run->add_option("--repeat,-r", repeat, "rounds; in each every server runs once, in a shuffled order; verdicts need 5 (default: the suite's, else 1)")->check(CLI::PositiveNumber);
  run->add_option("--workloads-dir", wl_dir, "where suites are looked up (default: ./workloads, else the source tree's)");
  run->add_option("--pin-server", run_o.pin_server, "CPUs for the servers, e.g. 0");
  bool calibrate_first = false;
  std::string calibration_file;
  run->add_flag("--calibrate", calibrate_first,
                "first run the baseline server against itself (ioduel calibrate, same workloads and rounds) "
                "and put its noise floor in this report's metadata");
  run->add_option("--calibration", calibration_file,
                  "put the noise floor of this earlier calibrate report in the metadata")
      ->check(CLI::ExistingFile)
      ->excludes("--calibrate");
  double until_width_pct = 0;
  unsigned max_repeat = 20;
  auto* until_width = run->add_option(
      "--until-width", until_width_pct,
      "after --repeat rounds, add rounds to each workload until every headline interval (req/s, p50, p99, "
      "cpu/req: of each comparison, or of the one server) is narrower than PCT percent of its estimate");
  until_width->check(CLI::PositiveNumber);
  run->add_option("--max-repeat", max_repeat, "the most rounds --until-width runs a workload")
      ->check(CLI::PositiveNumber)
      ->needs(until_width)
      ->capture_default_str();

  // sweep
  common_options sweep_o;
  server_options_cli sweep_s;
  std::string vary;
  unsigned sweep_repeat = 1;
  auto* sweep = app.add_subcommand("sweep", "one workload over a range of one parameter");
  add_common(sweep, sweep_o, false);
  sweep->get_option("--workload")->required();
  add_servers(sweep, sweep_s);
  sweep->add_option("--vary", vary, "PARAM=v1,v2,...; PARAM is connections, pipeline, size, threads or rate")->required();
  sweep->add_option("--repeat,-r", sweep_repeat, "repetitions per value")->check(CLI::PositiveNumber);
  sweep->add_option("--pin-server", sweep_o.pin_server, "CPUs for the servers, e.g. 0");

  // calibrate
  common_options cal_o;
  server_options_cli cal_s;
  std::string cal_suite = "quick", cal_server = "reactor";
  unsigned cal_repeat = 0;
  auto* calibrate = app.add_subcommand(
      "calibrate", "this machine's noise floor: one server against itself, as A and B in the same rounds");
  add_common(calibrate, cal_o, true);
  add_servers(calibrate, cal_s);
  calibrate->remove_option(calibrate->get_option("--server"));
  calibrate->add_option("--server,-s", cal_server, "the server run as both A and B")->capture_default_str();
  calibrate->add_option("--suite", cal_suite, "the suite whose workloads it runs (unless --workload)")
      ->capture_default_str();
  calibrate->add_option("--repeat,-r", cal_repeat, "rounds (default: the suite's; with --workload, 5)")->check(CLI::PositiveNumber);
  calibrate->add_option("--workloads-dir", wl_dir, "where suites are looked up");
  calibrate->add_option("--pin-server", cal_o.pin_server, "CPUs for the servers, e.g. 0");

  // capacity
  capacity_options cap_o;
  auto* capacity = add_capacity(app, cap_o);

  // validate
  std::string report_file, schema_file = (fs::path(IODUEL_SOURCE_DIR) / "results" / "schema.json").string();
  auto* validate = app.add_subcommand("validate", "check a report against the JSON Schema");
  validate->add_option("report", report_file, "report file")->required()->check(CLI::ExistingFile);
  validate->add_option("--schema", schema_file, "schema file")->check(CLI::ExistingFile);

  std::string show_file;
  std::vector<std::string> compare_files;
  std::string show_format = "text", compare_format = "text";
  const auto add_format = [](CLI::App* cmd, std::string& format) {
    cmd->add_option("--format", format,
                    "text: for people (100 columns); json: for scripts; csv: for spreadsheets and pandas")
        ->check(CLI::IsMember({"text", "json", "csv"}))
        ->capture_default_str();
  };
  show_options show_o;
  auto* show = app.add_subcommand(
      "show", "a report's answer first (a matrix of ratios against the baseline, the winner of each "
              "workload), then its tables");
  show->add_option("report", show_file, "report file")->required()->check(CLI::ExistingFile);
  add_format(show, show_format);
  show->add_option("--metric", show_o.metric,
                   "the matrix's and comparisons' metric: throughput, p50, p99, p99.9, cpu (default: "
                   "throughput, or p99 where the workload sets its own rate)");
  show->add_option("--workload,-w", show_o.workloads, "only this workload (repeatable)");
  show->add_option("--server,-s", show_o.servers, "only this server, beside the baseline (repeatable)");
  bool show_color = false, show_no_color = false;
  show->add_flag("--color", show_color, "colour the verdicts even when not on a terminal");
  show->add_flag("--no-color", show_no_color, "no colour (also: NO_COLOR set, or not a terminal)")
      ->excludes("--color");
  auto* compare = app.add_subcommand(
      "compare", "one report: its servers side by side; two: before and after, with ratios and verdicts");
  compare->add_option("report", compare_files, "one or two report files")
      ->required()
      ->expected(1, 2)
      ->check(CLI::ExistingFile);
  add_format(compare, compare_format);
  double compare_margin_pct = 3;
  compare->add_option("--margin", compare_margin_pct,
                      "practical margin in percent: faster/slower only beyond it, same within it")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();

  std::vector<std::string> html_files;
  std::string html_out;
  auto* html = app.add_subcommand(
      "html", "one self-contained HTML page of a report (two: before and after), with charts; opens "
              "offline");
  html->add_option("report", html_files, "one or two report files")->required()->expected(1, 2)->check(CLI::ExistingFile);
  html->add_option("--out,-o", html_out, "the page to write")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (*validate) return validate_command(report_file, schema_file);
    if (*capacity) return capacity_command(cap_o, args, interrupted);

    run_plan plan;
    plan.argv = args;
    if (*drive) {
      plan.command = "drive";
      plan.target = parse_endpoint(target);
      plan.workloads = load_all(drive_o.workload_files, drive_o);
      plan.pin_client = drive_o.pin_client.empty() ? std::vector<int>{} : parse_cpus(drive_o.pin_client);
      plan.out = drive_o.out.empty() ? default_out("drive") : drive_o.out;
      plan.quiet = drive_o.quiet;
    } else if (*run) {
      plan.command = "run";
      std::vector<std::string> names = run_s.names;
      if (!suite_name.empty()) add_suite(plan, suite_name, workloads_dir(wl_dir), run_o, names);
      for (auto& w : load_all(run_o.workload_files, run_o)) plan.workloads.push_back(std::move(w));
      if (plan.workloads.empty()) throw CLI::ValidationError("run", "give --workload FILE or --suite NAME");
      if (names.empty() && run_s.commands.empty()) names = {"reactor", "proactor"};
      plan.servers = resolve_servers(run_s, names);
      plan.seed = run_s.seed;
      plan.margin = run_s.margin_pct / 100;
      if (repeat) plan.repetitions = repeat;
      if (*until_width) {
        if (max_repeat < plan.repetitions)
          throw CLI::ValidationError("--max-repeat", std::to_string(max_repeat) + " is fewer than the " +
                                                         std::to_string(plan.repetitions) + " rounds --repeat asks for");
        plan.until_width = until_width_pct / 100;
        plan.max_repeat = max_repeat;
      }
      plan.pin_client = run_o.pin_client.empty() ? std::vector<int>{} : parse_cpus(run_o.pin_client);
      plan.pin_server = run_o.pin_server.empty() ? std::vector<int>{} : parse_cpus(run_o.pin_server);
      plan.out = run_o.out.empty() ? default_out(plan.suite ? *plan.suite : "run") : run_o.out;
      plan.quiet = run_o.quiet;
      if (!calibration_file.empty()) plan.calibration = calibration_of(calibration_file);
      if (calibrate_first) {
        run_plan cal = calibration_plan(plan, plan.servers.front());
        const int rc = calibrate_command(cal, interrupted);
        if (rc == 130) return rc;
        plan.calibration = calibration_of(cal.out.string());
      }
    } else if (*calibrate) {
      plan.command = "calibrate";
      std::vector<std::string> unused;
      if (cal_o.workload_files.empty()) add_suite(plan, cal_suite, workloads_dir(wl_dir), cal_o, unused);
      for (auto& w : load_all(cal_o.workload_files, cal_o)) plan.workloads.push_back(std::move(w));
      // A calibration with fewer rounds than a verdict needs says nothing.
      if (cal_o.workload_files.empty() == false) plan.repetitions = min_rounds_for_verdict;
      if (cal_repeat) plan.repetitions = cal_repeat;
      plan.seed = cal_s.seed;
      plan.margin = cal_s.margin_pct / 100;
      plan.pin_client = cal_o.pin_client.empty() ? std::vector<int>{} : parse_cpus(cal_o.pin_client);
      plan.pin_server = cal_o.pin_server.empty() ? std::vector<int>{} : parse_cpus(cal_o.pin_server);
      plan.out = cal_o.out.empty() ? default_out("calibrate") : cal_o.out;
      plan.quiet = cal_o.quiet;
      run_plan cal = calibration_plan(plan, resolve_servers(cal_s, {cal_server}).front());
      cal.out = plan.out;
      return calibrate_command(cal, interrupted);
    } else if (*sweep) {
      plan.command = "sweep";
      const auto eq = vary.find('=');
      if (eq == std::string::npos) throw CLI::ValidationError("--vary", "'" + vary + "' is not PARAM=v1,v2,...");
      const std::string parameter = vary.substr(0, eq);
      if (!is_sweep_parameter(parameter))
        throw CLI::ValidationError("--vary", "'" + parameter + "' is not one of connections, pipeline, size, threads, rate");
      std::stringstream values(vary.substr(eq + 1));
      std::string v;
      while (std::getline(values, v, ',')) {
        try {
          plan.sweep_values.push_back(std::stod(v));
        } catch (const std::exception&) {
          throw CLI::ValidationError("--vary", "'" + v + "' is not a number");
        }
      }
      if (plan.sweep_values.empty()) throw CLI::ValidationError("--vary", "no values");
      plan.sweep_parameter = parameter;
      const auto base = load_all(sweep_o.workload_files, sweep_o);
      for (const auto& b : base)
        for (double value : plan.sweep_values) {
          workload w = b;
          apply_parameter(w, parameter, value);
          std::ostringstream name;
          name << b.name << "/" << parameter << "=" << value;
          w.name = name.str();
          plan.workloads.push_back(std::move(w));
        }
      std::vector<std::string> names = sweep_s.names;
      if (names.empty() && sweep_s.commands.empty()) names = {"reactor", "proactor"};
      plan.servers = resolve_servers(sweep_s, names);
      plan.seed = sweep_s.seed;
      plan.margin = sweep_s.margin_pct / 100;
      plan.repetitions = sweep_repeat;
      plan.pin_client = sweep_o.pin_client.empty() ? std::vector<int>{} : parse_cpus(sweep_o.pin_client);
      plan.pin_server = sweep_o.pin_server.empty() ? std::vector<int>{} : parse_cpus(sweep_o.pin_server);
      plan.out = sweep_o.out.empty() ? default_out("sweep") : sweep_o.out;
      plan.quiet = sweep_o.quiet;
    } else if (*show) {
      show_o.color = show_color || (!show_no_color && color_wanted(STDOUT_FILENO));
      return run_show(show_file, show_format, show_o, std::cout, std::cerr);
    } else if (*compare) {
      return run_compare(compare_files, compare_format, std::cout, std::cerr, compare_margin_pct / 100);
    } else if (*html) {
      return run_html(html_files, html_out, std::cerr);
    }
    return execute(plan, interrupted);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const workload_error& e) {
    std::cerr << "ioduel: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ioduel: " << e.what() << "\n";
    return 1;
  }
}
