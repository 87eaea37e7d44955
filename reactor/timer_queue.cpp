#include "reactor/timer_queue.hpp"

#include <utility>

namespace ioduel::reactor {

timer_queue::handle timer_queue::schedule(clock::time_point when, std::uint64_t cookie) {
  std::uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
    free_slots_.reserve(slots_.size());  // so remove_at's push_back cannot throw
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  heap_.push_back(entry{when, next_seq_++, cookie, slot});
  place(heap_.size() - 1);
  sift_up(heap_.size() - 1);
  return (static_cast<handle>(slots_[slot].generation) << 32) | (slot + 1u);
}

bool timer_queue::pending(handle h) const noexcept {
  if (h == 0) return false;
  const auto slot = static_cast<std::uint32_t>(h & 0xFFFF'FFFFu) - 1u;
  return slot < slots_.size() && slots_[slot].generation == static_cast<std::uint32_t>(h >> 32);
}

void timer_queue::cancel(handle h) noexcept {
  if (!pending(h)) return;
  remove_at(slots_[static_cast<std::uint32_t>(h & 0xFFFF'FFFFu) - 1u].position);
}

timer_queue::entry timer_queue::remove_at(std::size_t i) noexcept {
  const entry e = heap_[i];
  slot_state& s = slots_[e.slot];
  if (++s.generation == 0) s.generation = 1;  // handles stay non-zero
  free_slots_.push_back(e.slot);  // capacity reserved by schedule's growth of slots_
  heap_[i] = heap_.back();
  heap_.pop_back();
  if (i < heap_.size()) {
    place(i);
    sift_up(i);
    sift_down(i);
  }
  return e;
}

void timer_queue::sift_up(std::size_t i) noexcept {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!earlier(heap_[i], heap_[parent])) return;
    std::swap(heap_[i], heap_[parent]);
    place(i);
    place(parent);
    i = parent;
  }
}

void timer_queue::sift_down(std::size_t i) noexcept {
  for (;;) {
    const std::size_t left = 2 * i + 1;
    if (left >= heap_.size()) return;
    std::size_t child = left;
    if (left + 1 < heap_.size() && earlier(heap_[left + 1], heap_[left])) child = left + 1;
    if (!earlier(heap_[child], heap_[i])) return;
    std::swap(heap_[i], heap_[child]);
    place(i);
    place(child);
    i = child;
  }
}

std::optional<timer_queue::clock::time_point> timer_queue::next_deadline() const noexcept {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().when;
}

}  // namespace ioduel::reactor
