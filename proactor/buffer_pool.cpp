#include "proactor/buffer_pool.hpp"

#include <bit>
#include <cstring>
#include <new>
#include <vector>

namespace ioduel::proactor {

namespace block_pool {
namespace {

// Size classes min_block << k; 17 classes reach 1 GiB, the largest max frame.
constexpr std::size_t class_count = 17;
// Most a thread keeps cached; blocks beyond it go back to the heap.
constexpr std::size_t cache_limit = 64u << 20;

std::size_t class_of(std::size_t n) noexcept {
  const std::size_t blocks = (n + min_block - 1) / min_block;
  return static_cast<std::size_t>(std::bit_width(std::bit_ceil(blocks)) - 1);
}

struct cache {
  std::vector<char*> free[class_count];
  std::size_t bytes = 0;

  cache() = default;
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;
  ~cache() {
    for (auto& list : free)
      for (char* b : list) ::operator delete(b);
  }
};

cache& local() noexcept {
  thread_local cache c;
  return c;
}

}  // namespace

char* acquire(std::size_t n, std::size_t& capacity) {
  const std::size_t k = class_of(n < min_block ? min_block : n);
  capacity = k < class_count ? min_block << k : n;
  if (k < class_count) {
    auto& c = local();
    if (!c.free[k].empty()) {
      char* b = c.free[k].back();
      c.free[k].pop_back();
      c.bytes -= capacity;
      return b;
    }
  }
  return static_cast<char*>(::operator new(capacity));
}

void release(char* block, std::size_t capacity) noexcept {
  if (block == nullptr) return;
  const std::size_t k = class_of(capacity);
  auto& c = local();
  if (k < class_count && (min_block << k) == capacity && c.bytes + capacity <= cache_limit) {
    try {
      c.free[k].push_back(block);
      c.bytes += capacity;
      return;
    } catch (const std::bad_alloc&) {
      // Fall through: free it instead of caching it.
    }
  }
  ::operator delete(block);
}

std::size_t cached_bytes() noexcept { return local().bytes; }

}  // namespace block_pool

void io_buffer::release() noexcept {
  block_pool::release(data_, capacity_);
  data_ = nullptr;
  capacity_ = begin_ = end_ = 0;
}

void io_buffer::make_room(std::size_t n) {
  const std::size_t used = size();
  if (data_ != nullptr && used + n <= capacity_) {
    // Enough room once the consumed front is reclaimed.
    std::memmove(data_, data_ + begin_, used);
  } else {
    std::size_t cap = 0;
    char* fresh = block_pool::acquire(used + n, cap);
    if (used != 0) std::memcpy(fresh, data_ + begin_, used);
    block_pool::release(data_, capacity_);
    data_ = fresh;
    capacity_ = cap;
  }
  begin_ = 0;
  end_ = used;
}

}  // namespace ioduel::proactor
