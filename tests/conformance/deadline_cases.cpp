// Conformance, part 8: peers whose timing is hostile.  A reset while the
// server holds a SLEEP (nothing read or written is pending), a client that
// reads steadily but slowly under --idle-timeout-ms, a SLEEP longer than the
// idle timeout, and urgent data that arrives before the server has accepted
// the connection.
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <thread>

#include "server_fixture.hpp"

namespace ioduel::testing {

namespace {

std::uint32_t micros(std::chrono::milliseconds t) {
  return static_cast<std::uint32_t>(std::chrono::microseconds(t).count());
}

// Asks STATS until `key` reaches `want`, pausing 10 ms between looks.
bool wait_for_stat(client& c, const char* key, std::uint64_t want, std::chrono::milliseconds within,
                   bool at_most = false) {
  const auto deadline = clock_type::now() + within;
  for (std::uint64_t id = 500;; ++id) {
    const std::uint64_t v = c.stats(id).value(key, 0ull);
    if (at_most ? v <= want : v >= want) return true;
    if (clock_type::now() >= deadline) return false;
    BOOST_TEST(c.silent_for(10ms), "unsolicited bytes after a STATS reply");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(deadlines, *boost::unit_test::precondition(server_available))

// The client sends a SLEEP and resets the connection while the server holds
// it: no read, no write is pending on that socket, only (on some backends)
// the wait for urgent data, which the reset's error condition must not turn
// into a busy loop.
BOOST_FIXTURE_TEST_CASE(reset_during_sleep_does_not_spin, server_fixture) {
  start();
  counts_are_lower_bounds();  // the SLEEP's reply is built but never read
  client observer = connect();
  const auto sleep = std::min<std::chrono::milliseconds>(scaled(3s), 9s);
  const std::uint64_t base = observer.stats(1).value("frames_in", 0ull);
  {
    client c = connect();
    c.send(request::sleep(7, micros(sleep)));
    wait_for_frames_in(observer, base, 1, name());
    c.reset();
  }
  // The reset has reached the server when the connection is gone or, for a
  // server that only notices when the SLEEP ends, at once: the spin, if any,
  // starts with the RST.
  expect_no_spin(observer, "after a reset during a SLEEP");
  BOOST_TEST(wait_for_stat(observer, "connections_open", 1, sleep + scaled(3s), true),
             name() << ": the reset connection was never closed");
  observer.close_gracefully();
  finish();
}

// A client that reads its replies steadily, a little at a time, is not idle:
// each part of a long write that leaves counts as activity.  16 MiB of SOURCE
// at about 4 MB/s take 4 s against an idle timeout of 1 s; the socket
// buffers hold at most a few MiB, so the one write of that reply lasts well
// over the timeout.
BOOST_FIXTURE_TEST_CASE(slow_reader_is_not_idle, server_fixture) {
  constexpr std::uint32_t size = 16u << 20;
  const auto idle = scaled(1000ms);
  server_fixture::options o;
  o.flags = {"--idle-timeout-ms", std::to_string(idle.count()), "--max-frame", std::to_string(size)};
  o.max_frame = size;
  start(o);
  // The server may time the connection out once every byte has left it and
  // the client is still reading the socket buffers: idle_timeouts is 0 or 1.
  counts_are_lower_bounds();
  client c = connect();
  const int small = 64 * 1024;  // a fixed receive buffer: the server's writes wait on our reads
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  c.send(request::source(9, size));
  const std::size_t total = protocol::header_size + size;
  std::size_t got = 0;
  std::vector<char> chunk(16 * 1024);
  const auto deadline = clock_type::now() + scaled(30s);
  while (got < total && clock_type::now() < deadline) {
    pollfd p{c.fd(), POLLIN, 0};
    BOOST_REQUIRE_MESSAGE(::poll(&p, 1, static_cast<int>(io_timeout().count())) == 1,
                          name() << ": no bytes for " << io_timeout().count() << " ms after " << got);
    const ssize_t n = ::recv(c.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n == 0) break;  // the server closed mid-reply
    if (n < 0) {
      BOOST_REQUIRE_MESSAGE(errno == EAGAIN || errno == EINTR,
                            name() << ": recv failed after " << got << " bytes: " << std::strerror(errno));
      continue;
    }
    got += static_cast<std::size_t>(n);
    // Pacing, not synchronisation: this is what makes the reader slow.
    std::this_thread::sleep_for(4ms);
  }
  BOOST_TEST(got == total, name() << ": a client reading steadily got " << got << " of " << total
                                  << " bytes under --idle-timeout-ms " << idle.count());
  c.ledger()->frames_out += 1;
  c.ledger()->bytes_out += total;
  finish();
}

// A SLEEP longer than the idle timeout, then a large SOURCE: the connection
// owed a reply all along, so every reply arrives whole; the idle timeout
// then counts from the last byte written.
BOOST_FIXTURE_TEST_CASE(sleep_longer_than_idle_timeout_then_source, server_fixture) {
  constexpr std::uint32_t size = 8u << 20;  // more than the socket buffers hold
  const auto idle = scaled(300ms);
  server_fixture::options o;
  o.flags = {"--idle-timeout-ms", std::to_string(idle.count()), "--max-frame", std::to_string(size)};
  o.max_frame = size;
  start(o);
  client c = connect();
  const std::vector<request> batch = {request::sleep(1, micros(2 * idle)),
                                      request::source(2, size),
                                      request::echo(3, pattern_bytes(100, 3))};
  c.send(batch);
  for (const auto& q : batch) {
    try {
      check_reply(q, c.read_reply(), name() + ": after a SLEEP longer than the idle timeout");
    } catch (const std::runtime_error& e) {
      BOOST_FAIL(name() << ": the connection ended before its replies after a SLEEP longer than the "
                        << "idle timeout: " << e.what());
    }
  }
  const drain_result d = c.read_until_close(scaled(10s));
  BOOST_TEST((d.eof || d.reset), name() << ": not closed once idle");
  ledger().idle_timeouts = 1;
  finish();
}

// Urgent data sent the moment the connection is established, likely before
// the server has accepted it, is counted like any other.  One at a time:
// TCP keeps a single urgent mark per connection.
BOOST_FIXTURE_TEST_CASE(urgent_byte_before_accept_is_counted, server_fixture) {
  start();
  client observer = connect();
  for (std::uint64_t k = 1; k <= 10; ++k) {
    client c = connect();
    c.send_urgent('!');
    c.round_trip({request::echo(k, "after the urgent byte")}, "after an urgent byte at connect");
    BOOST_REQUIRE_MESSAGE(wait_for_stat(observer, "oob_discarded", k, scaled(2s)),
                          name() << ": the urgent byte sent at connect " << k << " was not counted");
    c.close_gracefully();
  }
  // The proactor counts urgent bytes by SIGURG, and a byte that came before
  // the accept by a recv(MSG_OOB) once the session owns the socket's signal;
  // a byte whose segment the kernel processes between those two steps is
  // counted by both (docs/proactor.md, "Urgent data"): at most once per
  // accept.  Not missing any is this case's point; the reactor reads every
  // urgent byte itself and must count exactly.
  if (name().rfind("proactor", 0) == 0) {
    const std::uint64_t counted = observer.stats(900).value("oob_discarded", 0ull);
    BOOST_TEST((counted >= 10u && counted <= 20u),
               name() << ": " << counted << " urgent bytes counted for 10 sent, one at each of 10 accepts");
    ledger().oob_discarded += counted - std::min<std::uint64_t>(counted, 10);
  }
  observer.close_gracefully();
  finish();
}

// Bytes already waiting behind an urgent mark: the server's read stops short
// at the mark, and the bytes after it must still be read without more
// traffic (a server that takes a short read for an empty socket stalls).
// A SLEEP holds the server's reads back until all of it has arrived.
BOOST_FIXTURE_TEST_CASE(bytes_behind_an_urgent_mark_do_not_stall, server_fixture) {
  start();
  client c = connect();
  const request sleep = request::sleep(1, micros(std::min<std::chrono::milliseconds>(scaled(200ms), 2000ms)));
  const request before = request::echo(2, "before the mark"), after = request::echo(3, "behind the mark");
  c.send(sleep);
  // One segment: `before`, then the urgent byte (MSG_OOB marks a send's last byte).
  const std::string with_mark = before.wire() + "!";
  BOOST_REQUIRE(::send(c.fd(), with_mark.data(), with_mark.size(), MSG_OOB) == static_cast<ssize_t>(with_mark.size()));
  c.send(after);
  c.ledger()->frames_in += 1;
  c.ledger()->bytes_in += before.wire_size();
  c.ledger()->oob_discarded += 1;
  for (const request* q : {&sleep, &before, &after})
    check_reply(*q, c.read_reply(), name() + ": around an urgent mark, behind a SLEEP");
  c.close_gracefully();
  finish();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
