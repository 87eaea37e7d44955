#pragma once
// acceptor: one listening socket and the accept step around it, including the
// answer to running out of descriptors.
//
// On EMFILE/ENFILE a pending connection would stay in the backlog and a
// level-triggered listener would be reported ready forever: a busy loop.  As
// libev and muduo do, one spare descriptor is kept open (one per process,
// shared by every loop's acceptor, the step below under a lock); when
// the table is full the acceptor closes the spare, accepts and closes the
// connection (the client sees a clean close instead of a hang), and takes the
// spare back.  Only that step takes a lock (acceptor.cpp).

#include <cstdint>
#include <string>

#include "base/unique_fd.hpp"

namespace ioduel::reactor {

class acceptor {
 public:
  enum class result : std::uint8_t {
    accepted,  // `out` holds a new non-blocking connection
    empty,     // no connection pending
    rejected,  // one pending connection was accepted and closed for want of descriptors
    stalled,   // nothing can be accepted now (no spare descriptor, no memory): retry later
  };

  // A non-blocking, close-on-exec TCP listener with SO_REUSEADDR (and
  // SO_REUSEPORT when several loops share the port).  Throws std::system_error.
  static unique_fd open_listener(const std::string& address, std::uint16_t port,
                                 bool reuse_port);
  static std::uint16_t local_port(int fd);

  explicit acceptor(unique_fd listener);
  acceptor(const acceptor&) = delete;
  acceptor& operator=(const acceptor&) = delete;

  int fd() const noexcept { return listener_.get(); }
  bool open() const noexcept { return listener_.valid(); }
  void close() noexcept { listener_.reset(); }

  result accept_one(unique_fd& out) noexcept;

  // Takes the spare descriptor back if an earlier attempt could not.
  bool restore_spare() noexcept;

 private:
  // TCP_NODELAY is set on the listener; whether accepted sockets inherit it
  // is looked at once, on the first.
  enum class nodelay : std::uint8_t { unknown, inherited, per_connection };
  void ensure_nodelay(int fd) noexcept;

  unique_fd listener_;
  nodelay nodelay_ = nodelay::unknown;
};

}  // namespace ioduel::reactor
