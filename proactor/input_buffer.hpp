#pragma once
// The bytes a session has read and not yet parsed.
//
// While traffic is small they sit in `small_`, inside the session, so an idle
// connection owns no heap buffer: its pending read targets `small_`.  When a
// read fills it (a burst, a large frame, a raw-echo stream) or the frame at
// the front needs more than it holds, the bytes move to a pooled block
// (buffer_pool.hpp); the block goes back once the input is consumed and reads
// are small again.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <boost/asio/buffer.hpp>

#include "proactor/buffer_pool.hpp"

namespace ioduel::proactor {

// Bytes of input a session holds inline; reads while idle land here.
inline constexpr std::size_t small_input = 128;
// Most room made for a partial frame beyond what of it has landed: a header
// declaring 1 MiB with one byte behind it holds 64 KiB, not 1 MiB (the
// reactor's reserve step, docs/protocol.md).
inline constexpr std::size_t reserve_step = 64 * 1024;

class input_buffer {
 public:
  input_buffer() = default;
  input_buffer(const input_buffer&) = delete;
  input_buffer& operator=(const input_buffer&) = delete;

  // The bytes in hand, oldest first.
  std::span<char> bytes() noexcept {
    if (in_block()) return block_.readable();
    return {small_ + small_begin_, static_cast<std::size_t>(small_end_ - small_begin_)};
  }

  void consume(std::size_t n) noexcept {
    if (in_block()) {
      block_.consume(n);
    } else {
      small_begin_ += static_cast<std::uint16_t>(n);
      if (small_begin_ == small_end_) small_begin_ = small_end_ = 0;
    }
  }

  // Where the next read lands, given the bytes the frame at the front needs.
  boost::asio::mutable_buffer prepare_read(std::size_t needed) {
    boost::asio::mutable_buffer target;
    if (in_block()) {
      const std::size_t have = block_.size();
      const std::size_t want = std::max(room_for(needed, have) - have, block_pool::min_block / 2);
      block_.prepare(want);
      target = boost::asio::buffer(block_.writable().data(), block_.writable().size());
    } else {
      target = boost::asio::buffer(small_ + small_end_, sizeof small_ - small_end_);
    }
    read_size_ = target.size();
    return target;
  }

  // Raw echo: the bytes in hand become `to`'s without a copy (`to` must be
  // empty, and no read may target the block), when they sit in a block; the
  // next read then lands in `to`'s old storage or a fresh block of the same
  // size.  False if they are in `small_`: the caller copies those.
  bool hand_over(io_buffer& to, bool reading) {
    if (reading || !in_block() || !to.empty()) return false;
    const std::size_t capacity = block_.capacity();
    to.swap(block_);
    block_.clear();
    if (!block_.has_storage()) block_.prepare(capacity);
    return true;
  }

  // A read's target whose bytes are thrown away (after an ERROR, or at the end).
  boost::asio::mutable_buffer discard_target() noexcept { return boost::asio::buffer(small_, sizeof small_); }

  // A read of n bytes into prepare_read()'s target completed.
  void commit(std::size_t n) noexcept {
    if (in_block()) block_.commit(n);
    else small_end_ += static_cast<std::uint16_t>(n);
    last_read_full_ = n == read_size_;
    last_read_small_ = n < sizeof small_;
  }

  // Moves the bytes in hand between `small_` and a pooled block as their
  // amount calls for.  Not while a read targets the current storage.
  void adjust(std::size_t needed, bool reading) {
    if (reading) return;
    if (!in_block()) {
      const std::size_t held = small_end_ - small_begin_;
      if (held != 0 && small_begin_ != 0) {
        std::memmove(small_, small_ + small_begin_, held);
        small_begin_ = 0;
        small_end_ = static_cast<std::uint16_t>(held);
      }
      // A full read says more is coming: read it in blocks from now on.
      if ((held != 0 && needed > sizeof small_) || last_read_full_) {
        char* p = block_.prepare(room_for(needed, held));
        if (held != 0) std::memcpy(p, small_, held);
        block_.commit(held);
        small_begin_ = small_end_ = 0;
      }
    } else if (block_.empty() && last_read_small_) {
      block_.release();  // the traffic is small again: back to reading into small_
    }
  }

  // Gives the block back unless a read may still be using it (io_uring may
  // write into it until the cancellation completes; the destructor frees it).
  void release_unless(bool reading) noexcept {
    if (!reading) block_.release();
  }

  // Forgets the bytes in hand (an allocation failed: the frame they began
  // will never be answered).  Their block goes to `spare` if that has no
  // storage, so the ERROR reply needs no new allocation, else back to the
  // pool.  A read in flight still targets the storage: then it stays, and
  // what lands is never parsed.
  void drop(bool reading, io_buffer& spare) noexcept {
    if (reading) return;
    block_.clear();
    if (!spare.has_storage()) spare.swap(block_);
    block_.release();
    small_begin_ = small_end_ = 0;
  }

 private:
  // The total the block should hold for a frame of `needed` bytes of which
  // `have` are in: never less than `have`, never past the frame, and at most
  // doubling what has landed (a reserve_step at first), so the storage grows
  // with the payload instead of with the header's claim.  Power-of-two
  // totals fit the pool's size classes exactly.
  static std::size_t room_for(std::size_t needed, std::size_t have) noexcept {
    if (needed <= have) return have;
    return std::min(needed, std::max(reserve_step, 2 * have));
  }

  bool in_block() const noexcept { return block_.has_storage(); }

  io_buffer block_;  // the input once it outgrows small_
  std::size_t read_size_ = 0;
  std::uint16_t small_begin_ = 0;
  std::uint16_t small_end_ = 0;
  bool last_read_full_ = false;
  bool last_read_small_ = true;
  char small_[small_input];
};

}  // namespace ioduel::proactor
