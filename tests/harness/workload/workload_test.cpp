// Workload files: every shipped one loads, and each kind of mistake fails
// with the file, the field and what is wrong.

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "harness/workload/workload.hpp"

namespace fs = std::filesystem;
using namespace ioduel::harness;
using nlohmann::json;

namespace {

const fs::path source_dir = IODUEL_SOURCE_DIR;

// A scratch directory removed at the end of the test.
struct scratch {
  fs::path dir = fs::temp_directory_path() / ("ioduel-wl-" + std::to_string(::getpid()));
  scratch() { fs::create_directories(dir); }
  ~scratch() { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
};

json valid_base() {
  return json::parse(R"({"name": "t", "description": "d", "duration_s": 1,
                         "connections": 2, "pipeline": 4, "mix": [{"op": "echo", "size": 64}]})");
}

// Parsing `j` fails with a message holding every one of `parts`.
void expect_error(const json& j, std::initializer_list<std::string> parts) {
  try {
    parse_workload(j, "case.json", ".");
    BOOST_ERROR("accepted " << j.dump());
  } catch (const workload_error& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("case.json") != std::string::npos, msg);
    for (const auto& p : parts) BOOST_TEST(msg.find(p) != std::string::npos, "'" << p << "' not in: " << msg);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(workload_files)

BOOST_AUTO_TEST_CASE(every_shipped_workload_loads) {
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(source_dir / "workloads")) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    const auto ws = load_workload_file(entry.path());
    BOOST_TEST(!ws.empty());
    for (const auto& w : ws) {
      BOOST_TEST(!w.description.empty(), entry.path());
      BOOST_TEST(w.total_connections() > 0u);
    }
  }
  // pingpong, echo-16k, pipeline, open-loop, upload, download, churn,
  // idle-crowd, hog, sleep-mix, trace
  BOOST_TEST(files >= 11u);
}

