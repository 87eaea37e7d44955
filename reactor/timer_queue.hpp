#pragma once
// timer_queue: the pending timers of one event loop, earliest first, in a
// binary heap over a vector (no allocation once the vectors have grown).
//
// A timer is a deadline and a 64-bit cookie that the loop decodes itself
// (which connection, which kind), so no callable is stored per timer.
// schedule() returns a handle that cancel() takes: a connection's timers are
// cancelled when it closes, so the heap holds at most the timers of the open
// connections however fast they come and go.  A handle whose timer has fired
// or been cancelled is stale and cancelling it does nothing (each slot has a
// generation), so an owner may cancel without tracking what already fired.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace ioduel::reactor {

class timer_queue {
 public:
  using clock = std::chrono::steady_clock;
  // 0 is never a live timer's handle.
  using handle = std::uint64_t;

  handle schedule(clock::time_point when, std::uint64_t cookie);
  void cancel(handle h) noexcept;
  // True while the timer of `h` has neither fired nor been cancelled.
  bool pending(handle h) const noexcept;

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
    std::uint32_t slot;
  };
  struct slot_state {
    std::uint32_t position = 0;    // index in heap_ while live
    std::uint32_t generation = 1;  // bumped when the timer fires or is cancelled
  };
  static bool earlier(const entry& a, const entry& b) noexcept {
    return a.when != b.when ? a.when < b.when : a.seq < b.seq;
  }
  void place(std::size_t i) noexcept { slots_[heap_[i].slot].position = static_cast<std::uint32_t>(i); }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  entry remove_at(std::size_t i) noexcept;

  std::vector<entry> heap_;
  std::vector<slot_state> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t next_seq_ = 0;
};

template <class OnExpire>
std::size_t timer_queue::expire(clock::time_point now, OnExpire&& on_expire) {
  const std::uint64_t limit = next_seq_;
  std::size_t fired = 0;
  while (!heap_.empty() && heap_.front().when <= now && heap_.front().seq < limit) {
    const entry e = remove_at(0);
    ++fired;
    on_expire(e.cookie);
  }
  return fired;
}

}  // namespace ioduel::reactor
