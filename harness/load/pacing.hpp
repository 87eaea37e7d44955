#pragma once
// How an engine thread waits for its next deadline (an open-loop arrival, a
// think time's end): it sleeps with a 1 us timer slack until spin_window
// before the deadline, then polls without sleeping until the deadline has
// come, so that a request goes out on time instead of when the kernel's
// timer and the scheduler get round to waking the thread, which on a VM is
// tens of microseconds late (docs/workloads.md, "Pacing").  Pure, so that a
// test can drive it with a fake clock.

#include <cstdint>

namespace ioduel::harness {

inline constexpr std::int64_t spin_window_ns = 100'000;
inline constexpr unsigned long timer_slack_ns = 1'000;

struct pace_step {
  std::int64_t poll_until;  // the poll's deadline: now (do not sleep) or earlier than `deadline`
  bool spinning;            // inside the spin window: the time counts as spinning
};

// The next wait towards `deadline` from `now`.
constexpr pace_step next_pace_step(std::int64_t now, std::int64_t deadline,
                                   std::int64_t spin_window = spin_window_ns) noexcept {
  if (deadline - now > spin_window) return {deadline - spin_window, false};
  return {now, true};
}

}  // namespace ioduel::harness
