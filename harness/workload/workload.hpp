#pragma once
// A workload: what the client engine sends, to whom and for how long
// (docs/workloads.md).  Loaded from JSON and checked field by field, so that a
// typo fails with the file, the field and what is wrong instead of silently
// measuring something else.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/workload/random.hpp"
#include "protocol/frame.hpp"

namespace ioduel::harness {

// A workload file (or suite) that cannot be used: the message names the file
// and the field.
class workload_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A non-negative quantity drawn per request: fixed, uniform or log-normal.
struct distribution {
  enum class kind : std::uint8_t { fixed, uniform, lognormal };
  kind shape = kind::fixed;
  double a = 0;    // fixed: the value; uniform: min; lognormal: median
  double b = 0;    // uniform: max; lognormal: sigma
  double max = 0;  // lognormal: values are capped here

  static distribution constant(double v) { return {kind::fixed, v, 0, v}; }
  std::uint64_t sample(rng& r) const noexcept;
  double largest() const noexcept;
  double mean() const noexcept;  // lognormal: of the uncapped distribution, capped at max
  nlohmann::json to_json() const;
};

struct mix_entry {
  protocol::opcode op = protocol::opcode::echo;
  double weight = 1;
  distribution size;      // ECHO/SINK payload bytes, SOURCE bytes asked for
  distribution sleep_us;  // SLEEP only
};

enum class loop_kind : std::uint8_t { closed, open, idle };
enum class arrival_kind : std::uint8_t { uniform, poisson };

// Connections that behave alike.  A workload has one group or several (hog:
// one heavy connection beside light ones; idle-crowd: idle ones beside busy).
struct connection_group {
  std::string name = "main";
  std::uint32_t connections = 1;
  loop_kind loop = loop_kind::closed;
  std::uint32_t pipeline = 1;  // closed loop: requests in flight per connection
  double rate = 0;             // open loop: requests per second, whole group
  arrival_kind arrivals = arrival_kind::poisson;
  distribution think_us = distribution::constant(0);  // closed loop, after each reply
  std::uint64_t requests_per_connection = 0;  // 0: persistent; k: reconnect after k (churn)
  std::vector<mix_entry> mix;
};

// One line of a trace file.
struct trace_record {
  std::uint64_t t_us = 0;
  std::uint32_t connection = 0;
  protocol::opcode op = protocol::opcode::echo;
  std::uint32_t size = 0;  // payload bytes; SOURCE: bytes asked for; SLEEP: microseconds
};

// Replay of a recorded trace instead of generated groups.
struct trace_spec {
  std::string file;  // as written in the workload
  std::filesystem::path path;
  double speed = 1;  // 2: twice as fast as recorded
  bool as_fast_as_possible = false;
  std::uint32_t pipeline = 1;  // as fast as possible: requests in flight per connection
  std::uint32_t connections = 0;  // distinct connections in the file
  std::uint64_t period_us = 0;    // the trace repeats with this period while the run lasts
  std::vector<std::vector<trace_record>> per_connection;
};

struct workload {
  std::string name;
  std::string description;
  std::string file;  // where it came from ("" when built in code)
  std::uint64_t seed = 1;
  unsigned threads = 1;
  double warmup_s = 1;
  double duration_s = 5;
  std::uint32_t timeout_ms = 5'000;  // a request unanswered this long is a timeout
  std::vector<connection_group> groups;
  std::optional<trace_spec> trace;

  // Every connection the engine opens.
  std::uint64_t total_connections() const noexcept;
  // The largest payload any request sends or asks for.
  std::uint64_t largest_payload() const noexcept;
  // The workload as run, defaults filled in: goes into the report.
  nlohmann::json to_json() const;
};

// Parses one workload object.  `origin` names it in errors; relative trace
// paths are taken from `base_dir`.
workload parse_workload(const nlohmann::json& j, const std::string& origin,
                        const std::filesystem::path& base_dir);

// Reads a workload file.  `overrides` (a JSON merge patch, e.g. from a suite)
// is applied before checking.  A file with "variants" gives one workload per
// value.
std::vector<workload> load_workload_file(const std::filesystem::path& file,
                                         const nlohmann::json& overrides = nullptr);

// The parameters `sweep` and "variants" can vary.
inline constexpr const char* sweep_parameters[] = {"connections", "pipeline", "size", "threads",
                                                   "rate"};
bool is_sweep_parameter(const std::string& name) noexcept;
// Sets the parameter on every group it applies to; throws workload_error when it
// applies to none (e.g. rate on a closed-loop workload).
void apply_parameter(workload& w, const std::string& parameter, double value);

// The capacity search (ioduel capacity) varies a workload's offered rate:
// why `w` cannot be searched ("" when it can: every group open loop or idle,
// at least one open, no trace), its total offered rate, and the same workload
// at `total_rps`, every open-loop group scaled in proportion.
std::string why_not_rate_searchable(const workload& w);
double offered_rate_rps(const workload& w) noexcept;
// The fraction of that rate whose arrivals are Poisson (0 when there is none).
double poisson_share(const workload& w) noexcept;
void scale_offered_rate(workload& w, double total_rps);

// A suite: named workloads (with overrides) against named servers.
struct suite_entry {
  std::filesystem::path file;
  nlohmann::json overrides;
};
struct suite {
  std::string name;
  std::string description;
  std::vector<std::string> servers;
  unsigned repetitions = 1;
  std::vector<suite_entry> workloads;
};

// Finds suite NAME in `suites_dir` (NAME.json) or reads the file NAME.
suite load_suite(const std::string& name_or_file, const std::filesystem::path& suites_dir);

}  // namespace ioduel::harness
