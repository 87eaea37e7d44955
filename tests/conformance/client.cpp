#include "client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <boost/test/unit_test.hpp>

#include "protocol/replies.hpp"

namespace ioduel::testing {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

int remaining_ms(clock_type::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now());
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 1 << 30));
}

std::string describe(const reply& r) {
  std::string s = std::string(protocol::opcode_name(r.hdr.op)) + " id " + std::to_string(r.hdr.id) +
                  ", " + std::to_string(r.payload.size()) + " payload bytes";
  if (r.hdr.op == protocol::opcode::error) s += ": \"" + r.payload + "\"";
  return s;
}

}  // namespace

std::chrono::milliseconds scaled(std::chrono::milliseconds t) {
  static const double scale = [] {
    const char* s = std::getenv("IODUEL_TEST_TIMEOUT_SCALE");
    const double v = s ? std::atof(s) : 1.0;
    return v > 0 ? v : 1.0;
  }();
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(t.count()) * scale));
}

std::chrono::milliseconds io_timeout() { return scaled(10s); }

std::string be32(std::uint32_t v) {
  std::string s(4, '\0');
  protocol::store_be32(s.data(), v);
  return s;
}

request request::source(std::uint64_t id, std::uint32_t n) { return {protocol::opcode::source, id, be32(n)}; }
request request::sleep(std::uint64_t id, std::uint32_t us) { return {protocol::opcode::sleep, id, be32(us)}; }

std::string request::wire() const {
  std::string s;
  protocol::string_output out(s);
  protocol::append_frame(out, op, id, payload);
  return s;
}

std::string raw_frame(std::uint8_t op, std::uint64_t id, std::string_view payload,
                      std::optional<std::uint32_t> declared_length) {
  std::string s(protocol::header_size, '\0');
  protocol::encode_header(
      s.data(), protocol::header{static_cast<protocol::opcode>(op),
                                 declared_length.value_or(static_cast<std::uint32_t>(payload.size())), id});
  s += payload;
  return s;
}

void check_reply(const request& q, const reply& r, const std::string& what) {
  using protocol::opcode;
  const std::string context = (what.empty() ? "" : what + ": ") + std::string(protocol::opcode_name(q.op)) +
                              " id " + std::to_string(q.id) + " answered with " + describe(r);
  BOOST_TEST((r.hdr.op == protocol::reply_opcode(q.op)), context << " (wrong opcode)");
  BOOST_TEST(r.hdr.id == q.id, context << " (wrong id)");
  switch (q.op) {
    case opcode::echo:
      BOOST_TEST((r.payload == q.payload), context << " (echo payload differs)");
      break;
    case opcode::sink:
    case opcode::sleep:
      BOOST_TEST(r.payload.empty(), context << " (payload should be empty)");
      break;
    case opcode::source: {
      const std::uint32_t n = protocol::load_be32(q.payload.data());
      BOOST_TEST(r.payload.size() == n, context << " (wrong SOURCE size)");
      const std::size_t bad = protocol::check_source_pattern(r.payload, q.id);
      BOOST_TEST(bad == r.payload.size(), context << " (SOURCE pattern breaks at byte " << bad << ")");
      break;
    }
    case opcode::stats:
      BOOST_TEST(nlohmann::json::accept(r.payload), context << " (STATS payload is not JSON)");
      break;
    default:
      break;
  }
}

client::client(const std::string& host, std::uint16_t port, traffic_ledger* ledger,
               std::uint32_t max_frame)
    : ledger_(ledger), parser_(protocol::parse_options{max_frame, protocol::role::client}) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    close_fd();
    throw std::invalid_argument("not an IPv4 address: " + host);
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      const int e = errno;
      close_fd();
      throw std::system_error(e, std::generic_category(), "connect to " + host);
    }
    pollfd p{fd_, POLLOUT, 0};
    const int n = ::poll(&p, 1, static_cast<int>(io_timeout().count()));
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (n <= 0 || err != 0) {
      close_fd();
      throw std::system_error(n <= 0 ? ETIMEDOUT : err, std::generic_category(),
                              "connect to " + host + ":" + std::to_string(port));
    }
  }
  if (ledger_) ++ledger_->connections;
}

