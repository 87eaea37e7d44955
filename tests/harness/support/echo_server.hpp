#pragma once
// A small raw-byte echo server for the tests: whatever arrives goes back.
// That is all an ECHO-only workload needs, so `drive` can be tested against
// a server that is not ours.  One thread, poll(), non-blocking sockets; it
// counts the bytes it echoed, and can be told to corrupt every Nth byte so
// that the client's verification is seen to catch it, to hold every byte for
// a while before echoing it (replies that come after a window), to close
// each connection after so many bytes (arrivals with no connection to go on),
// or to echo at most so many bytes a second across all connections: a server
// of known capacity (fixed-size requests at N a second).

#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.hpp"

namespace ioduel::harness::test {

class echo_server {
 public:
  struct options {
    std::uint64_t corrupt_every = 0;              // 0: never
    std::chrono::milliseconds delay{0};           // each byte is echoed this long after it arrived
    std::uint64_t close_after_bytes = 0;          // 0: never
    std::uint64_t max_bytes_per_s = 0;            // 0: as fast as it can
  };
  explicit echo_server(std::uint64_t corrupt_every = 0) : echo_server(options{corrupt_every}) {}
  explicit echo_server(options o)
      : corrupt_every_(o.corrupt_every), delay_ns_(std::chrono::nanoseconds(o.delay).count()),
        close_after_(o.close_after_bytes), max_bytes_per_s_(o.max_bytes_per_s) {
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (!listener_ || ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_.get(), 128) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("echo_server: cannot listen");
    port_ = ntohs(addr.sin_port);
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("echo_server: pipe");
    stop_read_.reset(p[0]);
    stop_write_.reset(p[1]);
    thread_ = std::thread([this] { loop(); });
  }
  ~echo_server() {
    const char c = 0;
    [[maybe_unused]] auto n = ::write(stop_write_.get(), &c, 1);
    thread_.join();
  }
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::uint64_t bytes_echoed() const noexcept { return echoed_.load(); }
  std::uint64_t connections() const noexcept { return accepted_.load(); }

 private:
  struct peer {
    unique_fd fd;
    std::string pending;  // due, not yet written back
    std::deque<std::pair<std::int64_t, std::string>> held;  // (due time, bytes) with a delay
    std::uint64_t read = 0;
  };

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void loop() {
    std::vector<peer> peers;
    std::vector<pollfd> fds;
    char buf[65536];
    for (;;) {
      // Held bytes whose time has come are due; the poll waits for the next.
      int timeout_ms = 1000;
      const std::int64_t now = now_ns();
      for (auto& p : peers) {
        while (!p.held.empty() && p.held.front().first <= now) {
          p.pending += p.held.front().second;
          p.held.pop_front();
        }
        if (!p.held.empty())
          timeout_ms = std::min<int>(timeout_ms, static_cast<int>((p.held.front().first - now) / 1'000'000) + 1);
      }
      fds.clear();
      fds.push_back({stop_read_.get(), POLLIN, 0});
      fds.push_back({listener_.get(), POLLIN, 0});
      for (auto& p : peers)
        fds.push_back({p.fd.get(), static_cast<short>(p.pending.empty() ? POLLIN : POLLIN | POLLOUT), 0});
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0) continue;
      if (fds[0].revents) return;
      if (fds[1].revents & POLLIN) {
        for (;;) {
          const int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ++accepted_;
          peers.push_back(peer{unique_fd(c), {}, {}, 0});
        }
      }
      for (std::size_t i = 2; i < fds.size(); ++i) {
        peer& p = peers[i - 2];
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = ::read(p.fd.get(), buf, sizeof buf);
          if (n == 0 || (n < 0 && errno != EAGAIN)) {
            p.fd.reset();
            continue;
          }
          if (n > 0) {
            for (ssize_t k = 0; k < n; ++k, ++seen_)
              if (corrupt_every_ && seen_ % corrupt_every_ == corrupt_every_ - 1) buf[k] ^= 0x5A;
            p.read += static_cast<std::uint64_t>(n);
            if (max_bytes_per_s_ > 0) {
              // The bytes leave when the server's budget reaches them: after
              // every byte that came before them, from any connection.
              const std::int64_t start = std::max(now_ns(), busy_until_ns_);
              busy_until_ns_ = start + static_cast<std::int64_t>(static_cast<double>(n) * 1e9 /
                                                                 static_cast<double>(max_bytes_per_s_));
              p.held.emplace_back(busy_until_ns_, std::string(buf, static_cast<std::size_t>(n)));
            } else if (delay_ns_ > 0) {
              p.held.emplace_back(now_ns() + delay_ns_, std::string(buf, static_cast<std::size_t>(n)));
            } else {
              p.pending.append(buf, static_cast<std::size_t>(n));
            }
            if (close_after_ && p.read >= close_after_) {
              p.fd.reset();
              continue;
            }
          }
        }
        if (!p.pending.empty() && p.fd) {
          const ssize_t n = ::send(p.fd.get(), p.pending.data(), p.pending.size(), MSG_NOSIGNAL);
          if (n > 0) {
            echoed_ += static_cast<std::uint64_t>(n);
            p.pending.erase(0, static_cast<std::size_t>(n));
          }
        }
      }
      std::erase_if(peers, [](const peer& p) { return !p.fd; });
      if (peers.empty()) busy_until_ns_ = 0;  // what the last clients left owed went with them
    }
  }

  std::uint64_t corrupt_every_;
  std::int64_t delay_ns_ = 0;
  std::uint64_t close_after_ = 0;
  std::uint64_t max_bytes_per_s_ = 0;
  std::int64_t busy_until_ns_ = 0;  // with max_bytes_per_s: when the bytes taken so far have left
  std::uint64_t seen_ = 0;
  unique_fd listener_, stop_read_, stop_write_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> echoed_{0}, accepted_{0};
  std::thread thread_;
};

}  // namespace ioduel::harness::test
