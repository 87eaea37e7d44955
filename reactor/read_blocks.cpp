#include "reactor/read_blocks.hpp"

#include <utility>

namespace ioduel::reactor {

read_blocks::read_blocks() : current_(std::make_unique_for_overwrite<char[]>(block_size)) {}

std::unique_ptr<char[]> read_blocks::lend() {
  std::unique_ptr<char[]> next =
      spares_ > 0 ? std::move(spare_[--spares_]) : std::make_unique_for_overwrite<char[]>(block_size);
  ++lent_;
  return std::exchange(current_, std::move(next));
}

void read_blocks::give_back(std::unique_ptr<char[]> block) noexcept {
  if (!block) return;
  --lent_;
  spare_[spares_++] = std::move(block);
}

void read_blocks::free_surplus() noexcept {
  while (spares_ > max_spare) spare_[--spares_].reset();
}

}  // namespace ioduel::reactor
