#include "harness/run/capacity.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "harness/measure/statistics.hpp"
#include "harness/report/summary.hpp"

namespace ioduel::harness {

namespace {

using json = nlohmann::json;

// "99.9" -> "p99_9"; "max" stays.
std::string percentile_key(const std::string& name) {
  if (name == "max") return name;
  if (name.size() < 2 || name[0] != 'p') return "";
  std::string digits = name.substr(1), key = "p";
  bool dot = false;
  for (char c : digits) {
    if (c == '.' || c == '_') {
      if (dot) return "";
      dot = true;
      key += '_';
    } else if (c >= '0' && c <= '9') {
      key += c;
    } else {
      return "";
    }
  }
  static const char* known[] = {"p50", "p90", "p99", "p99_9", "p99_99"};
  for (const char* k : known)
    if (key == k) return key;
  return "";
}

std::uint64_t error_count(const json& m) {
  std::uint64_t n = 0;
  if (m.contains("errors") && m["errors"].is_object())
    for (const auto& [what, count] : m["errors"].items())
      if (count.is_number_unsigned()) n += count.get<std::uint64_t>();
  return n;
}

std::string format_rate(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", r);
  return buf;
}

}  // namespace

latency_objective parse_objective(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos)
    throw std::invalid_argument("'" + text + "' is not PERCENTILE=BOUND (e.g. p99=1ms)");
  latency_objective o;
  o.text = text;
  o.percentile = percentile_key(text.substr(0, eq));
  if (o.percentile.empty())
    throw std::invalid_argument("'" + text.substr(0, eq) + "' is not a percentile (p50, p90, p99, p99.9, p99.99, max)");
  const std::string bound = text.substr(eq + 1);
  char* end = nullptr;
  const double v = std::strtod(bound.c_str(), &end);
  const std::string unit = end ? std::string(end) : "";
  double scale = 0;
  if (unit.empty() || unit == "us" || unit == "\u00b5s") scale = 1;
  else if (unit == "ns") scale = 1e-3;
  else if (unit == "ms") scale = 1e3;
  else if (unit == "s") scale = 1e6;
  if (end == bound.c_str() || scale == 0 || !(v > 0) || !std::isfinite(v))
    throw std::invalid_argument("'" + bound + "' is not a positive latency (a number with ns, us, ms or s; us if none)");
  o.bound_us = v * scale;
  return o;
}

const char* to_string(step_verdict v) noexcept {
  switch (v) {
    case step_verdict::holds: return "holds";
    case step_verdict::fails: return "fails";
    case step_verdict::generator_limited: return "generator-limited";
  }
  return "?";
}

