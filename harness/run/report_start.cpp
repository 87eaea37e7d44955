#include "harness/run/report_start.hpp"

#include "harness/report/report.hpp"

namespace ioduel::harness {

using json = nlohmann::json;

report_start::report_start(const run_plan& plan)
    : plan_(plan), started_(utc_now_iso()), nofile_(raise_nofile_limit()), servers_(plan.servers) {
  if (drive()) servers_ = {server_spec{plan.target->to_string(), {}}};
  baseline_ = servers_.empty() ? "" : servers_.front().name;
  report_ = {{"schema_version", report_schema_version},
             {"kind", "ioduel-report"},
             {"command", plan.command},
             {"argv", plan.argv},
             {"complete", false},
             {"incomplete_reason", "still running"},
             {"metadata", nullptr},
             {"suite", plan.suite ? json(*plan.suite) : json(nullptr)},
             {"sweep", plan.sweep_parameter
                           ? json{{"parameter", *plan.sweep_parameter}, {"values", plan.sweep_values}}
                           : json(nullptr)},
             {"repetitions", plan.repetitions},
             {"seed", plan.seed},
             {"margin", plan.margin},
             {"baseline", drive() ? json(nullptr) : json(baseline_)},
             {"target", drive() ? json(plan.target->to_string()) : json(nullptr)},
             {"servers", json::array()},
             {"workloads", json::array()}};
  for (const auto& s : servers_) report_["servers"].push_back({{"name", s.name}, {"command", command_of(s)}});
}

std::vector<std::string> report_start::command_of(const server_spec& s) const {
  std::vector<std::string> argv = s.argv;
  if (!drive()) argv.insert(argv.end(), {"--port", "0"});
  return argv;
}

void report_start::write(bool complete, const std::string& reason) {
  report_["complete"] = complete;
  report_["incomplete_reason"] = complete ? json(nullptr) : json(reason);
  report_["metadata"] = run_metadata(started_, utc_now_iso(),
                                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(),
                                     plan_.pin_client, plan_.pin_server, nofile_);
  report_["metadata"]["calibration"] = plan_.calibration;
  write_report_atomically(report_, plan_.out);
}

}  // namespace ioduel::harness