client::client(client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      ledger_(other.ledger_),
      parser_(other.parser_.options()),
      raw_(std::move(other.raw_)),
      replies_(std::move(other.replies_)),
      raw_mode_(other.raw_mode_) {
  // Only clients with nothing half-parsed are moved (into containers, right
  // after connecting), so the fresh parser loses nothing.
}

client::~client() { close_fd(); }

void client::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

client::fill client::fill_once(clock_type::time_point deadline) {
  pollfd p{fd_, POLLIN, 0};
  const int n = ::poll(&p, 1, remaining_ms(deadline));
  if (n < 0 && errno != EINTR) throw_errno("poll");
  if (n <= 0) return fill::timeout;
  char buf[65536];
  const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
  if (got > 0) {
    raw_.append(buf, static_cast<std::size_t>(got));
    return fill::data;
  }
  if (got == 0) return fill::eof;
  if (errno == ECONNRESET) return fill::reset;
  if (errno == EAGAIN || errno == EINTR) return fill::data;  // nothing after all: look again
  throw_errno("recv");
}

void client::parse_input() {
  if (raw_mode_ || raw_.empty()) return;
  const bool ok = parser_.feed(raw_, [this](const protocol::frame& f) {
    replies_.push_back(reply{f.hdr, std::string(f.payload.begin(), f.payload.end())});
  });
  raw_.clear();
  if (!ok)
    throw std::runtime_error("the server sent a malformed frame: " +
                             std::string(protocol::parse_error_name(parser_.failure().error)) +
                             " after " + std::to_string(replies_.size()) + " buffered replies");
}

void client::count_reply(const reply& r) {
  if (!ledger_) return;
  ++ledger_->frames_out;
  ledger_->bytes_out += r.wire_size();
  if (r.hdr.op == protocol::opcode::error) ++ledger_->protocol_errors;
}

void client::send(const request& q) { send(std::vector<request>{q}); }

void client::send(const std::vector<request>& batch, std::string_view trailing) {
  std::string wire;
  for (const auto& q : batch) wire += q.wire();
  const std::size_t counted = wire.size();
  wire += trailing;
  send_raw(wire);
  if (ledger_) {
    ledger_->frames_in += batch.size();
    ledger_->bytes_in += counted;
  }
}

void client::send_raw(std::string_view bytes) {
  const auto deadline = clock_type::now() + io_timeout();
  while (!bytes.empty()) {
    // Read while writing: a server echoing a large frame must never find us
    // deaf, or both sides would wait on full buffers.
    pollfd p{fd_, POLLOUT | POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno != EINTR) throw_errno("poll");
    if (n == 0)
      throw std::runtime_error("timed out sending: the server stopped reading with " +
                               std::to_string(bytes.size()) + " bytes unsent");
    if (p.revents & POLLIN) {
      char buf[65536];
      const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got > 0) raw_.append(buf, static_cast<std::size_t>(got));
    }
    if (p.revents & (POLLOUT | POLLERR | POLLHUP)) {
      const ssize_t put = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (put < 0 && errno != EAGAIN && errno != EINTR)
        throw std::system_error(errno, std::generic_category(),
                                "send (" + std::to_string(bytes.size()) + " bytes unsent)");
      if (put > 0) bytes.remove_prefix(static_cast<std::size_t>(put));
    }
  }
}

void client::send_urgent(char byte) {
  if (::send(fd_, &byte, 1, MSG_OOB | MSG_NOSIGNAL) != 1) throw_errno("send MSG_OOB");
  if (ledger_) ++ledger_->oob_discarded;
}

reply client::read_reply(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    parse_input();
    if (!replies_.empty()) {
      reply r = std::move(replies_.front());
      replies_.pop_front();
      count_reply(r);
      return r;
    }
    switch (fill_once(deadline)) {
      case fill::data: break;
      case fill::eof: throw std::runtime_error("the server closed the connection before replying");
      case fill::reset: throw std::runtime_error("the server reset the connection before replying");
      case fill::timeout:
        throw std::runtime_error("no reply within " + std::to_string(timeout.count()) + " ms");
    }
  }
}

drain_result client::read_until_close(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  drain_result d;
  for (;;) {
    parse_input();
    while (!replies_.empty()) {
      count_reply(replies_.front());
      d.replies.push_back(std::move(replies_.front()));
      replies_.pop_front();
    }
    const fill f = fill_once(deadline);
    if (f == fill::data) continue;
    d.eof = f == fill::eof;
    d.reset = f == fill::reset;
    parse_input();
    while (!replies_.empty()) {
      count_reply(replies_.front());
      d.replies.push_back(std::move(replies_.front()));
      replies_.pop_front();
    }
    d.trailing = raw_mode_ ? raw_ : std::string(parser_.buffered(), '?');
    return d;
  }
}

std::string client::read_raw(std::size_t n, std::chrono::milliseconds timeout) {
  raw_mode_ = true;
  const auto deadline = clock_type::now() + timeout;
  while (raw_.size() < n) {
    switch (fill_once(deadline)) {
      case fill::data: break;
      case fill::eof:
      case fill::reset:
        throw std::runtime_error("the server closed after echoing " + std::to_string(raw_.size()) +
                                 " of " + std::to_string(n) + " bytes");
      case fill::timeout:
        throw std::runtime_error("echoed only " + std::to_string(raw_.size()) + " of " +
                                 std::to_string(n) + " bytes within " +
                                 std::to_string(timeout.count()) + " ms");
    }
  }
  std::string out = raw_.substr(0, n);
  raw_.erase(0, n);
  return out;
}

bool client::silent_for(std::chrono::milliseconds window) {
  if (has_input()) return false;
  pollfd p{fd_, POLLIN, 0};
  const auto deadline = clock_type::now() + window;
  int n;
  do n = ::poll(&p, 1, remaining_ms(deadline));
  while (n < 0 && errno == EINTR);
  return n == 0;
}

bool client::has_input() {
  if (!replies_.empty() || !raw_.empty()) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

nlohmann::json client::stats(std::uint64_t id, traffic_ledger* expected) {
  send(request::stats(id));
  if (expected && ledger_) *expected = *ledger_;
  const reply r = read_reply();
  if (r.hdr.op != protocol::opcode::stats_reply || r.hdr.id != id)
    throw std::runtime_error("STATS answered with " + describe(r));
  return nlohmann::json::parse(r.payload);
}

void client::round_trip(const std::vector<request>& batch, const std::string& what) {
  send(batch);
  for (const auto& q : batch) check_reply(q, read_reply(), what);
}

void client::shutdown_write() {
  if (::shutdown(fd_, SHUT_WR) != 0) throw_errno("shutdown");
}

void client::reset() {
  const linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close_fd();
}

void client::close_gracefully(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return;
  ::shutdown(fd_, SHUT_WR);
  const drain_result d = read_until_close(timeout);
  BOOST_TEST((d.eof || d.reset), "the server did not close a connection within "
                                     << timeout.count() << " ms of our FIN");
  close_fd();
}

std::uint64_t raise_open_file_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) throw_errno("getrlimit");
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) throw_errno("setrlimit");
  return lim.rlim_cur;
}

}  // namespace ioduel::testing
