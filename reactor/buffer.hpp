#pragma once
// buffer: a byte queue whose readable bytes are always contiguous, so frames
// can be parsed in place and written with one call.  Modelled on muduo's
// Buffer, without its prepend area (replies are built whole, never prefixed):
//
//   +-------------------+------------------+------------------+
//   |  consumed bytes   |  readable bytes  |  writable bytes  |
//   |  (reclaimable)    |    (content)     |                  |
//   +-------------------+------------------+------------------+
//   0       <=       read_       <=      write_      <=    capacity_
//
// Storage is allocated on first use, so an idle connection owns none.  When
// more room is needed the readable bytes move to the front if that makes
// enough (compaction); otherwise the storage grows geometrically.  Once grown
// a buffer keeps its storage, so steady traffic allocates nothing; release()
// gives it back when a burst is over.

#include <cstddef>
#include <memory>
#include <span>

namespace ioduel::reactor {

class buffer {
 public:
  static constexpr std::size_t min_capacity = 1024;

  buffer() noexcept = default;
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  buffer(buffer&&) noexcept = default;
  buffer& operator=(buffer&&) noexcept = default;

  std::size_t readable() const noexcept { return write_ - read_; }
  std::size_t writable() const noexcept { return capacity_ - write_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return write_ == read_; }

  const char* peek() const noexcept { return data_.get() + read_; }
  std::span<const char> view() const noexcept { return {peek(), readable()}; }

  // Drops n readable bytes from the front.  Emptying the buffer rewinds it,
  // so the common "everything was handled" case never needs a compaction.
  void consume(std::size_t n) noexcept;
  void clear() noexcept { read_ = write_ = 0; }

  // At least n writable bytes, compacting or growing as needed (the
  // protocol::output_buffer interface); commit(k) makes k of them readable.
  char* prepare(std::size_t n);
  void commit(std::size_t n) noexcept { write_ += n; }
  char* write_ptr() noexcept { return data_.get() + write_; }

  void append(std::span<const char> bytes);

  // Room for `total` readable bytes in all, compacting or growing to exactly
  // `total` (no doubling): for a frame whose size is known.  Throws
  // std::bad_alloc, leaving the buffer as it was.
  void reserve(std::size_t total);

  // Frees the storage if the buffer is empty and holds more than keep bytes.
  void release_if_empty(std::size_t keep = 0) noexcept;

  // Whether p lies in the storage; the end of the readable bytes.
  bool owns(const char* p) const noexcept { return data_ && p >= data_.get() && p < data_.get() + capacity_; }
  const char* end() const noexcept { return data_.get() + write_; }
  // Hands the storage over (to an output queue that keeps bytes where they
  // lie), leaving the buffer empty and without storage.  `size` gets its
  // capacity.
  std::unique_ptr<char[]> take_storage(std::size_t& size) noexcept;
  // Takes `size` bytes of storage back, if it is empty and has less.
  void give_storage(std::unique_ptr<char[]> data, std::size_t size) noexcept;

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t read_ = 0;
  std::size_t write_ = 0;
};

}  // namespace ioduel::reactor
