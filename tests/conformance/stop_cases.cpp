// Conformance, part 6: stopping.  SIGTERM drains: every request the server
// has fully received is answered before it exits 0, even with a second
// SIGTERM during the drain.
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include "server_fixture.hpp"

namespace ioduel::testing {

namespace {

std::vector<request> in_flight_batch() {
  return {request::echo(1, "first"), request::sleep(2, 200'000), request::echo(3, pattern_bytes(1000, 3)),
          request::sleep(4, 200'000), request::source(5, 100'000), request::echo(6, "last")};
}

// Sends the batch on two connections, waits for each first reply (so the
// server has read the batch, sent in one write), signals SIGTERM, optionally
// again once the drain is under way, and checks every reply and the exit.
void drain_with_requests_in_flight(server_fixture& f, bool second_sigterm) {
  constexpr auto drain = 5000ms;
  f.start({"--drain-timeout-ms", std::to_string(drain.count())});
  const auto batch = in_flight_batch();
  std::vector<client> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(f.connect());
    clients.back().send(batch);
  }
  for (auto& c : clients) check_reply(batch[0], c.read_reply(), f.name() + ": before SIGTERM");
  f.server().signal(SIGTERM);
  if (second_sigterm) {
    check_reply(batch[1], clients[0].read_reply(), f.name() + ": during the drain");
    f.server().signal(SIGTERM);
  }
  for (std::size_t k = 0; k < clients.size(); ++k) {
    auto& c = clients[k];
    const drain_result d = c.read_until_close();
    const std::size_t already = (second_sigterm && k == 0) ? 2 : 1;
    BOOST_REQUIRE_MESSAGE(d.replies.size() == batch.size() - already,
                          f.name() << ": connection " << k << " got " << d.replies.size() + already << " of "
                                   << batch.size() << " replies across SIGTERM");
    for (std::size_t i = 0; i < d.replies.size(); ++i)
      check_reply(batch[already + i], d.replies[i], f.name() + ": after SIGTERM");
    BOOST_TEST(d.eof, f.name() << ": connection " << k << " not closed cleanly after the drain");
  }
  const auto e = f.server().wait_for(scaled(drain) + 2s);
  BOOST_REQUIRE_MESSAGE(e.has_value(), f.name() << ": still running " << (drain.count() + 2000)
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
