#pragma once
// timer_queue: the pending timers of one event loop, earliest first, in a
// binary heap over a vector (no allocation once the vector has grown).
//
// A timer is a deadline and a 64-bit cookie that the loop decodes itself
// (which connection, which kind), so no callable is stored per timer.
// Timers are never cancelled: their owner checks, when the cookie comes back,
// whether it still cares (a closed connection's generation no longer
// matches; an idle deadline that moved is simply scheduled again).  That keeps
// the per-request path free of heap surgery.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace ioduel::reactor {

class timer_queue {
 public:
  using clock = std::chrono::steady_clock;

  void schedule(clock::time_point when, std::uint64_t cookie);

  // Calls on_expire(cookie) for every timer due at `now`, earliest first and,
  // among equal deadlines, in scheduling order.  Timers scheduled by
  // on_expire wait for the next call, so a callback that re-arms for `now`
  // cannot loop forever.  Returns how many fired.
  template <class OnExpire>
  std::size_t expire(clock::time_point now, OnExpire&& on_expire);

  std::optional<clock::time_point> next_deadline() const noexcept;
  std::size_t size() const noexcept { return heap_.size(); }
  bool empty() const noexcept { return heap_.empty(); }

 private:
  struct entry {
    clock::time_point when;
    std::uint64_t seq;
    std::uint64_t cookie;
  };
  entry pop();

  std::vector<entry> heap_;
  std::uint64_t next_seq_ = 0;
};

template <class OnExpire>
std::size_t timer_queue::expire(clock::time_point now, OnExpire&& on_expire) {
  const std::uint64_t limit = next_seq_;
  std::size_t fired = 0;
  while (!heap_.empty() && heap_.front().when <= now && heap_.front().seq < limit) {
    const entry e = pop();
    ++fired;
    on_expire(e.cookie);
  }
  return fired;
}

}  // namespace ioduel::reactor