BOOST_AUTO_TEST_CASE(shipped_workloads_are_what_they_say) {
  const auto echo = load_workload_file(source_dir / "workloads/echo-16k.json");
  BOOST_TEST_REQUIRE(echo.size() == 4u);
  BOOST_TEST(echo[3].groups[0].connections == 1000u);
  BOOST_TEST(echo[3].name == "echo-16k/connections=1000");
  BOOST_TEST(echo[0].largest_payload() == 16384u);
  const auto idle = load_workload_file(source_dir / "workloads/idle-crowd.json").at(0);
  BOOST_TEST(idle.total_connections() == 10'004u);
  BOOST_TEST((idle.groups[0].loop == loop_kind::idle));
  const auto open = load_workload_file(source_dir / "workloads/open-loop.json").at(0);
  BOOST_TEST((open.groups[0].loop == loop_kind::open));
  BOOST_TEST((open.groups[0].arrivals == arrival_kind::poisson));
  const auto churn = load_workload_file(source_dir / "workloads/churn.json").at(0);
  BOOST_TEST(churn.groups[0].requests_per_connection == 1u);
  const auto trace = load_workload_file(source_dir / "workloads/trace.json").at(0);
  BOOST_TEST_REQUIRE(trace.trace.has_value());
  BOOST_TEST(trace.trace->connections == 4u);
}

// The full suite runs every shipped workload file; the quick suite every one
// but capacity.json, whose load ./scripts/run searches with ioduel capacity.
BOOST_AUTO_TEST_CASE(suites_load_and_cover_every_workload) {
  std::set<std::string> shipped;
  for (const auto& f : fs::directory_iterator(source_dir / "workloads"))
    if (f.path().extension() == ".json") shipped.insert(f.path().filename().string());
  BOOST_TEST(shipped.size() >= 12u);
  for (const char* name : {"quick", "full"}) {
    const suite s = load_suite(name, source_dir / "workloads/suites");
    BOOST_TEST(s.name == name);
    BOOST_TEST(!s.servers.empty());
    std::set<std::string> covered;
    for (const auto& e : s.workloads) {
      BOOST_TEST(!load_workload_file(e.file, e.overrides).empty());
      covered.insert(e.file.filename().string());
    }
    std::set<std::string> expected = shipped;
    if (std::string(name) == "quick") expected.erase("capacity.json");
    BOOST_TEST((covered == expected), name << " covers " << covered.size() << " of the " << expected.size() << " files");
  }
  const suite full = load_suite("full", source_dir / "workloads/suites");
  // Enough rounds for verdicts (harness/measure/paired.hpp): 5 in the quick suite, 7 in the full.
  BOOST_TEST(full.repetitions == 7u);
  BOOST_TEST(load_suite("quick", source_dir / "workloads/suites").repetitions == 5u);
  BOOST_TEST(full.servers.size() == 7u);
}

BOOST_AUTO_TEST_CASE(overrides_are_applied_before_checking) {
  const suite s = load_suite("quick", source_dir / "workloads/suites");
  for (const auto& e : s.workloads)
    for (const auto& w : load_workload_file(e.file, e.overrides)) BOOST_TEST(w.duration_s <= 1.0, w.name);
  BOOST_CHECK_THROW(load_workload_file(source_dir / "workloads/pingpong.json", json{{"pipeline", 0}}),
                    workload_error);
}

BOOST_AUTO_TEST_CASE(defaults_are_filled_in) {
  const workload w = parse_workload(valid_base(), "case.json", ".");
  BOOST_TEST(w.seed == 1u);
  BOOST_TEST(w.threads == 1u);
  BOOST_TEST(w.warmup_s == 1.0);
  BOOST_TEST(w.groups.size() == 1u);
  BOOST_TEST(w.groups[0].pipeline == 4u);
  BOOST_TEST((w.groups[0].loop == loop_kind::closed));
  const json as_run = w.to_json();
  BOOST_TEST(as_run["groups"][0]["lifetime"] == "persistent");
  // What is written back parses to the same workload.
  json again = as_run;
  again.erase("trace");
  BOOST_TEST(parse_workload(again, "again", ".").to_json() == as_run);
}

BOOST_AUTO_TEST_CASE(each_kind_of_mistake_is_named) {
  auto with = [](const std::string& key, const json& value) {
    json j = valid_base();
    j[key] = value;
    return j;
  };
  auto without = [](const std::string& key) {
    json j = valid_base();
    j.erase(key);
    return j;
  };
  expect_error(json::array(), {"must be an object"});
  expect_error(without("name"), {"'name'", "is required"});
  expect_error(without("duration_s"), {"'duration_s'", "is required"});
  expect_error(with("conections", 3), {"'conections'", "not a known field"});
  expect_error(with("connections", "ten"), {"'connections'", "must be an integer"});
  expect_error(with("connections", -1), {"'connections'", "must not be negative"});
  expect_error(with("pipeline", 0), {"'pipeline'", "between 1 and"});
  expect_error(with("duration_s", 0), {"'duration_s'", "between"});
  expect_error(with("threads", 1000), {"'threads'", "between 1 and 256"});
  expect_error(with("mix", json::array()), {"'mix'", "non-empty array"});
  expect_error(with("mix", json::parse(R"([{"op": "ping", "size": 1}])")), {"'mix[0].op'", "echo, sink, source, sleep"});
  expect_error(with("mix", json::parse(R"([{"op": "stats", "size": 1}])")), {"'mix[0].op'"});
  expect_error(with("mix", json::parse(R"([{"op": "sleep"}])")), {"'mix[0].sleep_us'", "required"});
  expect_error(with("mix", json::parse(R"([{"op": "sleep", "sleep_us": 20000000}])")), {"'mix[0].sleep_us'", "between"});
  expect_error(with("mix", json::parse(R"([{"op": "echo", "size": 2000000}])")), {"'mix[0].size'", "between 0 and 1048576"});
  expect_error(with("mix", json::parse(R"([{"op": "echo", "size": 1.5}])")), {"'mix[0].size'", "whole number"});
  expect_error(with("mix", json::parse(R"([{"op": "echo", "size": {"uniform": {"min": 9, "max": 3}}}])")),
               {"'mix[0].size.uniform.max'", "below min"});
  expect_error(with("mix", json::parse(R"([{"op": "echo", "size": {"lognormal": {"median": 64, "sigma": 99}}}])")),
               {"'mix[0].size.lognormal.sigma'"});
  expect_error(with("mix", json::parse(R"([{"op": "echo", "size": {"zipf": 1}}])")), {"'mix[0].size'", "uniform"});
  expect_error(with("mix", json::parse(R"([{"op": "echo", "size": 1, "weight": 0}])")), {"'mix'", "weights"});
  expect_error(with("rate", 100), {"'pipeline'", "closed loop"});  // a rate makes it open loop
  expect_error(with("loop", "sideways"), {"'loop'", "closed"});
  expect_error(with("lifetime", "forever"), {"'lifetime'", "persistent"});
  expect_error(with("lifetime", json{{"requests", 0}}), {"'lifetime.requests'"});
  expect_error(with("think_us", json{{"uniform", {{"min", 1}}}}), {"'think_us.uniform.max'", "required"});

  json open = valid_base();
  open.erase("pipeline");
  open["loop"] = "open";
  expect_error(open, {"'rate'", "is required"});
  open["rate"] = 1000;
  open["arrivals"] = "bursty";
  expect_error(open, {"'arrivals'", "poisson"});

  json groups = json::parse(R"({"name": "g", "description": "d", "duration_s": 1, "groups": [
      {"name": "a", "connections": 1, "mix": [{"op": "echo", "size": 1}]},
      {"name": "a", "connections": 1, "mix": [{"op": "echo", "size": 1}]}]})");
  expect_error(groups, {"'groups[1].name'", "used twice"});
  groups["groups"][1]["name"] = "b";
  groups["groups"][1]["colour"] = "red";
  expect_error(groups, {"'groups[1].colour'", "not a known field"});
  groups["connections"] = 3;
  expect_error(groups, {"'groups'", "not both"});
  json idle = json::parse(R"({"name": "i", "description": "d", "duration_s": 1, "groups": [
      {"name": "a", "connections": 5, "loop": "idle"}]})");
  expect_error(idle, {"sends nothing"});
}

