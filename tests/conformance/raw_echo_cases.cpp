// Conformance, part 5: --mode raw-echo, a plain byte echo server with no
// framing (what ping-pong clients expect).
#include <boost/test/unit_test.hpp>

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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
