#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

#include "protocol/parser.hpp"
#include "test_frames.hpp"

using namespace ioduel::protocol;
using ioduel::protocol::test::be32;
using ioduel::protocol::test::raw_frame;

namespace {

struct parsed {
  header h;
  std::string payload;
};

// Feeds `bytes` in the chunk sizes `next_chunk()` returns; collects frames.
template <class NextChunk>
std::vector<parsed> feed_in_chunks(frame_parser& p, const std::string& bytes, NextChunk next_chunk) {
  std::vector<parsed> out;
  std::size_t off = 0;
  while (off < bytes.size()) {
    const std::size_t n = std::min(next_chunk(), bytes.size() - off);
    p.feed({bytes.data() + off, n}, [&](const frame& f) {
      out.push_back({f.hdr, std::string(f.payload.begin(), f.payload.end())});
    });
    off += n;
  }
  return out;
}

// 10,000 valid requests of every opcode, with payloads from 0 bytes to 3 KiB.
std::vector<parsed> mixed_requests(std::string& wire) {
  std::mt19937_64 rng(20261123);
  std::vector<parsed> expect;
  for (std::uint64_t id = 1; id <= 10'000; ++id) {
    std::string payload;
    std::uint8_t op = static_cast<std::uint8_t>(1 + rng() % 5);
    switch (op) {
      case 1:
      case 2:
        payload.resize(rng() % 3072);
        for (auto& c : payload) c = static_cast<char>(rng());
        break;
      case 3: payload = be32(static_cast<std::uint32_t>(rng() % 70'000)); break;
      case 4: payload = be32(static_cast<std::uint32_t>(rng() % max_sleep_us)); break;
      default: break;
    }
    wire += raw_frame(op, id, payload);
    expect.push_back({header{static_cast<opcode>(op), static_cast<std::uint32_t>(payload.size()), id},
                      payload});
  }
  return expect;
}

void check_same(const std::vector<parsed>& got, const std::vector<parsed>& expect) {
  BOOST_REQUIRE_EQUAL(got.size(), expect.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_REQUIRE_EQUAL(got[i].h.id, expect[i].h.id);
    BOOST_REQUIRE(got[i].h.op == expect[i].h.op);
    BOOST_REQUIRE_EQUAL(got[i].h.length, expect[i].h.length);
    BOOST_REQUIRE(got[i].payload == expect[i].payload);
  }
}

// Decodes one buffer expected to hold an error; returns the failure.
parse_failure error_of(const std::string& bytes, parse_options opts = {}) {
  auto r = decode_frame(bytes, opts);
  BOOST_REQUIRE(r.what == decode_result::status::error);
  return r.failure;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parser)

BOOST_AUTO_TEST_CASE(byte_at_a_time_parse_of_10000_mixed_frames) {
  std::string wire;
  const auto expect = mixed_requests(wire);
  frame_parser p;
  check_same(feed_in_chunks(p, wire, [] { return std::size_t{1}; }), expect);
  BOOST_TEST(!p.failed());
  BOOST_TEST(p.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(random_chunking_parse_of_10000_mixed_frames) {
  std::string wire;
  const auto expect = mixed_requests(wire);
  for (unsigned seed = 0; seed < 5; ++seed) {
    std::mt19937 rng(seed);
    // Chunks from 1 byte to 3 frames' worth, so frames split anywhere.
    frame_parser p;
    check_same(feed_in_chunks(p, wire, [&] { return std::size_t{1} + rng() % 9000; }), expect);
    BOOST_TEST(!p.failed());
  }
}

BOOST_AUTO_TEST_CASE(whole_buffer_parse_hands_out_frames_in_place) {
  const std::string wire = raw_frame(1, 1, "abc") + raw_frame(2, 2, "defg");
  frame_parser p;
  std::vector<const char*> where;
  p.feed(wire, [&](const frame& f) { where.push_back(f.payload.data()); });
  BOOST_REQUIRE_EQUAL(where.size(), 2u);
  // No copy: the payloads point into the caller's buffer.
  BOOST_TEST(where[0] == wire.data() + header_size);
  BOOST_TEST(where[1] == wire.data() + 2 * header_size + 3);
}

BOOST_AUTO_TEST_CASE(decode_reports_what_it_needs) {
  const std::string f = raw_frame(1, 9, std::string(100, 'x'));
  auto r = decode_frame(std::span<const char>(f.data(), 5), {});
  BOOST_TEST((r.what == decode_result::status::need_more));
  BOOST_TEST(r.needed == header_size);
  r = decode_frame(std::span<const char>(f.data(), 20), {});
  BOOST_TEST((r.what == decode_result::status::need_more));
  BOOST_TEST(r.needed == header_size + 100);
  r = decode_frame(f, {});
  BOOST_TEST((r.what == decode_result::status::frame));
  BOOST_TEST(r.consumed == f.size());
}

BOOST_AUTO_TEST_CASE(bad_magic_is_seen_at_the_first_byte) {
  auto r = decode_frame(std::string_view("G"), {});
  BOOST_TEST((r.what == decode_result::status::error));
  BOOST_TEST((r.failure.error == parse_error::bad_magic));
  BOOST_TEST(r.failure.id() == 0u);
  BOOST_TEST((error_of("IX").error == parse_error::bad_magic));
}

BOOST_AUTO_TEST_CASE(bad_version) {
  const auto f = error_of(raw_frame(1, 5, "", 2));
  BOOST_TEST((f.error == parse_error::bad_version));
  BOOST_TEST(f.id() == 0u);  // the header's layout is version 1's only
  BOOST_TEST((error_of(std::string("IO\0", 3)).error == parse_error::bad_version));
}

BOOST_AUTO_TEST_CASE(unknown_opcodes) {
  for (std::uint8_t op : {0x00, 0x06, 0x7F, 0x82, 0x85, 0xFF}) {
    const auto f = error_of(raw_frame(op, 77, ""));
    BOOST_TEST((f.error == parse_error::bad_opcode), "opcode " << int(op));
    BOOST_TEST(f.id() == 77u);
    BOOST_TEST(f.message({}).find("opcode") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(client_role_accepts_replies_only) {
  const parse_options client{default_max_frame, role::client};
  for (std::uint8_t op : {0x01, 0x82, 0x83, 0x84, 0x85, 0xFF}) {
    auto r = decode_frame(raw_frame(op, 1, ""), client);
    BOOST_TEST((r.what == decode_result::status::frame), "opcode " << int(op));
  }
  for (std::uint8_t op : {0x02, 0x03, 0x05, 0x81}) {
    BOOST_TEST((error_of(raw_frame(op, 1, ""), client).error == parse_error::bad_opcode));
  }
}

BOOST_AUTO_TEST_CASE(length_exactly_at_the_max_frame_is_accepted) {
  const parse_options opts{4096, role::server};
  const std::string f = raw_frame(1, 3, std::string(4096, 'm'));
  auto r = decode_frame(f, opts);
  BOOST_TEST((r.what == decode_result::status::frame));
  BOOST_TEST(r.f.payload.size() == 4096u);

  const std::string big = raw_frame(1, 3, std::string(default_max_frame, 'm'));
  r = decode_frame(big, {});
  BOOST_TEST((r.what == decode_result::status::frame));
}

BOOST_AUTO_TEST_CASE(one_byte_over_the_max_frame_is_refused_from_the_header) {
  const parse_options opts{4096, role::server};
  // Only the header: the error must come without the payload.
  const std::string hdr = raw_frame(2, 8, "", 1, 4097, true);
  BOOST_REQUIRE_EQUAL(hdr.size(), header_size);
  const auto f = error_of(hdr, opts);
  BOOST_TEST((f.error == parse_error::frame_too_large));
  BOOST_TEST(f.id() == 8u);
  BOOST_TEST(f.message(opts) == "payload length 4097 exceeds the maximum frame of 4096 bytes");

  const std::string default_hdr = raw_frame(1, 9, "", 1, default_max_frame + 1, true);
  BOOST_TEST((error_of(default_hdr).error == parse_error::frame_too_large));
}

BOOST_AUTO_TEST_CASE(source_and_sleep_payload_sizes) {
  for (std::uint8_t op : {0x03, 0x04}) {
    for (std::string_view payload : {std::string_view(""), std::string_view("abc"),
                                     std::string_view("abcde")}) {
      const auto f = error_of(raw_frame(op, 12, payload));
      BOOST_TEST((f.error == parse_error::bad_payload_size));
      BOOST_TEST(f.id() == 12u);
      BOOST_TEST(f.message({}).find("4-byte payload") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(source_and_sleep_ranges) {
  // At the limits: accepted.
  BOOST_TEST((decode_frame(raw_frame(3, 1, be32(default_max_frame)), {}).what ==
              decode_result::status::frame));
  BOOST_TEST((decode_frame(raw_frame(4, 1, be32(max_sleep_us)), {}).what ==
              decode_result::status::frame));
  // One over: refused, with the value in the message.
  auto f = error_of(raw_frame(3, 21, be32(default_max_frame + 1)));
  BOOST_TEST((f.error == parse_error::value_out_of_range));
  BOOST_TEST(f.id() == 21u);
  BOOST_TEST(f.value == default_max_frame + 1);
  f = error_of(raw_frame(4, 22, be32(max_sleep_us + 1)));
  BOOST_TEST((f.error == parse_error::value_out_of_range));
  BOOST_TEST(f.message({}) == "SLEEP of 10000001 us exceeds the maximum of 10000000 us");
}

BOOST_AUTO_TEST_CASE(stats_takes_no_payload) {
  BOOST_TEST((decode_frame(raw_frame(5, 1, ""), {}).what == decode_result::status::frame));
  const auto f = error_of(raw_frame(5, 30, "{}"));
  BOOST_TEST((f.error == parse_error::bad_payload_size));
  BOOST_TEST(f.message({}) == "STATS takes an empty payload, not 2 bytes");
}

BOOST_AUTO_TEST_CASE(frames_before_an_error_are_delivered_and_the_error_sticks) {
  const std::string wire = raw_frame(1, 1, "a") + raw_frame(2, 2, "b") + "garbage" +
                           raw_frame(1, 3, "c");
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, wire.size()}) {
    frame_parser p;
    auto got = feed_in_chunks(p, wire, [&] { return chunk; });
    BOOST_TEST(got.size() == 2u);
    BOOST_TEST(p.failed());
    BOOST_TEST((p.failure().error == parse_error::bad_magic));
    BOOST_TEST(!p.feed(raw_frame(1, 4, "d"), [](const frame&) {}));
  }
}

BOOST_AUTO_TEST_CASE(every_error_has_a_distinct_name) {
  std::vector<std::string_view> names;
  for (auto e : {parse_error::none, parse_error::bad_magic, parse_error::bad_version,
                 parse_error::bad_opcode, parse_error::frame_too_large,
                 parse_error::bad_payload_size, parse_error::value_out_of_range}) {
    auto n = parse_error_name(e);
    BOOST_TEST((std::find(names.begin(), names.end(), n) == names.end()), n);
    names.push_back(n);
  }
}

BOOST_AUTO_TEST_SUITE_END()
