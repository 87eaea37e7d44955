#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>

#include "proactor/buffer_pool.hpp"
#include "protocol/replies.hpp"

using ioduel::proactor::io_buffer;
namespace block_pool = ioduel::proactor::block_pool;

BOOST_AUTO_TEST_SUITE(buffer_pool_suite)

BOOST_AUTO_TEST_CASE(a_released_block_is_handed_out_again) {
  std::size_t cap1 = 0, cap2 = 0;
  char* a = block_pool::acquire(100, cap1);
  BOOST_TEST(cap1 == block_pool::min_block);
  block_pool::release(a, cap1);
  char* b = block_pool::acquire(block_pool::min_block, cap2);
  BOOST_TEST(b == a);
  BOOST_TEST(cap2 == cap1);
  block_pool::release(b, cap2);
}

BOOST_AUTO_TEST_CASE(sizes_round_up_to_power_of_two_classes) {
  std::size_t cap = 0;
  char* a = block_pool::acquire(block_pool::min_block + 1, cap);
  BOOST_TEST(cap == 2 * block_pool::min_block);
  block_pool::release(a, cap);
  char* b = block_pool::acquire((1u << 20) + 16, cap);
  BOOST_TEST(cap == (2u << 20));
  block_pool::release(b, cap);
}

BOOST_AUTO_TEST_CASE(io_buffer_keeps_bytes_in_order_across_growth) {
  io_buffer buf;
  BOOST_TEST(!buf.has_storage());
  std::string expected;
  for (int i = 0; i < 5000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    std::memcpy(buf.prepare(piece.size()), piece.data(), piece.size());
    buf.commit(piece.size());
    expected += piece;
    if (i % 7 == 0 && buf.size() >= 3) {  // consume from the front now and then
      buf.consume(3);
      expected.erase(0, 3);
    }
  }
  BOOST_TEST(buf.size() == expected.size());
  BOOST_TEST((std::string(buf.readable().data(), buf.size()) == expected));
  buf.consume(buf.size());
  BOOST_TEST(buf.empty());
  buf.release();
  BOOST_TEST(!buf.has_storage());
}

BOOST_AUTO_TEST_CASE(io_buffer_is_an_output_buffer_for_the_reply_builders) {
  io_buffer buf;
  ioduel::protocol::append_empty_reply(buf, ioduel::protocol::opcode::sink_reply, 42);
  BOOST_TEST(buf.size() == ioduel::protocol::header_size);
  const auto h = ioduel::protocol::decode_header(buf.readable().data());
  BOOST_TEST(h.id == 42u);
  BOOST_TEST(static_cast<int>(h.op) == 0x82);
}

BOOST_AUTO_TEST_CASE(swap_exchanges_storage_and_contents) {
  io_buffer a, b;
  std::memcpy(a.prepare(3), "abc", 3);
  a.commit(3);
  a.swap(b);
  BOOST_TEST(a.empty());
  BOOST_TEST(std::string(b.readable().data(), b.size()) == "abc");
}

BOOST_AUTO_TEST_SUITE_END()
