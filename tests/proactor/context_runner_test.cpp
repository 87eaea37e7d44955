#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstddef>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "proactor/buffer_pool.hpp"
#include "proactor/context_runner.hpp"

namespace asio = boost::asio;
namespace block_pool = ioduel::proactor::block_pool;
using namespace std::chrono_literals;

namespace {

// Runs `f` on the context's thread and returns its result.
template <typename F>
auto on_thread(asio::io_context& ctx, F f) {
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  asio::post(ctx, [&task] { task(); });
  return result.get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(context_runner_suite)

// A thread whose handlers stop coming keeps nothing cached for good: the
// blocks it released while busy are given back while it is idle.  The
// queries posted below only read the thread's figure; they take and return
// no block, so they end no period themselves.
BOOST_AUTO_TEST_CASE(an_idle_thread_gives_its_cache_back) {
  asio::io_context ctx;
  auto guard = asio::make_work_guard(ctx);
  std::thread runner([&] { ioduel::proactor::run_giving_back(ctx, 20ms); });
  // However the case ends (a failed REQUIRE throws), the thread is joined.
  struct joiner {
    asio::io_context& ctx;
    std::thread& thread;
    ~joiner() {
      ctx.stop();
      if (thread.joinable()) thread.join();
    }
  } join_at_exit{ctx, runner};
  const std::size_t cached = on_thread(ctx, [] {
    block_pool::set_decay_period(20ms);
    std::vector<std::pair<char*, std::size_t>> blocks(4);
    for (auto& [b, cap] : blocks) b = block_pool::acquire(64 * 1024, cap);
    for (auto& [b, cap] : blocks) block_pool::release(b, cap);
    return block_pool::cached_bytes();
  });
  BOOST_TEST_REQUIRE(cached >= 4u * 64 * 1024, "the released blocks were not cached: " << cached);
  std::size_t now = cached;
  for (const auto deadline = std::chrono::steady_clock::now() + 10s;
       now != 0 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(10ms);  // a poll interval; the condition is the figure below
    now = on_thread(ctx, [] { return block_pool::cached_bytes(); });
  }
  BOOST_TEST(now == 0u, "an idle thread still holds " << now << " cached bytes after 10 s of 20 ms periods");
  guard.reset();
}

// It returns, as run() does, once the context runs out of work or stops.
BOOST_AUTO_TEST_CASE(it_returns_when_the_work_is_done_or_the_context_stops) {
  asio::io_context ctx;
  int ran = 0;
  for (int i = 0; i < 3; ++i) asio::post(ctx, [&ran] { ++ran; });
  BOOST_TEST(ioduel::proactor::run_giving_back(ctx, 20ms) == 3u);
  BOOST_TEST(ran == 3);

  asio::io_context stopped;
  auto guard = asio::make_work_guard(stopped);
  std::thread runner([&] { ioduel::proactor::run_giving_back(stopped, 20ms); });
  asio::post(stopped, [&stopped] { stopped.stop(); });
  runner.join();  // returns: the stop ended it although work was outstanding
  BOOST_TEST(stopped.stopped());
}

BOOST_AUTO_TEST_SUITE_END()
