#include <boost/test/unit_test.hpp>

#include <vector>

#include "reactor/timer_queue.hpp"

using ioduel::reactor::timer_queue;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(timer_queue_suite)

BOOST_AUTO_TEST_CASE(empty_has_no_deadline) {
  timer_queue q;
  BOOST_TEST(!q.next_deadline().has_value());
  BOOST_TEST(q.expire(timer_queue::clock::now(), [](std::uint64_t) {}) == 0u);
}

BOOST_AUTO_TEST_CASE(fires_only_what_is_due_earliest_first) {
  const auto t0 = timer_queue::clock::time_point{} + 1h;
  timer_queue q;
  q.schedule(t0 + 30ms, 3);
  q.schedule(t0 + 10ms, 1);
  q.schedule(t0 + 50ms, 5);
  q.schedule(t0 + 20ms, 2);
  BOOST_TEST((q.next_deadline() == t0 + 10ms));

  std::vector<std::uint64_t> fired;
  auto collect = [&](std::uint64_t c) { fired.push_back(c); };
  BOOST_TEST(q.expire(t0 + 5ms, collect) == 0u);
  BOOST_TEST(q.expire(t0 + 30ms, collect) == 3u);
  BOOST_TEST((fired == std::vector<std::uint64_t>{1, 2, 3}));
  BOOST_TEST((q.next_deadline() == t0 + 50ms));
  BOOST_TEST(q.size() == 1u);
}

BOOST_AUTO_TEST_CASE(equal_deadlines_fire_in_scheduling_order) {
  const auto t = timer_queue::clock::time_point{} + 1h;
  timer_queue q;
  for (std::uint64_t i = 0; i < 100; ++i) q.schedule(t, i);
  std::vector<std::uint64_t> fired;
  q.expire(t, [&](std::uint64_t c) { fired.push_back(c); });
  BOOST_TEST_REQUIRE(fired.size() == 100u);
  for (std::uint64_t i = 0; i < 100; ++i) BOOST_TEST(fired[i] == i);
}

BOOST_AUTO_TEST_CASE(rescheduling_from_a_callback_waits_for_the_next_call) {
  const auto t = timer_queue::clock::time_point{} + 1h;
  timer_queue q;
  q.schedule(t, 7);
  int calls = 0;
  auto rearm = [&](std::uint64_t c) {
    ++calls;
    q.schedule(t, c);  // due already: must not fire in this same call
  };
  BOOST_TEST(q.expire(t, rearm) == 1u);
  BOOST_TEST(calls == 1);
  BOOST_TEST(q.size() == 1u);
  BOOST_TEST(q.expire(t, rearm) == 1u);
  BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(many_timers_come_out_sorted) {
  const auto t0 = timer_queue::clock::time_point{} + 1h;
  timer_queue q;
  std::uint64_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const auto offset = std::chrono::microseconds((x >> 33) % 1'000'000);
    q.schedule(t0 + offset, static_cast<std::uint64_t>(offset.count()));
  }
  std::uint64_t last = 0, count = 0;
  bool sorted = true;
  q.expire(t0 + 2s, [&](std::uint64_t c) {
    sorted = sorted && c >= last;
    last = c;
    ++count;
  });
  BOOST_TEST(sorted);
  BOOST_TEST(count == 5000u);
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(cancelled_timers_leave_the_heap_and_never_fire) {
  const auto t = timer_queue::clock::time_point{} + 1h;
  timer_queue q;
  std::vector<timer_queue::handle> handles;
  for (std::uint64_t i = 0; i < 1000; ++i) handles.push_back(q.schedule(t + std::chrono::milliseconds(i % 97), i));
  for (std::uint64_t i = 0; i < 1000; i += 2) q.cancel(handles[i]);
  BOOST_TEST(q.size() == 500u);
  std::vector<std::uint64_t> fired;
  q.expire(t + 1s, [&](std::uint64_t c) { fired.push_back(c); });
  BOOST_TEST(fired.size() == 500u);
  for (std::size_t k = 0; k < fired.size(); ++k) {
    BOOST_TEST(fired[k] % 2 == 1u);
    if (k > 0) BOOST_TEST((fired[k - 1] % 97 < fired[k] % 97 || (fired[k - 1] % 97 == fired[k] % 97 && fired[k - 1] < fired[k])));
  }
}

BOOST_AUTO_TEST_CASE(stale_handles_cancel_nothing) {
  const auto t = timer_queue::clock::time_point{} + 1h;
  timer_queue q;
  const auto first = q.schedule(t, 1);
  q.expire(t, [](std::uint64_t) {});
  const auto second = q.schedule(t + 1ms, 2);  // reuses the first's slot
  BOOST_TEST(!q.pending(first));
  BOOST_TEST(q.pending(second));
  q.cancel(first);                             // fired already: stale
  q.cancel(0);
  BOOST_TEST(q.size() == 1u);
  q.cancel(second);
  BOOST_TEST(!q.pending(second));
  q.cancel(second);
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(churn_keeps_the_heap_at_the_live_timers) {
  // Connections that come and go, each cancelling its timer: the heap does
  // not grow with the number that ever lived.
  const auto t = timer_queue::clock::time_point{} + 1h;
  timer_queue q;
  for (int i = 0; i < 100000; ++i) q.cancel(q.schedule(t + 60s, static_cast<std::uint64_t>(i)));
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_SUITE_END()