step_judgement judge_step(const std::vector<json>& repetitions, double offered_rps,
                          const capacity_criteria& criteria) {
  step_judgement j;
  std::vector<double> achieved, cpu;
  std::map<std::string, std::vector<double>> latency;  // percentile -> per repetition
  std::map<std::string, std::vector<double>> from_send;  // the same, from each request's actual send
  std::size_t saturated = 0, held = 0;
  std::vector<std::string> problems, saturated_why;
  // With Poisson arrivals the achieved count is itself random: the floor
  // allows for it (achieved_rate_floor).
  std::vector<double> windows;
  for (const json& m : repetitions)
    if (m.value("window_s", 0.0) > 0) windows.push_back(m["window_s"].get<double>());
  const double floor_rps = achieved_rate_floor(offered_rps, offered_rps * criteria.poisson_share,
                                               windows.empty() ? 1.0 : median(windows), criteria.rate_tolerance);
  for (const json& m : repetitions) {
    bool rep_held = true;
    const double a = m.value("throughput_rps", 0.0);
    achieved.push_back(a);
    if (a < floor_rps) rep_held = false;
    if (!m.value("valid", false)) {
      rep_held = false;
      for (const auto& why : m.value("invalid_reasons", json::array()))
        problems.push_back("invalid: " + why.get<std::string>());
    } else if (const std::uint64_t n = error_count(m)) {
      rep_held = false;
      problems.push_back(std::to_string(n) + " errors");
    }
    const json& client = m.value("client", json::object());
    if (client.value("generator_saturated", false)) {
      ++saturated;
      for (const auto& why : client.value("saturated_reasons", json::array())) saturated_why.push_back(why.get<std::string>());
    }
    const json& lat = m.value("latency_us", json(nullptr));
    for (const auto& o : criteria.objectives) {
      if (lat.is_object() && lat[o.percentile].is_number()) {
        const double v = lat[o.percentile].get<double>();
        latency[o.percentile].push_back(v);
        if (v > o.bound_us) rep_held = false;
      } else {
        rep_held = false;
      }
    }
    const json& sent = m.value("latency_uncorrected_us", json(nullptr));
    for (const auto& o : criteria.objectives)
      if (sent.is_object() && sent[o.percentile].is_number()) from_send[o.percentile].push_back(sent[o.percentile]);
    for (const char* p : {"p50", "p99", "p99_9"})
      if (lat.is_object() && lat[p].is_number() &&
          std::none_of(criteria.objectives.begin(), criteria.objectives.end(),
                       [p](const latency_objective& o) { return o.percentile == p; }))
        latency[p].push_back(lat[p].get<double>());
    const json& server = m.value("server", json(nullptr));
    if (server.is_object() && server["cpu_us_per_request"].is_number()) cpu.push_back(server["cpu_us_per_request"]);
    if (rep_held) ++held;
  }

  json lat_json = json::object();
  for (const auto& [p, samples] : latency) lat_json[p] = estimate_json(samples);
  j.figures = {{"offered_rps", offered_rps},
               {"achieved_rps", estimate_json(achieved)},
               {"rate_floor_rps", floor_rps},
               {"latency_us", lat_json},
               {"cpu_us_per_request", estimate_json(cpu)},
               {"repetitions_run", repetitions.size()},
               {"repetitions_saturated", saturated}};
  j.every_repetition_held = !repetitions.empty() && held == repetitions.size();

  if (repetitions.empty()) {
    j.verdict = step_verdict::fails;
    j.reasons.push_back("nothing was measured");
    return j;
  }
  j.verdict = step_verdict::holds;
  bool server_failed = !problems.empty();  // even allowing for the generator's own lateness
  const auto fail = [&j](std::string why) {
    j.verdict = step_verdict::fails;
    j.reasons.push_back(std::move(why));
  };
  for (const auto& p : problems) fail(p);
  const double a = median(achieved);
  if (a < floor_rps)
    fail("achieved " + format_rate(a) + " req/s, below the floor of " + format_rate(floor_rps) + " (the " +
         format_rate(offered_rps) + " offered, less " +
         std::to_string(static_cast<int>(std::lround(criteria.rate_tolerance * 100))) +
         "% and three standard deviations of the arrivals' count)");
  for (const auto& o : criteria.objectives) {
    const auto it = latency.find(o.percentile);
    if (it == latency.end() || it->second.size() < repetitions.size()) {
      fail("no " + o.percentile + " latency measured");
      continue;
    }
    const double v = median(it->second);
    const auto sent = from_send.find(o.percentile);
    if (v > o.bound_us &&
        (sent == from_send.end() || sent->second.size() < repetitions.size() || median(sent->second) > o.bound_us))
      server_failed = true;
    if (v > o.bound_us) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s %.1f us, over the objective's %.1f us", o.percentile.c_str(), v, o.bound_us);
      fail(buf);
    }
  }
  // A saturated generator sends late, and latency counts from the intended
  // time, so a step that holds all the same holds for the server too.  One
  // that fails may have failed for the generator: when its latency counted
  // from each request's actual send would have met the objective (and only
  // the rate fell short, or nothing else), it says nothing about the server,
  // and the search stops at the generator's limit.  A server whose latency
  // is over the bound even from the actual send failed on its own.
  if (j.verdict == step_verdict::fails && !server_failed && 2 * saturated > repetitions.size()) {
    j.verdict = step_verdict::generator_limited;
    j.reasons.insert(j.reasons.begin(),
                     "the generator was saturated in " + std::to_string(saturated) + " of " +
                         std::to_string(repetitions.size()) + " repetitions" +
                         (saturated_why.empty() ? std::string() : " (" + saturated_why.front() + ")") +
                         ", so the failure may be its own");
  }
  return j;
}

