#pragma once
// output_queue: a connection's output the socket has not taken yet, in
// order: bytes copied into a buffer (headers, small replies), with runs
// between them that are not copied:
//   - SOURCE payloads, as cursors into the shared pattern
//     (reply_batch::pattern_run), however long the socket refuses them;
//   - ECHO and raw-echo bytes kept where they were read, in blocks the queue
//     holds: a read block lent by the loop (read_blocks.hpp) or the storage
//     of the connection's input buffer, taken whole once its input is
//     answered.  A block goes back when its last run is sent.
// Sent with one writev of the pieces in turn.  Up to max_runs runs and
// max_blocks blocks are kept; past that bytes are copied (a client
// pipelining more than that many replies it does not read).  The run and
// block lists are allocated when first needed, and given back once empty
// (release_if_empty), so an idle connection's queue holds no storage.
//
//   bytes_:  [hdr][hdr]      [ERROR]
//   runs:         ^pattern ^held (block 0)   ^held (block 1)
//   order:   hdr pattern hdr held ERROR held

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "reactor/buffer.hpp"
#include "reactor/read_blocks.hpp"
#include "reactor/reply_batch.hpp"

namespace ioduel::reactor {

class output_queue {
 public:
  // 128 runs of 64 KiB cover the default --high-water (4 MiB) twice, 64
  // blocks once; one queue holds at most a quarter of the blocks a loop may
  // lend, so one connection that never reads cannot take them all.
  static constexpr std::size_t max_runs = 128;
  static constexpr std::size_t max_blocks = read_blocks::max_lent / 4;

  explicit output_queue(read_blocks& blocks) noexcept : read_blocks_(blocks) {}
  ~output_queue() { clear(); }
  output_queue(const output_queue&) = delete;
  output_queue& operator=(const output_queue&) = delete;

  bool empty() const noexcept { return bytes_.empty() && runs() == 0; }
  std::size_t size() const noexcept { return bytes_.readable() + run_bytes_; }
  std::size_t capacity() const noexcept { return bytes_.capacity(); }
  std::size_t blocks_held() const noexcept;

  void append(std::span<const char> bytes) { bytes_.append(bytes); }
  void append_pattern(const reply_batch::pattern_run& run);
  // The protocol::output_buffer interface (whole frames appended as bytes).
  char* prepare(std::size_t n) { return bytes_.prepare(n); }
  void commit(std::size_t n) noexcept { bytes_.commit(n); }

  // Queues `bytes` where they lie if they are within a block the queue
  // holds and the runs are not all used; false (nothing queued) otherwise.
  // Throws std::bad_alloc (the run list grows).
  bool append_held(std::span<const char> bytes);
  // Whether another block may be taken (max_blocks, max_runs).
  bool can_take_block() const noexcept;
  // Room for one more block and its first run, made before the block is
  // handed over so that taking it cannot fail.  Throws std::bad_alloc.
  void make_room_for_block();
  // Takes storage to keep runs in: a block lent by the loop (`lent`: given
  // back to it when done) or a connection's input buffer storage (handed to
  // on_freed in consume()).  Requires can_take_block() and
  // make_room_for_block() since the last block was taken.
  void take_block(std::unique_ptr<char[]> data, std::size_t size, bool lent) noexcept;

  // Sends up to `limit` bytes from the front with one writev; returns the
  // bytes sent, or -1 with errno set; `offered` gets the bytes offered.
  long send(int fd, std::size_t limit, std::size_t& offered) const;

  // Drops the first n bytes; for each piece, on_bytes(const char*, len) for
  // bytes (copied or held) and on_pattern(len) for pattern bytes, in order
  // (the session counts the replies that went); on_freed(storage, size) for
  // an input buffer's storage no run needs any more.
  template <class OnBytes, class OnPattern, class OnFreed>
  void consume(std::size_t n, OnBytes&& on_bytes, OnPattern&& on_pattern, OnFreed&& on_freed);

  // Drops everything; blocks go back to the loop (input storage is freed).
  void clear() noexcept;
  void release_if_empty(std::size_t keep = 0) noexcept;

 private:
  struct run_at {
    std::size_t at;  // the run comes before this byte of bytes_'s readable bytes
    reply_batch::pattern_run run;  // its length; the pattern cursor if held is null
    const char* held = nullptr;    // else: its next byte, in blocks_[block]
    std::uint32_t block = 0;
  };
  struct held_block {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::uint32_t runs = 0;  // runs still in it
    bool lent = false;       // a read block (back to the loop) or input storage
  };
  std::size_t runs() const noexcept { return run_.size() - head_; }
  run_at& front() noexcept { return run_[head_]; }
  int block_of(std::span<const char> bytes) const noexcept;
  void pop_run() noexcept;
  // The run at the front is done: drops it and, if it was the last run in
  // its block, the block.
  template <class OnFreed>
  void finish_front_run(OnFreed&& on_freed);

  read_blocks& read_blocks_;
  buffer bytes_;
  std::vector<run_at> run_;  // in order from head_ (runs before it are sent)
  std::size_t head_ = 0;
  std::vector<held_block> blocks_;  // a slot is free when its data is null
  std::size_t run_bytes_ = 0;
};

template <class OnFreed>
void output_queue::finish_front_run(OnFreed&& on_freed) {
  const run_at r = front();
  pop_run();
  if (!r.held) return;
  held_block& b = blocks_[r.block];
  if (--b.runs > 0) return;
  if (b.lent) {
    read_blocks_.give_back(std::move(b.data));
  } else {
    on_freed(std::move(b.data), b.size);
  }
  b = held_block{};
}

template <class OnBytes, class OnPattern, class OnFreed>
void output_queue::consume(std::size_t n, OnBytes&& on_bytes, OnPattern&& on_pattern, OnFreed&& on_freed) {
  while (n > 0) {
    if (runs() > 0 && front().at == 0) {
      run_at& r = front();
      const std::size_t take = n < r.run.len ? n : r.run.len;
      if (r.held) {
        on_bytes(r.held, take);
        r.held += take;
        r.run.len -= take;
      } else {
        on_pattern(take);
        r.run = reply_batch::advance(r.run, take);
      }
      run_bytes_ -= take;
      n -= take;
      if (r.run.empty()) finish_front_run(on_freed);
      continue;
    }
    const std::size_t segment = runs() > 0 ? front().at : bytes_.readable();
    const std::size_t take = n < segment ? n : segment;
    on_bytes(bytes_.peek(), take);
    bytes_.consume(take);
    for (std::size_t i = head_; i < run_.size(); ++i) run_[i].at -= take;
    n -= take;
  }
}

}  // namespace ioduel::reactor
