#include "harness/runner.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "harness/progress.hpp"
#include "harness/report.hpp"
#include "harness/server_process.hpp"
#include "harness/stats_client.hpp"
#include "harness/summary.hpp"


#ifndef IODUEL_BUILD_DIR
#define IODUEL_BUILD_DIR ""
#endif

namespace ioduel::harness {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

// Connections the harness keeps for itself (STATS, files, pipes).
constexpr std::uint64_t nofile_margin = 64;

// Overhead of one measurement beyond warm-up and window: start, connect,
// drain, stop.
constexpr double item_overhead_s = 0.4;

json stats_delta_check(const json& before, const json& after) {
  if (!before.is_object() || !after.is_object()) return nullptr;
  json d = json::object();
  for (const char* k : {"frames_in", "frames_out", "bytes_in", "bytes_out", "connections_accepted"})
    if (before.contains(k) && after.contains(k) && before[k].is_number() && after[k].is_number())
      d[k] = after[k].get<std::int64_t>() - before[k].get<std::int64_t>();
  return d;
}

struct server_run {
  json measurement;
  bool valid = false;
  std::string status = "ok";  // ok, invalid, unavailable, failed
  std::string reason;
};

json client_json(const engine_outcome& e) {
  return {{"threads", e.threads},
          {"cpu_user_s", e.cpu_user_s},
          {"cpu_system_s", e.cpu_system_s},
          {"cpu_us_per_request",
           e.completed ? json((e.cpu_user_s + e.cpu_system_s) * 1e6 / static_cast<double>(e.completed))
                       : json(nullptr)},
          {"busiest_thread_busy", e.busiest_thread_busy},
          {"schedule_late_fraction",
           e.schedule_late_fraction ? json(*e.schedule_late_fraction) : json(nullptr)},
          {"generator_saturated", e.generator_saturated},
          {"saturated_reasons", e.saturated_reasons}};
}

// The engine's figures as a measurement object (server side filled by the caller).
json measurement_json(const engine_outcome& e, unsigned repetition, std::size_t position,
                      const std::string& started, std::uint64_t requested, std::uint64_t used,
                      const std::string& scaled_reason) {
  json groups = json::array();
  for (const auto& g : e.groups)
    groups.push_back({{"name", g.name},
                      {"connections", g.connections},
                      {"completed", g.completed},
                      {"throughput_rps", e.window_s > 0 ? static_cast<double>(g.completed) / e.window_s : 0.0},
                      {"latency_us", latency_json(g.latency)},
                      {"latency_uncorrected_us", g.open_loop ? latency_json(g.latency_uncorrected) : json(nullptr)}});
  return {
      {"repetition", repetition},
      {"position", position},
      {"valid", true},
      {"invalid_reasons", json::array()},
      {"started_at", started},
      {"window_s", e.window_s},
      {"connections",
       {{"requested", requested},
        {"used", used},
        {"scaled_reason", scaled_reason.empty() ? json(nullptr) : json(scaled_reason)},
        {"opened", e.connections_opened}}},
      {"requests",
       {{"completed", e.completed}, {"total_sent", e.total_sent}, {"total_completed", e.total_completed}}},
      {"throughput_rps", e.window_s > 0 ? static_cast<double>(e.completed) / e.window_s : 0.0},
      {"bytes",
       {{"window_sent", e.window_bytes_sent},
        {"window_received", e.window_bytes_received},
        {"total_sent", e.total_bytes_sent},
        {"total_received", e.total_bytes_received}}},
      {"errors",
       {{"mismatches", e.errors.mismatches},
        {"error_replies", e.errors.error_replies},
        {"resets", e.errors.resets},
        {"unexpected_closes", e.errors.unexpected_closes},
        {"timeouts", e.errors.timeouts},
        {"connect_failures", e.errors.connect_failures},
        {"lost_requests", e.errors.lost_requests}}},
      {"latency_us", latency_json(e.latency)},
      {"latency_uncorrected_us", e.open_loop ? latency_json(e.latency_uncorrected) : json(nullptr)},
      {"groups", std::move(groups)},
      {"client", client_json(e)},
      {"server", nullptr},
  };
}

std::vector<std::string> invalid_reasons(const engine_outcome& e) {
  std::vector<std::string> why;
  if (!e.setup_error.empty()) why.push_back(e.setup_error);
  if (e.interrupted) why.push_back("interrupted");
  const auto add = [&why](std::uint64_t n, const char* what) {
    if (n) why.push_back(std::to_string(n) + " " + what);
  };
  add(e.errors.mismatches, "mismatched replies");
  add(e.errors.error_replies, "ERROR replies");
  add(e.errors.resets, "connection resets");
  add(e.errors.unexpected_closes, "connections closed by the server");
  add(e.errors.timeouts, "timeouts");
  add(e.errors.connect_failures, "failed connects");
  if (e.completed == 0 && e.setup_error.empty() && !e.interrupted) why.push_back("no reply in the measured window");
  return why;
}

// A measurement that is invalid only because Ctrl-C cut it short: it says
// nothing against the server.
bool cut_by_interrupt(const json& m) {
  const json& why = m["invalid_reasons"];
  return !why.empty() && std::all_of(why.begin(), why.end(), [](const json& r) {
    return r.is_string() && r.get<std::string>().rfind("interrupted", 0) == 0;
  });
}

void mark_invalid(json& m, const std::vector<std::string>& why) {
  for (const auto& w : why) m["invalid_reasons"].push_back(w);
  if (!m["invalid_reasons"].empty()) m["valid"] = false;
}

// A workload whose request rate is set by the workload itself (every group
// open loop, or a trace replayed at its recorded times): its throughput is
// an input, not a result, and is not compared.
bool is_open_loop(const workload& w) {
  if (w.trace) return !w.trace->as_fast_as_possible;
  return !w.groups.empty() &&
         std::all_of(w.groups.begin(), w.groups.end(), [](const connection_group& g) { return g.rate > 0; });
}

void notify(const run_plan& plan, run_point point, const std::string& workload) {
  if (plan.observer) plan.observer(point, workload);
}

engine_options engine_opts(const run_plan& plan, const workload& w, const std::atomic<bool>& interrupt,
                           progress& prog) {
  engine_options o;
  o.cpus = plan.pin_client;
  o.interrupt = &interrupt;
  o.on_progress = [&prog](double el, double left) { prog.tick(el, left); };
  o.on_window_start = [&plan, &w] { notify(plan, run_point::window_start, w.name); };
  return o;
}

// One server, one repetition.
server_run run_against_server(const run_plan& plan, const workload& w, const server_spec& server,
                              unsigned repetition, std::size_t position, std::uint64_t nofile,
                              const std::atomic<bool>& interrupt, progress& prog,
                              std::uint64_t requested, const std::string& scaled) {
  server_run out;
  const std::string started = utc_now_iso();
  server_launch launch;
  launch.argv = server.argv;
  launch.argv.push_back("--port");
  launch.argv.push_back("0");
  launch.nofile_limit = nofile;
  launch.cpus = plan.pin_server;
  std::optional<server_process> proc;
  try {
    proc.emplace(launch);
  } catch (const server_unavailable& e) {
    out.status = "unavailable";
    out.reason = e.what();  // it ends with the server's stderr
    return out;
  } catch (const server_start_error& e) {
    out.status = "failed";
    out.reason = e.what();
    return out;
  }
  const endpoint ep{proc->host(), proc->port()};
  json server_side = {{"pid", proc->pid()}};
  std::vector<std::string> problems;
  process_metrics idle{}, at_start{}, at_end{};
  json stats_before = nullptr, stats_after = nullptr;
  try {
    idle = proc->sample();
  } catch (const std::exception& e) {
    problems.push_back(std::string("sampling the server: ") + e.what());
  }
  try {
    stats_before = fetch_stats(ep).stats;
  } catch (const std::exception& e) {
    problems.push_back(e.what());
  }
  bool sampled_start = false, sampled_end = false;
  engine_options o = engine_opts(plan, w, interrupt, prog);
  o.on_window_start = [&, observed = o.on_window_start] {
    try {
      at_start = proc->sample();
      sampled_start = true;
    } catch (const std::exception&) {
    }
    observed();
  };
  o.on_window_end = [&] {
    try {
      at_end = proc->sample();
      sampled_end = true;
    } catch (const std::exception&) {
    }
  };
  engine_outcome e;
  try {
    e = run_engine(w, ep, o);
  } catch (const std::exception& ex) {
    e.setup_error = ex.what();
  }
  try {
    stats_after = fetch_stats(ep).stats;
  } catch (const std::exception& ex) {
    problems.push_back(ex.what());
  }
  const process_exit how = proc->stop(std::chrono::seconds(10));

  out.measurement = measurement_json(e, repetition, position, started, requested,
                                     w.total_connections(), scaled);
  auto& m = out.measurement;
  const double cpu_user = sampled_start && sampled_end ? at_end.user_s - at_start.user_s : 0;
  const double cpu_sys = sampled_start && sampled_end ? at_end.system_s - at_start.system_s : 0;
  server_side["exit"] = how.describe();
  server_side["exit_clean"] = how.clean();
  server_side["cpu_user_s"] = std::max(0.0, cpu_user);
  server_side["cpu_system_s"] = std::max(0.0, cpu_sys);
  server_side["cpu_us_per_request"] =
      e.completed && sampled_end ? json((cpu_user + cpu_sys) * 1e6 / static_cast<double>(e.completed))
                                 : json(nullptr);
  server_side["peak_rss_bytes"] = at_end.hwm_bytes;
  server_side["rss_bytes"] = at_end.rss_bytes;
  server_side["rss_idle_bytes"] = idle.rss_bytes;
  const std::uint64_t conns = w.total_connections();
  server_side["memory_per_connection_bytes"] =
      conns >= 100 && at_end.rss_bytes > idle.rss_bytes
          ? json(static_cast<double>(at_end.rss_bytes - idle.rss_bytes) / static_cast<double>(conns))
          : json(nullptr);
  server_side["voluntary_switches"] =
      at_end.voluntary_switches >= at_start.voluntary_switches ? at_end.voluntary_switches - at_start.voluntary_switches : 0;
  server_side["involuntary_switches"] =
      at_end.involuntary_switches >= at_start.involuntary_switches ? at_end.involuntary_switches - at_start.involuntary_switches : 0;
  server_side["threads"] = at_end.threads;
  server_side["stats_before"] = stats_before;
  server_side["stats_after"] = stats_after;
  server_side["stats_delta"] = stats_delta_check(stats_before, stats_after);
  m["server"] = std::move(server_side);

  std::vector<std::string> why = invalid_reasons(e);
  if (!how.clean()) why.push_back("the server did not exit cleanly after SIGTERM: " + how.describe());
  if (!sampled_end) why.push_back("the server's /proc figures could not be sampled");
  for (auto& p : problems) why.push_back(p);
  mark_invalid(m, why);
  out.valid = m["valid"].get<bool>();
  out.status = out.valid ? "ok" : "invalid";
  if (!how.clean()) out.status = "failed";
  return out;
}

// drive: the engine alone against a running server.
server_run run_against_target(const run_plan& plan, const workload& w, unsigned repetition,
                              const std::atomic<bool>& interrupt, progress& prog,
                              std::uint64_t requested, const std::string& scaled) {
  server_run out;
  const std::string started = utc_now_iso();
  engine_outcome e;
  try {
    e = run_engine(w, *plan.target, engine_opts(plan, w, interrupt, prog));
  } catch (const std::exception& ex) {
    e.setup_error = ex.what();
  }
  out.measurement = measurement_json(e, repetition, 0, started, requested, w.total_connections(), scaled);
  mark_invalid(out.measurement, invalid_reasons(e));
  out.valid = out.measurement["valid"].get<bool>();
  out.status = out.valid ? "ok" : "invalid";
  return out;
}

}  // namespace

