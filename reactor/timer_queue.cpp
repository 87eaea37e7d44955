#include "reactor/timer_queue.hpp"

#include <algorithm>

namespace ioduel::reactor {

namespace {
// std heap algorithms build a max-heap; "later" puts the earliest on top.
struct later {
  template <class E>
  bool operator()(const E& a, const E& b) const noexcept {
    return a.when != b.when ? a.when > b.when : a.seq > b.seq;
  }
};
}  // namespace

void timer_queue::schedule(clock::time_point when, std::uint64_t cookie) {
  heap_.push_back(entry{when, next_seq_++, cookie});
  std::push_heap(heap_.begin(), heap_.end(), later{});
}

timer_queue::entry timer_queue::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), later{});
  const entry e = heap_.back();
  heap_.pop_back();
  return e;
}

std::optional<timer_queue::clock::time_point> timer_queue::next_deadline() const noexcept {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().when;
}

}  // namespace ioduel::reactor
