#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "protocol/dispatch.hpp"
#include "protocol/parser.hpp"
#include "test_frames.hpp"

using namespace ioduel::protocol;
using ioduel::protocol::test::be32;
using ioduel::protocol::test::raw_frame;

namespace {

// Parses one request, answers it, and parses the reply as a client would.
struct round_trip {
  std::string request;
  std::string reply_bytes;
  request_outcome outcome;
  header reply{};
  std::string reply_payload;

  explicit round_trip(std::string req) : request(std::move(req)) {
    frame_parser server;
    int frames = 0;
    server.feed(request, [&](const frame& f) {
      ++frames;
      string_output out(reply_bytes);
      outcome = answer_request(f, out, [] { return std::string(R"({"server":"test"})"); });
    });
    BOOST_REQUIRE(!server.failed());
    BOOST_REQUIRE_EQUAL(frames, 1);
    if (reply_bytes.empty()) return;
    frame_parser client({default_max_frame, role::client});
    int replies = 0;
    client.feed(reply_bytes, [&](const frame& f) {
      ++replies;
      reply = f.hdr;
      reply_payload.assign(f.payload.begin(), f.payload.end());
    });
    BOOST_REQUIRE(!client.failed());
    BOOST_REQUIRE_EQUAL(replies, 1);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(replies)

BOOST_AUTO_TEST_CASE(echo_reply_is_the_request_byte_for_byte) {
  for (std::size_t n : {0u, 1u, 64u, 16384u}) {
    round_trip t(raw_frame(0x01, 0xABCDEF0123ull + n, std::string(n, 'e')));
    BOOST_TEST(t.reply_bytes == t.request);
    BOOST_TEST(!t.outcome.deferred);
  }
}

BOOST_AUTO_TEST_CASE(sink_reply_is_an_empty_0x82) {
  round_trip t(raw_frame(0x02, 5, std::string(1000, 's')));
  BOOST_TEST(static_cast<int>(t.reply.op) == 0x82);
  BOOST_TEST(t.reply.id == 5u);
  BOOST_TEST(t.reply.length == 0u);
  BOOST_TEST(t.reply_bytes.size() == header_size);
}

BOOST_AUTO_TEST_CASE(source_reply_carries_the_pattern) {
  for (std::uint32_t n : {0u, 1u, 255u, 256u, 100'000u, default_max_frame}) {
    round_trip t(raw_frame(0x03, 1000 + n, be32(n)));
    BOOST_TEST(static_cast<int>(t.reply.op) == 0x83);
    BOOST_TEST(t.reply.id == 1000u + n);
    BOOST_REQUIRE_EQUAL(t.reply_payload.size(), n);
    BOOST_TEST(check_source_pattern(t.reply_payload, 1000 + n) == n);
  }
}

BOOST_AUTO_TEST_CASE(sleep_is_deferred_with_its_delay) {
  round_trip t(raw_frame(0x04, 6, be32(2500)));
  BOOST_TEST(t.outcome.deferred);
  BOOST_TEST(t.outcome.sleep_us == 2500u);
  BOOST_TEST(t.reply_bytes.empty());
  std::string out;
  string_output o(out);
  append_empty_reply(o, opcode::sleep_reply, 6);
  BOOST_TEST(out == raw_frame(0x84, 6, ""));
}

BOOST_AUTO_TEST_CASE(stats_reply_carries_the_json) {
  round_trip t(raw_frame(0x05, 7, ""));
  BOOST_TEST(static_cast<int>(t.reply.op) == 0x85);
  BOOST_TEST(t.reply.id == 7u);
  BOOST_TEST(nlohmann::json::parse(t.reply_payload)["server"] == "test");
}

BOOST_AUTO_TEST_CASE(error_reply) {
  std::string out;
  string_output o(out);
  append_error_reply(o, 99, "bad magic");
  BOOST_TEST(out == raw_frame(0xFF, 99, "bad magic"));
}

BOOST_AUTO_TEST_CASE(replies_append_after_earlier_ones) {
  std::string out;
  string_output o(out);
  append_empty_reply(o, opcode::sink_reply, 1);
  append_source_reply(o, 2, 3);
  append_error_reply(o, 3, "x");
  BOOST_TEST(out == raw_frame(0x82, 1, "") + raw_frame(0x83, 2, "\x02\x03\x04") +
                        raw_frame(0xFF, 3, "x"));
}

BOOST_AUTO_TEST_SUITE_END()
