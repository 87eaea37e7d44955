#pragma once
// The counters both servers keep and the STATS reply built from them.
//
// Each event loop (reactor) or io_context (proactor) owns one server_counters,
// so counting never contends; STATS sums them all.  A counter written by one
// thread only uses add_local() (a plain load and store); one shared by several
// threads uses add() (an atomic add).  Reads from any thread are safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ioduel::protocol {

class counter {
 public:
  void add(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  void add_local(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// Plain numbers, summed over every server_counters.
struct counter_snapshot {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t connections_rejected = 0;  // over --max-connections, EMFILE, FD_SETSIZE
  std::uint64_t connections_failed = 0;    // closed because of an I/O error
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t idle_timeouts = 0;
  std::uint64_t oob_discarded = 0;  // TCP urgent bytes dropped
  std::uint64_t loop_turns = 0;     // event-loop turns (the reactor's; 0: a server without turns)

  counter_snapshot& operator+=(const counter_snapshot& o) noexcept;
  std::uint64_t connections_open() const noexcept {
    return connections_accepted - connections_closed;
  }
};

struct alignas(64) server_counters {
  counter connections_accepted, connections_closed, connections_rejected, connections_failed;
  counter frames_in, frames_out, bytes_in, bytes_out;
  counter protocol_errors, idle_timeouts, oob_discarded;
  counter loop_turns;

  counter_snapshot snapshot() const noexcept;
};

// Who is answering, for the STATS object.
struct server_identity {
  std::string_view server;   // "reactor" or "proactor"
  std::string_view backend;  // "epoll", "poll", "select" or "io_uring"
  unsigned threads = 1;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// The STATS payload: a JSON object with server, backend, threads,
// connections_accepted, connections_open, connections_rejected,
// connections_failed, frames_in, frames_out, bytes_in, bytes_out,
// protocol_errors, idle_timeouts, oob_discarded and uptime_s.
std::string stats_json(const server_identity& who, const counter_snapshot& c);

}  // namespace ioduel::protocol
