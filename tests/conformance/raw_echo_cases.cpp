// Conformance, part 5: --mode raw-echo, a plain byte echo server with no
// framing (what ping-pong clients expect).
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>

#include "server_fixture.hpp"

namespace ioduel::testing {

BOOST_AUTO_TEST_SUITE(raw_echo, *boost::unit_test::precondition(server_available))

BOOST_FIXTURE_TEST_CASE(arbitrary_bytes_come_back_unframed, server_fixture) {
  options o;
  o.raw_echo = true;
  start(o);
  client a = connect();
  client b = connect();
  // Bytes that would be bad frames, and bytes that would be good ones: both
  // are just bytes here.
  const std::string not_a_frame = "definitely not a frame\n";
  const std::string looks_like_stats = request::stats(1).wire();
  for (const std::string& bytes : {not_a_frame, looks_like_stats}) {
    a.send_raw(bytes);
    BOOST_TEST((a.read_raw(bytes.size()) == bytes), name() << ": " << bytes.size() << " bytes not echoed as sent");
  }
  // Many small writes on two connections, interleaved.
  for (std::uint32_t i = 0; i < 64; ++i) {
    const std::string chunk = pattern_bytes(1 + i * 61, i);
    a.send_raw(chunk);
    b.send_raw(chunk);
    BOOST_TEST((a.read_raw(chunk.size()) == chunk), name() << ": chunk " << i << " on connection A");
    BOOST_TEST((b.read_raw(chunk.size()) == chunk), name() << ": chunk " << i << " on connection B");
  }
  // One large write (read back while it is being written).
  const std::string big = pattern_bytes(4 << 20, 77);
  a.send_raw(big);
  BOOST_TEST((a.read_raw(big.size()) == big), name() << ": 4 MiB not echoed as sent");
  a.close_gracefully();
  b.close_gracefully();
  finish();
}

// Raw echo past partial sends: what the socket does not take stays where it
// was read until sent (the reactor lends its read block).  A flood larger
// than the sockets hold, written while reading only what arrives meanwhile,
// then read back: every byte, in order.
BOOST_FIXTURE_TEST_CASE(a_flood_past_partial_sends_comes_back_in_order, server_fixture) {
  options o;
  o.raw_echo = true;
  o.flags = {"--high-water", "262144"};
  start(o);
  client a = connect();
  const int size = 64 * 1024;
  ::setsockopt(a.fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  std::string flood;
  for (std::uint32_t i = 0; i < 24; ++i) flood += pattern_bytes(1000 + i * 37'000, i);
  a.send_raw(flood);
  BOOST_TEST((a.read_raw(flood.size()) == flood), name() << ": " << flood.size() << " bytes not echoed in order");
  a.close_gracefully();
  finish();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
