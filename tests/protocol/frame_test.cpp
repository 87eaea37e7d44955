#include <boost/test/unit_test.hpp>

#include <array>
#include <string>

#include "protocol/frame.hpp"

using namespace ioduel::protocol;

BOOST_AUTO_TEST_SUITE(frame_format)

BOOST_AUTO_TEST_CASE(header_layout_is_big_endian) {
  std::array<char, header_size> b{};
  encode_header(b.data(), header{opcode::source, 0x01020304u, 0x1122334455667788ull});
  const unsigned char expect[header_size] = {0x49, 0x4F, 0x01, 0x03, 0x01, 0x02, 0x03, 0x04,
                                            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  for (std::size_t i = 0; i < header_size; ++i)
    BOOST_TEST(static_cast<unsigned char>(b[i]) == expect[i], "byte " << i);
}

BOOST_AUTO_TEST_CASE(header_round_trip) {
  for (auto op : {opcode::echo, opcode::sink, opcode::source, opcode::sleep, opcode::stats,
                  opcode::sink_reply, opcode::source_reply, opcode::sleep_reply,
                  opcode::stats_reply, opcode::error}) {
    std::array<char, header_size> b{};
    const header h{op, 0xFFFFFFFFu, ~0ull - static_cast<std::uint8_t>(op)};
    encode_header(b.data(), h);
    const header d = decode_header(b.data());
    BOOST_TEST(static_cast<int>(d.op) == static_cast<int>(h.op));
    BOOST_TEST(d.length == h.length);
    BOOST_TEST(d.id == h.id);
  }
}

BOOST_AUTO_TEST_CASE(reply_opcodes) {
  BOOST_TEST(static_cast<int>(reply_opcode(opcode::echo)) == 0x01);
  BOOST_TEST(static_cast<int>(reply_opcode(opcode::sink)) == 0x82);
  BOOST_TEST(static_cast<int>(reply_opcode(opcode::source)) == 0x83);
  BOOST_TEST(static_cast<int>(reply_opcode(opcode::sleep)) == 0x84);
  BOOST_TEST(static_cast<int>(reply_opcode(opcode::stats)) == 0x85);
  BOOST_TEST(is_request(opcode::stats));
  BOOST_TEST(!is_request(opcode::sink_reply));
  BOOST_TEST(!is_request(static_cast<opcode>(0x06)));
  BOOST_TEST(is_reply(opcode::error));
  BOOST_TEST(!is_reply(opcode::sink));
}

BOOST_AUTO_TEST_CASE(source_pattern_is_id_plus_index_mod_256) {
  for (std::uint64_t id : {0ull, 1ull, 255ull, 256ull, 0xDEADBEEFCAFEull}) {
    std::string s(1000, '\0');
    fill_source_pattern(s, id);
    for (std::size_t i = 0; i < s.size(); ++i)
      BOOST_REQUIRE_EQUAL(static_cast<unsigned char>(s[i]), (id + i) % 256);
    BOOST_TEST(check_source_pattern(s, id) == s.size());
    s[777] ^= 1;
    BOOST_TEST(check_source_pattern(s, id) == 777u);
  }
}

BOOST_AUTO_TEST_CASE(source_pattern_in_pieces) {
  const std::uint64_t id = 42;
  std::string whole(600, '\0'), pieces(600, '\0');
  fill_source_pattern(whole, id);
  fill_source_pattern({pieces.data(), 100}, id, 0);
  fill_source_pattern({pieces.data() + 100, 500}, id, 100);
  BOOST_TEST(whole == pieces);
  BOOST_TEST(check_source_pattern({whole.data() + 300, 300}, id, 300) == 300u);
  BOOST_TEST(check_source_pattern({whole.data() + 300, 300}, id, 301) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
