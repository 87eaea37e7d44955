// LD_PRELOAD shim: counts malloc/calloc/realloc/aligned allocations (operator
// new goes through malloc) and prints the total to stderr at exit.
//   gcc -O2 -shared -fPIC -o count_malloc.so count_malloc.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ulong allocations;
static void* (*real_malloc)(size_t);
static void* (*real_calloc)(size_t, size_t);
static void* (*real_realloc)(void*, size_t);
static int (*real_posix_memalign)(void**, size_t, size_t);
static void* (*real_aligned_alloc)(size_t, size_t);
static char bootstrap[4096];
static size_t bootstrap_used;

static void init(void) {
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
}

void* malloc(size_t n) {
  if (!real_malloc) init();
  atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
  return real_malloc(n);
}
void* calloc(size_t a, size_t b) {
  if (!real_calloc) {
    // dlsym itself may call calloc: serve it from a static block.
    void* p = bootstrap + bootstrap_used;
    bootstrap_used += (a * b + 15) & ~(size_t)15;
    memset(p, 0, a * b);
    return p;
  }
  atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
  return real_calloc(a, b);
}
void free(void* p) {
  static void (*real_free)(void*);
  if ((char*)p >= bootstrap && (char*)p < bootstrap + sizeof bootstrap) return;
  if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
  real_free(p);
}
void* realloc(void* p, size_t n) {
  if (!real_realloc) init();
  atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
  return real_realloc(p, n);
}
int posix_memalign(void** p, size_t a, size_t n) {
  if (!real_posix_memalign) init();
  atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
  return real_posix_memalign(p, a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  if (!real_aligned_alloc) init();
  atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
  return real_aligned_alloc(a, n);
}

__attribute__((destructor)) static void report(void) {
  char line[96];
  int len = snprintf(line, sizeof line, "count_malloc: %lu allocations\n",
                     atomic_load(&allocations));
  if (write(2, line, (size_t)len) < 0) {}
}