std::filesystem::path default_bin_dir() {
  if (const char* env = std::getenv("IODUEL_BIN_DIR"); env && *env) return env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return exe.parent_path().parent_path();  // <build>/harness/ioduel -> <build>
  return IODUEL_BUILD_DIR;
}

std::vector<std::string> known_server_names() {
  return {"reactor", "reactor-level", "reactor-poll", "reactor-select",
          "proactor", "proactor-shared", "proactor-uring"};
}

std::optional<server_spec> named_server(const std::string& name, const std::filesystem::path& bin_dir) {
  const auto binary = [&bin_dir](const std::string& wing, const std::string& file) {
    const auto nested = bin_dir / wing / file;
    if (std::filesystem::exists(nested) || !std::filesystem::exists(bin_dir / file)) return nested.string();
    return (bin_dir / file).string();
  };
  const std::string reactor = binary("reactor", "ioduel-reactor");
  const std::string proactor = binary("proactor", "ioduel-proactor");
  static const std::map<std::string, std::vector<std::string>> extra = {
      {"reactor", {"--poller", "epoll", "--trigger", "edge"}},
      {"reactor-level", {"--poller", "epoll", "--trigger", "level"}},
      {"reactor-poll", {"--poller", "poll"}},
      {"reactor-select", {"--poller", "select"}},
      {"proactor", {"--contexts", "per-thread"}},
      {"proactor-shared", {"--contexts", "shared"}},
      {"proactor-uring", {}},
  };
  auto it = extra.find(name);
  if (it == extra.end()) return std::nullopt;
  server_spec s{name, {}};
  if (name.rfind("reactor", 0) == 0) s.argv.push_back(reactor);
  else if (name == "proactor-uring") s.argv.push_back(binary("proactor", "ioduel-proactor-uring"));
  else s.argv.push_back(proactor);
  s.argv.insert(s.argv.end(), it->second.begin(), it->second.end());
  return s;
}

