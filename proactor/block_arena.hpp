#pragma once
// A thread's arena of pooled blocks (buffer_pool.hpp is its only user).
//
// Blocks of the small classes (16 KiB to 1 MiB) are carved from chunks of
// 2-8 MiB, each chunk one anonymous mapping holding blocks of one class
// behind a header page; the chunk is aligned to its own size, so a block's
// chunk (and the arena that owns it) is found by masking its address.  A
// block, once freed, is first kept dirty (its pages resident, ready for the
// next request); a block that lies unused through a whole decay period (or
// that the cache has no room for) is made clean with madvise(MADV_DONTNEED),
// which returns its pages but keeps the mapping; a chunk that stays wholly
// clean through a period is unmapped.  So the pages go back without a mapping
// per block: no mmap/munmap per block, no splitting of mappings toward
// vm.max_map_count, no write-locked address space per request.  Larger
// classes are mappings of their own, cached the same way but unmapped when
// they decay.
//
// Only the owning thread touches an arena's lists.  A carved block freed on
// another thread (the shared-context model) is pushed onto its owner's
// lock-free list of remote frees, which the owner takes in on its next
// acquire or period end.  When the owning thread ends, the arena is
// orphaned: what is still lent comes back later through the same list, and
// the thread that returns it does the owner's work under a process-wide lock.
//
// With `on_heap` (ASan builds) no block is carved: every class is a heap
// allocation, where ASan puts redzones around it, and a cached block is
// poisoned.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ioduel::proactor {

class block_arena {
 public:
  static constexpr std::size_t min_block = 16 * 1024;
  // Classes min_block << k; 17 classes reach 1 GiB, the largest max frame.
  static constexpr std::size_t class_count = 17;
  // Classes carved from chunks: 16 KiB to 1 MiB.
  static constexpr std::size_t carved_classes = 7;

  struct options {
    bool on_heap = false;
    // Most free bytes kept dirty; a block freed beyond it is made clean at once.
    std::size_t dirty_limit = std::size_t{64} << 20;
    // Most bytes this arena may map (tests: exhaustion).
    std::size_t map_limit = ~std::size_t{0};
  };

  // What an arena holds, for tests and measurements.
  struct stats {
    std::size_t dirty_bytes = 0;   // free, pages resident
    std::size_t clean_bytes = 0;   // free in a chunk, pages given back
    std::size_t chunks = 0;
    std::size_t mapped_bytes = 0;  // chunks and standalone blocks, lent or not
    std::uint64_t maps = 0, unmaps = 0, madvises = 0;
  };

  static constexpr std::size_t block_size(std::size_t k) noexcept { return min_block << k; }
  // The span of a chunk of class k (a power of two it is aligned to).
  static constexpr std::size_t chunk_span(std::size_t k) noexcept {
    const std::size_t want = 8 * block_size(k);
    return want < (std::size_t{2} << 20) ? std::size_t{2} << 20 : want;
  }

  block_arena() : block_arena(options{}) {}
  explicit block_arena(options o);
  block_arena(const block_arena&) = delete;
  block_arena& operator=(const block_arena&) = delete;
  // Unmaps everything, lent or not: only for an arena whose blocks are all
  // back (a thread's arena is orphaned instead).
  ~block_arena();

  // A block of class k; throws std::bad_alloc when nothing can be mapped.
  char* acquire(std::size_t k);
  // Frees a block of class k that this or another arena of the same options
  // handed out; called on the caller's own arena, on any thread.
  void release(char* block, std::size_t k) noexcept;
  // Ends a decay period: dirty blocks unused through it are made clean (or
  // unmapped), and chunks that stayed wholly clean through it are unmapped.
  void end_period() noexcept;
  // A block of `bytes` (whole pages, past the largest class): a mapping of
  // its own, not cached.
  char* acquire_pages(std::size_t bytes) { return map(bytes, 0, false); }
  void release_pages(char* block, std::size_t bytes) noexcept { unmap(block, bytes); }
  // Makes dirty blocks clean, largest classes first and oldest first, until
  // at most `limit` dirty bytes are left.
  void cut_to(std::size_t limit) noexcept;
  // Gives back everything not lent: every free page, every wholly free chunk.
  void trim() noexcept;
  // The owning thread ends; the arena lives on (never freed) for what is lent.
  void orphan() noexcept;
  stats statistics() const noexcept;

  // Process-wide: give-backs (munmap, madvise) the kernel refused.
  static std::uint64_t give_back_failures() noexcept;

 private:
  struct chunk;
  struct size_class {
    std::vector<char*> dirty;  // oldest first; taken from the back
    std::vector<char*> clean;  // carved classes only; lowest address at the back
    std::size_t low_water = 0;  // fewest dirty at any moment of the period
    std::size_t carved = 0;    // blocks in this class's chunks (list capacity)
  };
  struct remote_node {
    remote_node* next;
    std::size_t k;
  };

  bool carved(std::size_t k) const noexcept { return !opt_.on_heap && k < carved_classes; }
  static chunk* chunk_of(const char* block, std::size_t k) noexcept;
  char* map(std::size_t bytes, std::size_t align, bool may_use_headroom);
  void unmap(char* p, std::size_t bytes) noexcept;
  void add_chunk(std::size_t k);
  void free_local(char* block, std::size_t k) noexcept;
  void push_remote(char* block, std::size_t k) noexcept;
  void drain_remote() noexcept;
  // Makes the blocks clean (one madvise per run of adjacent blocks); those
  // the kernel refused stay dirty.
  void make_clean(std::vector<char*>& blocks, std::size_t k) noexcept;
  void drop_oldest(std::size_t k, std::size_t count) noexcept;
  void unmap_idle_chunks(bool at_once) noexcept;

  options opt_;
  size_class classes_[class_count];
  std::vector<chunk*> chunks_;
  std::vector<char*> scratch_;
  std::size_t dirty_bytes_ = 0;
  std::size_t clean_bytes_ = 0;
  std::size_t mapped_ = 0;
  std::uint64_t maps_ = 0, unmaps_ = 0, madvises_ = 0;
  std::atomic<remote_node*> remote_{nullptr};
  std::atomic<bool> orphaned_{false};
};

}  // namespace ioduel::proactor
