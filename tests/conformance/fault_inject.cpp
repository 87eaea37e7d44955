// A fault injector for the server under test, loaded with LD_PRELOAD: every
// Nth send on a socket (send, sendto, sendmsg, writev; N from
// IODUEL_FAULT_ENOBUFS_EVERY) fails with ENOBUFS before anything is sent,
// as the kernel's does when it has no memory for the segment.  Nothing was
// written, so a server that loses a byte or closes the connection over it is
// wrong.  Each injection is recorded: the count, as decimal text, is
// rewritten at the start of the file IODUEL_FAULT_COUNT_FILE names, so that
// a case can tell that faults did reach the server (an io_uring server's
// sends bypass these calls).
//
// Built without sanitizers: it is preloaded ahead of a sanitized server's
// runtime (the case sets verify_asan_link_order=0 for ASan).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct injector {
  unsigned long every = 0;  // 0: inject nothing
  int count_fd = -1;
  std::atomic<unsigned long> calls{0};
  std::atomic<unsigned long> injected{0};

  injector() {
    if (const char* e = std::getenv("IODUEL_FAULT_ENOBUFS_EVERY")) every = std::strtoul(e, nullptr, 10);
    if (const char* f = std::getenv("IODUEL_FAULT_COUNT_FILE"))
      count_fd = ::open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    record(0);
  }

  void record(unsigned long n) const noexcept {
    if (count_fd < 0) return;
    char text[24];
    const int len = std::snprintf(text, sizeof text, "%-20lu\n", n);  // fixed width: no stale tail
    if (len > 0) (void)::pwrite(count_fd, text, static_cast<size_t>(len), 0);
  }

  // True if this call is to fail.  Only sockets: a server's log on a pipe is not touched.
  bool fail(int fd) noexcept {
    if (every == 0) return false;
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    if (calls.fetch_add(1, std::memory_order_relaxed) % every != every - 1) return false;
    record(injected.fetch_add(1, std::memory_order_relaxed) + 1);
    return true;
  }
};

injector& the_injector() {
  static injector i;
  return i;
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  static const auto real = next<ssize_t (*)(int, const void*, size_t, int)>("send");
  if (the_injector().fail(fd)) return errno = ENOBUFS, -1;
  return real(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* to, socklen_t tolen) {
  static const auto real =
      next<ssize_t (*)(int, const void*, size_t, int, const struct sockaddr*, socklen_t)>("sendto");
  if (the_injector().fail(fd)) return errno = ENOBUFS, -1;
  return real(fd, buf, len, flags, to, tolen);
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  static const auto real = next<ssize_t (*)(int, const struct msghdr*, int)>("sendmsg");
  if (the_injector().fail(fd)) return errno = ENOBUFS, -1;
  return real(fd, msg, flags);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  static const auto real = next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (the_injector().fail(fd)) return errno = ENOBUFS, -1;
  return real(fd, iov, iovcnt);
}

}  // extern "C"
