#pragma once
// The capacity search (`ioduel capacity`, docs/workloads.md "Capacity"):
// the highest offered rate at which a server still meets a latency
// objective.  Three pieces, free of sockets so that they can be tested on
// their own; capacity_run.cpp drives them with real measurements.
//
//   objective     "p99=1ms": a percentile of the latency and its bound.
//   judge_step    one step's repetitions (measurements at one offered rate)
//                 -> holds, fails or generator-limited, with the reasons.
//   rate_search   which rate to measure next: grow geometrically from the
//                 start to the first failure (or shrink to the first hold),
//                 then bisect between the highest rate that held and the
//                 lowest that failed until they are within the resolution.
//                 Every rate it asks for lies between the two, so the steps
//                 are monotone: whatever held lies below whatever failed.
//                 A generator-limited step is measured once more; a second
//                 one ends the search at the generator's limit.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

// One latency objective: `percentile` is a key of a measurement's
// latency_us ("p50", "p90", "p99", "p99_9", "p99_99", "max").
struct latency_objective {
  std::string percentile;
  double bound_us = 0;
  std::string text;  // as given: "p99=1ms"
};

// "p99=1ms", "p50=200us", "p99.9=5ms", "p99=1500" (µs): throws
// std::invalid_argument saying what is wrong.
latency_objective parse_objective(const std::string& text);

// What a step must show to hold.
struct capacity_criteria {
  std::vector<latency_objective> objectives;
  double rate_tolerance = 0.02;  // achieved at most this far below offered
  // The part of the offered rate whose arrivals are Poisson, whose request
  // count over a window varies (achieved_rate_floor); the rest is uniform.
  double poisson_share = 1;
};

enum class step_verdict : std::uint8_t { holds, fails, generator_limited };
const char* to_string(step_verdict v) noexcept;

// One step as the report holds it: its figures (medians over repetitions,
// with intervals), its verdict and why.
struct step_judgement {
  step_verdict verdict = step_verdict::fails;
  bool every_repetition_held = false;  // the step's bracket is conservative on this
  std::vector<std::string> reasons;    // why it failed or was generator-limited
  nlohmann::json figures;              // offered_rps, achieved_rps, latency_us, cpu_us_per_request
};

// `repetitions`: the measurements' JSON (as in a report) at `offered_rps`.
// A step holds when the median of every objective's percentile is within
// its bound, the median achieved rate is within the tolerance of the
// offered, and no repetition had an error or was invalid.  A step that
// fails while more than half of its repetitions had a saturated generator is
// generator-limited instead, unless the latency counted from each request's
// actual send (latency_uncorrected_us) is over the bound too: the failure
// may be the generator's, so it says nothing about the server.  (One that holds with a saturated generator
// holds: a late generator only makes latency, counted from the intended
// send time, look worse.)
step_judgement judge_step(const std::vector<nlohmann::json>& repetitions, double offered_rps,
                          const capacity_criteria& criteria);

struct search_settings {
  double start_rps = 1000;
  double growth = 2;          // factor between steps before the first failure
  double resolution = 0.02;   // stop when lowest failed / highest held <= 1 + this
  double max_rps = 1e7;       // the search never asks for more
  double min_rps = 1;         // nor for less
  unsigned max_steps = 24;
};

// Where the search stands, and, once done, why it stopped.
class rate_search {
 public:
  enum class phase : std::uint8_t { growing, shrinking, bisecting, done };

  explicit rate_search(const search_settings& s);

  phase current_phase() const noexcept { return phase_; }
  bool done() const noexcept { return phase_ == phase::done; }
  // The rate to measure next; nothing once done.
  std::optional<double> next_rate() const;
  void record(double offered_rps, step_verdict v);
  // Ends the search early (interrupt, or a server that failed).
  void stop(std::string why);

  unsigned steps() const noexcept { return steps_; }
  std::optional<double> highest_held() const noexcept { return held_; }
  std::optional<double> lowest_failed() const noexcept { return failed_; }
  // Why it stopped: "resolution reached", "generator limit", "max rate
  // reached", "max steps reached", "held at no rate tried", or stop()'s.
  const std::string& stopped() const noexcept { return stopped_; }

 private:
  void finish(std::string why);

  search_settings s_;
  phase phase_ = phase::growing;
  unsigned steps_ = 0;
  std::optional<double> held_, failed_, generator_limit_;
  std::optional<double> retrying_;  // a generator-limited rate, measured once more
  std::string stopped_;
};

// The capacity object of one server's result (results/schema.json): the
// answer, its bracket, the objective and every step.  `steps` are the
// steps' JSON in the order measured (each with offered_rps, verdict and
// every_repetition_held).
nlohmann::json capacity_json(const rate_search& search, const capacity_criteria& criteria,
                             const nlohmann::json& steps);

}  // namespace ioduel::harness
