#include "proactor/buffer_pool.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <atomic>
#include <new>

namespace ioduel::proactor {

namespace block_pool {
namespace {

#if defined(__SANITIZE_ADDRESS__)
#define IODUEL_POOL_ON_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IODUEL_POOL_ON_HEAP 1
#endif
#endif

constexpr std::size_t class_count = block_arena::class_count;

std::size_t class_of(std::size_t n) noexcept {
  const std::size_t blocks = (n + min_block - 1) / min_block;
  return static_cast<std::size_t>(std::bit_width(std::bit_ceil(blocks)) - 1);
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

block_arena::options arena_options() noexcept {
  block_arena::options o;
#ifdef IODUEL_POOL_ON_HEAP
  o.on_heap = true;  // ASan guards heap blocks; it knows nothing of our mappings
#endif
  return o;
}

// A few min_blocks kept apart for the whole process, handed out only when a
// mapping fails, so that a connection with small replies (or an ERROR reply
// naming memory) is still served when others have exhausted the address
// space; a min_block released while a slot is empty refills it.  Shared by
// every thread: in the shared-context model a block often comes back on
// another thread than the one that took it, and per-thread reserves drained
// that way.  Never cut or decayed; they live as long as the process.  A
// reserved block stays its arena's (an arena finds its blocks by address),
// so any thread may take one and give it back.
std::atomic<char*> reserve_slots[4];

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

// A thread's pool: its arena (orphaned, not freed, when the thread ends:
// other threads may still hold its blocks), the bytes it has lent out and
// the decay clock.
struct cache {
  block_arena* arena = new block_arena(arena_options());
  // Bytes acquired here less bytes released here; in the shared-context
  // model a block may come back on another thread, so one thread's figure
  // may even be negative, but the sum over threads is exact.
  std::int64_t lent = 0;
  std::int64_t period_ms = decay_period.count();
  std::int64_t period_ends_ms = coarse_now_ms() + period_ms;
  cache() {
    for (auto& slot : reserve_slots) {
      if (slot.load(std::memory_order_relaxed) != nullptr) continue;
      try {
        char* b = arena->acquire(0);
        if (!refill_reserve(b)) arena->release(b, 0);
      } catch (const std::bad_alloc&) {
        return;  // refilled later by released blocks
      }
    }
  }
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;
  ~cache() { arena->orphan(); }

  void maybe_end_period() noexcept {
    if (coarse_now_ms() >= period_ends_ms) end_period();
  }
  void end_period() noexcept {
    arena->end_period();
    period_ends_ms = coarse_now_ms() + period_ms;
  }
};

// Set on this thread's first local(): decay_tick() makes no pool of its own.
thread_local bool has_cache = false;

cache& local() noexcept {
  thread_local cache c;
  has_cache = true;
  return c;
}

}  // namespace

char* acquire(std::size_t n, std::size_t& capacity) {
  const std::size_t k = class_of(n < min_block ? min_block : n);
  const std::size_t cap = k < class_count ? min_block << k : whole_pages(n);
  auto& c = local();
  c.maybe_end_period();
  char* b = nullptr;
  try {
    b = k < class_count ? c.arena->acquire(k) : c.arena->acquire_pages(cap);
  } catch (const std::bad_alloc&) {
    // Out of address space (RLIMIT_AS) or memory: the cache's idle blocks
    // and free chunks count against the same limit, so give them all back
    // and try once more before the connection that asked is turned away.
    c.arena->trim();
    try {
      b = k < class_count ? c.arena->acquire(k) : c.arena->acquire_pages(cap);
    } catch (const std::bad_alloc&) {
      if (cap != min_block) throw;
      b = take_reserve();
      if (b == nullptr) throw;
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
  if (k < class_count && (min_block << k) == capacity)
    c.arena->release(block, k);
  else
    c.arena->release_pages(block, capacity);
}

std::size_t cached_bytes() noexcept { return local().arena->statistics().dirty_bytes; }

block_arena::stats statistics() noexcept { return local().arena->statistics(); }

void set_decay_period(std::chrono::milliseconds period) noexcept {
  auto& c = local();
  c.period_ms = period.count();
  c.period_ends_ms = coarse_now_ms() + c.period_ms;
}

void end_decay_period() noexcept { local().end_period(); }

void decay_tick() noexcept {
  if (has_cache) local().maybe_end_period();
}

void trim() noexcept { local().arena->trim(); }

void give_back_surplus() noexcept {
  auto& c = local();
  const std::size_t lent = c.lent > 0 ? static_cast<std::size_t>(c.lent) : 0;
  c.arena->cut_to(std::max(retained_floor, lent));
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
