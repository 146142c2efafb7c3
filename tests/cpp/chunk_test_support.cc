// The allocation watch of chunk_test_support.h: the global operator new of the test binary, replaced.
#include "chunk_test_support.h"

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

namespace pyheapdump::chunk_test {

std::atomic<bool> g_watch_allocations{false};
std::atomic<size_t> g_largest_allocation{0};
std::atomic<size_t> g_allocations_off_the_watching_thread{0};
std::thread::id g_watching_thread;

}  // namespace pyheapdump::chunk_test

namespace {
using pyheapdump::chunk_test::g_allocations_off_the_watching_thread;
using pyheapdump::chunk_test::g_largest_allocation;
using pyheapdump::chunk_test::g_watch_allocations;
using pyheapdump::chunk_test::g_watching_thread;

void NoteAllocation(size_t size) {
  if (!g_watch_allocations.load(std::memory_order_relaxed)) return;
  if (std::this_thread::get_id() != g_watching_thread) ++g_allocations_off_the_watching_thread;
  size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
  while (size > seen && !g_largest_allocation.compare_exchange_weak(seen, size)) {
  }
}

void* Allocate(size_t size) {
  NoteAllocation(size);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(size_t size) {
  if (void* p = Allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return Allocate(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return Allocate(size); }
// Not inlined, so the compiler does not see free() meet a pointer from operator new and warn of a mismatch.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, size_t) noexcept { std::free(p); }
