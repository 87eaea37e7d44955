#pragma once
// reply_batch: the replies one pass over a connection's input produced, as
// a gather list for one writev, each part sent from where its bytes already
// are:
//   - ECHO replies and raw-echo bytes: the input itself, where it was read
//     (the loop's read block behind readv, or the connection's input buffer);
//   - SOURCE payloads: one shared, read-only pattern buffer, one part per
//     reply however long (sent as 64 KiB pieces of the pattern);
//   - headers and small replies (SINK, SLEEP, STATS, ERROR): the loop's
//     scratch buffer, referred to by offset because it may grow meanwhile.
// The parts borrow memory the batch does not own, so the batch is sent (or
// what the socket would not take is queued in the connection's output
// queue: where it lies if the queue takes the block it is in, else copied,
// once) before that memory changes: before the next read, before the input
// buffer is consumed or compacted.  There is one batch per loop
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

class output_queue;

class reply_batch {
 public:
  // Parts a batch holds before it must be sent; at most IOV_MAX (1024).
  static constexpr std::size_t max_parts = 256;
  // The largest piece of the pattern one iovec carries (a multiple of 256,
  // so every piece of a reply starts at the same offset in the pattern).
  static constexpr std::size_t pattern_chunk = 64 * 1024;
  // The gather list of one writev.
  static constexpr std::size_t max_iov = 1024;

  // The rest of a SOURCE reply's payload, as a cursor into the shared
  // pattern: no byte of it is copied while the socket refuses it.
  struct pattern_run {
    std::size_t offset = 0;  // where in the pattern the next byte is (below 256)
    std::size_t len = 0;     // bytes still to go
    bool empty() const noexcept { return len == 0; }
  };
  // Adds up to `limit` bytes of `run` to a gather list as pattern pieces,
  // while `count` is below `room`; returns the bytes added.
  static std::size_t add_pattern_iov(const pattern_run& run, std::size_t limit, iovec* iov,
                                     std::size_t& count, std::size_t room) noexcept;
  // `run` advanced past `sent` bytes.
  static pattern_run advance(pattern_run run, std::size_t sent) noexcept;
  // Appends the bytes of `run` to `out` (a copy: only when something must
  // be queued behind it).
  static void append_pattern(const pattern_run& run, buffer& out);

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
  // SOURCE's reply: its header in scratch, its payload one part of the
  // pattern (however long: no reply is copied).
  void add_source(std::uint64_t id, std::uint32_t n);
  // Parts a SOURCE of n bytes takes: its header and, unless empty, its payload.
  static std::size_t source_parts(std::uint32_t n) noexcept { return n == 0 ? 1 : 2; }

  // Sends at most `limit` bytes with one writev (send for a single part; at
  // most max_iov pieces).  Returns the bytes sent, or -1 with errno set;
  // `offered`, when given, gets the bytes offered (a short count from a
  // socket that took all of them is not a full socket).
  long send(int fd, std::size_t limit, std::size_t* offered = nullptr);
  // Replies whose last part lies within the first `sent` bytes.
  std::uint64_t replies_within(std::size_t sent) const noexcept;
  // Bytes of the reply cut at `sent` still to go (0 if `sent` ends a reply).
  std::size_t cut_reply_left(std::size_t sent) const noexcept;
  // Appends everything after the first `sent` bytes to `out`: the one copy a
  // reply the socket would not take costs.
  void spill(std::size_t sent, buffer& out);
  // The same into a connection's output queue, where SOURCE payloads stay
  // cursors into the pattern: only the other bytes are copied.
  void spill(std::size_t sent, output_queue& out);

  // What the first `sent` bytes left of one part: a piece of the pattern, or
  // bytes (borrowed, or in the scratch buffer).
  struct unsent_piece {
    bool pattern;
    pattern_run run;               // if pattern
    std::span<const char> bytes;   // otherwise
    bool borrowed;                 // bytes lie where they were read, not in scratch
  };
  // Calls f(unsent_piece) for each part the first `sent` bytes did not
  // wholly cover, in order.
  template <class F>
  void for_each_unsent(std::size_t sent, F&& f) const {
    each_unsent(sent, [&](const part& p, std::size_t skip) {
      if (is_pattern(p)) {
        f(unsent_piece{true, advance({p.offset, p.len}, skip), {}, false});
      } else {
        f(unsent_piece{false, {}, {where(p) + skip, p.len - skip}, p.base != nullptr});
      }
    });
  }
  // Forgets the parts (and empties the scratch buffer).
  void clear() noexcept;

  explicit reply_batch(buffer& scratch) noexcept : scratch_(scratch) {}

 private:
  struct part {
    const char* base;  // nullptr: `offset` is in the scratch buffer; pattern_base(): the pattern
    std::size_t offset;
    std::size_t len;
    bool ends_reply;
  };
  static const char* pattern_base() noexcept;
  bool is_pattern(const part& p) const noexcept { return p.base == pattern_base(); }
  const char* where(const part& p) const noexcept {  // not for pattern parts
    return p.base ? p.base + p.offset : scratch_.peek() + p.offset;
  }
  void append_part(const part& p, std::size_t skip, buffer& out) const;
  // Calls f(part, skip) for each part the first `sent` bytes did not wholly
  // cover, skip being how much of it was sent (non-zero for the first only).
  template <class F>
  void each_unsent(std::size_t sent, F&& f) const {
    for (std::size_t i = 0; i < parts_; ++i) {
      const part& p = part_[i];
      if (sent >= p.len) {
        sent -= p.len;
        continue;
      }
      f(p, sent);
      sent = 0;
    }
  }
  void add(const char* base, std::size_t offset, std::size_t len, bool ends_reply) noexcept;

  buffer& scratch_;
  std::array<part, max_parts> part_{};
  std::size_t parts_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace ioduel::reactor
