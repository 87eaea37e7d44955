#pragma once
// drain_handshake: the count of live sessions, the server's "draining" flag,
// and the one decision they share: who ends the drain.  The last session to
// go after the drain began ends it (leave), or the drain's start does, if no
// session is left (begin).
//
// Each side stores, then loads what the other stores: the session decrements
// the count and then reads the flag, the drain sets the flag and then reads
// the count.  Under acquire/release both loads may read the old value (the
// store-buffer pattern: each store can still sit in its CPU's buffer when the
// other side loads), and then nobody ends the drain: the server waits out
// --drain-timeout-ms with no connection left.  Sequential consistency on all
// four accesses rules that out; tests/proactor/drain_handshake_test.cpp runs
// the race and shows the acquire/release variant losing it on this CPU.
#include <atomic>
#include <cstddef>

namespace ioduel::proactor {

enum class handshake_order {
  sequential,       // what the server uses
  acquire_release,  // the weaker variant, kept only so the test can show why not
};

template <handshake_order Order = handshake_order::sequential>
class basic_drain_handshake {
  static constexpr bool sc = Order == handshake_order::sequential;
  static constexpr std::memory_order store_order = sc ? std::memory_order_seq_cst : std::memory_order_release;
  static constexpr std::memory_order load_order = sc ? std::memory_order_seq_cst : std::memory_order_acquire;
  static constexpr std::memory_order rmw_order = sc ? std::memory_order_seq_cst : std::memory_order_acq_rel;

 public:
  void admit() noexcept { live_.fetch_add(1, rmw_order); }

  // A session is gone.  True if it was the last and the drain has begun: the
  // caller ends the drain.
  bool leave() noexcept { return live_.fetch_sub(1, rmw_order) == 1 && draining_.load(load_order); }

  // The drain begins.  True if no session is live: the caller ends it now.
  bool begin() noexcept {
    draining_.store(true, store_order);
    return live_.load(load_order) == 0;
  }

  bool draining() const noexcept { return draining_.load(load_order); }
  // For limits and reports only, not for the decision above.
  std::size_t live() const noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> live_{0};
  std::atomic<bool> draining_{false};
};

using drain_handshake = basic_drain_handshake<>;

}  // namespace ioduel::proactor