std::vector<std::string> split_command_line(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char ch : text) {
    if (quote) {
      if (ch == quote) quote = 0;
      else cur += ch;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (in_word) out.push_back(std::exchange(cur, {}));
      in_word = false;
    } else {
      cur += ch;
      in_word = true;
    }
  }
  if (quote) throw std::invalid_argument("unterminated quote in '" + text + "'");
  if (in_word) out.push_back(cur);
  return out;
}

std::vector<std::size_t> round_order(std::size_t servers, std::uint64_t seed, std::size_t workload_index,
                                     unsigned round) {
  std::vector<std::size_t> order(servers);
  for (std::size_t k = 0; k < servers; ++k) order[k] = k;
  // Fisher-Yates with a generator of its own per (seed, workload, round), so
  // that an order does not depend on how many rounds came before it.
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(workload_index), static_cast<std::uint32_t>(round)};
  std::mt19937_64 rng(seq);
  for (std::size_t k = servers; k > 1; --k) {
    const std::uint64_t range = k, reject_below = (0 - range) % range;  // unbiased: no modulo skew
    std::uint64_t r;
    do r = rng();
    while (r < reject_below);
    std::swap(order[k - 1], order[static_cast<std::size_t>(r % range)]);
  }
  return order;
}

std::uint64_t raise_nofile_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

