#include "reactor/acceptor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>

namespace ioduel::reactor {

namespace {

// The spare is one process-wide descriptor, so the EMFILE step (close it,
// accept and close the victim, take it back) is serialised by a lock.
// Ordinary accepts take no lock: a sibling loop that accepts while the spare
// is closed may take the freed number for a connection of its own, which it
// then serves; the loop that closed the spare finds the table full again,
// reports stalled and retries (restore_spare) after accept_retry_delay.
std::mutex descriptor_mutex;
unique_fd spare;  // guarded by descriptor_mutex

bool restore_spare_locked() noexcept {
  if (!spare.valid()) spare.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  return spare.valid();
}

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

unique_fd acceptor::open_listener(const std::string& address, std::uint16_t port,
                                  bool reuse_port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
             ::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  } else {
    throw std::system_error(EINVAL, std::generic_category(),
                            "not an IPv4 or IPv6 address: " + address);
  }

  unique_fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) fail("socket");
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) fail("SO_REUSEADDR");
  // Accepted sockets inherit TCP_NODELAY from the listener on Linux
  // (accept_one checks once and sets it per connection where they do not).
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
    fail("SO_REUSEPORT");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    fail(("bind " + address + ":" + std::to_string(port)).c_str());
  if (::listen(fd.get(), SOMAXCONN) != 0) fail("listen");
  return fd;
}

std::uint16_t acceptor::local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) fail("getsockname");
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

acceptor::acceptor(unique_fd listener) : listener_(std::move(listener)) { restore_spare(); }

bool acceptor::restore_spare() noexcept {
  const std::lock_guard lock(descriptor_mutex);
  return restore_spare_locked();
}

void acceptor::ensure_nodelay(int fd) noexcept {
  const int on = 1;
  if (nodelay_ == nodelay::unknown) {
    int v = 0;
    socklen_t len = sizeof v;
    const bool inherited = ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v != 0;
    nodelay_ = inherited ? nodelay::inherited : nodelay::per_connection;
  }
  if (nodelay_ == nodelay::per_connection) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

acceptor::result acceptor::accept_one(unique_fd& out) noexcept {
  for (;;) {
    const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      ensure_nodelay(fd);
      out.reset(fd);
      return result::accepted;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:  // the peer gave up while queued: try the next one
      case EPROTO:
        continue;
      case EAGAIN:
        return result::empty;
      case EMFILE:
      case ENFILE: {
        const std::lock_guard lock(descriptor_mutex);
        if (!restore_spare_locked()) return result::stalled;
        spare.reset();
        const int victim = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        const int saved = errno;
        if (victim >= 0) ::close(victim);
        restore_spare_locked();
        if (victim >= 0) return result::rejected;
        return saved == EAGAIN ? result::empty : result::stalled;
      }
      default:  // ENOBUFS, ENOMEM, EPERM (firewall): nothing to do but wait
        return result::stalled;
    }
  }
}

}  // namespace ioduel::reactor
