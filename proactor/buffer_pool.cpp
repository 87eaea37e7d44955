#include "proactor/buffer_pool.hpp"

#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <atomic>
#include <new>
#include <vector>

namespace ioduel::proactor {

namespace block_pool {
namespace {

// Size classes min_block << k; 17 classes reach 1 GiB, the largest max frame.
constexpr std::size_t class_count = 17;
// Most a thread keeps cached; blocks beyond it are unmapped.
constexpr std::size_t cache_limit = 64u << 20;

std::size_t class_of(std::size_t n) noexcept {
  const std::size_t blocks = (n + min_block - 1) / min_block;
  return static_cast<std::size_t>(std::bit_width(std::bit_ceil(blocks)) - 1);
}

#if defined(__SANITIZE_ADDRESS__)
#define IODUEL_POOL_ON_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IODUEL_POOL_ON_HEAP 1
#endif
#endif

// Bytes mapped for blocks by every thread, and the most the pool lets itself
// map: once a mapping has failed, `headroom` short of what was mapped then,
// so that blocks do not take the last of the address space and leave malloc
// (a STATS reply's JSON, Asio's operations) none; a bystander was answered
// "out of memory" otherwise.  Lifted at the end of a decay period, so a
// limit that has gone up again is found by the next failure.
constexpr std::size_t headroom = 16u << 20;
std::atomic<std::size_t> mapped_bytes{0};
std::atomic<std::size_t> ceiling{~std::size_t{0}};

// Each block is its own anonymous mapping (see buffer_pool.hpp): freeing it
// returns its pages to the kernel at once, whatever else lives around it.
// Under ASan blocks come from the heap instead, where ASan puts redzones
// around them; ASan knows nothing of our mappings.
char* map_block(std::size_t bytes) {
  const std::size_t before = mapped_bytes.fetch_add(bytes, std::memory_order_relaxed);
  // A min_block (small replies, an ERROR) may use the headroom.
  if (bytes > min_block && before + bytes > ceiling.load(std::memory_order_relaxed)) {
    mapped_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    throw std::bad_alloc();
  }
#ifdef IODUEL_POOL_ON_HEAP
  try {
    return static_cast<char*>(::operator new(bytes));
  } catch (const std::bad_alloc&) {
    mapped_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    throw;
  }
#else
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const std::size_t now = mapped_bytes.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
    const std::size_t cap = now > headroom ? now - headroom : 0;
    std::size_t old = ceiling.load(std::memory_order_relaxed);
    while (cap < old && !ceiling.compare_exchange_weak(old, cap, std::memory_order_relaxed)) {
    }
    throw std::bad_alloc();
  }
  return static_cast<char*>(p);
#endif
}

void unmap_block(char* block, std::size_t bytes) noexcept {
  ASAN_UNPOISON_MEMORY_REGION(block, bytes);
  mapped_bytes.fetch_sub(bytes, std::memory_order_relaxed);
#ifdef IODUEL_POOL_ON_HEAP
  ::operator delete(block);
  (void)bytes;
#else
  ::munmap(block, bytes);
#endif
}

// A size past the largest class, rounded up to whole pages.
std::size_t whole_pages(std::size_t n) noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

// Milliseconds on the coarse monotonic clock: a vDSO read of the last tick,
// cheap enough to take on every block operation.
std::int64_t coarse_now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// One size class: free blocks, oldest first, and the fewest there were at
// any moment of the current period.
struct size_class {
  std::vector<char*> blocks;
  std::size_t low_water = 0;
};

// A few min_blocks kept apart for the whole process, handed out only when a
// mapping fails, so that a connection with small replies (or an ERROR reply
// naming memory) is still served when others have exhausted the address
// space; a min_block released while a slot is empty refills it.  Shared by
// every thread: in the shared-context model a block often comes back on
// another thread than the one that took it, and per-thread reserves drained
// that way.  Never cut or decayed; they live as long as the process.
std::atomic<char*> reserve_slots[4];

void fill_reserve() noexcept {
  for (auto& slot : reserve_slots) {
    if (slot.load(std::memory_order_relaxed) != nullptr) continue;
    try {
      char* b = map_block(min_block);
      char* expected = nullptr;
      if (!slot.compare_exchange_strong(expected, b, std::memory_order_acq_rel)) unmap_block(b, min_block);
    } catch (const std::bad_alloc&) {
      return;  // refilled later by released blocks
    }
  }
}

char* take_reserve() noexcept {
  for (auto& slot : reserve_slots)
    if (char* b = slot.exchange(nullptr, std::memory_order_acq_rel)) return b;
  return nullptr;
}

bool refill_reserve(char* block) noexcept {
  for (auto& slot : reserve_slots) {
    char* expected = nullptr;
    if (slot.load(std::memory_order_relaxed) == nullptr &&
        slot.compare_exchange_strong(expected, block, std::memory_order_acq_rel))
      return true;
  }
  return false;
}

struct cache {
  size_class classes[class_count];
  std::size_t bytes = 0;
  // Bytes acquired here less bytes released here; in the shared-context
  // model a block may come back on another thread, so one thread's figure
  // may even be negative, but the sum over threads is exact.
  std::int64_t lent = 0;
  std::int64_t period_ms = decay_period.count();
  std::int64_t period_ends_ms = coarse_now_ms() + period_ms;
  cache() { fill_reserve(); }
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;
  ~cache() {
    for (std::size_t k = 0; k < class_count; ++k) drop_oldest(k, classes[k].blocks.size());
  }

