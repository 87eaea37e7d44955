#include "reactor/buffer.hpp"

#include <algorithm>
#include <cstring>

namespace ioduel::reactor {

void buffer::consume(std::size_t n) noexcept {
  if (n >= readable()) {
    clear();
  } else {
    read_ += n;
  }
}

char* buffer::prepare(std::size_t n) {
  if (writable() >= n) return write_ptr();
  const std::size_t used = readable();
  if (capacity_ - used >= n && data_) {
    // Moving the content to the front frees enough room.
    std::memmove(data_.get(), peek(), used);
  } else {
    const std::size_t cap = std::max({capacity_ * 2, used + n, min_capacity});
    auto bigger = std::make_unique_for_overwrite<char[]>(cap);
    if (used > 0) std::memcpy(bigger.get(), peek(), used);
    data_ = std::move(bigger);
    capacity_ = cap;
  }
  read_ = 0;
  write_ = used;
  return write_ptr();
}

void buffer::reserve(std::size_t total) {
  const std::size_t used = readable();
  if (total <= used + writable()) return;
  if (total <= capacity_) {
    std::memmove(data_.get(), peek(), used);
  } else {
    auto bigger = std::make_unique_for_overwrite<char[]>(total);
    if (used > 0) std::memcpy(bigger.get(), peek(), used);
    data_ = std::move(bigger);
    capacity_ = total;
  }
  read_ = 0;
  write_ = used;
}

void buffer::append(std::span<const char> bytes) {
  if (bytes.empty()) return;
  std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
  commit(bytes.size());
}

void buffer::release_if_empty(std::size_t keep) noexcept {
  if (!empty() || capacity_ <= keep) return;
  data_.reset();
  capacity_ = read_ = write_ = 0;
}

std::unique_ptr<char[]> buffer::take_storage(std::size_t& size) noexcept {
  size = capacity_;
  capacity_ = read_ = write_ = 0;
  return std::move(data_);
}

void buffer::give_storage(std::unique_ptr<char[]> data, std::size_t size) noexcept {
  if (!empty() || size <= capacity_) return;
  data_ = std::move(data);
  capacity_ = size;
  read_ = write_ = 0;
}

}  // namespace ioduel::reactor
