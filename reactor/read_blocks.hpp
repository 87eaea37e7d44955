#pragma once
// read_blocks: the loop's read buffers, lent to a connection rather than
// copied out of.  A read that does not go into a connection's own input
// buffer lands in the current block.  When the socket will not take the
// whole of a reply whose bytes lie there (an ECHO frame, raw-echo bytes), the
// connection's output queue takes the block itself, the unsent bytes where
// they were read, and the loop moves on to a spare; the block comes back
// once those bytes are sent.
//
// Bounded: at most max_lent blocks are out at once (past that, unsent bytes
// are copied, as they would be without lending), and spares past max_spare
// are freed by trim(), which the loop calls at the end of a turn: a block
// given back during a pass may still be looked at in that pass.

#include <array>
#include <cstddef>
#include <memory>

namespace ioduel::reactor {

class read_blocks {
 public:
  static constexpr std::size_t block_size = 64 * 1024;
  static constexpr std::size_t max_lent = 256;  // 16 MiB per loop
  static constexpr std::size_t max_spare = 4;

  read_blocks();
  read_blocks(const read_blocks&) = delete;
  read_blocks& operator=(const read_blocks&) = delete;

  char* current() noexcept { return current_.get(); }
  bool in_current(const char* p) const noexcept {
    return p >= current_.get() && p < current_.get() + block_size;
  }
  bool can_lend() const noexcept { return lent_ < max_lent; }
  std::size_t lent() const noexcept { return lent_; }

  // The current block, for keeps; a spare (or a new block) becomes current.
  // Throws std::bad_alloc with nothing changed.
  std::unique_ptr<char[]> lend();
  // A lent block, its bytes sent.
  void give_back(std::unique_ptr<char[]> block) noexcept;
  // Frees the spares past max_spare (the loop calls it once a turn).
  void trim() noexcept {
    if (spares_ > max_spare) free_surplus();
  }

 private:
  void free_surplus() noexcept;

  std::unique_ptr<char[]> current_;
  // Every block is current, lent or spare, and a new one is made only when
  // there is no spare, so there are never more spares than max_lent.
  std::array<std::unique_ptr<char[]>, max_lent> spare_;
  std::size_t spares_ = 0;
  std::size_t lent_ = 0;
};

}  // namespace ioduel::reactor