  void maybe_end_period() noexcept {
    if (coarse_now_ms() >= period_ends_ms) end_period();
  }

  void end_period() noexcept {
    for (std::size_t k = 0; k < class_count; ++k) {
      // The oldest low_water blocks were never taken during the period.
      drop_oldest(k, classes[k].low_water);
      classes[k].low_water = classes[k].blocks.size();
    }
    period_ends_ms = coarse_now_ms() + period_ms;
    ceiling.store(~std::size_t{0}, std::memory_order_relaxed);
  }

  void cut_to(std::size_t limit) noexcept {
    // Largest classes first: they are most of the bytes.
    for (std::size_t k = class_count; k-- > 0 && bytes > limit;) {
      const std::size_t block = min_block << k;
      drop_oldest(k, std::min(classes[k].blocks.size(), (bytes - limit + block - 1) / block));
    }
  }

  // Unmaps the `count` blocks of class k that have been cached longest.
  void drop_oldest(std::size_t k, std::size_t count) noexcept {
    auto& c = classes[k];
    for (std::size_t i = 0; i < count; ++i) unmap_block(c.blocks[i], min_block << k);
    c.blocks.erase(c.blocks.begin(), c.blocks.begin() + static_cast<std::ptrdiff_t>(count));
    bytes -= count * (min_block << k);
    if (c.low_water > c.blocks.size()) c.low_water = c.blocks.size();
  }
};

cache& local() noexcept {
  thread_local cache c;
  return c;
}

}  // namespace

char* acquire(std::size_t n, std::size_t& capacity) {
  const std::size_t k = class_of(n < min_block ? min_block : n);
  const std::size_t cap = k < class_count ? min_block << k : whole_pages(n);
  auto& c = local();
  c.maybe_end_period();
  char* b = nullptr;
  if (k < class_count && !c.classes[k].blocks.empty()) {
    auto& sc = c.classes[k];
    b = sc.blocks.back();
    sc.blocks.pop_back();
    ASAN_UNPOISON_MEMORY_REGION(b, cap);
    if (sc.blocks.size() < sc.low_water) sc.low_water = sc.blocks.size();
    c.bytes -= cap;
  } else {
    try {
      b = map_block(cap);
    } catch (const std::bad_alloc&) {
      // Out of address space (RLIMIT_AS) or memory: the cache's idle blocks
      // count against the same limit, so give them all back and try once
      // more before the connection that asked has to be turned away.
      c.cut_to(0);
      try {
        b = map_block(cap);
      } catch (const std::bad_alloc&) {
        if (cap != min_block) throw;
        b = take_reserve();
        if (b == nullptr) throw;
      }
    }
  }
  c.lent += static_cast<std::int64_t>(cap);
  capacity = cap;
  return b;
}

void release(char* block, std::size_t capacity) noexcept {
  if (block == nullptr) return;
  const std::size_t k = class_of(capacity);
  auto& c = local();
  c.maybe_end_period();
  c.lent -= static_cast<std::int64_t>(capacity);
  if (capacity == min_block && refill_reserve(block)) return;
  if (k < class_count && (min_block << k) == capacity && c.bytes + capacity <= cache_limit) {
    try {
      c.classes[k].blocks.push_back(block);
      c.bytes += capacity;
      // A cached block is nobody's: under ASan, touching it is a use after release.
      ASAN_POISON_MEMORY_REGION(block, capacity);
      return;
    } catch (const std::bad_alloc&) {
      // Fall through: free it instead of caching it.
    }
  }
  unmap_block(block, capacity);
}

std::size_t cached_bytes() noexcept { return local().bytes; }

void set_decay_period(std::chrono::milliseconds period) noexcept {
  auto& c = local();
  c.period_ms = period.count();
  c.period_ends_ms = coarse_now_ms() + c.period_ms;
}

void end_decay_period() noexcept { local().end_period(); }

void give_back_surplus() noexcept {
  auto& c = local();
  const std::size_t lent = c.lent > 0 ? static_cast<std::size_t>(c.lent) : 0;
  c.cut_to(std::max(retained_floor, lent));
}

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
