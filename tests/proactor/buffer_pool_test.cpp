#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "proactor/buffer_pool.hpp"
#include "protocol/replies.hpp"

using ioduel::proactor::io_buffer;
namespace block_pool = ioduel::proactor::block_pool;

// Each case starts from a fresh thread state: nothing cached, no chunk
// mapped, periods that end only when the case says so; and leaves none
// behind, so the cases pass in any order (`--random`).
struct fresh_pool {
  fresh_pool() {
    block_pool::set_decay_period(std::chrono::hours(24));
    block_pool::trim();
    BOOST_REQUIRE(block_pool::cached_bytes() == 0u);
  }
  ~fresh_pool() {
    block_pool::trim();
    block_pool::set_decay_period(block_pool::decay_period);
  }
};

BOOST_FIXTURE_TEST_SUITE(buffer_pool_suite, fresh_pool)

BOOST_AUTO_TEST_CASE(a_released_block_is_handed_out_again) {
  std::size_t cap1 = 0, cap2 = 0;
  char* a = block_pool::acquire(100, cap1);
  BOOST_TEST(cap1 == block_pool::min_block);
  block_pool::release(a, cap1);
  char* b = block_pool::acquire(block_pool::min_block, cap2);
  BOOST_TEST(static_cast<void*>(b) == static_cast<void*>(a));
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

BOOST_AUTO_TEST_CASE(blocks_unused_for_a_whole_period_are_given_back) {
  std::size_t cap = 0;
  char* a = block_pool::acquire(block_pool::min_block, cap);
  char* b = block_pool::acquire(block_pool::min_block, cap);
  block_pool::release(a, cap);
  block_pool::release(b, cap);
  BOOST_TEST(block_pool::cached_bytes() == 2 * cap);
  // Cached during this period: they survive its end (they may be needed)...
  block_pool::end_decay_period();
  BOOST_TEST(block_pool::cached_bytes() == 2 * cap);
  // ...but lie unused through the next one, so its end gives their pages back.
  block_pool::end_decay_period();
  BOOST_TEST(block_pool::cached_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(a_block_in_use_every_period_stays_cached) {
  std::size_t cap = 0;
  char* a = block_pool::acquire(block_pool::min_block, cap);
  block_pool::release(a, cap);
  char* spare = block_pool::acquire(4 * block_pool::min_block, cap);
  block_pool::release(spare, cap);
  for (int period = 0; period < 3; ++period) {
    std::size_t c = 0;
    char* b = block_pool::acquire(block_pool::min_block, c);
    BOOST_TEST(static_cast<void*>(b) == static_cast<void*>(a));  // reused, not mapped afresh
    block_pool::release(b, c);
    block_pool::end_decay_period();
  }
  // The 16 KiB block was taken in every period; the 64 KiB one never was.
  BOOST_TEST(block_pool::cached_bytes() == block_pool::min_block);
}

BOOST_AUTO_TEST_CASE(a_departing_client_cuts_the_cache_to_what_is_still_lent) {
  // Lent: 1 MiB (a session still holding it).  Cached: 2 MiB of returned blocks.
  std::size_t held_cap = 0;
  char* held = block_pool::acquire(1u << 20, held_cap);
  std::vector<std::pair<char*, std::size_t>> returned;
  for (int i = 0; i < 8; ++i) {
    std::size_t c = 0;
    returned.emplace_back(block_pool::acquire(256u << 10, c), c);
  }
  for (auto [b, c] : returned) block_pool::release(b, c);
  BOOST_TEST(block_pool::cached_bytes() == (2u << 20));
  block_pool::give_back_surplus();
  BOOST_TEST(block_pool::cached_bytes() <= held_cap);
  BOOST_TEST(block_pool::cached_bytes() >= block_pool::retained_floor);
  // Once nothing is lent, only the floor may stay.
  block_pool::release(held, held_cap);
  block_pool::give_back_surplus();
  BOOST_TEST(block_pool::cached_bytes() <= block_pool::retained_floor);
}

// The pool's small blocks are carved from chunks: a thread's first blocks
// cost one mapping, not one each (outside ASan, where they are heap blocks).
BOOST_AUTO_TEST_CASE(small_blocks_share_a_chunk) {
  const auto before = block_pool::statistics();
  std::vector<std::pair<char*, std::size_t>> held;
  for (int i = 0; i < 16; ++i) {
    std::size_t c = 0;
    held.emplace_back(block_pool::acquire(block_pool::min_block, c), c);
  }
  const auto during = block_pool::statistics();
#if defined(__SANITIZE_ADDRESS__)
  constexpr bool carved = false;
#else
  constexpr bool carved = true;
#endif
  if (carved) {
    BOOST_TEST(during.maps - before.maps <= 1u);
    BOOST_TEST(during.chunks <= before.chunks + 1);
  }
  for (auto [b, c] : held) block_pool::release(b, c);
  block_pool::trim();
  BOOST_TEST(block_pool::statistics().chunks <= 1u);  // the reserve's chunk may stay
}

BOOST_AUTO_TEST_CASE(blocks_are_writable_to_their_last_byte) {
  std::size_t cap = 0;
  char* b = block_pool::acquire(3 * block_pool::min_block + 1, cap);
  BOOST_TEST(cap == 4 * block_pool::min_block);
  std::memset(b, 0x5a, cap);
  BOOST_TEST(b[cap - 1] == 0x5a);
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