rate_search::rate_search(const search_settings& s) : s_(s) {
  if (!(s_.start_rps > 0) || !(s_.growth > 1) || !(s_.resolution > 0) || !(s_.max_rps >= s_.start_rps) ||
      !(s_.min_rps > 0) || s_.max_steps == 0)
    throw std::invalid_argument("capacity search: start > 0, growth > 1, resolution > 0, max >= start, steps >= 1");
}

std::optional<double> rate_search::next_rate() const {
  if (retrying_ && !done()) return retrying_;
  switch (phase_) {
    case phase::growing: return held_ ? std::min(*held_ * s_.growth, s_.max_rps) : s_.start_rps;
    case phase::shrinking: return std::max(*failed_ / s_.growth, s_.min_rps);
    case phase::bisecting: return std::sqrt(*held_ * *failed_);  // halfway on a log scale
    case phase::done: break;
  }
  return std::nullopt;
}

void rate_search::record(double offered_rps, step_verdict v) {
  if (done()) return;
  ++steps_;
  if (v == step_verdict::generator_limited) {
    // Once more at the same rate before giving up: on a shared machine a
    // neighbour's burst can saturate the generator for one step.
    if (!retrying_) {
      retrying_ = offered_rps;
      if (steps_ >= s_.max_steps) finish("max steps reached");
      return;
    }
    retrying_.reset();
    generator_limit_ = offered_rps;
    finish("generator limit");
    return;
  }
  retrying_.reset();
  if (v == step_verdict::holds) held_ = std::max(held_.value_or(offered_rps), offered_rps);
  else failed_ = std::min(failed_.value_or(offered_rps), offered_rps);
  if (held_ && failed_) {
    phase_ = phase::bisecting;
    if (*failed_ <= *held_ * (1 + s_.resolution)) return finish("resolution reached");
  } else if (held_) {
    phase_ = phase::growing;
    if (*held_ >= s_.max_rps) return finish("max rate reached");
  } else {
    phase_ = phase::shrinking;
    if (*failed_ <= s_.min_rps) return finish("held at no rate tried");
  }
  if (steps_ >= s_.max_steps) finish("max steps reached");
}

void rate_search::stop(std::string why) {
  if (!done()) finish(std::move(why));
}

void rate_search::finish(std::string why) {
  phase_ = phase::done;
  stopped_ = std::move(why);
}

json capacity_json(const rate_search& search, const capacity_criteria& criteria, const json& steps) {
  json objectives = json::array();
  for (const auto& o : criteria.objectives)
    objectives.push_back({{"percentile", o.percentile}, {"bound_us", o.bound_us}, {"text", o.text}});
  // The bracket: from the highest rate at which every repetition held on its
  // own (no median needed) to the lowest rate that failed.
  std::optional<double> low;
  std::optional<double> generator_limit;
  for (const json& s : steps) {
    const double r = s["offered_rps"].get<double>();
    if (s["verdict"] == "holds" && s.value("every_repetition_held", false)) low = std::max(low.value_or(r), r);
    if (s["verdict"] == "generator-limited") generator_limit = r;
  }
  const auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  return {{"objectives", objectives},
          {"rate_tolerance", criteria.rate_tolerance},
          {"max_rate_rps", opt(search.highest_held())},
          {"max_rate_interval", {{"low", opt(low)}, {"high", opt(search.lowest_failed())}}},
          {"server_figure", search.stopped() == "resolution reached"},
          {"stopped", search.stopped().empty() ? json(nullptr) : json(search.stopped())},
          {"generator_limit_rps", opt(generator_limit)},
          {"steps", steps}};
}

}  // namespace ioduel::harness