std::string fit_connections(workload& w, std::uint64_t limit) {
  const std::uint64_t want = w.total_connections();
  if (want + nofile_margin <= limit) return "";
  const double scale = static_cast<double>(limit > nofile_margin ? limit - nofile_margin : 1) /
                       static_cast<double>(want);
  for (auto& g : w.groups)
    if (g.connections > 0)
      g.connections = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(g.connections * scale));
  return "the open-file limit is " + std::to_string(limit) + ", too low for " + std::to_string(want) +
         " connections: scaled down to " + std::to_string(w.total_connections());
}

int execute(const run_plan& plan, const std::atomic<bool>& interrupt) {
  const auto t0 = steady::now();
  const std::string started = utc_now_iso();
  const std::uint64_t nofile = raise_nofile_limit();
  const bool drive = plan.target.has_value();
  std::vector<server_spec> servers = plan.servers;
  if (drive) servers = {server_spec{plan.target->to_string(), {}}};
  const std::string baseline = servers.empty() ? "" : servers.front().name;

  json report = {{"schema_version", report_schema_version},
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
                 {"baseline", drive ? json(nullptr) : json(baseline)},
                 {"target", drive ? json(plan.target->to_string()) : json(nullptr)},
                 {"servers", json::array()},
                 {"workloads", json::array()}};
  // The command lines as run: the runner adds --port 0.
  const auto command_of = [drive](const server_spec& s) {
    std::vector<std::string> argv = s.argv;
    if (!drive) argv.insert(argv.end(), {"--port", "0"});
    return argv;
  };
  for (const auto& s : servers) report["servers"].push_back({{"name", s.name}, {"command", command_of(s)}});

  const auto write = [&](bool complete, const std::string& reason) {
    report["complete"] = complete;
    report["incomplete_reason"] = complete ? json(nullptr) : json(reason);
    report["metadata"] = run_metadata(started, utc_now_iso(),
                                      std::chrono::duration<double>(steady::now() - t0).count(),
                                      plan.pin_client, plan.pin_server, nofile);
    write_report_atomically(report, plan.out);
  };

  double estimate = 0;
  for (const auto& w : plan.workloads)
    estimate += (w.warmup_s + w.duration_s + item_overhead_s) * plan.repetitions * servers.size();
  progress prog(plan.workloads.size() * plan.repetitions * servers.size(), estimate, plan.quiet);

  bool all_valid = true;
  std::set<std::string> unavailable;
  for (std::size_t workload_index = 0; workload_index < plan.workloads.size(); ++workload_index) {
    const workload& original = plan.workloads[workload_index];
    if (interrupt.load()) break;
    workload w = original;
    const std::uint64_t requested = w.total_connections();
    const std::string scaled = fit_connections(w, nofile);
    if (!scaled.empty()) prog.note(w.name + ": " + scaled);
    std::map<std::string, json> per_server;  // name -> server_result
    for (const auto& s : servers)
      per_server[s.name] = {{"server", s.name}, {"command", command_of(s)}, {"status", "ok"},
                            {"status_reason", nullptr}, {"repetitions", json::array()}};
    notify(plan, run_point::workload_begin, w.name);
    for (unsigned rep = 1; rep <= plan.repetitions && !interrupt.load(); ++rep) {
      std::vector<const server_spec*> order;
      for (const std::size_t k : round_order(servers.size(), plan.seed, workload_index, rep))
        order.push_back(&servers[k]);
      for (std::size_t pos = 0; pos < order.size() && !interrupt.load(); ++pos) {
        const server_spec& s = *order[pos];
        json& res = per_server[s.name];
        const double item_s = w.warmup_s + w.duration_s + item_overhead_s;
        prog.begin(w.name + " x " + s.name + " (repetition " + std::to_string(rep) + "/" +
                       std::to_string(plan.repetitions) + ")",
                   item_s);
        if (unavailable.count(s.name)) {
          prog.note(s.name + ": unavailable (skipped)");
          continue;
        }
        server_run r = drive ? run_against_target(plan, w, rep, interrupt, prog, requested, scaled)
                             : run_against_server(plan, w, s, rep, pos, nofile, interrupt, prog, requested, scaled);
        if (r.status == "unavailable") {
          unavailable.insert(s.name);
          res["status"] = "unavailable";
          res["status_reason"] = r.reason;
          prog.note(s.name + " is unavailable here: " + r.reason);
          continue;
        }
        if (!r.measurement.is_null()) res["repetitions"].push_back(r.measurement);
        notify(plan, run_point::measurement_end, w.name);
        if (r.status == "failed") {
          res["status"] = "failed";
          res["status_reason"] = r.reason.empty() ? "see the repetitions' invalid_reasons" : r.reason;
          all_valid = false;
          prog.note(s.name + " failed: " + (r.reason.empty() ? r.measurement["invalid_reasons"].dump() : r.reason));
        } else if (r.status == "invalid" && cut_by_interrupt(r.measurement)) {
          prog.note("interrupted");  // the result is marked incomplete below
        } else if (r.status == "invalid") {
          if (res["status"] == "ok") res["status"] = "invalid";
          all_valid = false;
          prog.note("invalid: " + r.measurement["invalid_reasons"].dump());
        } else {
          const auto& m = r.measurement;
          std::ostringstream line;
          line.precision(0);
          line << std::fixed << m["throughput_rps"].get<double>() << " req/s";
          if (m["latency_us"].is_object())
            line << ", p50 " << m["latency_us"]["p50"] << " us, p99 " << m["latency_us"]["p99"] << " us";
          if (m["client"]["generator_saturated"].get<bool>()) line << "  [harness saturated]";
          prog.note(line.str());
        }
      }
    }
    if (unavailable.size() && per_server.size())
      for (const auto& n : unavailable)
        if (per_server.count(n) && per_server[n]["repetitions"].empty()) per_server[n]["status"] = "unavailable";
    json entry = {{"name", w.name},
                  {"file", original.file.empty() ? json(nullptr) : json(original.file)},
                  {"workload", original.to_json()},
                  {"results", json::array()},
                  {"comparisons", json::array()}};
    for (const auto& s : servers) {
      json& res = per_server[s.name];
      // Fewer repetitions than planned, or the last one cut short.
      const json& reps = res["repetitions"];
      if (interrupt.load() && res["status"] == "ok" &&
          (reps.size() < plan.repetitions || (!reps.empty() && cut_by_interrupt(reps.back()))))
        res["status"] = "incomplete";
      res["summary"] = summary_json(res["repetitions"]);
      entry["results"].push_back(std::move(res));
    }
    if (!drive) entry["comparisons"] = comparisons_json(entry["results"], baseline, plan.margin, is_open_loop(w));
    report["workloads"].push_back(std::move(entry));
    write(false, "still running");
    notify(plan, run_point::workload_end, w.name);
  }
  prog.end();
  const bool interrupted = interrupt.load();
  write(!interrupted, interrupted ? "interrupted (Ctrl-C): only what finished is here" : "");
  std::cerr << "ran " << report["workloads"].size() << " workload(s) in "
            << format_duration(prog.elapsed()) << "\nreport: " << plan.out.string() << "\n";
  if (interrupted) return 130;
  return all_valid ? 0 : 1;
}

}  // namespace ioduel::harness
