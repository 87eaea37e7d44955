#pragma once
// poller: the event demultiplexer, the one part of the reactor that knows
// epoll, poll or select.  The event loop registers descriptors with the
// events it wants and asks which are ready.
//
// Edge-triggered epoll reports a change once; the level-triggered pollers
// report a ready descriptor on every wait.  The loop asks edge_triggered() to
// know whether it must remember unfinished work itself (edge) or keep its
// interest set exact so a paused connection is not reported forever (level).

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace ioduel::reactor {

enum class poller_kind : std::uint8_t { epoll, poll, select };
enum class trigger_mode : std::uint8_t { edge, level };

// What a descriptor wants to hear about (a bit set).
enum interest : unsigned {
  want_read = 1u << 0,
  want_write = 1u << 1,
  want_urgent = 1u << 2,  // TCP urgent data (EPOLLPRI, POLLPRI, select's except set)
};

struct ready_event {
  int fd = -1;
  bool readable = false;  // data, EOF or a pending connection
  bool peer_shut = false; // the peer shut its write side (EPOLLRDHUP, POLLRDHUP)
  bool writable = false;
  bool urgent = false;    // out-of-band byte waiting
  bool hangup = false;    // both directions closed or reset
  bool error = false;
};

class poller {
 public:
  virtual ~poller() = default;

  // Starts watching fd.  False when this poller cannot (select refuses
  // descriptors at or above FD_SETSIZE); nothing is changed then.
  virtual bool add(int fd, unsigned interest) = 0;
  virtual void modify(int fd, unsigned interest) = 0;
  virtual void remove(int fd) = 0;

  // Waits up to timeout_ms (-1: until something happens) and appends what is
  // ready to `out`.  A signal interrupting the wait just returns nothing.
  virtual void wait(int timeout_ms, std::vector<ready_event>& out) = 0;

  virtual bool edge_triggered() const noexcept = 0;
  virtual std::string_view name() const noexcept = 0;
};

// Throws std::system_error if the kernel object cannot be created.
std::unique_ptr<poller> make_poller(poller_kind kind, trigger_mode trigger);

}  // namespace ioduel::reactor
