#pragma once
// Byte buffers whose storage is borrowed from a per-thread pool.
//
// A session holds a pooled block only while it has bytes in hand (a partial
// frame, replies not yet written): an idle connection holds none, which is
// what keeps 10,000 idle connections cheap, and a busy one borrows and returns
// blocks without a system call once the pool is warm.  Blocks come in
// power-of-two size classes from block_pool::min_block up, so a frame near the
// max frame still recycles.  The pool is thread_local: in the shared-context
// model a block may be returned on another thread than the one it came from,
// which only moves it between caches.
//
// The blocks come from a per-thread block_arena (block_arena.hpp): the
// small classes are carved from 2-8 MiB chunks, so a block costs no system
// call to take or give back, and no mapping of its own.
//
// A cache that kept every block ever returned would hold the highest number
// of blocks a thread has ever had lent out at once: under a steady random load
// that peak keeps creeping up, and so does the server's RSS, long after the
// load that set it is gone.  So the cache decays: once a period, each size
// class gives back as many blocks as lay unused in it for the whole period
// (its low-water mark), the way Netty's thread caches and jemalloc's decay
// do; a carved block's pages go back with madvise(MADV_DONTNEED), a chunk
// that stays wholly free through a period is unmapped.  What stays resident
// is what the last period needed.  And when a connection goes, the cache is
// cut to the bytes this thread still has lent out (or a small floor):
// clients that left take their share with them, so a server whose load has
// ended holds no more than the floor, whatever the load was.
//
// The pages must really go back, which is why blocks are not malloc chunks:
// glibc raises its mmap threshold each time it frees a mapped chunk, so 16
// KiB to 1 MiB blocks end up in the brk heap, where freed blocks between
// live small objects never shrink the RSS, which then ratchets up with every
// new mix of addresses (measured: +10-20% over a 60 s soak).
//
// Out of address space (RLIMIT_AS), a failed mapping first gives back the
// thread's free blocks and chunks; a few 16 KiB blocks kept process-wide
// then serve small replies and ERRORs, and larger blocks stop short of the
// limit so that malloc keeps some room (block_arena.cpp).

#include <chrono>
#include <cstddef>
#include <span>
#include <utility>

#include "proactor/block_arena.hpp"

namespace ioduel::proactor {

namespace block_pool {

inline constexpr std::size_t min_block = block_arena::min_block;
// How long a cached block may lie unused before its pages are given back.
inline constexpr std::chrono::milliseconds decay_period{1000};
// What give_back_surplus() always lets a thread keep: enough for a few
// connections' blocks, so one client's request-reply cycle reuses them.
inline constexpr std::size_t retained_floor = 256 * 1024;

// A block of at least `n` bytes; its real size goes to `capacity`.
char* acquire(std::size_t n, std::size_t& capacity);
// Gives back a block acquire() handed out, with the capacity it reported.
void release(char* block, std::size_t capacity) noexcept;
// Cut this thread's cache to max(retained_floor, bytes it has lent out).
// Called when a connection is destroyed.
void give_back_surplus() noexcept;
// Free bytes this thread keeps resident (for tests).
std::size_t cached_bytes() noexcept;
// Changes this thread's decay period (tests make it long, so that only
// their own end_decay_period() calls end one).
void set_decay_period(std::chrono::milliseconds period) noexcept;
// Ends a decay period now: frees the blocks of this thread's cache that lay
// unused since the previous period ended.  acquire() and release() call it
// once decay_period has passed; tests call it directly.
void end_decay_period() noexcept;
// Ends this thread's decay period if it is due, as acquire() and release()
// do; a thread that runs handlers calls it once a period even when none
// comes to it (context_runner.hpp), so an idle thread's cache, and the
// blocks other threads returned to it, still decay.  Nothing if the thread
// never had a pool.
void decay_tick() noexcept;
// Gives back everything this thread holds and has not lent out (tests start
// each case from it).
void trim() noexcept;
// What this thread's arena holds (for tests and measurements).
block_arena::stats statistics() noexcept;

}  // namespace block_pool

// A contiguous byte queue: bytes are appended at the back (prepare/commit,
// which makes it a protocol::output_buffer) and consumed from the front.
class io_buffer {
 public:
  io_buffer() = default;
  io_buffer(const io_buffer&) = delete;
  io_buffer& operator=(const io_buffer&) = delete;
  ~io_buffer() { release(); }

  bool empty() const noexcept { return begin_ == end_; }
  std::size_t size() const noexcept { return end_ - begin_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool has_storage() const noexcept { return data_ != nullptr; }

  std::span<char> readable() noexcept { return {data_ + begin_, size()}; }
  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // At least n writable bytes at the back (moves or regrows the storage).
  char* prepare(std::size_t n) {
    if (capacity_ - end_ < n) make_room(n);
    return data_ + end_;
  }
  void commit(std::size_t n) noexcept { end_ += n; }
  // Every writable byte at the back, after prepare(n) made at least n.
  std::span<char> writable() noexcept { return {data_ + end_, capacity_ - end_}; }

  void clear() noexcept { begin_ = end_ = 0; }
  // Returns the storage to the pool; the buffer must be empty or its bytes are lost.
  void release() noexcept;
  void swap(io_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
    std::swap(begin_, o.begin_);
    std::swap(end_, o.end_);
  }

 private:
  void make_room(std::size_t n);

  char* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace ioduel::proactor