BOOST_AUTO_TEST_CASE(files_traces_and_variants_are_checked) {
  scratch s;
  const auto bad_json = s.write("bad.json", "{ \"name\": ");
  try {
    load_workload_file(bad_json);
    BOOST_ERROR("accepted broken JSON");
  } catch (const workload_error& e) {
    BOOST_TEST(std::string(e.what()).find("bad.json: not valid JSON") != std::string::npos, e.what());
  }
  BOOST_CHECK_THROW(load_workload_file(s.dir / "missing.json"), workload_error);

  const std::string trace_wl =
      R"({"name": "t", "description": "d", "duration_s": 1, "trace": {"file": "t.jsonl"}})";
  const auto wl = s.write("trace.json", trace_wl);
  BOOST_CHECK_THROW(load_workload_file(wl), workload_error);  // no t.jsonl yet
  s.write("t.jsonl", "{\"t_us\": 0, \"conn\": 0, \"op\": \"echo\", \"size\": 8}\n"
                     "{\"t_us\": 10, \"conn\": 1, \"op\": \"sleep\", \"size\": 100}\n");
  const auto ok = load_workload_file(wl).at(0);
  BOOST_TEST(ok.trace->connections == 2u);
  BOOST_TEST(ok.trace->per_connection[1][0].size == 100u);

  const auto expect_trace_error = [&](const std::string& lines, const std::string& part) {
    s.write("t.jsonl", lines);
    try {
      load_workload_file(wl);
      BOOST_ERROR("accepted trace " << lines);
    } catch (const workload_error& e) {
      const std::string msg = e.what();
      BOOST_TEST(msg.find("t.jsonl") != std::string::npos, msg);
      BOOST_TEST(msg.find(part) != std::string::npos, msg);
    }
  };
  expect_trace_error("{\"t_us\": 5, \"conn\": 0, \"op\": \"echo\", \"size\": 8}\n"
                     "{\"t_us\": 1, \"conn\": 0, \"op\": \"echo\", \"size\": 8}\n", ":2: field 't_us'");
  expect_trace_error("{\"t_us\": 5, \"conn\": 0, \"op\": \"jump\", \"size\": 8}\n", ":1: field 'op'");
  expect_trace_error("{\"t_us\": 5, \"conn\": 1, \"op\": \"echo\", \"size\": 8}\n", "connection 0 has no records");
  expect_trace_error("not json\n", "not JSON");
  expect_trace_error("", "no records");

  json variants = valid_base();
  variants["variants"] = {{"colour", {1, 2}}};
  BOOST_CHECK_THROW(load_workload_file(s.write("v.json", variants.dump())), workload_error);
  variants["variants"] = {{"rate", {1, 2}}};  // a closed-loop workload has no rate
  BOOST_CHECK_THROW(load_workload_file(s.write("v.json", variants.dump())), workload_error);
  variants["variants"] = {{"pipeline", {1, 8}}};
  const auto vs = load_workload_file(s.write("v.json", variants.dump()));
  BOOST_TEST_REQUIRE(vs.size() == 2u);
  BOOST_TEST(vs[1].groups[0].pipeline == 8u);
  BOOST_TEST(vs[1].name == "t/pipeline=8");
}

