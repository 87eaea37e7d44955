#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "protocol/replies.hpp"
#include "reactor/buffer.hpp"

using ioduel::reactor::buffer;

namespace {
std::string_view text(const buffer& b) { return {b.peek(), b.readable()}; }
std::span<const char> bytes(std::string_view s) { return {s.data(), s.size()}; }
}  // namespace

BOOST_AUTO_TEST_SUITE(buffer_suite)

BOOST_AUTO_TEST_CASE(starts_without_storage) {
  buffer b;
  BOOST_TEST(b.capacity() == 0u);
  BOOST_TEST(b.readable() == 0u);
  BOOST_TEST(b.empty());
}

BOOST_AUTO_TEST_CASE(append_then_consume_in_order) {
  buffer b;
  b.append(bytes("hello "));
  b.append(bytes("world"));
  BOOST_TEST(text(b) == "hello world");
  b.consume(6);
  BOOST_TEST(text(b) == "world");
  BOOST_TEST(b.capacity() == buffer::min_capacity);
}

BOOST_AUTO_TEST_CASE(consuming_everything_rewinds) {
  buffer b;
  b.append(bytes("abc"));
  const std::size_t writable_before = b.writable();
  b.consume(3);
  BOOST_TEST(b.empty());
  BOOST_TEST(b.writable() == b.capacity());
  BOOST_TEST(b.writable() > writable_before);
}

BOOST_AUTO_TEST_CASE(compacts_instead_of_growing_when_room_is_in_front) {
  buffer b;
  const std::string filler(buffer::min_capacity - 10, 'x');
  b.append(bytes(filler));
  b.consume(filler.size() - 4);  // 4 bytes left near the end
  const char* storage_before = b.peek() - (filler.size() - 4);
  b.append(bytes(std::string(100, 'y')));
  BOOST_TEST(b.capacity() == buffer::min_capacity);  // no growth
  BOOST_TEST((b.peek() == storage_before));  // content moved to the front
  BOOST_TEST(text(b) == "xxxx" + std::string(100, 'y'));
}

BOOST_AUTO_TEST_CASE(grows_and_keeps_content) {
  buffer b;
  std::string expect;
  for (int i = 0; i < 2000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    b.append(bytes(piece));
    expect += piece;
  }
  BOOST_TEST(text(b) == expect);
  BOOST_TEST(b.capacity() >= expect.size());
}

BOOST_AUTO_TEST_CASE(prepare_commit_is_an_output_buffer) {
  static_assert(ioduel::protocol::output_buffer<buffer>);
  buffer b;
  ioduel::protocol::append_empty_reply(b, ioduel::protocol::opcode::sink_reply, 42);
  BOOST_TEST(b.readable() == ioduel::protocol::header_size);
  const auto h = ioduel::protocol::decode_header(b.peek());
  BOOST_TEST(h.id == 42u);
  BOOST_TEST(static_cast<int>(h.op) == static_cast<int>(ioduel::protocol::opcode::sink_reply));
}

BOOST_AUTO_TEST_CASE(prepare_reserves_at_least_what_is_asked) {
  buffer b;
  char* p = b.prepare(5000);
  BOOST_TEST(b.writable() >= 5000u);
  p[0] = 'a';
  p[4999] = 'z';
  b.commit(5000);
  BOOST_TEST(b.readable() == 5000u);
  BOOST_TEST(b.peek()[0] == 'a');
  BOOST_TEST(b.peek()[4999] == 'z');
}

BOOST_AUTO_TEST_CASE(release_only_when_empty_and_large) {
  buffer b;
  b.append(bytes(std::string(100, 'a')));
  b.release_if_empty(0);
  BOOST_TEST(b.capacity() > 0u);  // not empty: kept
  b.consume(100);
  b.release_if_empty(buffer::min_capacity);
  BOOST_TEST(b.capacity() == buffer::min_capacity);  // small enough: kept
  b.release_if_empty(0);
  BOOST_TEST(b.capacity() == 0u);
  b.append(bytes("again"));
  BOOST_TEST(text(b) == "again");
}

BOOST_AUTO_TEST_CASE(steady_traffic_does_not_grow) {
  buffer b;
  const std::string frame(300, 'f');
  b.append(bytes(frame));
  const std::size_t cap = b.capacity();
  for (int i = 0; i < 10000; ++i) {
    b.append(bytes(frame));
    b.consume(frame.size());
  }
  BOOST_TEST(b.capacity() == cap);
  BOOST_TEST(text(b) == frame);
}

BOOST_AUTO_TEST_SUITE_END()
