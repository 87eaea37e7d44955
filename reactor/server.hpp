#pragma once
// server: the event loops, their threads, and what they share (the
// connection count behind --max-connections, STATS over every loop's
// counters, the graceful stop).
//
// Construction blocks SIGTERM and SIGINT in the calling thread (so in every
// loop thread started later; they arrive through loop 0's signalfd) and
// ignores SIGPIPE, then binds the listeners: the first on the requested port
// (0 = any), the others with SO_REUSEPORT on the port the first one got.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocol/stats.hpp"
#include "reactor/options.hpp"

namespace ioduel::reactor {

class event_loop;

class server {
 public:
  // Throws std::system_error when it cannot listen.
  explicit server(reactor_options opts);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  const reactor_options& options() const noexcept { return opts_; }

  // Runs every loop (loop 0 on the calling thread) until the graceful stop
  // has finished.  Returns the exit status.
  int run();

  // Any thread.
  void request_drain() noexcept;
  bool try_open_connection() noexcept;
  void connection_closed() noexcept;
  std::string stats_json() const;

 private:
  reactor_options opts_;
  protocol::server_identity identity_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> open_{0};
  std::vector<std::unique_ptr<event_loop>> loops_;
};

std::string_view poller_name(poller_kind kind) noexcept;

}  // namespace ioduel::reactor
