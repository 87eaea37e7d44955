#include "reactor/reply_batch.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace ioduel::reactor {

namespace {

// The SOURCE pattern, shared by every connection and loop: byte k is k mod
// 256, so a reply for `id` is read from offset id mod 256 on (the chunk is a
// multiple of 256, so every chunk of a reply starts at that offset too).
struct source_pattern {
  std::array<char, reply_batch::pattern_chunk + 256> bytes;
  source_pattern() noexcept {
    for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<char>(k & 0xFF);
  }
};
const source_pattern pattern;

}  // namespace

void reply_batch::add(const char* base, std::size_t offset, std::size_t len, bool ends_reply) noexcept {
  // Consecutive borrowed bytes (ECHO frames read together) share one part
  // when the first does not end a reply that must be counted apart; scratch
  // parts merge likewise.  Keeps the gather list short.
  if (parts_ > 0) {
    part& last = part_[parts_ - 1];
    if (!last.ends_reply && last.base == base && last.offset + last.len == offset) {
      last.len += len;
      last.ends_reply = ends_reply;
      bytes_ += len;
      return;
    }
  }
  part_[parts_++] = part{base, offset, len, ends_reply};
  bytes_ += len;
}

void reply_batch::add_borrowed(std::span<const char> bytes, bool ends_reply) {
  if (!bytes.empty()) add(bytes.data(), 0, bytes.size(), ends_reply);
}

void reply_batch::add_frame(protocol::opcode op, std::uint64_t id, std::string_view payload) {
  const std::size_t at = scratch_.readable();
  char* p = scratch_.prepare(protocol::header_size + payload.size());
  protocol::encode_header(p, protocol::header{op, static_cast<std::uint32_t>(payload.size()), id});
  if (!payload.empty()) std::memcpy(p + protocol::header_size, payload.data(), payload.size());
  scratch_.commit(protocol::header_size + payload.size());
  add(nullptr, at, protocol::header_size + payload.size(), true);
}

void reply_batch::add_source(std::uint64_t id, std::uint32_t n) {
  const std::size_t at = scratch_.readable();
  if (source_parts(n) == 1 && n > 0) {
    char* p = scratch_.prepare(protocol::header_size + n);
    protocol::encode_header(p, protocol::header{protocol::opcode::source_reply, n, id});
    protocol::fill_source_pattern({p + protocol::header_size, n}, id);
    scratch_.commit(protocol::header_size + n);
    add(nullptr, at, protocol::header_size + n, true);
    return;
  }
  char* p = scratch_.prepare(protocol::header_size);
  protocol::encode_header(p, protocol::header{protocol::opcode::source_reply, n, id});
  scratch_.commit(protocol::header_size);
  add(nullptr, at, protocol::header_size, n == 0);
  const char* from = pattern.bytes.data() + (id & 0xFF);
  for (std::size_t done = 0; done < n;) {
    const std::size_t len = std::min<std::size_t>(pattern_chunk, n - done);
    done += len;
    part_[parts_++] = part{from, 0, len, done == n};
    bytes_ += len;
  }
}

long reply_batch::send(int fd, std::size_t limit) {
  if (parts_ == 1 || (part_[0].len >= limit)) {
    const part& p = part_[0];
    return ::send(fd, where(p), std::min(p.len, limit), MSG_NOSIGNAL);
  }
  std::array<iovec, max_parts> iov;
  std::size_t count = 0, total = 0;
  for (; count < parts_ && total < limit; ++count) {
    const part& p = part_[count];
    const std::size_t len = std::min(p.len, limit - total);
    iov[count] = iovec{const_cast<char*>(where(p)), len};
    total += len;
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}

std::uint64_t reply_batch::replies_within(std::size_t sent) const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < parts_ && sent >= part_[i].len; ++i) {
    sent -= part_[i].len;
    if (part_[i].ends_reply) ++n;
  }
  return n;
}

std::size_t reply_batch::cut_reply_left(std::size_t sent) const noexcept {
  std::size_t i = 0;
  for (; i < parts_ && sent >= part_[i].len; ++i) sent -= part_[i].len;
  if (i == parts_) return 0;
  // At a part boundary a reply is cut only if the part before did not end one.
  if (sent == 0 && (i == 0 || part_[i - 1].ends_reply)) return 0;
  std::size_t left = 0;
  for (std::size_t k = i; k < parts_; ++k) {
    left += part_[k].len - (k == i ? sent : 0);
    if (part_[k].ends_reply) break;
  }
  return left;
}

void reply_batch::spill(std::size_t sent, buffer& out) {
  for (std::size_t i = 0; i < parts_; ++i) {
    const part& p = part_[i];
    if (sent >= p.len) {
      sent -= p.len;
      continue;
    }
    out.append({where(p) + sent, p.len - sent});
    sent = 0;
  }
}

void reply_batch::clear() noexcept {
  parts_ = 0;
  bytes_ = 0;
  scratch_.clear();
}

}  // namespace ioduel::reactor
