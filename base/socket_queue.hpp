#pragma once
// Bytes a socket's kernel send queue still holds (written by the server,
// not yet acknowledged by the peer): a reply the server has handed over but
// the client is still reading.  Both servers' idle timeouts look at it, so
// that a slow reader whose bytes keep leaving the queue is not idle
// (docs/protocol.md), while one that stopped reading, whose queue does not
// move for the whole timeout, is.

#include <linux/sockios.h>
#include <sys/ioctl.h>

namespace ioduel {

// -1 when the descriptor cannot say (not a TCP socket, closed).
inline int unsent_bytes(int fd) noexcept {
  int n = 0;
  return ::ioctl(fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

// Whether the queue moved since `last` (updated): bytes are queued and
// fewer or more than last time, or the last of them left since.  Starts with
// last = -1; an empty queue that was empty last time has not moved.
inline bool send_queue_moved(int fd, int& last) noexcept {
  const int now = unsent_bytes(fd);
  const bool moved = (now > 0 && now != last) || (now == 0 && last > 0);
  last = now;
  return moved;
}

}  // namespace ioduel
