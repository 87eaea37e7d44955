#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include "harness/measure/histogram.hpp"
#include "harness/measure/histogram_codec.hpp"

using ioduel::harness::histogram;
namespace codec = ioduel::harness::codec;

namespace {

void check_same(const histogram& a, const histogram& b) {
  BOOST_TEST(a.lowest_trackable() == b.lowest_trackable());
  BOOST_TEST(a.highest_trackable() == b.highest_trackable());
  BOOST_TEST(a.significant_figures() == b.significant_figures());
  BOOST_TEST(a.total_count() == b.total_count());
  BOOST_TEST_REQUIRE(a.counts().size() == b.counts().size());
  for (std::size_t i = 0; i < a.counts().size(); ++i)
    BOOST_TEST_REQUIRE(a.counts()[i] == b.counts()[i], "count at index " << i);
}

// Decoding `text` throws invalid_argument whose message contains `words`.
void check_refused(const std::string& text, const std::string& words) {
  try {
    (void)histogram::decode(text);
    BOOST_ERROR("decoded without complaint: " << text);
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find(words) != std::string::npos,
               "message '" << e.what() << "' lacks '" << words << "'");
  }
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A payload in a valid compressed envelope, base64.
std::string wrap(const std::string& payload) {
  const std::string z = codec::deflate(payload);
  return codec::base64_encode(be32(0x1c849314) + be32(static_cast<std::uint32_t>(z.size())) + z);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(histogram_codec_parts)

BOOST_AUTO_TEST_CASE(varint_round_trip_and_sizes) {
  const std::int64_t values[] = {0, 1, -1, 63, -64, 64, 1000, -1000, 1LL << 40, -(1LL << 55),
                                 std::numeric_limits<std::int64_t>::max(),
                                 std::numeric_limits<std::int64_t>::min()};
  for (auto v : values) {
    std::string s;
    codec::put_varint(s, v);
    BOOST_TEST(s.size() <= 9u);
    std::string_view in = s;
    BOOST_TEST(codec::get_varint(in) == v);
    BOOST_TEST(in.empty());
  }
  std::string s;
  codec::put_varint(s, -1);  // ZigZag: -1 -> 1
  BOOST_TEST(s == std::string("\x01"));
  s.clear();
  codec::put_varint(s, 64);  // ZigZag: 128 -> 0x80 0x01
  BOOST_TEST(s == std::string("\x80\x01"));
  s.clear();
  codec::put_varint(s, std::numeric_limits<std::int64_t>::min());
  BOOST_TEST(s.size() == 9u);
  std::string_view cut = std::string_view(s).substr(0, 4);
  BOOST_CHECK_THROW(codec::get_varint(cut), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(base64_known_vectors) {
  BOOST_TEST(codec::base64_encode("") == "");
  BOOST_TEST(codec::base64_encode("f") == "Zg==");
  BOOST_TEST(codec::base64_encode("fo") == "Zm8=");
  BOOST_TEST(codec::base64_encode("foobar") == "Zm9vYmFy");
  BOOST_TEST(codec::base64_decode("Zm9vYg==") == "foob");
  BOOST_TEST(codec::base64_decode("Zm9vYmE=") == "fooba");
  BOOST_CHECK_THROW(codec::base64_decode("Zm9"), std::invalid_argument);
  BOOST_CHECK_THROW(codec::base64_decode("Zm9v!mFy"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(zlib_round_trip_and_limit) {
  const std::string text(100'000, 'x');
  const std::string packed = codec::deflate(text);
  BOOST_TEST(packed.size() < 1000u);
  BOOST_TEST(codec::inflate(packed, 1 << 20) == text);
  BOOST_CHECK_THROW(codec::inflate(packed, 50'000), std::invalid_argument);
  BOOST_CHECK_THROW(codec::inflate("not zlib at all", 1 << 20), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(histogram_encoding)

BOOST_AUTO_TEST_CASE(encoding_starts_with_the_v2_compressed_cookie) {
  histogram h;
  h.record(1);
  BOOST_TEST(h.encode().rfind("HISTFAAA", 0) == 0u);
}

// Made by hdr-histogram-js 3.0.1 (tests/harness/interop/histogram_interop.js
// encode fixed 1 20): 26 values, 1 us..60 s at 3 figures.
BOOST_AUTO_TEST_CASE(decodes_an_encoding_made_by_hdr_histogram_js) {
  const histogram h = histogram::decode(
      "HISTFAAAAFh4nJNpmSzMwMBgwsDAwMjAwMDMAAEgNgPz5HYGGJ+ZiYmbiZkpkMmT6SQ701ZGpp0sTO2cTCd5mLiZdvMxPZ"
      "Vn+sjC16/MtF+QaakX01RWpq2sTADLhA23");
  BOOST_TEST(h.lowest_trackable() == 1);
  BOOST_TEST(h.highest_trackable() == 60'000'000);
  BOOST_TEST(h.significant_figures() == 3);
  BOOST_TEST(h.total_count() == 26u);
  BOOST_TEST(h.value_at_percentile(0) == 2);
  BOOST_TEST(h.value_at_percentile(10) == 10);
  BOOST_TEST(h.value_at_percentile(25) == 579);
  BOOST_TEST(h.value_at_percentile(50) == 4923);
  BOOST_TEST(h.value_at_percentile(75) == 24527);
  BOOST_TEST(h.value_at_percentile(90) == 6'008'831);
  BOOST_TEST(h.value_at_percentile(100) == 9'199'615);
  BOOST_TEST(h.mean() == 889210.8846153846, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(round_trip_keeps_every_count) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(5.0, 2.0);
  histogram h;
  for (int i = 0; i < 50'000; ++i) h.record(static_cast<std::int64_t>(d(rng)));
  h.record_n(0, 17);
  h.record_n(59'999'999, 1ull << 40);  // a count that needs a long varint
  const histogram back = histogram::decode(h.encode());
  check_same(h, back);
  BOOST_TEST(back.value_at_percentile(99.9) == h.value_at_percentile(99.9));
  BOOST_TEST(back.min() == h.min());
  BOOST_TEST(back.max() == h.max());
  BOOST_TEST(back.mean() == h.mean());
}

BOOST_AUTO_TEST_CASE(round_trip_of_empty_and_other_layouts) {
  check_same(histogram(), histogram::decode(histogram().encode()));
  histogram odd(1000, 3'600'000'000'000, 5);
  odd.record(123'456'789);
  odd.record(1'000);
  check_same(odd, histogram::decode(odd.encode()));
  histogram tiny(1, 2, 0);
  tiny.record(2);
  check_same(tiny, histogram::decode(tiny.encode()));
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_with_a_reason) {
  check_refused("", "too short");
  check_refused("HISTFAAA!!!!", "base64");
  check_refused("HISTFAA", "multiple of 4");
  check_refused(codec::base64_encode(be32(0x1c849301) + be32(0)), "not an HdrHistogram V2");
  check_refused(codec::base64_encode(be32(0x1c849314) + be32(100) + "abc"), "cut short");
  check_refused(codec::base64_encode(be32(0x1c849314) + be32(8) + "garbage!"), "zlib");

  // Valid envelopes around payloads that are wrong inside.
  auto header = [](std::uint32_t cookie, std::uint32_t length, std::uint32_t figures,
                   std::uint32_t lowest, std::uint32_t highest) {
    return be32(cookie) + be32(length) + be32(0) + be32(figures) + be32(0) + be32(lowest) +
           be32(0) + be32(highest) + be32(0x3ff00000) + be32(0);
  };
  check_refused(wrap("short"), "shorter than its header");
  check_refused(wrap(header(0x1c849305, 0, 3, 1, 1000)), "not a V2 histogram");
  check_refused(wrap(header(0x1c849313, 0, 9, 1, 1000)), "layout is invalid");
  check_refused(wrap(header(0x1c849313, 0, 3, 0, 1000)), "layout is invalid");
  check_refused(wrap(header(0x1c849313, 5, 3, 1, 1000) + "\x02"), "counts are cut short");
  check_refused(wrap(header(0x1c849313, 1, 3, 1, 1000) + "\x82"), "inside a number");
  // 1000 at 3 figures has 2048 counts: a run of 5000 zeros overruns them.
  std::string run;
  codec::put_varint(run, -5000);
  check_refused(wrap(header(0x1c849313, static_cast<std::uint32_t>(run.size()), 3, 1, 1000) + run),
                "overrun");
}

// Damaged encodings (every byte of the envelope and of the inflated payload
// flipped in turn, and truncations) either decode or are refused with
// invalid_argument: never another exception, never a crash (run under ASan
// in the sanitizer build).
BOOST_AUTO_TEST_CASE(damaged_encodings_are_decoded_or_refused) {
  histogram h;
  for (std::int64_t v : {1, 5, 2047, 2048, 100'000, 59'000'000}) h.record_n(v, static_cast<std::uint64_t>(v % 7 + 1));
  const std::string envelope = codec::base64_decode(h.encode());
  const std::string payload = codec::inflate(envelope.substr(8), 1 << 20);
  int refused = 0, decoded = 0;
  auto attempt = [&](const std::string& text) {
    try {
      (void)histogram::decode(text);
      ++decoded;
    } catch (const std::invalid_argument&) {
      ++refused;
    }
  };
  for (std::size_t i = 0; i < envelope.size(); ++i)
    for (unsigned char flip : {0x01, 0x80, 0xff}) {
      std::string damaged = envelope;
      damaged[i] = static_cast<char>(damaged[i] ^ flip);
      attempt(codec::base64_encode(damaged));
      attempt(codec::base64_encode(envelope.substr(0, i)));
    }
  for (std::size_t i = 0; i < payload.size(); ++i)
    for (unsigned char flip : {0x01, 0x40, 0x80, 0xff}) {
      std::string damaged = payload;
      damaged[i] = static_cast<char>(damaged[i] ^ flip);
      attempt(wrap(damaged));
      attempt(wrap(payload.substr(0, i)));
    }
  BOOST_TEST_MESSAGE("damaged encodings: " << decoded << " decoded, " << refused << " refused");
  BOOST_TEST(refused > 0);
  BOOST_TEST(decoded > 0);  // a flipped count is still a valid histogram
}

BOOST_AUTO_TEST_SUITE_END()
