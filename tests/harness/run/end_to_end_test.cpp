// End to end: `drive` against a small echo server written here, and `run`
// of the quick suite (shortened) against the real servers when they are
// built.  Every report is validated against results/schema.json and its byte
// counts are checked against the other side's own count (the echo server's,
// or the server's STATS).

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <thread>
#include <fstream>
#include <unistd.h>

#include "support/echo_server.hpp"
#include "harness/report/json_schema.hpp"
#include "harness/run/runner.hpp"
#include "harness/workload/workload.hpp"

namespace fs = std::filesystem;
using namespace ioduel::harness;
using nlohmann::json;

namespace {

const fs::path source_dir = IODUEL_SOURCE_DIR;

json read_json(const fs::path& p) {
  std::ifstream in(p);
  BOOST_TEST_REQUIRE(in.good(), p);
  return json::parse(in);
}

struct temp_report {
  fs::path path = fs::temp_directory_path() /
                  ("ioduel-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".json");
  ~temp_report() { fs::remove(path); }
  static inline int counter = 0;
};

void require_valid_schema(const json& report) {
  const auto problems = validate_json(report, read_json(source_dir / "results/schema.json"));
  for (const auto& p : problems) BOOST_ERROR("schema: " << p);
  BOOST_TEST_REQUIRE(problems.empty());
}

workload echo_workload() {
  return parse_workload(json::parse(R"({
      "name": "e2e-echo", "description": "two groups of ECHO", "seed": 5, "threads": 2,
      "warmup_s": 0.1, "duration_s": 0.4,
      "groups": [
        {"name": "closed", "connections": 4, "pipeline": 4,
         "mix": [{"op": "echo", "size": {"lognormal": {"median": 200, "sigma": 1, "max": 70000}}}]},
        {"name": "open", "connections": 2, "rate": 2000, "arrivals": "poisson",
         "mix": [{"op": "echo", "size": 64}]}]})"),
                        "e2e", ".");
}

std::atomic<bool> never{false};

}  // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_AUTO_TEST_CASE(drive_against_a_plain_echo_server) {
  test::echo_server server;
  temp_report out;
  run_plan plan;
  plan.command = "drive";
  plan.target = endpoint{"127.0.0.1", server.port()};
  plan.workloads = {echo_workload()};
  plan.out = out.path;
  plan.quiet = true;
  BOOST_TEST(execute(plan, never) == 0);

  const json report = read_json(out.path);
  require_valid_schema(report);
  BOOST_TEST(report["complete"] == true);
  BOOST_TEST(report["command"] == "drive");
  const json& m = report["workloads"][0]["results"][0]["repetitions"][0];
  BOOST_TEST(m["valid"] == true, m["invalid_reasons"].dump());
  BOOST_TEST(m["requests"]["completed"].get<std::uint64_t>() > 0u);
  BOOST_TEST(m["requests"]["total_sent"] == m["requests"]["total_completed"]);
  // Every byte sent came back, and the server echoed exactly that many.
  BOOST_TEST(m["bytes"]["total_sent"].get<std::uint64_t>() == server.bytes_echoed());
  BOOST_TEST(m["bytes"]["total_received"].get<std::uint64_t>() == server.bytes_echoed());
  BOOST_TEST(server.connections() == 6u);
  BOOST_TEST(m["connections"]["opened"] == 6);
  BOOST_TEST(m["groups"].size() == 2u);
  BOOST_TEST(m["latency_us"]["count"] == m["requests"]["completed"]);
  // The open-loop group reports both figures; the closed one only one.
  BOOST_TEST(m["groups"][1]["latency_uncorrected_us"].is_object());
  BOOST_TEST(m["groups"][0]["latency_uncorrected_us"].is_null());
  BOOST_TEST(m["latency_us"]["histogram"].get<std::string>().rfind("HISTF", 0) == 0u);
  BOOST_TEST(m["server"].is_null());
}

BOOST_AUTO_TEST_CASE(corrupted_replies_make_the_measurement_invalid) {
  test::echo_server server(/*corrupt_every=*/5000);
  temp_report out;
  run_plan plan;
  plan.command = "drive";
  plan.target = endpoint{"127.0.0.1", server.port()};
  plan.workloads = {echo_workload()};
  plan.out = out.path;
  plan.quiet = true;
  BOOST_TEST(execute(plan, never) == 1);
  const json report = read_json(out.path);
  require_valid_schema(report);
  const json& r = report["workloads"][0]["results"][0];
  BOOST_TEST(r["status"] == "invalid");
  BOOST_TEST(r["repetitions"][0]["valid"] == false);
  BOOST_TEST(r["repetitions"][0]["errors"]["mismatches"].get<std::uint64_t>() > 0u);
  BOOST_TEST(r["summary"]["valid_repetitions"] == 0);
  BOOST_TEST(r["summary"]["throughput_rps"].is_null());  // never averaged in
}

