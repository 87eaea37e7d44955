// Conformance, part 7: the drain under pressure.  SIGTERM must answer every
// frame the server has received, even frames still waiting in the kernel
// behind a SLEEP, and end each connection with FIN, not RST (closing a
// socket with unread input makes Linux reset it and drop the unsent
// replies).  A drain timeout of 0 ms, with connections still arriving, must
// still exit 0.
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <algorithm>

#include "server_fixture.hpp"

namespace ioduel::testing {


BOOST_AUTO_TEST_SUITE(drain, *boost::unit_test::precondition(server_available))

// Five connections with a SLEEP and 10 ECHOs each, one with a SLEEP and 200
// ECHOs: once every SLEEP is parsed (the ECHOs behind it are in the server's
// kernel buffer, sent in the same write), SIGTERM.  Every reply must come,
// then a FIN.
BOOST_FIXTURE_TEST_CASE(sigterm_answers_frames_queued_behind_a_sleep, server_fixture) {
  const auto drain = scaled(5000ms);
  start({"--drain-timeout-ms", std::to_string(drain.count())});
  // Long enough that SIGTERM comes while every SLEEP is pending.
  const auto sleep = std::min<std::chrono::milliseconds>(scaled(600ms), 3000ms);
  const auto sleep_us = static_cast<std::uint32_t>(std::chrono::microseconds(sleep).count());
  client observer = connect();
  const std::uint64_t base = observer.stats(1).value("frames_in", 0ull);
  std::vector<std::vector<request>> batches;
  for (std::size_t k = 0; k < 6; ++k) {
    std::vector<request> b{request::sleep(k * 1000, sleep_us)};
    const std::size_t echoes = k == 5 ? 200 : 10;
    for (std::size_t i = 1; i <= echoes; ++i)
      b.push_back(request::echo(k * 1000 + i, pattern_bytes(8 + i % 24, static_cast<std::uint32_t>(i))));
    batches.push_back(std::move(b));
  }
  const auto sent = clock_type::now();
  std::vector<client> clients;
  for (const auto& b : batches) {
    clients.push_back(connect());
    clients.back().send(b);
  }
  wait_for_frames_in(observer, base, batches.size(), name());
  BOOST_WARN_MESSAGE(clock_type::now() - sent < sleep,
                     name() << ": the SLEEPs may have ended before SIGTERM (a stalled machine)");
  server().signal(SIGTERM);
  for (std::size_t k = 0; k < clients.size(); ++k) {
    const drain_result d = clients[k].read_until_close();
    BOOST_TEST(d.replies.size() == batches[k].size(),
               name() << ": connection " << k << " got " << d.replies.size() << " of " << batches[k].size()
                      << " replies across SIGTERM (reset: " << d.reset << ")");
    for (std::size_t i = 0; i < std::min(d.replies.size(), batches[k].size()); ++i)
      check_reply(batches[k][i], d.replies[i], name() + ": behind a SLEEP across SIGTERM");
    BOOST_TEST(d.eof, name() << ": connection " << k << " ended with "
                             << (d.reset ? "a reset" : "no close") << " after the drain, not a FIN");
  }
  const drain_result o = observer.read_until_close();
  BOOST_TEST(o.eof, name() << ": the idle observer was not closed with a FIN (reset: " << o.reset << ")");
  const auto e = server().wait_for(drain + scaled(2s));
  BOOST_REQUIRE_MESSAGE(e.has_value(), name() << ": still running after the drain timeout");
  BOOST_TEST(e->clean(), name() << ": ended with " << e->describe() << "; stderr:\n" << server().stderr_tail());
}

// --drain-timeout-ms 0: the drain is forced at once, while accepted
// connections may still have their first handler queued.  Each round makes a
// burst of connections that send a request and SIGTERMs straight away; the
// server must exit 0 every time (under ASan a freed session touched by its
// queued start shows here as a report and a non-zero exit).
BOOST_FIXTURE_TEST_CASE(forced_stop_while_connections_arrive, server_fixture) {
  for (int round = 0; round < 8; ++round) {
    start({"--drain-timeout-ms", "0"});
    std::vector<client> clients;
    for (int i = 0; i < 40; ++i) {
      clients.push_back(connect());
      clients.back().send(request::echo(static_cast<std::uint64_t>(i), "x"));
    }
    server().signal(SIGTERM);
    const auto e = server().wait_for(scaled(10s));
    BOOST_REQUIRE_MESSAGE(e.has_value(), name() << ": round " << round << ": still running after a forced stop");
    BOOST_REQUIRE_MESSAGE(e->clean(), name() << ": round " << round << ": ended with " << e->describe()
                                             << " after a forced stop; stderr:\n" << server().stderr_tail());
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
