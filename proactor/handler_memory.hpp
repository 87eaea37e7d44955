#pragma once
// Recycled memory for the operation objects Asio allocates per asynchronous
// operation.  A session gives each kind of operation it keeps in flight (read,
// write, timer wait, urgent-data wait) its own handler_memory inside the
// session object, and binds it to the completion handler with
// asio::bind_allocator: Asio frees an operation's memory before it calls the
// handler, so the next operation the handler starts finds the block free
// again, and a steady stream of requests costs no heap allocation.
//
// A block holds `Slots` operations at once (a cancelled timer wait and its
// replacement overlap, for instance).  A request that is too big, or that
// finds every slot busy, falls back to the heap; heap_fallbacks() counts those
// so the tests and measurements can see that they do not happen.
//
// The sizes are what Asio 1.26 asks for, measured: built with
// -DIODUEL_HANDLER_MEMORY_TRACE, every handler_memory type prints at exit
// the sizes it was asked for (docs/proactor.md, "Memory").

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#ifdef IODUEL_HANDLER_MEMORY_TRACE
#include <cstdio>
#endif

namespace ioduel::proactor {

// Operations that did not fit their block, process-wide.
inline std::atomic<std::uint64_t>& heap_fallbacks() noexcept {
  static std::atomic<std::uint64_t> n{0};
  return n;
}

template <std::size_t Size, std::size_t Slots = 1>
class handler_memory {
 public:
  static constexpr std::size_t slot_size = Size;

  handler_memory() = default;
  handler_memory(const handler_memory&) = delete;
  handler_memory& operator=(const handler_memory&) = delete;

  void* allocate(std::size_t n) {
#ifdef IODUEL_HANDLER_MEMORY_TRACE
    trace().note(n);
#endif
    if (n <= Size) {
      for (std::size_t i = 0; i < Slots; ++i) {
        // In the shared-context model an operation may be freed on one
        // thread while the session's strand allocates on another.
        if (!in_use_[i].exchange(true, std::memory_order_acquire)) return storage_[i].bytes;
      }
    }
    heap_fallbacks().fetch_add(1, std::memory_order_relaxed);
    return ::operator new(n);
  }

  void deallocate(void* p) noexcept {
    for (std::size_t i = 0; i < Slots; ++i) {
      if (p == storage_[i].bytes) {
        in_use_[i].store(false, std::memory_order_release);
        return;
      }
    }
    ::operator delete(p);
  }

  bool busy() const noexcept {
    for (std::size_t i = 0; i < Slots; ++i)
      if (in_use_[i].load(std::memory_order_relaxed)) return true;
    return false;
  }

 private:
#ifdef IODUEL_HANDLER_MEMORY_TRACE
  // The distinct request sizes seen (a type may serve several operations).
  struct tracer {
    std::atomic<std::size_t> sizes[8] = {};
    std::atomic<std::size_t> requests{0};
    void note(std::size_t n) noexcept {
      requests.fetch_add(1, std::memory_order_relaxed);
      for (auto& s : sizes) {
        std::size_t seen = 0;
        if (s.compare_exchange_strong(seen, n) || seen == n) return;
      }
    }
    ~tracer() {
      std::fprintf(stderr, "handler_memory<%zu, %zu>: %zu requests of", Size, Slots, requests.load());
      for (auto& s : sizes)
        if (s.load() != 0) std::fprintf(stderr, " %zu", s.load());
      std::fprintf(stderr, " bytes\n");
    }
  };
  static tracer& trace() noexcept {
    static tracer t;
    return t;
  }
#endif

  struct slot {
    alignas(std::max_align_t) unsigned char bytes[Size];
  };
  slot storage_[Slots];
  std::atomic<bool> in_use_[Slots] = {};
};

// The standard-allocator face of a handler_memory, for asio::bind_allocator.
template <class T, class Memory>
class handler_allocator {
 public:
  using value_type = T;

  explicit handler_allocator(Memory& m) noexcept : memory_(&m) {}
  template <class U>
  handler_allocator(const handler_allocator<U, Memory>& o) noexcept : memory_(o.memory_) {}

  T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
  void deallocate(T* p, std::size_t) noexcept { memory_->deallocate(p); }

  template <class U>
  bool operator==(const handler_allocator<U, Memory>& o) const noexcept {
    return memory_ == o.memory_;
  }

 private:
  template <class, class>
  friend class handler_allocator;
  Memory* memory_;
};

}  // namespace ioduel::proactor
