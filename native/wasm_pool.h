// The thread pool of the threaded WebAssembly build (native/wasm_threads.cc), in place of pool.h for jobs.h and
// gated_jobs.h: the same protocol (the calling thread is thread 0; workers 1 .. n-1 join a posted call while it is
// open, and run returns once the caller and every worker that joined are done), so the same jobs split the work
// the same way and write the same floats at any thread count.
//
// What differs from pool.h: the workers are Web Workers (browser) or worker_threads (Node.js) that
// src/kernels/wasm/workers.ts starts, each instantiating this module on the same shared memory and calling
// worker_main(tid), which never returns; they come up later than the first calls, and a worker that is not there
// yet simply never joins (the jobs hand out their work dynamically). A sleeping worker waits with
// memory.atomic.wait64; the calling thread only ever spins, as a browser's main thread may not wait. Memory for
// the jobs' schedules comes from a bump allocator that each call starts afresh above its own arrays (set_arena).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <cstdlib>

#include "pool_call.h"

namespace {

inline void cpu_relax() {}  // WebAssembly has no pause instruction

using Job = void (*)(void* ctx, int tid, int nthreads);

constexpr int MAX_THREADS = 1024;

struct Pool {
  std::atomic<int> threads{1};  // what the jobs read: the setting, at most 1 + the workers running
  std::atomic<int> setting{1};  // set_threads
  alignas(64) std::atomic<int> live{0};  // workers in worker_main
  // The posted call, one word: generation << 32 | wanted threads << 17 | CLOSED | workers that joined (bits 0-15).
  alignas(64) std::atomic<uint64_t> state{0};
  alignas(64) std::atomic<int> finished{0};  // workers of this call done with the job
  alignas(64) std::atomic<int> sleepers{0};  // workers waiting on state (or about to)
  std::atomic<int> busy{0};                  // one parallel call at a time
  Job job = nullptr;
  void* ctx = nullptr;
};

Pool pool;

void refresh_threads() {
  const int s = pool.setting.load(std::memory_order_relaxed), w = pool.live.load(std::memory_order_relaxed) + 1;
  pool.threads.store(s < w ? s : w, std::memory_order_relaxed);
}

// Spins of an idle worker before it sleeps (about 0.1 to 0.5 ms), so that back-to-back calls find it awake.
constexpr int IDLE_SPINS = 1 << 17;

template <class Ready>
inline void spin_until(Ready&& ready) {
  while (!ready()) {
  }
}

uint64_t wait_for_call(uint64_t seen) {
  for (int spins = 0; spins < IDLE_SPINS; spins++) {
    const uint64_t w = pool.state.load(std::memory_order_acquire);
    if ((w >> 32) != seen) return w;
  }
  pool.sleepers.fetch_add(1, std::memory_order_seq_cst);
  uint64_t w;
  // waits of 50 ms at most: an engine stops a worker (terminate, or the process's exit) between waits, not in one
  while (((w = pool.state.load(std::memory_order_seq_cst)) >> 32) == seen)
    __builtin_wasm_memory_atomic_wait64((long long*)&pool.state.v, (long long)w, 50 * 1000 * 1000);
  pool.sleepers.fetch_sub(1, std::memory_order_relaxed);
  return w;
}

// Runs job on the calling thread (tid 0) and on the workers 1 .. n-1 that join before the caller is done, n capped
// at pool.threads; alone when n < 2 or a call is in flight.
void run(Job job, void* ctx, int n) {
  const int most = pool.threads.load(std::memory_order_relaxed);
  if (n > most) n = most;
  if (n < 2 || pool.busy.exchange(1, std::memory_order_acquire) != 0) {
    job(ctx, 0, 1);
    return;
  }
  pool.job = job;
  pool.ctx = ctx;
  pool.finished.store(0, std::memory_order_relaxed);
  const uint64_t g = (pool.state.load(std::memory_order_relaxed) >> 32) + 1;
  pool.state.store(g << 32 | (uint64_t)n << 17, std::memory_order_seq_cst);
  if (pool.sleepers.load(std::memory_order_seq_cst) > 0)
    __builtin_wasm_memory_atomic_notify((int*)&pool.state.v, (unsigned)-1);
  job(ctx, 0, n);
  const int joined = (int)(pool.state.fetch_or(CLOSED, std::memory_order_acq_rel) & 0xffff);
  spin_until([&] { return pool.finished.load(std::memory_order_acquire) == joined; });
  pool.busy.store(0, std::memory_order_release);
}

size_t arena_at = 0;  // the bump allocator's next free byte

float* alloc_floats(size_t n) { return static_cast<float*>(rnn_wasm_alloc(n * sizeof(float))); }

}  // namespace

extern "C" {

// 64-byte aligned room for `bytes` from the arena (growing the memory when needed), or null; never freed: the
// next call's set_arena starts it again.
void* rnn_wasm_alloc(size_t bytes) {
  const size_t at = (arena_at + 63) / 64 * 64, end = at + bytes;
  const size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1) return nullptr;
  arena_at = end;
  return (void*)at;
}

// Starts the arena at byte `at` (above the call's arrays), for the next call.
__attribute__((export_name("set_arena"))) void set_arena(size_t at) { arena_at = at; }

// Sets the thread count (1 .. MAX_THREADS), used as far as there are workers running.
__attribute__((export_name("set_threads"))) void set_threads(int n) {
  pool.setting.store(n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n, std::memory_order_relaxed);
  refresh_threads();
}

// The threads a call runs on now: the setting, at most 1 + the workers running.
__attribute__((export_name("get_threads"))) int get_threads() { return pool.threads.load(std::memory_order_relaxed); }

// A worker's life (on its own instance and stack, tid 1 ..): joins the calls that want it, forever.
__attribute__((export_name("worker_main"))) void worker_main(int tid) {
  pool.live.fetch_add(1, std::memory_order_acq_rel);
  refresh_threads();
  uint64_t seen = 0;
  for (;;) {
    uint64_t w = wait_for_call(seen);
    seen = w >> 32;
    join_call(pool, w, seen, tid);
  }
}
}
