#include "proactor/block_arena.hpp"

#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>

namespace ioduel::proactor {

namespace {

// Bytes mapped for blocks by every arena, and the most the arenas let
// themselves map: once a mapping has failed (RLIMIT_AS), `headroom` short of
// what was mapped then, so that blocks do not take the last of the address
// space and leave malloc (a STATS reply's JSON, Asio's operations) none.
// Lifted at the end of a decay period, so a limit that has gone up again is
// found by the next failure.
constexpr std::size_t headroom = 16u << 20;
std::atomic<std::size_t> all_mapped{0};
std::atomic<std::size_t> ceiling{~std::size_t{0}};
std::atomic<std::uint64_t> failures{0};

std::size_t page_size() noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// Serialises the work done for orphaned arenas, and keeps them reachable.
std::mutex& orphan_mutex() noexcept {
  static std::mutex m;
  return m;
}
std::vector<block_arena*>& orphans() noexcept {
  static auto* v = new std::vector<block_arena*>;  // outlives every thread
  return *v;
}

bool give_back(char* p, std::size_t bytes) noexcept {
  if (::madvise(p, bytes, MADV_DONTNEED) == 0) return true;
  failures.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace

// The header page of a chunk; blocks follow it.  Written by the owner only
// (or, once orphaned, under orphan_mutex); `owner` and `k` never change.
struct block_arena::chunk {
  block_arena* owner;
  std::size_t k;
  std::uint32_t blocks;
  std::uint32_t free;   // dirty or clean
  std::uint32_t clean;
  bool idle;  // wholly clean when the last period ended

  char* base() noexcept { return reinterpret_cast<char*>(this); }
  char* first() noexcept { return base() + page_size(); }
};

block_arena::block_arena(options o) : opt_(o) {}

block_arena::~block_arena() {
  drain_remote();
  for (std::size_t k = 0; k < class_count; ++k)
    if (!carved(k)) drop_oldest(k, classes_[k].dirty.size());
  for (chunk* ch : chunks_) unmap(ch->base(), chunk_span(ch->k));
}

std::uint64_t block_arena::give_back_failures() noexcept { return failures.load(std::memory_order_relaxed); }

block_arena::chunk* block_arena::chunk_of(const char* block, std::size_t k) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(block);
  return reinterpret_cast<chunk*>(a & ~(static_cast<std::uintptr_t>(chunk_span(k)) - 1));
}

char* block_arena::map(std::size_t bytes, std::size_t align, bool may_use_headroom) {
  if (mapped_ + bytes > opt_.map_limit) throw std::bad_alloc();
  const std::size_t before = all_mapped.fetch_add(bytes, std::memory_order_relaxed);
  // A min_block chunk (small replies, an ERROR) may use the headroom.
  if (!may_use_headroom && before + bytes > ceiling.load(std::memory_order_relaxed)) {
    all_mapped.fetch_sub(bytes, std::memory_order_relaxed);
    throw std::bad_alloc();
  }
  char* start = nullptr;
  if (opt_.on_heap) {
    try {
      start = static_cast<char*>(::operator new(bytes));
    } catch (const std::bad_alloc&) {
      all_mapped.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
  } else {
    // Over-map by what aligning may cost, then unmap the ends.
    const std::size_t extra = align > page_size() ? align - page_size() : 0;  // align 0: any page
    void* p = ::mmap(nullptr, bytes + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      const std::size_t now = all_mapped.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
      const std::size_t cap = now > headroom ? now - headroom : 0;
      std::size_t old = ceiling.load(std::memory_order_relaxed);
      while (cap < old && !ceiling.compare_exchange_weak(old, cap, std::memory_order_relaxed)) {
      }
      throw std::bad_alloc();
    }
    char* base = static_cast<char*>(p);
    const auto a = reinterpret_cast<std::uintptr_t>(base);
    start = align == 0 ? base : base + ((align - a % align) % align);
    char* end = base + bytes + extra;
    for (auto [from, len] : {std::pair{base, std::size_t(start - base)},
                             std::pair{start + bytes, std::size_t(end - (start + bytes))}}) {
      if (len == 0) continue;
      ++unmaps_;
      // Refused: the slack stays mapped but untouched, costing address space only.
      if (::munmap(from, len) != 0) failures.fetch_add(1, std::memory_order_relaxed);
    }
  }
  ++maps_;
  mapped_ += bytes;
  return start;
}

void block_arena::unmap(char* p, std::size_t bytes) noexcept {
  all_mapped.fetch_sub(bytes, std::memory_order_relaxed);
  mapped_ = mapped_ > bytes ? mapped_ - bytes : 0;  // a standalone block may come back to another arena
  ++unmaps_;
  // A cached block was poisoned (release); the next mapping here must not be.
  ASAN_UNPOISON_MEMORY_REGION(p, bytes);
  if (opt_.on_heap) {
    ::operator delete(p);
  } else if (::munmap(p, bytes) != 0) {
    failures.fetch_add(1, std::memory_order_relaxed);
  }
}

void block_arena::add_chunk(std::size_t k) {
  const std::size_t span = chunk_span(k), size = block_size(k);
  const auto n = static_cast<std::uint32_t>((span - page_size()) / size);
  auto& c = classes_[k];
  // Capacity first, so that freeing a block never allocates.
  c.dirty.reserve(c.carved + n);
  c.clean.reserve(c.carved + n);
  scratch_.reserve(std::max(scratch_.capacity(), c.carved + n));
  chunks_.reserve(chunks_.size() + 1);
  char* base = map(span, span, k == 0);
  // 2 MiB-aligned anonymous memory may be backed by huge pages, which a
  // 16 KiB block would make resident whole and a give-back would split.
  ++madvises_;
  (void)::madvise(base, span, MADV_NOHUGEPAGE);  // EINVAL without THP: nothing to avoid
  auto* ch = new (base) chunk{this, k, n, n, n, false};
  chunks_.push_back(ch);
  c.carved += n;
  for (std::uint32_t i = n; i-- > 0;) c.clean.push_back(ch->first() + i * size);  // lowest at the back
  clean_bytes_ += n * size;
}

char* block_arena::acquire(std::size_t k) {
  if (remote_.load(std::memory_order_relaxed) != nullptr) drain_remote();
  auto& c = classes_[k];
  const std::size_t size = block_size(k);
  char* b = nullptr;
  if (!c.dirty.empty()) {
    b = c.dirty.back();
    c.dirty.pop_back();
    c.low_water = std::min(c.low_water, c.dirty.size());
    dirty_bytes_ -= size;
    if (!carved(k)) {
      ASAN_UNPOISON_MEMORY_REGION(b, size);
      return b;
    }
  } else if (!carved(k)) {
    return map(size, 0, k == 0);
  } else {
    if (c.clean.empty()) add_chunk(k);
    b = c.clean.back();
    c.clean.pop_back();
    clean_bytes_ -= size;
    --chunk_of(b, k)->clean;
  }
  chunk* ch = chunk_of(b, k);
  --ch->free;
  ch->idle = false;
  return b;
}

void block_arena::release(char* block, std::size_t k) noexcept {
  if (carved(k)) {
    chunk* ch = chunk_of(block, k);
    if (ch->owner == this)
      free_local(block, k);
    else
      ch->owner->push_remote(block, k);
    return;
  }
  const std::size_t size = block_size(k);
  if (dirty_bytes_ + size <= opt_.dirty_limit) {
    try {
      classes_[k].dirty.push_back(block);
      dirty_bytes_ += size;
      // A cached block is nobody's: under ASan, touching it is a use after release.
      ASAN_POISON_MEMORY_REGION(block, size);
      return;
    } catch (const std::bad_alloc&) {
      // Fall through: free it instead of caching it.
    }
  }
  unmap(block, size);
}

void block_arena::free_local(char* block, std::size_t k) noexcept {
  chunk* ch = chunk_of(block, k);
  auto& c = classes_[k];
  const std::size_t size = block_size(k);
  ++ch->free;
  // The lists have room for every block of the class (add_chunk).
  if (dirty_bytes_ + size > opt_.dirty_limit) {
    ++madvises_;
    if (give_back(block, size)) {
      c.clean.push_back(block);
      ++ch->clean;
      clean_bytes_ += size;
      return;
    }
  }
  c.dirty.push_back(block);
  dirty_bytes_ += size;
}

void block_arena::push_remote(char* block, std::size_t k) noexcept {
  auto* n = new (block) remote_node{nullptr, k};
  remote_node* head = remote_.load(std::memory_order_relaxed);
  do {
    n->next = head;
  } while (!remote_.compare_exchange_weak(head, n, std::memory_order_seq_cst, std::memory_order_relaxed));
  // Stores then loads on both sides (orphan() too): seq_cst, so that either
  // the owner's last drain sees this block or this thread sees the orphaning.
  if (orphaned_.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> g(orphan_mutex());
    trim();
  }
}

void block_arena::drain_remote() noexcept {
  remote_node* n = remote_.exchange(nullptr, std::memory_order_seq_cst);
  while (n != nullptr) {
    remote_node* next = n->next;
    const std::size_t k = n->k;
    free_local(reinterpret_cast<char*>(n), k);
    n = next;
  }
}

void block_arena::make_clean(std::vector<char*>& blocks, std::size_t k) noexcept {
  auto& c = classes_[k];
  const std::size_t size = block_size(k);
  std::sort(blocks.begin(), blocks.end());
  for (std::size_t i = 0; i < blocks.size();) {
    std::size_t j = i + 1;
    while (j < blocks.size() && blocks[j] == blocks[j - 1] + size) ++j;  // a run (never across chunks)
    ++madvises_;
    const bool ok = give_back(blocks[i], (j - i) * size);
    for (; i < j; ++i) {
      if (ok) {
        c.clean.push_back(blocks[i]);
        ++chunk_of(blocks[i], k)->clean;
        clean_bytes_ += size;
      } else {
        c.dirty.push_back(blocks[i]);
        dirty_bytes_ += size;
      }
    }
  }
  blocks.clear();
}

// Gives back the `count` dirty blocks of class k freed longest ago.
void block_arena::drop_oldest(std::size_t k, std::size_t count) noexcept {
  auto& c = classes_[k];
  const std::size_t size = block_size(k);
  count = std::min(count, c.dirty.size());
  const auto first = c.dirty.begin(), last = c.dirty.begin() + static_cast<std::ptrdiff_t>(count);
  if (carved(k)) scratch_.assign(first, last);  // within capacity (add_chunk)
  else
    for (auto it = first; it != last; ++it) unmap(*it, size);
  c.dirty.erase(first, last);
  dirty_bytes_ -= count * size;
  if (carved(k)) make_clean(scratch_, k);
  c.low_water = std::min(c.low_water, c.dirty.size());
}

void block_arena::unmap_idle_chunks(bool at_once) noexcept {
  for (std::size_t i = 0; i < chunks_.size();) {
    chunk* ch = chunks_[i];
    if (ch->clean != ch->blocks) {
      ch->idle = false;
      ++i;
      continue;
    }
    if (!at_once && !ch->idle) {
      ch->idle = true;  // clean through the next period as well, and it goes
      ++i;
      continue;
    }
    const std::size_t k = ch->k, size = block_size(k), n = ch->blocks;
    char* lo = ch->first();
    char* hi = lo + n * size;
    auto& c = classes_[k];
    std::erase_if(c.clean, [&](char* b) { return b >= lo && b < hi; });
    c.carved -= n;
    clean_bytes_ -= n * size;
    chunks_[i] = chunks_.back();
    chunks_.pop_back();
    unmap(ch->base(), chunk_span(k));
  }
}

void block_arena::end_period() noexcept {
  drain_remote();
  for (std::size_t k = 0; k < class_count; ++k) {
    // The oldest low_water blocks were never taken during the period.
    drop_oldest(k, classes_[k].low_water);
    classes_[k].low_water = classes_[k].dirty.size();
  }
  unmap_idle_chunks(false);
  // Carve from the lowest addresses first, so that the chunks above empty.
  for (auto& c : classes_) std::sort(c.clean.begin(), c.clean.end(), std::greater<>());
  ceiling.store(~std::size_t{0}, std::memory_order_relaxed);
}

void block_arena::cut_to(std::size_t limit) noexcept {
  // Largest classes first: they are most of the bytes.
  for (std::size_t k = class_count; k-- > 0 && dirty_bytes_ > limit;) {
    const std::size_t size = block_size(k);
    drop_oldest(k, (dirty_bytes_ - limit + size - 1) / size);
  }
}

void block_arena::trim() noexcept {
  drain_remote();
  cut_to(0);
  unmap_idle_chunks(true);
}

void block_arena::orphan() noexcept {
  orphaned_.store(true, std::memory_order_seq_cst);
  std::lock_guard<std::mutex> g(orphan_mutex());
  trim();
  try {
    orphans().push_back(this);
  } catch (const std::bad_alloc&) {
    // Unreachable then, but alive all the same: never freed.
  }
}

block_arena::stats block_arena::statistics() const noexcept {
  stats s;
  s.dirty_bytes = dirty_bytes_;
  s.clean_bytes = clean_bytes_;
  s.chunks = chunks_.size();
  s.mapped_bytes = mapped_;
  s.maps = maps_;
  s.unmaps = unmaps_;
  s.madvises = madvises_;
  return s;
}

}  // namespace ioduel::proactor