BOOST_AUTO_TEST_CASE(a_server_that_is_not_there_is_counted_not_measured) {
  // A port bound but not listening: connects are refused, and no other test
  // running beside this one can take it meanwhile.
  const ioduel::unique_fd bound(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  BOOST_TEST_REQUIRE((bound && ::bind(bound.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
                      ::getsockname(bound.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0));
  const std::uint16_t port = ntohs(addr.sin_port);
  temp_report out;
  run_plan plan;
  plan.command = "drive";
  plan.target = endpoint{"127.0.0.1", port};
  workload w = echo_workload();
  w.duration_s = 0.2;
  plan.workloads = {w};
  plan.out = out.path;
  plan.quiet = true;
  BOOST_TEST(execute(plan, never) == 1);
  const json report = read_json(out.path);
  require_valid_schema(report);
  const json& m = report["workloads"][0]["results"][0]["repetitions"][0];
  BOOST_TEST(m["valid"] == false);
  BOOST_TEST(m["errors"]["connect_failures"].get<std::uint64_t>() >= 6u);
}

namespace {

// A drive plan of `names.size()` short ECHO workloads against `server`.
run_plan drive_plan(const test::echo_server& server, const temp_report& out,
                    const std::vector<std::string>& names) {
  run_plan plan;
  plan.command = "drive";
  plan.target = endpoint{"127.0.0.1", server.port()};
  for (const auto& n : names) {
    workload w = echo_workload();
    w.name = n;
    w.warmup_s = 0.05;
    w.duration_s = 0.15;
    plan.workloads.push_back(w);
  }
  plan.out = out.path;
  plan.quiet = true;
  return plan;
}

// Sets `interrupt` the `n`th time (from 0) the runner reaches any point, the
// way Ctrl-C would: the runner's own thread sees it at its next check.
void interrupt_at(run_plan& plan, std::atomic<bool>& interrupt, int n) {
  plan.observer = [&interrupt, n, seen = 0](run_point, const std::string&) mutable {
    if (seen++ == n) interrupt = true;
  };
}

// What every interrupted report must be: valid against the schema, marked
// incomplete, and each workload in it whole (a result per server, each
// repetition a measurement, an unfinished one marked), however early the
// interrupt came.
void require_consistent_interrupted_report(const json& report, std::size_t workloads) {
  require_valid_schema(report);
  BOOST_TEST(report["complete"] == false);
  BOOST_TEST(report["incomplete_reason"].get<std::string>().find("interrupted") != std::string::npos);
  BOOST_TEST_REQUIRE(report["workloads"].size() == workloads);
  for (const json& wl : report["workloads"]) {
    BOOST_TEST_REQUIRE(wl["results"].size() == 1u, wl["name"]);
    const json& r = wl["results"][0];
    for (const json& m : r["repetitions"]) BOOST_TEST_REQUIRE(m["valid"].is_boolean(), wl["name"]);
    if (r["repetitions"].empty()) {
      BOOST_TEST(r["status"] == "incomplete", wl["name"] << ": " << r["status"]);
      BOOST_TEST(r["summary"]["valid_repetitions"] == 0);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_interrupt_writes_what_finished_marked_incomplete) {
  test::echo_server server;
  temp_report out;
  run_plan plan = drive_plan(server, out, {"first", "second", "third"});
  plan.workloads[0].duration_s = 0.4;  // long enough to be valid on a busy machine
  plan.workloads[1].duration_s = 30;   // cut short by the interrupt
  std::atomic<bool> interrupt{false};
  // Ctrl-C once the second workload's measured window has begun.
  plan.observer = [&interrupt](run_point p, const std::string& w) {
    if (p == run_point::window_start && w == "second") interrupt = true;
  };
  BOOST_TEST(execute(plan, interrupt) == 130);
  const json report = read_json(out.path);
  // The first finished; the second was cut short (kept, marked); the third never ran.
  require_consistent_interrupted_report(report, 2);
  BOOST_TEST(report["workloads"][0]["results"][0]["repetitions"][0]["valid"] == true);
  BOOST_TEST_REQUIRE(report["workloads"][1]["results"][0]["repetitions"].size() == 1u);
  const json& cut = report["workloads"][1]["results"][0]["repetitions"][0];
  BOOST_TEST(cut["valid"] == false);
  BOOST_TEST(cut["invalid_reasons"].dump().find("interrupted") != std::string::npos, cut["invalid_reasons"]);
  BOOST_TEST(cut["window_s"].get<double>() < 30.0);
  BOOST_TEST(report["workloads"][1]["results"][0]["status"] == "incomplete");
}

BOOST_AUTO_TEST_CASE(an_interrupt_at_any_point_leaves_a_valid_report) {
  test::echo_server server;
  // First the points an uninterrupted run passes, in order.
  std::vector<std::pair<run_point, std::string>> points;
  {
    temp_report out;
    run_plan plan = drive_plan(server, out, {"first", "second"});
    plan.observer = [&points](run_point p, const std::string& w) { points.emplace_back(p, w); };
    BOOST_TEST_REQUIRE(execute(plan, never) != 130);  // valid or not, it ran through
  }
  BOOST_TEST_REQUIRE(points.size() == 8u);  // per workload: begin, window, measurement, end
  // Then an interrupt before the run and at each of those points: every
  // workload begun is in the report, whole.
  for (int n = -1; n < static_cast<int>(points.size()); ++n) {
    BOOST_TEST_CONTEXT("interrupted " << (n < 0 ? std::string("before the run") : "at point " + std::to_string(n))) {
      temp_report out;
      run_plan plan = drive_plan(server, out, {"first", "second"});
      std::atomic<bool> interrupt{n < 0};
      if (n >= 0) interrupt_at(plan, interrupt, n);
      BOOST_TEST(execute(plan, interrupt) == 130);
      std::size_t begun = 0;
      for (int k = 0; k <= n; ++k) begun += points[static_cast<std::size_t>(k)].first == run_point::workload_begin;
      require_consistent_interrupted_report(read_json(out.path), begun);
    }
  }
}

#if defined(IODUEL_TEST_SERVERS_BUILT)
BOOST_AUTO_TEST_CASE(run_the_quick_suite_against_both_servers) {
  const suite s = load_suite("quick", source_dir / "workloads/suites");
  run_plan plan;
  plan.command = "run";
  plan.suite = s.name;
  for (const auto& e : s.workloads)
    for (auto& w : load_workload_file(e.file, e.overrides)) {
      w.warmup_s = 0.1;
      w.duration_s = 0.3;
      plan.workloads.push_back(std::move(w));
    }
  for (const char* name : {"reactor", "proactor"}) plan.servers.push_back(*named_server(name, IODUEL_BUILD_DIR));
  temp_report out;
  plan.out = out.path;
  plan.quiet = true;
  BOOST_TEST(execute(plan, never) == 0);

  const json report = read_json(out.path);
  require_valid_schema(report);
  BOOST_TEST(report["complete"] == true);
  BOOST_TEST(report["baseline"] == "reactor");
  BOOST_TEST(report["workloads"].size() == plan.workloads.size());
  for (const auto& wl : report["workloads"]) {
    BOOST_TEST(wl["comparisons"].size() == 1u);
    for (const auto& r : wl["results"]) {
      const std::string what = wl["name"].get<std::string>() + " x " + r["server"].get<std::string>();
      BOOST_TEST(r["status"] == "ok", what << ": " << r.dump().substr(0, 2000));
      BOOST_TEST_REQUIRE(r["repetitions"].size() == 1u, what);
      const json& m = r["repetitions"][0];
      if (!m["valid"].get<bool>()) continue;  // reported above; its figures mean nothing
      BOOST_TEST(m["server"]["exit_clean"] == true, what);
      BOOST_TEST(m["requests"]["completed"].get<std::uint64_t>() > 0u, what);
      // The server's STATS, taken before the client connected and after it
      // closed, agree with the client's wire bytes.  The STATS exchanges
      // themselves are the only difference: the second request (16 bytes)
      // may count in itself, the first reply counts after its snapshot.
      const json& d = m["server"]["stats_delta"];
      const auto sent = m["bytes"]["total_sent"].get<std::int64_t>();
      const auto received = m["bytes"]["total_received"].get<std::int64_t>();
      const auto in = d["bytes_in"].get<std::int64_t>();
      const auto out_bytes = d["bytes_out"].get<std::int64_t>();
      BOOST_TEST((in - sent >= 0 && in - sent <= 32), what << ": bytes_in " << in << " vs sent " << sent);
      BOOST_TEST((out_bytes - received >= 0 && out_bytes - received <= 4096),
                 what << ": bytes_out " << out_bytes << " vs received " << received);
      const auto frames = d["frames_in"].get<std::int64_t>() - m["requests"]["total_sent"].get<std::int64_t>();
      BOOST_TEST((frames >= 0 && frames <= 2), what << ": frames_in off by " << frames);
      // One repetition: a median, no interval, and the reason.
      BOOST_TEST(r["summary"]["throughput_rps"]["ci95"].is_null());
      BOOST_TEST(!r["summary"]["throughput_rps"]["reason"].is_null());
    }
  }
}

BOOST_AUTO_TEST_CASE(an_unavailable_server_is_reported_and_the_rest_goes_on) {
  workload w = load_workload_file(source_dir / "workloads/pingpong.json").at(0);
  w.warmup_s = 0.05;
  w.duration_s = 0.3;
  run_plan plan;
  plan.workloads = {w, w};
  // Exit status 3 is a server's "io_uring refused"; status 1 a failed start.
  plan.servers = {*named_server("reactor", IODUEL_BUILD_DIR),
                  server_spec{"refused", {"/bin/sh", "-c", "echo 'io_uring refused' >&2; exit 3"}}};
  temp_report out;
  plan.out = out.path;
  plan.quiet = true;
  BOOST_TEST(execute(plan, never) == 0);
  json report = read_json(out.path);
  require_valid_schema(report);
  for (const auto& wl : report["workloads"]) {
    BOOST_TEST(wl["results"][0]["status"] == "ok");
    BOOST_TEST(wl["results"][1]["status"] == "unavailable");
    BOOST_TEST(wl["results"][1]["repetitions"].empty());
    BOOST_TEST(wl["comparisons"][0]["metrics"]["throughput_rps"]["verdict"] == "undetermined");
  }
  BOOST_TEST(report["workloads"][0]["results"][1]["status_reason"].get<std::string>().find("refused") !=
             std::string::npos);

  plan.servers[1] = server_spec{"broken", {"/bin/sh", "-c", "exit 1"}};
  plan.workloads = {w};
  BOOST_TEST(execute(plan, never) == 1);
  report = read_json(out.path);
  require_valid_schema(report);
  BOOST_TEST(report["workloads"][0]["results"][1]["status"] == "failed");
}

BOOST_AUTO_TEST_CASE(repetitions_are_interleaved_and_servers_restarted) {
  workload w = load_workload_file(source_dir / "workloads/pingpong.json").at(0);
  w.warmup_s = 0.05;
  w.duration_s = 0.3;
  run_plan plan;
  plan.workloads = {w};
  plan.repetitions = 3;
  plan.servers = {*named_server("reactor", IODUEL_BUILD_DIR), *named_server("reactor-poll", IODUEL_BUILD_DIR)};
  temp_report out;
  plan.out = out.path;
  plan.quiet = true;
  BOOST_TEST(execute(plan, never) == 0);
  const json report = read_json(out.path);
  require_valid_schema(report);
  const json& results = report["workloads"][0]["results"];
  std::set<std::int64_t> pids;
  for (const auto& r : results) {
    BOOST_TEST_REQUIRE(r["repetitions"].size() == 3u);
    const std::size_t me = r["server"] == "reactor" ? 0 : 1;
    for (unsigned k = 0; k < 3; ++k) {
      const json& m = r["repetitions"][k];
      BOOST_TEST(m["repetition"] == k + 1);
      // Each round in the order the run's seed draws for it.
      const auto order = round_order(2, plan.seed, 0, k + 1);
      const auto at = std::find(order.begin(), order.end(), me) - order.begin();
      BOOST_TEST(m["position"] == at);
      pids.insert(m["server"]["pid"].get<std::int64_t>());
    }
    BOOST_TEST(r["summary"]["valid_repetitions"] == 3);
    BOOST_TEST(r["summary"]["throughput_rps"]["median"].get<double>() > 0);
  }
  BOOST_TEST(pids.size() == 6u);  // a fresh process every time
  const json& cmp = report["workloads"][0]["comparisons"][0];
  BOOST_TEST(cmp["candidate"] == "reactor-poll");
  const json& tp = cmp["metrics"]["throughput_rps"];
  BOOST_TEST(tp["higher_is_better"] == true);
  // Three rounds paired: an interval, but no verdict.
  BOOST_TEST(tp["rounds"] == 3);
  BOOST_TEST(tp["verdict"] == "undetermined");
  BOOST_TEST(tp["reason"] == "3 rounds; verdicts need 5");
  BOOST_TEST(report["seed"] == plan.seed);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
