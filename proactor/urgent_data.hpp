#pragma once
// TCP urgent (out-of-band) data, which the protocol discards and counts.
//
// With SO_OOBINLINE off the kernel keeps the urgent byte out of the stream,
// but an in-band recv stops short at the urgent mark and the next one skips
// the byte silently.  How a session counts it (docs/proactor.md, "Urgent
// data"):
//  - by signal (io_uring, and epoll with one io_context per thread): the
//    socket names an owner for SIGURG and the handler installed here counts
//    one discarded byte per signal;
//  - by Asio's "except" operation (epoll with a shared io_context): a
//    receive with MSG_OOB kept queued, which reads the byte itself.

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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

// Makes the calling thread (`to_thread`) or the process the owner of fd's
// SIGURG, then reads an urgent byte that arrived before (it raised no
// signal).  Returns the bytes so discarded, 0 or 1.  A byte arriving between
// the two calls is counted twice, by its signal and here.
inline std::uint64_t claim(int fd, bool to_thread) noexcept {
  f_owner_ex owner{};
  owner.type = to_thread ? F_OWNER_TID : F_OWNER_PID;
  owner.pid = to_thread ? static_cast<pid_t>(::syscall(SYS_gettid)) : ::getpid();
  ::fcntl(fd, F_SETOWN_EX, &owner);
  char byte = 0;
  return ::recv(fd, &byte, 1, MSG_OOB | MSG_DONTWAIT) == 1 ? 1 : 0;
}

// True if fd's read pointer is at an urgent mark: the byte there is urgent
// and in-band bytes may wait behind it.
inline bool at_mark(int fd) noexcept {
  int mark = 0;
  return ::ioctl(fd, SIOCATMARK, &mark) == 0 && mark != 0;
}

}  // namespace ioduel::proactor::urgent
