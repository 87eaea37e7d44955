#include "harness/servers/stats_client.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "protocol/frame.hpp"

namespace ioduel::harness {

namespace {

namespace proto = ioduel::protocol;
using clock = std::chrono::steady_clock;

int remaining_ms(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

void wait_for(int fd, short events, clock::time_point deadline, const std::string& what) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return;
    if (rc == 0) throw std::runtime_error("STATS: timed out " + what);
    if (errno != EINTR) throw std::runtime_error("STATS: poll: " + std::string(std::strerror(errno)));
  }
}

}  // namespace

stats_reply fetch_stats(const endpoint& target, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(target.host.c_str(), std::to_string(target.port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr)
    throw std::runtime_error("STATS: cannot resolve " + target.to_string() + ": " + ::gai_strerror(rc));
  unique_fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int c = fd ? ::connect(fd.get(), res->ai_addr, res->ai_addrlen) : -1;
  const int connect_errno = errno;
  ::freeaddrinfo(res);
  if (!fd) throw std::runtime_error("STATS: socket: " + std::string(std::strerror(connect_errno)));
  if (c != 0) {
    if (connect_errno != EINPROGRESS)
      throw std::runtime_error("STATS: connect to " + target.to_string() + ": " + std::strerror(connect_errno));
    wait_for(fd.get(), POLLOUT, deadline, "connecting to " + target.to_string());
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      throw std::runtime_error("STATS: connect to " + target.to_string() + ": " + std::strerror(err));
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  char request[proto::header_size];
  proto::encode_header(request, proto::header{proto::opcode::stats, 0, 1});
  std::size_t sent = 0;
  while (sent < sizeof request) {
    const ssize_t n = ::send(fd.get(), request + sent, sizeof request - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait_for(fd.get(), POLLOUT, deadline, "sending");
    } else {
      throw std::runtime_error("STATS: send: " + std::string(std::strerror(errno)));
    }
  }

  std::vector<char> in;
  std::size_t want = proto::header_size;
  char buf[4096];
  while (in.size() < want) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      in.insert(in.end(), buf, buf + n);
      if (want == proto::header_size && in.size() >= proto::header_size) {
        const proto::header h = proto::decode_header(in.data());
        if (in[0] != 'I' || in[1] != 'O' || h.op != proto::opcode::stats_reply || h.id != 1)
          throw std::runtime_error("STATS: the reply is not a STATS reply to request 1");
        if (h.length > (1u << 20)) throw std::runtime_error("STATS: reply too large");
        want = proto::header_size + h.length;
      }
    } else if (n == 0) {
      throw std::runtime_error("STATS: the server closed the connection");
    } else if (errno == EAGAIN || errno == EINTR) {
      wait_for(fd.get(), POLLIN, deadline, "waiting for the reply");
    } else {
      throw std::runtime_error("STATS: recv: " + std::string(std::strerror(errno)));
    }
  }
  stats_reply out;
  out.request_bytes = proto::header_size;
  out.reply_bytes = want;
  try {
    out.stats = nlohmann::json::parse(in.begin() + proto::header_size, in.begin() + static_cast<std::ptrdiff_t>(want));
  } catch (const nlohmann::json::parse_error& e) {
    throw std::runtime_error(std::string("STATS: the reply is not JSON: ") + e.what());
  }
  if (!out.stats.is_object()) throw std::runtime_error("STATS: the reply is not a JSON object");
  return out;
}

}  // namespace ioduel::harness
