#include "reactor/reply_batch.hpp"

#include "reactor/output_queue.hpp"

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

const char* reply_batch::pattern_base() noexcept { return pattern.bytes.data(); }

void reply_batch::add_source(std::uint64_t id, std::uint32_t n) {
  const std::size_t at = scratch_.readable();
  char* p = scratch_.prepare(protocol::header_size);
  protocol::encode_header(p, protocol::header{protocol::opcode::source_reply, n, id});
  scratch_.commit(protocol::header_size);
  add(nullptr, at, protocol::header_size, n == 0);
  if (n == 0) return;
  // Not merged with anything: add() merges only parts with the same base
  // that follow one another, and a header part never ends at the pattern.
  part_[parts_++] = part{pattern_base(), static_cast<std::size_t>(id & 0xFF), n, true};
  bytes_ += n;
}

std::size_t reply_batch::add_pattern_iov(const pattern_run& run, std::size_t limit, iovec* iov,
                                         std::size_t& count, std::size_t room) noexcept {
  const std::size_t len = std::min(run.len, limit);
  std::size_t added = 0;
  while (added < len && count < room) {
    const std::size_t piece = std::min(pattern_chunk, len - added);
    iov[count++] = iovec{const_cast<char*>(pattern.bytes.data() + run.offset), piece};
    added += piece;
  }
  return added;
}

namespace {

long send_iov(int fd, iovec* iov, std::size_t count) noexcept {
  if (count == 1) return ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}

}  // namespace

long reply_batch::send(int fd, std::size_t limit, std::size_t* offered) {
  const part& first = part_[0];
  if ((parts_ == 1 || first.len >= limit) && !is_pattern(first)) {
    const std::size_t len = std::min(first.len, limit);
    if (offered) *offered = len;
    return ::send(fd, where(first), len, MSG_NOSIGNAL);
  }
  std::array<iovec, max_iov> iov;
  std::size_t count = 0, total = 0;
  for (std::size_t i = 0; i < parts_ && total < limit && count < max_iov; ++i) {
    const part& p = part_[i];
    const std::size_t len = std::min(p.len, limit - total);
    if (is_pattern(p)) {
      total += add_pattern_iov({p.offset, len}, len, iov.data(), count, max_iov);
    } else {
      iov[count++] = iovec{const_cast<char*>(where(p)), len};
      total += len;
    }
  }
  if (offered) *offered = total;
  return send_iov(fd, iov.data(), count);
}

reply_batch::pattern_run reply_batch::advance(pattern_run run, std::size_t sent) noexcept {
  // Byte k of a reply for `id` is (id + k) mod 256, so moving on moves the
  // offset with it.
  return {(run.offset + sent) & 0xFF, run.len - sent};
}

void reply_batch::append_pattern(const pattern_run& run, buffer& out) {
  for (std::size_t done = 0; done < run.len;) {
    const std::size_t piece = std::min(pattern_chunk, run.len - done);
    out.append({pattern.bytes.data() + run.offset, piece});
    done += piece;
  }
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

void reply_batch::append_part(const part& p, std::size_t skip, buffer& out) const {
  if (is_pattern(p)) {
    append_pattern(advance({p.offset, p.len}, skip), out);
  } else {
    out.append({where(p) + skip, p.len - skip});
  }
}

void reply_batch::spill(std::size_t sent, buffer& out) {
  each_unsent(sent, [&](const part& p, std::size_t skip) { append_part(p, skip, out); });
}

void reply_batch::spill(std::size_t sent, output_queue& out) {
  each_unsent(sent, [&](const part& p, std::size_t skip) {
    if (is_pattern(p)) {
      out.append_pattern(advance({p.offset, p.len}, skip));
    } else {
      out.append({where(p) + skip, p.len - skip});
    }
  });
}

void reply_batch::clear() noexcept {
  parts_ = 0;
  bytes_ = 0;
  scratch_.clear();
}

}  // namespace ioduel::reactor
