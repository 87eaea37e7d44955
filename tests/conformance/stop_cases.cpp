// Conformance, part 6: stopping.  SIGTERM drains: every request the server
// has fully received is answered before it exits 0, even with a second
// SIGTERM during the drain.
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <algorithm>

#include "server_fixture.hpp"

namespace ioduel::testing {

namespace {

// Two connections, each with requests in flight: ECHOs answered at once and a
// SLEEP last (nothing queued behind a SLEEP, so every server reads it all).
// Once STATS says the server has received every frame, SIGTERM; with
// `second_sigterm`, SIGTERM again once connection 0's close shows the drain
// under way.  Every reply must arrive, then an orderly close, then exit 0.
void drain_with_requests_in_flight(server_fixture& f, bool second_sigterm) {
  const auto drain = scaled(5000ms);
  // Connection 1's SLEEP: still owed when connection 0 closes (scaled for the
  // sanitizer builds, capped to keep the case short).
  const auto long_sleep = std::min<std::chrono::milliseconds>(scaled(1500ms), 3000ms);
  f.start({"--drain-timeout-ms", std::to_string(drain.count())});
  const std::vector<std::vector<request>> batches = {
      {request::echo(1, "first"), request::source(2, 100'000), request::sleep(3, 200'000)},
      {request::echo(4, pattern_bytes(1000, 4)), request::sink(5, "x"),
       request::sleep(6, static_cast<std::uint32_t>(std::chrono::microseconds(long_sleep).count()))}};
  client observer = f.connect();
  // Before the SLEEP is sent: its reply cannot come earlier than long_sleep from here.
  const auto long_sleep_sent = clock_type::now();
  std::vector<client> clients;
  for (const auto& batch : batches) {
    clients.push_back(f.connect());
    clients.back().send(batch);
  }
  // Each STATS round trip is the pause between two looks.
  const std::uint64_t all_received = f.ledger().frames_in + 1;  // + the STATS asking
  const auto deadline = clock_type::now() + scaled(5s);
  for (std::uint64_t id = 1;; ++id) {
    if (observer.stats(id).value("frames_in", 0ull) >= all_received + id - 1) break;
    BOOST_REQUIRE_MESSAGE(clock_type::now() < deadline, f.name() << ": the requests never all arrived");
  }
  f.server().signal(SIGTERM);
  std::vector<drain_result> results(clients.size());
  results[0] = clients[0].read_until_close();
  if (second_sigterm) {
    // Connection 0 closed: the server is draining.  Connection 1's SLEEP
    // reply is still owed if its delay has not run out yet, which only a
    // machine stalled for over a second could break; say so if it did.
    BOOST_WARN_MESSAGE(clock_type::now() - long_sleep_sent < long_sleep,
                       f.name() << ": connection 1's SLEEP may be answered already: the second SIGTERM "
                                   "may have come after the drain");
    f.server().signal(SIGTERM);
  }
  for (std::size_t k = 1; k < clients.size(); ++k) results[k] = clients[k].read_until_close();
  for (std::size_t k = 0; k < clients.size(); ++k) {
    const auto& d = results[k];
    BOOST_REQUIRE_MESSAGE(d.replies.size() == batches[k].size(),
                          f.name() << ": connection " << k << " got " << d.replies.size() << " of "
                                   << batches[k].size() << " replies across SIGTERM");
    for (std::size_t i = 0; i < d.replies.size(); ++i)
      check_reply(batches[k][i], d.replies[i], f.name() + ": across SIGTERM");
    BOOST_TEST(d.eof, f.name() << ": connection " << k << " not closed cleanly after the drain");
  }
  const auto slack = scaled(2s);
  const auto e = f.server().wait_for(drain + slack);
  BOOST_REQUIRE_MESSAGE(e.has_value(), f.name() << ": still running " << (drain + slack).count()
                                                << " ms after SIGTERM (drain timeout " << drain.count() << " ms)");
  BOOST_TEST(e->clean(), f.name() << ": ended with " << e->describe() << " after SIGTERM; stderr:\n"
                                  << f.server().stderr_tail());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stop, *boost::unit_test::precondition(server_available))

BOOST_FIXTURE_TEST_CASE(sigterm_answers_every_request_in_flight, server_fixture) {
  drain_with_requests_in_flight(*this, false);
}

BOOST_FIXTURE_TEST_CASE(second_sigterm_during_drain_loses_nothing, server_fixture) {
  drain_with_requests_in_flight(*this, true);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
