// The pacing of deadlines (harness/load/pacing.hpp) driven by a fake clock whose
// sleeps overshoot the way a VM's timers do: requests go out at their
// intended times within the spin's resolution, where sleeping alone sends
// each one as late as the wake-up.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "harness/load/pacing.hpp"

using namespace ioduel::harness;

namespace {

// A loop like the engine's: wait towards the deadline step by step, send
// when it has come.  A sleep ends `overshoot` late (drawn per sleep), a
// zero-timeout poll costs `poll_cost`.  Returns each send's lateness.
std::vector<std::int64_t> send_lags(std::int64_t spin_window, std::int64_t max_overshoot) {
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<std::int64_t> overshoot(0, max_overshoot);
  constexpr std::int64_t poll_cost = 700;  // a zero-timeout epoll_pwait2, in ns
  std::int64_t now = 0;
  std::vector<std::int64_t> lags;
  for (int k = 1; k <= 1000; ++k) {
    const std::int64_t deadline = k * 1'000'000;  // 1,000 req/s
    while (now < deadline) {
      const pace_step step = next_pace_step(now, deadline, spin_window);
      if (step.spinning) now += poll_cost;
      else now = step.poll_until + overshoot(rng);
    }
    lags.push_back(now - deadline);
  }
  std::sort(lags.begin(), lags.end());
  return lags;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pacing)

BOOST_AUTO_TEST_CASE(a_step_sleeps_until_the_spin_window_then_spins) {
  const pace_step far = next_pace_step(0, 1'000'000, 30'000);
  BOOST_TEST(far.poll_until == 970'000);
  BOOST_TEST(!far.spinning);
  const pace_step near = next_pace_step(980'000, 1'000'000, 30'000);
  BOOST_TEST(near.poll_until == 980'000);
  BOOST_TEST(near.spinning);
  BOOST_TEST(next_pace_step(1'000'500, 1'000'000, 30'000).spinning);  // late: do not sleep at all
}

// Wake-ups up to 80% of the spin window late (this VM's are tens of us):
// spinning the window sends every request within one poll of its time;
// sleeping to the deadline sends them as late as the wake-up.
BOOST_AUTO_TEST_CASE(spinning_sends_on_time_where_sleeping_is_late_by_the_wake_up) {
  const std::int64_t jitter = spin_window_ns * 8 / 10;
  const std::vector<std::int64_t> spun = send_lags(spin_window_ns, jitter);
  BOOST_TEST(spun.front() >= 0);
  BOOST_TEST(spun.back() <= 700, "worst " << spun.back() << " ns");
  const std::vector<std::int64_t> slept = send_lags(0, jitter);
  BOOST_TEST(slept[slept.size() / 2] > jitter / 4, "median " << slept[slept.size() / 2] << " ns");
  BOOST_TEST(slept.back() > jitter * 3 / 4);
  // A wake-up later than the window (a stall) is late by what the window did not cover.
  const std::vector<std::int64_t> stalled = send_lags(spin_window_ns, spin_window_ns * 3);
  BOOST_TEST(stalled.back() > spin_window_ns);
  BOOST_TEST(stalled[stalled.size() / 4] <= 700);
}

BOOST_AUTO_TEST_SUITE_END()
