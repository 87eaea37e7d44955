#include <boost/test/unit_test.hpp>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>

#include "proactor/handler_memory.hpp"

namespace asio = boost::asio;
using ioduel::proactor::handler_allocator;
using ioduel::proactor::handler_memory;
using ioduel::proactor::heap_fallbacks;

BOOST_AUTO_TEST_SUITE(handler_memory_suite)

BOOST_AUTO_TEST_CASE(a_free_slot_is_reused_and_a_busy_one_falls_back) {
  handler_memory<64> m;
  const auto before = heap_fallbacks().load();
  void* a = m.allocate(48);
  BOOST_TEST(m.busy());
  void* b = m.allocate(48);  // the slot is taken: heap
  BOOST_TEST(a != b);
  BOOST_TEST(heap_fallbacks().load() == before + 1);
  m.deallocate(b);
  m.deallocate(a);
  BOOST_TEST(!m.busy());
  BOOST_TEST(m.allocate(48) == a);
  m.deallocate(a);
}

BOOST_AUTO_TEST_CASE(too_big_a_request_falls_back) {
  handler_memory<32, 2> m;
  const auto before = heap_fallbacks().load();
  void* p = m.allocate(33);
  BOOST_TEST(heap_fallbacks().load() == before + 1);
  BOOST_TEST(!m.busy());
  m.deallocate(p);
}

BOOST_AUTO_TEST_CASE(two_slots_hold_two_operations) {
  handler_memory<32, 2> m;
  const auto before = heap_fallbacks().load();
  void* a = m.allocate(16);
  void* b = m.allocate(16);
  BOOST_TEST(a != b);
  BOOST_TEST(heap_fallbacks().load() == before);
  m.deallocate(a);
  m.deallocate(b);
  BOOST_TEST(!m.busy());
}

// The point of it all: a chain of asynchronous operations whose handlers are
// bound to the memory never reaches the heap.
BOOST_AUTO_TEST_CASE(asio_operations_recycle_the_block) {
  asio::io_context ctx;
  asio::steady_timer timer(ctx);
  handler_memory<256> m;
  const auto before = heap_fallbacks().load();
  int remaining = 100;
  std::function<void(const boost::system::error_code&)> again;
  again = [&](const boost::system::error_code& ec) {
    BOOST_REQUIRE(!ec);
    if (--remaining == 0) return;
    timer.expires_after(std::chrono::seconds(0));
    timer.async_wait(asio::bind_allocator(handler_allocator<void, handler_memory<256>>(m), again));
  };
  timer.expires_after(std::chrono::seconds(0));
  timer.async_wait(asio::bind_allocator(handler_allocator<void, handler_memory<256>>(m), again));
  ctx.run();
  BOOST_TEST(remaining == 0);
  BOOST_TEST(heap_fallbacks().load() == before);
  BOOST_TEST(!m.busy());
}

BOOST_AUTO_TEST_SUITE_END()