BOOST_AUTO_TEST_CASE(suite_mistakes_are_named) {
  scratch s;
  s.write("s.json", R"({"name": "s", "servers": "reactor", "workloads": ["a.json"]})");
  try {
    load_suite((s.dir / "s.json").string(), s.dir);
    BOOST_ERROR("accepted a suite with servers as a string");
  } catch (const workload_error& e) {
    BOOST_TEST(std::string(e.what()).find("'servers'") != std::string::npos, e.what());
  }
  BOOST_CHECK_THROW(load_suite("no-such-suite", s.dir), workload_error);
}

BOOST_AUTO_TEST_CASE(distributions_are_seeded_and_shaped) {
  const distribution logn{distribution::kind::lognormal, 256, 1.0, 16384};
  rng a(42), b(42), c(43);
  bool differs = false;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 20'000; ++i) {
    const auto x = logn.sample(a);
    BOOST_TEST_REQUIRE(x == logn.sample(b));  // same seed, same sequence
    differs |= x != logn.sample(c);
    BOOST_TEST_REQUIRE(x <= 16384u);
    values.push_back(x);
  }
  BOOST_TEST(differs);
  std::sort(values.begin(), values.end());
  const double median = static_cast<double>(values[values.size() / 2]);
  BOOST_TEST(std::abs(median - 256.0) < 256.0 * 0.05, "median " << median);
  const distribution uni{distribution::kind::uniform, 10, 20, 20};
  rng r(7);
  std::uint64_t lo = 100, hi = 0;
  for (int i = 0; i < 10'000; ++i) {
    const auto x = uni.sample(r);
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  BOOST_TEST(lo == 10u);
  BOOST_TEST(hi == 20u);
}

BOOST_AUTO_TEST_CASE(sweep_parameters_apply_where_they_mean_something) {
  workload w = parse_workload(valid_base(), "case.json", ".");
  apply_parameter(w, "connections", 10);
  BOOST_TEST(w.groups[0].connections == 10u);
  apply_parameter(w, "size", 4096);
  BOOST_TEST(w.largest_payload() == 4096u);
  apply_parameter(w, "threads", 2);
  BOOST_TEST(w.threads == 2u);
  BOOST_CHECK_THROW(apply_parameter(w, "rate", 100), workload_error);
  BOOST_CHECK_THROW(apply_parameter(w, "pipeline", 0.5), workload_error);
  BOOST_CHECK_THROW(apply_parameter(w, "speed", 1), workload_error);
}

BOOST_AUTO_TEST_SUITE_END()
