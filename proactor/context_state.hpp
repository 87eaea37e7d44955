#pragma once
// What the sessions of one io_context share: the options, the counters (a
// slot per thread that runs it), and a
// registry of open sessions that the drain on SIGTERM walks.  The server owns
// one per io_context (one in all in the shared model).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "proactor/drain_handshake.hpp"
#include "protocol/parser.hpp"
#include "protocol/server_options.hpp"
#include "protocol/stats.hpp"

namespace ioduel::proactor {

// The server-wide services a session calls back into; none is on the per-request path.
class session_host {
 public:
  virtual std::string stats_json() const = 0;
  // A session's object is gone (it closed and every handler of it has run).
  virtual void session_destroyed() noexcept = 0;
  // True from the first SIGTERM/SIGINT on: accept no more, finish what is owed.
  bool draining() const noexcept { return drain_.draining(); }

 protected:
  session_host() = default;
  session_host(const session_host&) = delete;
  session_host& operator=(const session_host&) = delete;
  ~session_host() = default;

  drain_handshake drain_;  // the live sessions and the flag (drain_handshake.hpp)
};

// The part of a session the registry needs, whatever its executor type.
class session_base {
 public:
  session_base(const session_base&) = delete;
  session_base& operator=(const session_base&) = delete;

  // Closes at once, from a thread that owns the session (used when the drain
  // timeout has stopped every io_context).
  virtual void abort() noexcept = 0;
  // The descriptor, valid while the session is registered.
  virtual int native_handle() noexcept = 0;

 protected:
  session_base() = default;
  ~session_base() = default;

 private:
  friend class context_state;
  session_base* prev_ = nullptr;
  session_base* next_ = nullptr;
};

// The index of the calling thread among the threads that run the server's
// io_contexts (0 for the main thread), set as each starts: the counter slot
// it writes in a shared context.
inline thread_local std::size_t this_thread_slot = 0;

class context_state {
 public:
  // `threads`: how many threads run this context (1 per context in the
  // per-thread model, all of them in the shared model).
  context_state(const protocol::server_options& o, session_host& h, std::size_t threads = 1)
      : options(o), parse{o.max_frame, protocol::role::server}, host(h), slots_(threads) {}
  context_state(const context_state&) = delete;
  context_state& operator=(const context_state&) = delete;

  const protocol::server_options& options;
  const protocol::parse_options parse;
  session_host& host;

  // The counters the calling thread writes: every thread that runs this
  // context has a slot of its own (each server_counters is a cache line
  // apart), so counting is a plain load and store (counter::add_local), with
  // no read-modify-write shared between threads; STATS sums the slots.
  protocol::server_counters& counters() noexcept {
    return slots_.size() == 1 ? slots_[0] : slots_[this_thread_slot % slots_.size()];
  }
  protocol::counter_snapshot snapshot() const noexcept {
    protocol::counter_snapshot sum;
    for (const auto& s : slots_) sum += s.snapshot();
    return sum;
  }

  // Registration happens once per connection, so a mutex is cheap enough and
  // lets the drain run from the signal handler's thread.
  void add(session_base& s) {
    std::lock_guard lock(mutex_);
    s.next_ = head_;
    if (head_ != nullptr) head_->prev_ = &s;
    head_ = &s;
  }
  void remove(session_base& s) {
    std::lock_guard lock(mutex_);
    if (s.prev_ != nullptr) s.prev_->next_ = s.next_;
    else if (head_ == &s) head_ = s.next_;
    if (s.next_ != nullptr) s.next_->prev_ = s.prev_;
    s.prev_ = s.next_ = nullptr;
  }
  // Calls f(session_base&) for every registered session, under the lock.
  template <class F>
  void for_each(F&& f) {
    std::lock_guard lock(mutex_);
    for (session_base* s = head_; s != nullptr;) {
      session_base* next = s->next_;
      f(*s);
      s = next;
    }
  }
  bool empty() {
    std::lock_guard lock(mutex_);
    return head_ == nullptr;
  }

 private:
  std::vector<protocol::server_counters> slots_;
  std::mutex mutex_;
  session_base* head_ = nullptr;
};

}  // namespace ioduel::proactor
