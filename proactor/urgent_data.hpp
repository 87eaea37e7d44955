#pragma once
// TCP urgent (out-of-band) data, which the protocol discards and counts.
//
// With SO_OOBINLINE off the kernel keeps the urgent byte out of the stream:
// an in-band recv stops short at the urgent mark and the next one skips the
// byte.  Sessions count it by SIGURG on both backends: each socket names the
// process the owner of its SIGURG, and the handler installed here counts one
// discarded byte per signal (signals arriving together merge, so a burst
// may be undercounted).  Why not Asio's "except" operation (a queued
// receive with MSG_OOB), see docs/proactor.md, "Urgent data".

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace ioduel::proactor::urgent {

// SIGURGs received since start.  Lock-free, so the handler may touch it.
inline std::atomic<std::uint64_t> signals{0};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

inline void on_signal(int) noexcept { signals.fetch_add(1, std::memory_order_relaxed); }

// Installs the SIGURG handler, before any socket names an owner.
inline void install_signal_counter() noexcept {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGURG, &sa, nullptr);
}

// Makes this process the owner of fd's SIGURG, then reads an urgent byte
// that arrived before (it raised no signal).  Returns the bytes so
// discarded, 0 or 1.  A byte arriving between the two calls is counted
// twice, by its signal and here.
inline std::uint64_t claim(int fd) noexcept {
  ::fcntl(fd, F_SETOWN, ::getpid());
  char byte = 0;
  return ::recv(fd, &byte, 1, MSG_OOB | MSG_DONTWAIT) == 1 ? 1 : 0;
}

}  // namespace ioduel::proactor::urgent
