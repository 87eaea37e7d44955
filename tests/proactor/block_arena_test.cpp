#include <boost/test/unit_test.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "proactor/block_arena.hpp"

using ioduel::proactor::block_arena;

namespace {

constexpr std::size_t small = block_arena::min_block;

// Whether every page of [p, p + n) is resident, or none is (mincore).
enum class residency { all, none, mixed };
residency resident(const char* p, std::size_t n) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((n + page - 1) / page);
  BOOST_REQUIRE(::mincore(const_cast<char*>(p), n, v.data()) == 0);
  std::size_t in = 0;
  for (unsigned char c : v) in += c & 1;
  return in == v.size() ? residency::all : in == 0 ? residency::none : residency::mixed;
}

std::uintptr_t chunk_base(const char* b, std::size_t k) {
  return reinterpret_cast<std::uintptr_t>(b) & ~(block_arena::chunk_span(k) - 1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(block_arena_suite)

BOOST_AUTO_TEST_CASE(blocks_of_a_class_are_carved_from_one_chunk) {
  block_arena a;
  const std::size_t per_chunk = (block_arena::chunk_span(0) - 4096) / small;
  std::vector<char*> got;
  for (std::size_t i = 0; i < per_chunk; ++i) got.push_back(a.acquire(0));
  BOOST_TEST(a.statistics().chunks == 1u);
  BOOST_TEST(a.statistics().maps == 1u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(chunk_base(got[i], 0) == chunk_base(got[0], 0));
    std::memset(got[i], static_cast<int>(i), small);  // every byte is the block's own
  }
  for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(got[i][small - 1] == static_cast<char>(i));
  // The chunk is full: the next block takes a second one.
  char* more = a.acquire(0);
  BOOST_TEST(a.statistics().chunks == 2u);
  BOOST_TEST(chunk_base(more, 0) != chunk_base(got[0], 0));
  a.release(more, 0);
  for (char* b : got) a.release(b, 0);
}

BOOST_AUTO_TEST_CASE(a_freed_block_is_reused_without_a_system_call) {
  block_arena a;
  char* b = a.acquire(2);
  std::memset(b, 1, block_arena::block_size(2));
  const auto before = a.statistics();
  a.release(b, 2);
  BOOST_TEST(a.statistics().dirty_bytes == block_arena::block_size(2));
  BOOST_TEST(static_cast<void*>(a.acquire(2)) == static_cast<void*>(b));
  const auto after = a.statistics();
  BOOST_TEST(after.maps == before.maps);
  BOOST_TEST(after.madvises == before.madvises);
  BOOST_TEST(after.unmaps == before.unmaps);
  a.release(b, 2);
}

// A block that lies unused through a whole period has its pages given back
// (mincore sees them go) but stays mapped; a chunk that then stays wholly
// free through another period is unmapped.
BOOST_AUTO_TEST_CASE(decay_gives_pages_back_with_madvise_then_unmaps_the_chunk) {
  block_arena a;
  char* b = a.acquire(1);
  const std::size_t n = block_arena::block_size(1);
  std::memset(b, 7, n);
  BOOST_TEST((resident(b, n) == residency::all));
  a.release(b, 1);
  a.end_period();  // freed during this period: kept
  BOOST_TEST((resident(b, n) == residency::all));
  BOOST_TEST(a.statistics().dirty_bytes == n);
  const auto before = a.statistics();
  a.end_period();  // unused through a whole period: its pages go
  BOOST_TEST((resident(b, n) == residency::none));
  BOOST_TEST(a.statistics().dirty_bytes == 0u);
  BOOST_TEST(a.statistics().madvises == before.madvises + 1);
  BOOST_TEST(a.statistics().unmaps == before.unmaps);
  BOOST_TEST(a.statistics().chunks == 1u);  // wholly clean from now on
  a.end_period();  // and through a whole period: unmapped
  BOOST_TEST(a.statistics().chunks == 0u);
  BOOST_TEST(a.statistics().mapped_bytes == 0u);
}

BOOST_AUTO_TEST_CASE(adjacent_free_blocks_go_back_in_one_madvise) {
  block_arena a;
  std::vector<char*> got;
  for (int i = 0; i < 8; ++i) got.push_back(a.acquire(0));
  for (char* b : got) std::memset(b, 1, small);
  for (char* b : got) a.release(b, 0);
  const auto before = a.statistics();
  a.cut_to(0);
  BOOST_TEST(a.statistics().madvises == before.madvises + 1);
  for (char* b : got) BOOST_TEST((resident(b, small) == residency::none));
  BOOST_TEST(a.statistics().dirty_bytes == 0u);
}

BOOST_AUTO_TEST_CASE(a_block_used_every_period_stays_resident) {
  block_arena a;
  char* b = a.acquire(0);
  std::memset(b, 3, small);
  a.release(b, 0);
  for (int period = 0; period < 4; ++period) {
    BOOST_TEST(static_cast<void*>(a.acquire(0)) == static_cast<void*>(b));
    a.release(b, 0);
    a.end_period();
  }
  BOOST_TEST(a.statistics().dirty_bytes == small);
  BOOST_TEST((resident(b, small) == residency::all));
}

BOOST_AUTO_TEST_CASE(past_the_dirty_limit_a_freed_block_goes_back_at_once) {
  block_arena::options o;
  o.dirty_limit = 2 * small;
  block_arena a(o);
  char* b[3] = {a.acquire(0), a.acquire(0), a.acquire(0)};
  for (char* p : b) std::memset(p, 1, small);
  for (char* p : b) a.release(p, 0);
  BOOST_TEST(a.statistics().dirty_bytes == 2 * small);
  BOOST_TEST((resident(b[2], small) == residency::none));
}

// The shared-context model: a block freed on another thread goes back to
// the arena that carved it, which hands it out again.
BOOST_AUTO_TEST_CASE(a_block_freed_on_another_thread_returns_to_its_owner) {
  block_arena owner;
  std::vector<char*> got;
  for (int i = 0; i < 32; ++i) got.push_back(owner.acquire(0));
  block_arena::stats other_holds;
  std::thread t([&] {
    block_arena other;
    for (char* b : got) other.release(b, 0);
    other_holds = other.statistics();
  });
  t.join();
  BOOST_TEST(other_holds.dirty_bytes == 0u);
  BOOST_TEST(other_holds.chunks == 0u);
  const auto before = owner.statistics();
  for (int i = 0; i < 32; ++i) got[i] = owner.acquire(0);  // taken back in, then reused
  BOOST_TEST(owner.statistics().chunks == before.chunks);
  BOOST_TEST(owner.statistics().maps == before.maps);
  for (char* b : got) owner.release(b, 0);
  BOOST_TEST(owner.statistics().dirty_bytes == 32 * small);
}

// Both at once, for TSan: each thread frees the other's blocks while it
// carves and frees its own; at the end every chunk comes back.
BOOST_AUTO_TEST_CASE(two_threads_trading_blocks_get_every_chunk_back) {
  constexpr int rounds = 3000;
  std::atomic<char*> box[2] = {nullptr, nullptr};  // box[i]: blocks for thread i to free
  std::atomic<int> stage{0};
  std::size_t chunks_left[2] = {1, 1};
  auto barrier = [&](int target) {
    stage.fetch_add(1);
    while (stage.load() < target) std::this_thread::yield();
  };
  auto free_block = [](block_arena& a, char* b) { a.release(b, static_cast<std::size_t>(b[0])); };
  auto worker = [&](int me) {
    block_arena a;
    for (int i = 0; i < rounds; ++i) {
      char* b = a.acquire(static_cast<std::size_t>(i % 3));
      b[0] = static_cast<char>(i % 3);  // its class, for whoever frees it
      if (char* mine = box[1 - me].exchange(b)) free_block(a, mine);  // not taken yet: freed here
      if (char* theirs = box[me].exchange(nullptr)) free_block(a, theirs);
      if (i % 101 == 0) a.end_period();
    }
    barrier(2);  // both done trading
    if (char* theirs = box[me].exchange(nullptr)) free_block(a, theirs);
    barrier(4);  // every free has been pushed
    a.trim();
    chunks_left[me] = a.statistics().chunks;
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  BOOST_TEST(chunks_left[0] == 0u);
  BOOST_TEST(chunks_left[1] == 0u);
}

// A thread's arena outlives the thread: blocks still lent come back later
// to the orphaned arena, and the thread returning them gives back its chunks.
BOOST_AUTO_TEST_CASE(an_orphaned_arena_gives_back_its_chunks_when_its_blocks_return) {
  block_arena* gone = nullptr;
  std::vector<char*> got;
  std::thread t([&] {
    gone = new block_arena();  // a thread's arena is never freed (block_arena.hpp)
    for (int i = 0; i < 8; ++i) got.push_back(gone->acquire(0));
    gone->orphan();
  });
  t.join();
  BOOST_TEST(gone->statistics().chunks == 1u);
  block_arena here;
  for (char* b : got) here.release(b, 0);
  BOOST_TEST(gone->statistics().chunks == 0u);
  BOOST_TEST(here.statistics().chunks == 0u);
}

// Exhaustion is the caller's trouble only: the arena that could not map
// throws, and what it has lent and cached still works.
BOOST_AUTO_TEST_CASE(exhaustion_throws_bad_alloc_and_leaves_the_arena_working) {
  block_arena::options o;
  o.map_limit = block_arena::chunk_span(0);
  block_arena a(o);
  std::vector<char*> got;
  const std::size_t per_chunk = (block_arena::chunk_span(0) - 4096) / small;
  for (std::size_t i = 0; i < per_chunk; ++i) got.push_back(a.acquire(0));
  BOOST_CHECK_THROW(a.acquire(0), std::bad_alloc);
  BOOST_CHECK_THROW(a.acquire(3), std::bad_alloc);
  for (char* b : got) std::memset(b, 9, small);
  a.release(got.back(), 0);
  got.pop_back();
  got.push_back(a.acquire(0));  // a freed block serves the next request
  for (char* b : got) a.release(b, 0);
  a.trim();  // the chunk goes, and with it the limit's share
  BOOST_TEST(a.statistics().chunks == 0u);
  char* big = a.acquire(3);
  BOOST_TEST(a.statistics().chunks == 1u);
  a.release(big, 3);
}

BOOST_AUTO_TEST_CASE(large_classes_are_mappings_of_their_own) {
  block_arena a;
  const std::size_t k = block_arena::carved_classes;  // 2 MiB
  char* b = a.acquire(k);
  std::memset(b, 1, block_arena::block_size(k));
  BOOST_TEST(a.statistics().chunks == 0u);
  a.release(b, k);
  BOOST_TEST(static_cast<void*>(a.acquire(k)) == static_cast<void*>(b));  // cached
  a.release(b, k);
  const auto before = a.statistics();
  a.end_period();
  a.end_period();
  BOOST_TEST(a.statistics().unmaps == before.unmaps + 1);
  BOOST_TEST(a.statistics().mapped_bytes == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
