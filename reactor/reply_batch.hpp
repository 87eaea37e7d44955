#pragma once
// reply_batch: the replies one pass over a connection's input produced, as
// a gather list for one writev, each part sent from where its bytes already
// are:
//   - ECHO replies and raw-echo bytes: the input itself, where it was read
//     (the stack buffer behind readv, or the connection's input buffer);
//   - SOURCE payloads: one shared, read-only pattern buffer;
//   - headers and small replies (SINK, SLEEP, STATS, ERROR): the loop's
//     scratch buffer, referred to by offset because it may grow meanwhile.
// The parts borrow memory the batch does not own, so the batch is sent (or
// what the socket would not take is copied to the connection's output
// buffer, once) before that memory changes: before the next read, before
// the input buffer is consumed or compacted.  There is one batch per loop
// (connections are served one at a time).

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocol/frame.hpp"
#include "reactor/buffer.hpp"

namespace ioduel::reactor {

class reply_batch {
 public:
  // Parts a batch holds before it must be sent; at most IOV_MAX (1024).
  static constexpr std::size_t max_parts = 256;
  // The largest piece of SOURCE payload one part carries.
  static constexpr std::size_t pattern_chunk = 64 * 1024;

  bool empty() const noexcept { return parts_ == 0; }
  std::size_t bytes() const noexcept { return bytes_; }
  // No room for a reply of `parts_needed` parts, keeping one spare for an
  // ERROR reply (which is added without asking).
  bool full(std::size_t parts_needed = 1) const noexcept { return parts_ + parts_needed + 1 > max_parts; }

  // Bytes that stay where they are until the batch is sent; `ends_reply`
  // marks the last part of a reply (frames_out counts those when sent).
  void add_borrowed(std::span<const char> bytes, bool ends_reply);
  // A whole frame built in the scratch buffer.
  void add_frame(protocol::opcode op, std::uint64_t id, std::string_view payload);
  // SOURCE's reply: its header in scratch, its payload from the pattern.
  void add_source(std::uint64_t id, std::uint32_t n);
  // Parts a SOURCE of n bytes takes: its header and a part per chunk of
  // pattern, or, for one too long for half a batch, a single part built in
  // scratch (a copy, for replies over 8 MiB only).
  static std::size_t source_parts(std::uint32_t n) noexcept {
    const std::size_t parts = 1 + (std::size_t{n} + pattern_chunk - 1) / pattern_chunk;
    return parts <= max_parts / 2 ? parts : 1;
  }

  // Sends at most `limit` bytes with one writev (send for a single part).
  // Returns the bytes sent, or -1 with errno set.
  long send(int fd, std::size_t limit);
  // Replies whose last part lies within the first `sent` bytes.
  std::uint64_t replies_within(std::size_t sent) const noexcept;
  // Bytes of the reply cut at `sent` still to go (0 if `sent` ends a reply).
  std::size_t cut_reply_left(std::size_t sent) const noexcept;
  // Appends everything after the first `sent` bytes to `out`: the one copy a
  // reply the socket would not take costs.
  void spill(std::size_t sent, buffer& out);
  // Forgets the parts (and empties the scratch buffer).
  void clear() noexcept;

  explicit reply_batch(buffer& scratch) noexcept : scratch_(scratch) {}

 private:
  struct part {
    const char* base;  // nullptr: `offset` is in the scratch buffer
    std::size_t offset;
    std::size_t len;
    bool ends_reply;
  };
  const char* where(const part& p) const noexcept {
    return p.base ? p.base + p.offset : scratch_.peek() + p.offset;
  }
  void add(const char* base, std::size_t offset, std::size_t len, bool ends_reply) noexcept;

  buffer& scratch_;
  std::array<part, max_parts> part_{};
  std::size_t parts_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace ioduel::reactor
