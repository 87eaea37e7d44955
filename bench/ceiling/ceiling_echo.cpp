// The least an echo server can do: one thread, level-triggered epoll, one
// recv and one send per readable event, no framing, no bookkeeping, no
// allocation after accept.  It is not a server (a short send drops the
// rest; it never closes an idle peer): it is the yardstick for what any
// server can reach on a ping-pong benchmark on this machine.  If it is only
// X times as fast as a peer, no server that does the same system calls can
// beat that peer by more than X (bench/ceiling/ab.sh measures it).
//
//   ceiling_echo ADDRESS PORT [IGNORED...]
//
// The extra arguments are ignored, so it takes the command line of Asio's
// performance server (ADDRESS PORT THREADS BLOCK) or muduo's pingpong
// server (ADDRESS PORT THREADS) in their benchmark scripts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ADDRESS PORT [IGNORED...]\n", argv[0]);
    return 2;
  }
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));
  if (::inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 ||
      ::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener, 1024) != 0) {
    std::perror("ceiling_echo: listen");
    return 1;
  }
  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  constexpr std::size_t buffer_size = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> buffers;  // one per descriptor, as Asio's server has
  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        const int c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
        if (c < 0) continue;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (buffers.size() <= static_cast<std::size_t>(c)) buffers.resize(c + 1);
        buffers[c] = std::make_unique<char[]>(buffer_size);
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.fd = c;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
        continue;
      }
      const ssize_t got = ::recv(fd, buffers[fd].get(), buffer_size, 0);
      if (got <= 0) {
        ::close(fd);
        buffers[fd].reset();
        continue;
      }
      (void)::send(fd, buffers[fd].get(), static_cast<std::size_t>(got), MSG_NOSIGNAL);
    }
  }
}
