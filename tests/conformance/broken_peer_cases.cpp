// Conformance, part 3: peers that break off, dawdle, never read, fall silent
// or send urgent data.  The server must shrug each off and keep serving.
#include <boost/test/unit_test.hpp>

#include "flow_control.hpp"
#include "server_fixture.hpp"

namespace ioduel::testing {

namespace {

// After a peer broke off mid-frame: the owed reply came, then the close, with
// at most an ERROR between them (a truncated frame may be called an error).
void check_owed_then_close(const drain_result& d, const request& owed, const std::string& what) {
  BOOST_TEST((d.eof || d.reset), what << ": the server did not close the connection");
  BOOST_REQUIRE_MESSAGE(!d.replies.empty(), what << ": the owed reply never came");
  check_reply(owed, d.replies[0], what);
  BOOST_TEST(d.replies.size() <= 2u, what << ": " << d.replies.size() << " replies to one request");
  if (d.replies.size() == 2)
    BOOST_TEST((d.replies[1].hdr.op == protocol::opcode::error), what << ": an extra reply that is not ERROR");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(broken_peers, *boost::unit_test::precondition(server_available))

BOOST_FIXTURE_TEST_CASE(truncated_frames_then_close, server_fixture) {
  start();
  counts_are_lower_bounds();  // a server may count the stray bytes
  const request owed = request::echo(1, "owed");
  const std::string next = request::echo(2, pattern_bytes(100, 2)).wire();
  for (const auto& [what, cut] : {std::pair<std::string, std::size_t>{"truncated header", 10},
                                  {"truncated payload", protocol::header_size + 40}}) {
    client c = connect();
    c.send({owed}, std::string_view(next).substr(0, cut));
    c.shutdown_write();
    check_owed_then_close(c.read_until_close(), owed, name() + ": " + what + " then FIN");
  }
  finish();
}

BOOST_FIXTURE_TEST_CASE(reset_mid_frame, server_fixture) {
  start();
  counts_are_lower_bounds();
  client bystander = connect();
  bystander.round_trip({request::echo(1, "before")}, "a bystander before the reset");
  {
    client c = connect();
    const request owed = request::echo(2, "owed");
    c.send({owed}, request::echo(3, pattern_bytes(100, 3)).wire().substr(0, 50));
    check_reply(owed, c.read_reply(), name() + ": before the reset");
    c.reset();  // SO_LINGER 0: an RST with half a frame in the server's buffer
  }
  bystander.round_trip({request::echo(4, "after"), request::source(5, 10'000)},
                       name() + ": a bystander after another's reset");
  bystander.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(half_close_after_requests, server_fixture) {
  start();
  client c = connect();
  const std::vector<request> batch = {
      request::echo(1, pattern_bytes(64 * 1024, 1)), request::sleep(2, 100'000),
      request::source(3, 100 * 1024),               request::sink(4, "x"),
      request::stats(5),                             request::echo(6, "last")};
  c.send(batch);
  c.shutdown_write();  // no more requests, but the replies are still owed
  const drain_result d = c.read_until_close();
  BOOST_TEST(d.eof, name() << ": no orderly close after the replies (reset: " << d.reset << ")");
  BOOST_REQUIRE_EQUAL(d.replies.size(), batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) check_reply(batch[i], d.replies[i], name() + ": after SHUT_WR");
  finish();
}

BOOST_FIXTURE_TEST_CASE(slow_sender_does_not_hold_up_others, server_fixture) {
  start();
  client slow = connect();
  client fast = connect();
  const request dripped = request::echo(1, pattern_bytes(24, 1));  // a 40-byte frame
  const std::string wire = dripped.wire();
  // The slow client's frame arrives one byte at a time, and after each byte
  // but the last the fast client is served in full: 3 x 39 round trips, each
  // while the slow frame is incomplete.  A server that waits for the rest of
  // a frame before serving anyone else never answers the fast client (its
  // read times out).  No clock is involved, so load cannot change the verdict.
  std::uint64_t id = 100;
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    slow.send_raw(std::string_view(wire).substr(i, 1));
    for (int k = 0; k < 3; ++k, ++id)
      fast.round_trip({request::echo(id, pattern_bytes(200, static_cast<std::uint32_t>(id)))},
                      name() + ": the fast client, " + std::to_string(i + 1) + " bytes into the slow frame");
    BOOST_TEST_REQUIRE(!slow.has_input(), name() << ": a reply to " << i + 1 << " bytes of a 40-byte frame");
  }
  slow.send_raw(std::string_view(wire).substr(wire.size() - 1));
  slow.ledger()->frames_in += 1;
  slow.ledger()->bytes_in += wire.size();
  check_reply(dripped, slow.read_reply(), name() + ": the dripped frame");
  slow.close_gracefully();
  fast.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(client_that_never_reads_costs_bounded_memory, server_fixture) {
  constexpr std::uint64_t high_water = 65536;
  const std::uint32_t max = protocol::default_max_frame;
  start({"--high-water", std::to_string(high_water)});
  counts_are_lower_bounds();
  client control = connect();
  // Warm up: the allocator's arenas and the buffers one max-size reply needs.
  control.round_trip({request::source(1, max), request::echo(2, pattern_bytes(max, 2))}, "warm-up");
  const std::uint64_t baseline = server().sample().rss_bytes;

  // 200 SOURCE requests of 1 MiB: 200 MiB of replies if the server answered
  // them all into memory; a bounded server stops reading instead.
  client hog = connect();
  std::string requests;
  for (int i = 0; i < 200; ++i) requests += request::source(3, max).wire();
  hog.send_raw(requests);  // uncounted: the server reads only as far as it answers
  // Wait until the server has started answering the hog and then stopped
  // making progress on it (flow::wait_until_held_back).
  std::uint64_t id = 10;
  const flow::held_back h = flow::wait_until_held_back(*this, control, id);
  // Not settled is no failure in itself (the bound below judges a server that
  // keeps building replies); never starting to answer is.
  BOOST_TEST((h.settled || (h.last != ~0ull && h.last > 0)),
             name() << ": no reply to the hog's requests after " << scaled(10s).count() << " ms");
  const auto m = server().sample();
  // Output above --high-water, plus one reply built whole, plus the input
  // buffer; the rest (socket buffers) is kernel memory, not RSS.
  const std::uint64_t slack = (sanitized_build ? 64u : 16u) << 20;
  const std::uint64_t bound = baseline + high_water + 2 * (max + protocol::header_size) + slack;
  BOOST_TEST(m.hwm_bytes <= bound, name() << ": peak RSS " << (m.hwm_bytes >> 20) << " MiB over the bound of "
                                          << (bound >> 20) << " MiB (baseline " << (baseline >> 20)
                                          << " MiB) with a client that never reads 200 x 1 MiB");
  control.round_trip({request::echo(3, "still here")}, name() + ": beside a client that never reads");
  hog.reset();
  control.close_gracefully();
  finish();
}

BOOST_FIXTURE_TEST_CASE(idle_connection_is_closed_after_idle_timeout, server_fixture) {
  // Scaled: the fresh client of finish() must not be cut off by a stall.
  const auto idle_timeout = scaled(300ms);
  start({"--idle-timeout-ms", std::to_string(idle_timeout.count())});
  client c = connect();
  // The server last heard from us after this instant, so a correct server
  // closes at least the idle timeout after it (less a timer tick of slack).
  const auto before_last_request = clock_type::now();
  c.round_trip({request::echo(1, "then silence")}, "before falling silent");
  const drain_result d = c.read_until_close(scaled(10s));
  BOOST_TEST((d.eof || d.reset), name() << ": an idle connection was not closed");
  BOOST_TEST(d.replies.empty(), name() << ": replies to nothing");
  const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - before_last_request);
  BOOST_TEST((idle >= idle_timeout - 10ms), name() << ": closed " << idle.count() << " ms after the last request, "
                                                  << "before the idle timeout of " << idle_timeout.count() << " ms");
  ledger().idle_timeouts = 1;
  finish();
}

BOOST_FIXTURE_TEST_CASE(urgent_data_is_discarded_and_counted, server_fixture) {
  start();
  client c = connect();
  c.round_trip({request::echo(1, "before")}, "before the urgent byte");
  c.send_urgent('!');
  c.round_trip({request::echo(2, "after"), request::source(3, 300)}, "after an urgent byte");
  // TCP keeps one urgent mark: an urgent byte that arrives before the
  // server has taken the previous one replaces it.  So the second waits
  // until STATS shows the first discarded (a server that never discards it
  // fails here).
  const auto deadline = clock_type::now() + scaled(5s);
  for (std::uint64_t id = 10; c.stats(id).value("oob_discarded", 0ull) < 1; ++id) {
    BOOST_REQUIRE_MESSAGE(clock_type::now() < deadline, name() << ": the urgent byte was never discarded");
    BOOST_TEST(c.silent_for(10ms));  // the pause between two looks
  }
  // Between two frames sent back to back.
  const request before = request::echo(4, "around"), after = request::echo(5, "the stream goes on");
  c.send(before);
  c.send_urgent('?');
  c.send(after);
  check_reply(before, c.read_reply(), name() + ": the frame before an urgent byte");
  check_reply(after, c.read_reply(), name() + ": the frame after an urgent byte");
  // The connection now sits with urgent data behind it: a server that leaves
  // the urgent byte unread would find the socket ready forever and spin.
  expect_no_spin(c, "after urgent data");
  c.close_gracefully();
  finish();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
