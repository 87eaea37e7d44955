#pragma once
// The part of a report that every run shares, opened and written in one
// place for `ioduel run` (runner.cpp) and `ioduel capacity` (capacity_run.cpp):
// the servers as run (the target alone when driving one), their command lines
// with the `--port 0` the runner adds, the report's header fields, and an
// atomic write that stamps the metadata up to now.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/run/runner.hpp"

namespace ioduel::harness {

// Seconds one measurement costs beyond its warm-up and window (start,
// connect, drain, stop): for progress estimates.
inline constexpr double item_overhead_s = 0.4;

class report_start {
 public:
  // Raises the open-file limit (raise_nofile_limit) and opens the report.
  explicit report_start(const run_plan& plan);

  const std::vector<server_spec>& servers() const noexcept { return servers_; }
  const std::string& baseline() const noexcept { return baseline_; }
  bool drive() const noexcept { return plan_.target.has_value(); }
  std::uint64_t nofile() const noexcept { return nofile_; }
  std::vector<std::string> command_of(const server_spec& s) const;

  nlohmann::json& report() noexcept { return report_; }

  // Writes the report to plan.out atomically, complete or with `reason`.
  void write(bool complete, const std::string& reason);

 private:
  const run_plan& plan_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::string started_;
  std::uint64_t nofile_ = 0;
  std::vector<server_spec> servers_;
  std::string baseline_;
  nlohmann::json report_;
};

}  // namespace ioduel::harness
