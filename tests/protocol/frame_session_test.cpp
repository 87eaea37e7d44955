#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame_session.hpp"
#include "test_frames.hpp"

using namespace ioduel::protocol;
using ioduel::protocol::test::be32;
using ioduel::protocol::test::raw_frame;

namespace {

// A side that writes down what the loop asked of it, in order.
struct recording_side {
  std::vector<std::string> calls;
  std::size_t answer_limit = 1000;  // frames may_answer() lets through
  std::size_t counted_bytes = 0;

  bool may_answer(const frame&) { return calls.size() < answer_limit; }
  void count_request(std::size_t n) { counted_bytes += n; }
  void reply_echo(std::span<const char> bytes, const frame& f) {
    calls.push_back("echo " + std::to_string(f.hdr.id) + " " + std::to_string(bytes.size()));
  }
  void reply_empty(opcode op, std::uint64_t id) {
    calls.push_back(std::string(opcode_name(op)) + " " + std::to_string(id));
  }
  void reply_source(std::uint64_t id, std::uint32_t n) {
    calls.push_back("source " + std::to_string(id) + " " + std::to_string(n));
  }
  void reply_stats(std::uint64_t id) { calls.push_back("stats " + std::to_string(id)); }
  void defer(std::uint64_t id, std::uint32_t us) {
    calls.push_back("sleep " + std::to_string(id) + " " + std::to_string(us));
  }
  void reject(std::uint64_t id, std::string_view) { calls.push_back("error " + std::to_string(id)); }
};

}  // namespace

namespace ioduel::protocol {
std::ostream& operator<<(std::ostream& os, frames_stop s) { return os << static_cast<int>(s); }
}  // namespace ioduel::protocol

namespace {

frames_served serve(const std::string& in, recording_side& side) {
  return serve_frames(std::span<const char>(in.data(), in.size()), parse_options{}, side);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frame_session)

BOOST_AUTO_TEST_CASE(answers_in_order_and_stops_at_a_partial_frame) {
  const std::string echo = raw_frame(0x01, 1, "abc");
  const std::string in = echo + raw_frame(0x02, 2, "xy") + raw_frame(0x03, 3, be32(500)) +
                         raw_frame(0x05, 4, "") + raw_frame(0x01, 5, "abcdef").substr(0, 20);
  recording_side side;
  const auto r = serve(in, side);
  BOOST_TEST(r.stop == frames_stop::need_more);
  BOOST_TEST(r.used == in.size() - 20);
  BOOST_TEST(r.needed == header_size + 6);
  const std::vector<std::string> want{"echo 1 19", std::string(opcode_name(opcode::sink_reply)) + " 2",
                                      "source 3 500", "stats 4"};
  BOOST_TEST(side.calls == want, boost::test_tools::per_element());
  BOOST_TEST(side.counted_bytes == r.used);
}

BOOST_AUTO_TEST_CASE(a_sleep_defers_everything_after_it) {
  const std::string in = raw_frame(0x04, 7, be32(1000)) + raw_frame(0x01, 8, "later");
  recording_side side;
  const auto r = serve(in, side);
  BOOST_TEST(r.stop == frames_stop::deferred);
  BOOST_TEST(r.used == header_size + 4);
  BOOST_TEST(side.calls == std::vector<std::string>{"sleep 7 1000"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_bad_frame_is_rejected_after_the_replies_before_it_and_voids_the_rest) {
  std::string bad = raw_frame(0x01, 9, "x");
  bad[0] = 'X';
  const std::string in = raw_frame(0x01, 1, "ok") + bad + raw_frame(0x01, 2, "never");
  recording_side side;
  const auto r = serve(in, side);
  BOOST_TEST(r.stop == frames_stop::rejected);
  BOOST_TEST(r.used == in.size());
  BOOST_TEST(side.calls.size() == 2u);
  BOOST_TEST(side.calls[0] == "echo 1 18");
  BOOST_TEST(side.calls[1].starts_with("error"));
}

BOOST_AUTO_TEST_CASE(a_side_that_says_no_holds_the_frame_and_the_rest) {
  const std::string in = raw_frame(0x01, 1, "a") + raw_frame(0x01, 2, "b") + raw_frame(0x01, 3, "c");
  recording_side side;
  side.answer_limit = 1;
  const auto r = serve(in, side);
  BOOST_TEST(r.stop == frames_stop::held);
  BOOST_TEST(r.used == header_size + 1);  // the held frame is not taken
  BOOST_TEST(side.calls == std::vector<std::string>{"echo 1 17"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(append_replies_builds_what_answer_request_builds) {
  std::string a, b;
  string_output out_a(a);
  append_replies<string_output> side{out_a};
  const std::string echo = raw_frame(0x01, 4, "payload");
  side.reply_echo({echo.data(), echo.size()}, frame{});
  side.reply_source(5, 300);
  string_output out_b(b);
  append_frame(out_b, opcode::echo, 4, std::string_view("payload"));
  string_output out_b2(b);
  append_source_reply(out_b2, 5, 300);
  BOOST_TEST(a == b);
}

BOOST_AUTO_TEST_SUITE_END()
