// The worker's I/O: requests written with sendmsg straight from the
// pattern buffer, replies read, verified and timed (harness/load/engine_worker.hpp).
#include "harness/load/engine_worker.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace ioduel::harness::engine_detail {

void worker::flush(std::uint32_t i) {
  connection& c = conns_[i];
  if (c.state != conn_state::open || !c.writable) return;
  iovec iov[max_iov * 2];
  while (c.queue.unwritten() > 0) {
    std::size_t n = 0;
    std::uint32_t skip = c.write_offset;
    const std::int64_t now = now_ns();
    for (std::uint64_t s = c.queue.written(); s != c.queue.tail() && n + 2 <= max_iov * 2; ++s) {
      pending& p = c.queue.at(s);
      if (skip < p.head_len) {
        iov[n++] = {p.head + skip, static_cast<std::size_t>(p.head_len - skip)};
        skip = 0;
      } else {
        skip -= p.head_len;
      }
      if (p.payload > skip) {
        iov[n++] = {const_cast<char*>(pattern_.for_id(p.id)) + skip,
                    static_cast<std::size_t>(p.payload - skip)};
      }
      skip = 0;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    // sendmsg rather than writev: MSG_NOSIGNAL spares every caller SIGPIPE.
    const ssize_t w = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c.writable = false;
        return;
      }
      fail(i, &error_counts::resets);
      return;
    }
    count_sent(static_cast<std::uint64_t>(w), now);
    stamp_sent(c, static_cast<std::uint64_t>(w), now);
    // Move past what went out.
    std::uint64_t left = static_cast<std::uint64_t>(w) + c.write_offset;
    while (c.queue.unwritten() > 0) {
      pending& p = c.queue.at(c.queue.written());
      const std::uint64_t whole = p.head_len + p.payload;
      if (left < whole) break;
      left -= whole;
      c.queue.advance_written();
      ++result_.total_sent;
    }
    c.write_offset = static_cast<std::uint32_t>(left);
  }
}

void worker::stamp_sent(connection& c, std::uint64_t n, std::int64_t now) noexcept {
  std::uint64_t start = 0;  // of request s, counted from the write's first byte
  const std::uint64_t end = n + c.write_offset;
  for (std::uint64_t s = c.queue.written(); s != c.queue.tail() && start < end; ++s) {
    pending& p = c.queue.at(s);
    if (p.sent_ns == 0) {
      p.sent_ns = now;
      if (in_window(p.intended_ns)) result_.send_lag.record(std::max<std::int64_t>(1, now - p.intended_ns));
    }
    start += p.head_len + p.payload;
  }
}

void worker::count_sent(std::uint64_t n, std::int64_t now) noexcept {
  result_.total_bytes_sent += n;
  if (in_window(now)) result_.window_bytes_sent += n;
}

void worker::read_ready(std::uint32_t i, bool hangup) {
  connection& c = conns_[i];
  const std::uint32_t gen = c.generation;
  for (;;) {
    const ssize_t r = ::read(c.fd.get(), read_buf_.data(), read_buf_.size());
    if (r > 0) {
      const std::int64_t now = now_ns();
      result_.total_bytes_received += static_cast<std::uint64_t>(r);
      if (in_window(now)) result_.window_bytes_received += static_cast<std::uint64_t>(r);
      consume(i, read_buf_.data(), static_cast<std::size_t>(r), now);
      if (c.generation != gen || c.state != conn_state::open) return;  // failed or churned
      // A short read drained the socket; more data raises a new edge.
      if (!hangup && static_cast<std::size_t>(r) < read_buf_.size()) break;
      continue;
    }
    if (r == 0) {
      fail(i, &error_counts::unexpected_closes);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    fail(i, &error_counts::resets);
    return;
  }
  flush(i);
}

void worker::consume(std::uint32_t i, const char* data, std::size_t n, std::int64_t now) {
  connection& c = conns_[i];
  const std::uint32_t gen = c.generation;
  while (n > 0) {
    if (c.head_have < proto::header_size) {
      const std::size_t take = std::min<std::size_t>(proto::header_size - c.head_have, n);
      std::memcpy(c.reply_head + c.head_have, data, take);
      c.head_have = static_cast<std::uint8_t>(c.head_have + take);
      data += take;
      n -= take;
      if (c.head_have < proto::header_size) return;
      if (!check_header(i)) return;
    }
    if (c.payload_left > 0) {
      const std::size_t take = std::min<std::size_t>(c.payload_left, n);
      const pending& p = c.queue.front();
      if (p.op == proto::opcode::echo || p.op == proto::opcode::source) {
        if (std::memcmp(data, pattern_.for_id(p.id) + c.payload_done, take) != 0) {
          fail(i, &error_counts::mismatches);
          return;
        }
      }
      c.payload_left -= static_cast<std::uint32_t>(take);
      c.payload_done += static_cast<std::uint32_t>(take);
      data += take;
      n -= take;
      if (c.payload_left > 0) return;
    }
    complete(i, now);
    if (c.generation != gen || c.state != conn_state::open) return;
  }
}

bool worker::check_header(std::uint32_t i) {
  connection& c = conns_[i];
  const char* h = c.reply_head;
  if (static_cast<std::uint8_t>(h[0]) != proto::magic_0 ||
      static_cast<std::uint8_t>(h[1]) != proto::magic_1 ||
      static_cast<std::uint8_t>(h[2]) != proto::protocol_version || c.queue.awaiting() == 0) {
    fail(i, &error_counts::mismatches);
    return false;
  }
  const proto::header hdr = proto::decode_header(h);
  const pending& p = c.queue.front();
  if (hdr.op == proto::opcode::error) {
    fail(i, &error_counts::error_replies);
    return false;
  }
  if (hdr.op != proto::reply_opcode(p.op) || hdr.id != p.id || hdr.length != p.expect) {
    fail(i, &error_counts::mismatches);
    return false;
  }
  c.payload_left = hdr.length;
  c.payload_done = 0;
  return true;
}

void worker::complete(std::uint32_t i, std::int64_t now) {
  connection& c = conns_[i];
  const pending& p = c.queue.front();
  ++result_.total_completed;
  // A request belongs to the window it was meant to be sent in, however
  // late its reply: the slowest replies of an overloaded server come after
  // the window, and the drain waits for them.
  if (in_window(p.intended_ns)) {
    ++result_.completed;
    ++result_.group_completed[c.group];
    result_.latency[c.group].record(std::max<std::int64_t>(1, now - p.intended_ns));
    record_interval(p.intended_ns, std::max<std::int64_t>(1, now - p.intended_ns));
    if (const std::int64_t e = expected_interval_ns_[c.group]; e > 0)
      result_.co_corrected[c.group].record_with_expected_interval(std::max<std::int64_t>(1, now - p.intended_ns), e);
    result_.uncorrected[c.group].record(std::max<std::int64_t>(1, now - p.sent_ns));
  }
  c.queue.pop();
  c.head_have = 0;
  c.payload_done = 0;
  after_reply(i, now);
}

void worker::record_interval(std::int64_t intended, std::int64_t latency) {
  // The last interval takes the rounding's few nanoseconds at the end.
  const auto k = static_cast<std::size_t>(std::min((intended - window_start_) / interval_ns_, intervals_ - 1));
  auto& v = result_.intervals;
  if (k >= v.size()) v.resize(k + 1);
  if (!v[k]) v[k] = std::make_unique<histogram>(histogram::nanoseconds());
  v[k]->record(latency);
}

}  // namespace ioduel::harness::engine_detail
