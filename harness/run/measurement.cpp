#include "harness/run/measurement.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "harness/measure/host_load.hpp"
#include "harness/report/report.hpp"
#include "harness/servers/server_process.hpp"
#include "harness/servers/stats_client.hpp"

namespace ioduel::harness {

namespace {

using json = nlohmann::json;

json stats_delta_check(const json& before, const json& after) {
  if (!before.is_object() || !after.is_object()) return nullptr;
  json d = json::object();
  for (const char* k : {"frames_in", "frames_out", "bytes_in", "bytes_out", "connections_accepted"})
    if (before.contains(k) && after.contains(k) && before[k].is_number() && after[k].is_number())
      d[k] = after[k].get<std::int64_t>() - before[k].get<std::int64_t>();
  return d;
}


json client_json(const engine_outcome& e) {
  return {{"threads", e.threads},
          {"cpu_user_s", e.cpu_user_s},
          {"cpu_system_s", e.cpu_system_s},
          {"cpu_us_per_request",
           e.completed ? json(e.cpu_on_s * 1e6 / static_cast<double>(e.completed)) : json(nullptr)},
          {"cpu_on_s", e.cpu_on_s},
          {"spin_s", e.spin_s},
          {"busiest_thread_busy", e.busiest_thread_busy},
          {"busiest_thread_waiting", e.busiest_thread_waiting},
          {"send_lag_us", latency_json(e.send_lag)},
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
                      {"latency_uncorrected_us", g.open_loop ? latency_json(g.latency_uncorrected) : json(nullptr)},
                      {"latency_co_corrected_us",
                       g.expected_interval_ns > 0 ? latency_json(g.latency_co_corrected) : json(nullptr)},
                      {"co_expected_interval_us",
                       g.expected_interval_ns > 0 ? json(static_cast<double>(g.expected_interval_ns) / 1000) : json(nullptr)}});
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
        {"lost_requests", e.errors.lost_requests},
        {"dropped_arrivals", e.errors.dropped_arrivals}}},
      {"latency_basis", e.open_loop ? "open loop: from each request's intended send time (coordinated omission corrected)"
                                    : "closed loop: latency excludes the time a request waited to be issued"},
      {"latency_us", latency_json(e.latency)},
      {"latency_uncorrected_us", e.open_loop ? latency_json(e.latency_uncorrected) : json(nullptr)},
      {"groups", std::move(groups)},
      {"intervals", intervals_json(e.intervals, e.window_start_epoch_s)},
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
  add(e.errors.dropped_arrivals, "arrivals dropped: their connection was down when they were due");
  if (e.completed == 0 && e.setup_error.empty() && !e.interrupted) why.push_back("no reply in the measured window");
  return why;
}


void mark_invalid(json& m, const std::vector<std::string>& why) {
  for (const auto& w : why) m["invalid_reasons"].push_back(w);
  if (!m["invalid_reasons"].empty()) m["valid"] = false;
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

}  // namespace

// A measurement that is invalid only because Ctrl-C cut it short: it says
// nothing against the server.
bool cut_by_interrupt(const json& m) {
  const json& why = m["invalid_reasons"];
  return !why.empty() && std::all_of(why.begin(), why.end(), [](const json& r) {
    return r.is_string() && r.get<std::string>().rfind("interrupted", 0) == 0;
  });
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

measurement_run measure_server(const measurement_context& ctx, const server_spec& server) {
  [[maybe_unused]] const auto& [plan, w, repetition, position, nofile, interrupt, prog, requested, scaled] = ctx;
  measurement_run out;
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
  // Per thread, on a CPU and waiting for one, in ns (schedstat), at the window's edges.
  std::map<pid_t, thread_times> threads_at_start, threads_at_end;
  std::optional<host_cpu_sample> host_at_start, host_at_end;
  const std::optional<double> load_before = load_average();
  engine_options o = engine_opts(plan, w, interrupt, prog);
  // The same samples at both edges; one that fails leaves `sampled` false.
  const auto sample_edge = [&](std::map<pid_t, thread_times>& threads, std::optional<host_cpu_sample>& host,
                               process_metrics& metrics, bool& sampled) {
    try {
      threads = read_thread_times(proc->pid());
      host = sample_host_cpu();
      metrics = proc->sample();
      sampled = true;
    } catch (const std::exception&) {
    }
  };
  o.on_window_start = [&, observed = o.on_window_start] {
    sample_edge(threads_at_start, host_at_start, at_start, sampled_start);
    observed();
  };
  o.on_window_end = [&] { sample_edge(threads_at_end, host_at_end, at_end, sampled_end); };
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
  // CPU from schedstat, in ns: a thread's time on a CPU over the window (a
  // thread born in it counts from 0).  The ticks above are 10 ms coarse.
  double on_cpu_s = 0, run_queue_s = 0;
  json per_thread = json::array();
  for (const auto& [tid, end] : threads_at_end) {
    const auto it = threads_at_start.find(tid);
    const thread_times start = it == threads_at_start.end() ? thread_times{} : it->second;
    const double on = static_cast<double>(end.on_cpu_ns - std::min(end.on_cpu_ns, start.on_cpu_ns)) / 1e9;
    const double waiting =
        static_cast<double>(end.run_queue_ns - std::min(end.run_queue_ns, start.run_queue_ns)) / 1e9;
    on_cpu_s += on;
    run_queue_s += waiting;
    per_thread.push_back({{"tid", tid}, {"on_cpu_s", on}, {"run_queue_s", waiting}});
  }
  const bool schedstat = sampled_end && !threads_at_end.empty();
  server_side["cpu_on_s"] = schedstat ? json(on_cpu_s) : json(nullptr);
  server_side["cpu_run_queue_s"] = schedstat ? json(run_queue_s) : json(nullptr);
  server_side["cpu_threads"] = std::move(per_thread);
  const double server_cpu = schedstat ? on_cpu_s : cpu_user + cpu_sys;
  server_side["cpu_source"] = schedstat ? "schedstat" : "ticks";
  server_side["cpu_us_per_request"] =
      e.completed && sampled_end ? json(server_cpu * 1e6 / static_cast<double>(e.completed)) : json(nullptr);
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
  m["host"] = host_load_json(load_before, load_average(), host_at_start, host_at_end, e.window_s, server_cpu,
                             e.cpu_on_s);

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

measurement_run measure_target(const measurement_context& ctx) {
  [[maybe_unused]] const auto& [plan, w, repetition, position, nofile, interrupt, prog, requested, scaled] = ctx;
  measurement_run out;
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

}  // namespace ioduel::harness
