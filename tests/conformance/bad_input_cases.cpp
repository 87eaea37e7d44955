// Conformance, part 2: bad input.  Every kind of bad frame, sent behind valid
// requests in the same write, must be answered by the replies owed for those
// requests (a pending SLEEP included), then ERROR with the right id, then a
// close.
#include <boost/test/unit_test.hpp>

#include "server_fixture.hpp"

namespace ioduel::testing {

namespace {

struct bad_frame {
  std::string what;
  std::string bytes;
  std::uint64_t error_id;  // 0 where the header cannot be read
};

std::vector<bad_frame> bad_frames() {
  const std::uint32_t max = protocol::default_max_frame;
  std::string garbage = pattern_bytes(200, 99);
  garbage[0] = 'X';  // anything but 'I' is already bad
  std::string bad_magic = request::echo(60, "x").wire();
  bad_magic[1] = 'X';
  std::string bad_version = request::echo(61, "x").wire();
  bad_version[2] = 2;
  return {
      {"random garbage", garbage, 0},
      {"bad magic", bad_magic, 0},
      {"bad version", bad_version, 0},
      {"unknown opcode 0x06", raw_frame(0x06, 62, "x"), 62},
      {"opcode 0x00", raw_frame(0x00, 63, ""), 63},
      {"a reply opcode (0x82) sent as a request", raw_frame(0x82, 64, ""), 64},
      // The header alone: the ERROR must come without the payload ever being sent.
      {"length over the max frame (header only)", raw_frame(0x01, 65, "", max + 1), 65},
      {"length 0xFFFFFFFF (header only)", raw_frame(0x02, 66, "", 0xFFFFFFFFu), 66},
      {"SOURCE with a 3-byte payload", raw_frame(0x03, 67, "abc"), 67},
      {"SOURCE with a 5-byte payload", raw_frame(0x03, 68, "abcde"), 68},
      {"SLEEP with an empty payload", raw_frame(0x04, 69, ""), 69},
      {"STATS with a payload", raw_frame(0x05, 70, "{}"), 70},
      {"SOURCE of max frame + 1 bytes", request::source(71, max + 1).wire(), 71},
      {"SLEEP of 10,000,001 us", request::sleep(72, 10'000'001).wire(), 72},
  };
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_input, *boost::unit_test::precondition(server_available))

BOOST_FIXTURE_TEST_CASE(bad_frames_get_owed_replies_then_error_then_close, server_fixture) {
  start();
  for (const auto& bad : bad_frames()) {
    BOOST_TEST_CONTEXT(name() << ": " << bad.what) {
      client c = connect();
      const std::vector<request> owed = {request::echo(1, "owed"), request::sleep(2, 50'000),
                                         request::source(3, 100)};
      c.send(owed, bad.bytes);
      const drain_result d = c.read_until_close();
      BOOST_TEST((d.eof || d.reset), "the server did not close the connection");
      BOOST_REQUIRE_EQUAL(d.replies.size(), owed.size() + 1);
      for (std::size_t i = 0; i < owed.size(); ++i) check_reply(owed[i], d.replies[i], bad.what);
      const reply& error = d.replies.back();
      BOOST_TEST((error.hdr.op == protocol::opcode::error), "the last reply is not ERROR");
      BOOST_TEST(error.hdr.id == bad.error_id);
      BOOST_TEST(!error.payload.empty(), "the ERROR reply says nothing");
      BOOST_TEST(valid_utf8(error.payload), "the ERROR message is not UTF-8");
      BOOST_TEST(d.trailing.empty(), "a truncated frame followed the ERROR reply");
    }
  }
  finish();
}

BOOST_FIXTURE_TEST_CASE(max_frame_flag_moves_the_limit, server_fixture) {
  start({"--max-frame", "4096"});
  client ok = connect();
  ok.round_trip({request::echo(1, pattern_bytes(4096, 1)), request::source(2, 4096)},
                "at --max-frame 4096");
  ok.close_gracefully();
  for (const auto& [what, bytes] :
       {std::pair<std::string, std::string>{"ECHO of 4097 bytes", raw_frame(0x01, 3, "", 4097)},
        {"SOURCE of 4097 bytes", request::source(3, 4097).wire()}}) {
    client c = connect();
    c.send({}, bytes);
    const drain_result d = c.read_until_close();
    BOOST_TEST((d.eof || d.reset), name() << ": " << what << ": no close");
    BOOST_REQUIRE_EQUAL(d.replies.size(), 1u);
    BOOST_TEST((d.replies[0].hdr.op == protocol::opcode::error), name() << ": " << what << ": not ERROR");
    BOOST_TEST(d.replies[0].hdr.id == 3u, name() << ": " << what);
  }
  finish();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace ioduel::testing
