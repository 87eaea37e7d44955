// What belongs to a measured window (harness/load/engine.hpp): requests by their
// intended send time, however late their replies; arrivals that had no
// connection to go on are counted as dropped; the send lag is recorded for
// every request of the window.  Against the tests' echo server, told to hold
// its replies back or to close connections.
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "support/echo_server.hpp"
#include "harness/load/engine.hpp"
#include "harness/workload/workload.hpp"
#include "protocol/frame.hpp"

using namespace ioduel::harness;
using nlohmann::json;

namespace {

// One connection, 64-byte ECHOs at `rate` a second, evenly spaced.
workload open_loop(double rate, double warmup_s, double duration_s) {
  return parse_workload(json{{"name", "window"},
                             {"description", "evenly spaced ECHOs"},
                             {"seed", 3},
                             {"warmup_s", warmup_s},
                             {"duration_s", duration_s},
                             {"timeout_ms", 5000},
                             {"groups", json::array({{{"name", "open"},
                                                      {"connections", 1},
                                                      {"rate", rate},
                                                      {"arrivals", "uniform"},
                                                      {"mix", json::array({{{"op", "echo"}, {"size", 64}}})}}})}},
                        "window", ".");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(window_membership)

// Every reply comes 150 ms after its request, so the replies to the
// window's last 150 ms of requests come after the window.  By intended send
// time the window [0.1 s, 0.3 s) at 100/s holds 20 requests, and all of them
// count, each with at least 150 ms of latency.  Counted by reply time, it
// would have been the 15 requests sent from 0 to 0.15 s instead.
BOOST_AUTO_TEST_CASE(a_request_of_the_window_answered_after_it_counts) {
  test::echo_server server(test::echo_server::options{0, std::chrono::milliseconds(150), 0});
  const engine_outcome e = run_engine(open_loop(100, 0.1, 0.2), endpoint{"127.0.0.1", server.port()}, {});
  BOOST_TEST(e.setup_error.empty(), e.setup_error);
  BOOST_TEST(e.errors.total() == 0u);
  BOOST_TEST((e.completed >= 19u && e.completed <= 21u), "completed " << e.completed);
  BOOST_TEST(e.latency.total_count() == e.completed);
  // min() is the lowest value of the smallest sample's bucket (3 significant
  // digits: a 150 ms sample may read 149.95 ms), so the bound is that bucket's.
  BOOST_TEST(e.latency.min() >= e.latency.lowest_equivalent(150'000'000), "min " << e.latency.min() << " ns");
  // Every request of the window went out, and each has its send lag.
  BOOST_TEST(e.send_lag.total_count() == e.completed);
  // The histograms count nanoseconds.
  BOOST_TEST(e.latency.highest_trackable() == 60'000'000'000);
}

// The server closes the connection after about three requests; while the engine
// waits to reconnect (50 ms), arrivals keep falling due with nowhere to go:
// they are counted as dropped, never silently lost.
BOOST_AUTO_TEST_CASE(arrivals_with_no_connection_are_counted_as_dropped) {
  test::echo_server server(test::echo_server::options{0, std::chrono::milliseconds(0), 3 * (ioduel::protocol::header_size + 64)});
  const engine_outcome e = run_engine(open_loop(400, 0.05, 0.3), endpoint{"127.0.0.1", server.port()}, {});
  BOOST_TEST(e.errors.unexpected_closes > 0u);
  BOOST_TEST(e.errors.dropped_arrivals > 0u);
  BOOST_TEST(e.errors.total() >= e.errors.dropped_arrivals);
}

// A closed loop that thinks 5 ms between requests, against replies that
// take 50 ms: each reply stands for the 9 requests a user arriving every
// 5 ms would also have sent meanwhile, and the corrected histogram counts
// them (HdrHistogram's expected-interval method); the plain one does not.
BOOST_AUTO_TEST_CASE(a_closed_loop_with_a_think_time_is_also_corrected_for_coordinated_omission) {
  test::echo_server server(test::echo_server::options{0, std::chrono::milliseconds(50), 0});
  const workload w = parse_workload(
      json{{"name", "think"}, {"description", "thinking closed loop"}, {"seed", 3}, {"warmup_s", 0.05},
           {"duration_s", 0.4}, {"timeout_ms", 5000},
           {"groups", json::array({{{"name", "closed"}, {"connections", 1}, {"think_us", 5000},
                                    {"mix", json::array({{{"op", "echo"}, {"size", 64}}})}}})}},
      "think", ".");
  const engine_outcome e = run_engine(w, endpoint{"127.0.0.1", server.port()}, {});
  BOOST_TEST_REQUIRE(e.groups.size() == 1u);
  const group_outcome& g = e.groups[0];
  BOOST_TEST(g.expected_interval_ns == 5'000'000);
  BOOST_TEST_REQUIRE(g.latency.total_count() > 0u);
  BOOST_TEST(g.latency.min() >= g.latency.lowest_equivalent(50'000'000));
  BOOST_TEST(g.latency_co_corrected.total_count() >= 10 * g.latency.total_count(),
             g.latency_co_corrected.total_count() << " corrected for " << g.latency.total_count());
  BOOST_TEST(g.latency_co_corrected.value_at_percentile(50) < g.latency.value_at_percentile(50));
}

BOOST_AUTO_TEST_SUITE_END()
