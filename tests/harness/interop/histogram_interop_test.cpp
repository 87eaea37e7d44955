// ioduel's HdrHistogram encoding against another implementation: node runs
// hdr-histogram-js (pinned by package-lock.json, installed by scripts/setup)
// through histogram_interop.js, which decodes what we encode and encodes what
// we decode; both sides must agree on every percentile, the count and the mean.
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/measure/histogram.hpp"

using ioduel::harness::histogram;
using nlohmann::json;

namespace {

const std::string interop_dir = IODUEL_INTEROP_DIR;

// Fails the test, rather than skipping it, when node or the package is missing.
void require_node_and_package() {
  const std::string node = IODUEL_NODE;
  BOOST_TEST_REQUIRE(node.find("NOTFOUND") == std::string::npos,
                     "node was not found when CMake configured; run scripts/setup, then "
                     "configure again");
  BOOST_TEST_REQUIRE(std::filesystem::exists(interop_dir + "/node_modules/hdr-histogram-js"),
                     "hdr-histogram-js is not installed in " << interop_dir
                                                             << "/node_modules; run scripts/setup");
}

// Runs the script with `args` (base64 and plain words: nothing the shell
// interprets) and parses what it prints.
json run_script(const std::string& args) {
  const std::string command = std::string("'") + IODUEL_NODE + "' '" + interop_dir +
                              "/histogram_interop.js' " + args;
  FILE* pipe = ::popen(command.c_str(), "r");
  BOOST_TEST_REQUIRE(pipe != nullptr, "cannot run " << command);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = ::pclose(pipe);
  BOOST_TEST_REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0),
                     "node failed (status " << status << "): " << command.substr(0, 200));
  return json::parse(out);
}

// Our summary of h must be theirs, exactly for integers, to 1e-9 for the
// mean.  Their max is exact when they recorded the values themselves and a
// bucket's top when they decoded them; ours is always the bucket's top.
void check_agree(const histogram& h, const json& theirs, const std::string& what) {
  BOOST_TEST(theirs.at("total_count").get<std::uint64_t>() == h.total_count());
  BOOST_TEST(h.highest_equivalent(theirs.at("max").get<std::int64_t>()) == h.max());
  BOOST_TEST(std::abs(theirs.at("mean").get<double>() - h.mean()) <= 1e-9 * h.mean());
  std::string figures;
  for (const auto& [p, value] : theirs.at("percentiles").items()) {
    const auto ours = h.value_at_percentile(std::stod(p));
    BOOST_TEST(value.get<std::int64_t>() == ours, "p" << p);
    figures += " p" + p + " " + value.dump() + "/" + std::to_string(ours);
  }
  BOOST_TEST_MESSAGE(what << ", " << h.total_count() << " values, mean "
                          << theirs.at("mean").get<double>() << "/" << h.mean()
                          << ", percentiles hdr-histogram-js/ioduel:" << figures);
}

}  // namespace

BOOST_AUTO_TEST_CASE(node_decodes_what_we_encode) {
  require_node_and_package();
  std::mt19937_64 rng(2024);
  std::lognormal_distribution<double> latency(5.5, 1.2);  // around 250 us, long tail
  histogram h;
  for (int i = 0; i < 100'000; ++i) h.record(static_cast<std::int64_t>(latency(rng)));
  h.record_n(45'000'000, 3);  // a few stalls
  const json theirs = run_script("decode " + h.encode());
  BOOST_TEST(theirs.at("lowest").get<std::int64_t>() == 1);
  BOOST_TEST(theirs.at("highest").get<std::int64_t>() == 60'000'000);
  BOOST_TEST(theirs.at("significant_figures").get<int>() == 3);
  check_agree(h, theirs, "hdr-histogram-js decoded ioduel's encoding");
}

// The engine's layout (histogram::nanoseconds(): 1 ns to 60 s), as reports
// from schema version 3 hold it: values past 2^32 decode as well.
BOOST_AUTO_TEST_CASE(node_decodes_the_nanosecond_layout) {
  require_node_and_package();
  std::mt19937_64 rng(2026);
  std::lognormal_distribution<double> latency(10.4, 1.2);  // around 33 us in ns, long tail
  histogram h = histogram::nanoseconds();
  for (int i = 0; i < 100'000; ++i) h.record(static_cast<std::int64_t>(latency(rng)));
  h.record_n(45'000'000'000, 3);  // stalls of 45 s
  h.record_n(150, 7);             // and a few of 150 ns, counted exactly
  const json theirs = run_script("decode " + h.encode());
  BOOST_TEST(theirs.at("lowest").get<std::int64_t>() == 1);
  BOOST_TEST(theirs.at("highest").get<std::int64_t>() == 60'000'000'000);
  check_agree(h, theirs, "hdr-histogram-js decoded ioduel's nanosecond histogram");
}

BOOST_AUTO_TEST_CASE(we_decode_what_node_encodes) {
  require_node_and_package();
  for (const char* kind : {"fixed", "resizing"}) {
    BOOST_TEST_CONTEXT(kind) {
      const json theirs = run_script(std::string("encode ") + kind + " 99 50000");
      const histogram h = histogram::decode(theirs.at("encoded").get<std::string>());
      BOOST_TEST(h.highest_trackable() == theirs.at("highest").get<std::int64_t>());
      check_agree(h, theirs, std::string("ioduel decoded hdr-histogram-js's encoding (") + kind + ")");
    }
  }
}
