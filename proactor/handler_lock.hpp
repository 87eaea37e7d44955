#pragma once
// What keeps one session's completion handlers from running at once, for
// each context model (a session's template argument).
//
// Per-thread: one thread runs the io_context, so the handlers are serialized
// already and the lock is empty.
//
// Shared: one io_context run by every thread; a session's read, write and
// timer completions may be dequeued by two threads together, so each handler
// body runs under the session's mutex.  Not asio::strand, for three reasons
// found in Boost 1.81's strand_executor_service:
// - a strand that becomes busy posts an `invoker` to the io_context through
//   the default allocator; when that allocation fails (RLIMIT_AS, out of
//   memory) the strand stays locked with the handler queued, and the session
//   never runs again: its client unanswered, the session left at the drain
//   (allocation_failure_closes_only_its_connection, about 1 run in 5 on
//   io_uring);
// - the invoker's re-post when more work queued while it ran is made in a
//   destructor with `recycling_allocator`: a bad_alloc there terminates, and
//   when it comes back on another thread it misses that thread's cache (heap
//   allocations per request, docs/proactor.md);
// - every handler carries a copy of the strand, a shared_ptr whose count
//   moves per handler.
// A thread that finds the mutex held waits for the other thread's handler
// (a frame loop's turn, bounded by the write slice and the input read); a
// session's handlers rarely complete together, and never need to wait for
// each other's I/O.

#include <mutex>

namespace ioduel::proactor {

// The session's template argument: which context model it runs under.
struct per_thread_model {
  static constexpr bool shared = false;
};
struct shared_model {
  static constexpr bool shared = true;
};

template <bool Shared>
class handler_lock;

template <>
class handler_lock<false> {
 public:
  void lock() noexcept {}
  void unlock() noexcept {}
};

template <>
class handler_lock<true> {
 public:
  void lock() { mutex_.lock(); }
  void unlock() noexcept { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

}  // namespace ioduel::proactor
