// The thread pool of native/addon.cc (part of its one translation unit): the calling thread is thread 0, and
// persistent workers 1 .. threads-1 are started on first use and woken per call. `run(job, ctx, n)` posts a job
// for threads 0 .. n-1; each worker below n that wakes before the caller has finished its own part joins in and
// calls job(ctx, tid, n) with its own fixed tid, and run returns once the caller and every worker that joined are
// done. A worker that has not joined by then never touches the job, so jobs split their work dynamically: a
// worker that is slow to wake (asleep, or its core busy) costs nothing, the threads that came doing its share.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <exception>
#include <thread>

#include "pool_call.h"
#include "portable.h"

namespace {

inline void cpu_relax() { rnn_cpu_relax(); }

using Job = void (*)(void* ctx, int tid, int nthreads);

constexpr int MAX_THREADS = 1024;

struct Pool {
  std::atomic<int> threads{1};  // the setting: the calling thread and up to threads - 1 workers
  int started = 0;  // workers started so far (tids 1 .. started)
  bool start_failed = false;  // a worker failed to start (reported once)
  int cores = 1;    // std::thread::hardware_concurrency()
  // The posted call, one word: generation << 32 | wanted threads << 17 | CLOSED | workers that joined (bits 0-15).
  // CLOSED is set by the caller when its own part is done; a worker joins by adding 1 while it is clear.
  alignas(64) std::atomic<uint64_t> state{0};
  alignas(64) std::atomic<int> finished{0};  // workers of this call done with the job
  alignas(64) std::atomic<int> sleepers{0};  // workers asleep on cv (or about to be)
  Job job = nullptr;
  void* ctx = nullptr;
  std::mutex m;
  std::condition_variable cv;
  std::mutex busy;  // one parallel call at a time; a concurrent caller (another worker_thread) runs alone
};

// never destroyed: glibc's condition-variable destructor would wait at exit for the sleeping workers
Pool& pool = *new Pool;

// How long an idle worker stays awake after a call before it sleeps, so that back-to-back calls find it awake.
constexpr auto IDLE_SPIN = std::chrono::microseconds(300);

// Spins of a waiting thread (for a step of the job, or for the workers at the end) before it yields its core on
// each try: short when there are more threads than cores, where spinning takes the core from a thread with work.
inline int spin_limit() { return pool.threads.load(std::memory_order_relaxed) > pool.cores ? 16 : 1 << 12; }

// Waits until ready() holds: spins, then yields (a thread that lost its core gets it back sooner).
template <class Ready>
inline void spin_until(Ready&& ready) {
  const int limit = spin_limit();
  for (int spins = 0; !ready(); spins++) {
    if (spins < limit) cpu_relax();
    else std::this_thread::yield();
  }
}

// Waits for a call newer than generation `seen`: spins for IDLE_SPIN, then sleeps on the condition variable.
uint64_t wait_for_call(uint64_t seen) {
  const bool over = pool.threads.load(std::memory_order_relaxed) > pool.cores;
  const auto until = std::chrono::steady_clock::now() + IDLE_SPIN;
  for (int spins = 0;; spins++) {
    const uint64_t w = pool.state.load(std::memory_order_acquire);
    if ((w >> 32) != seen) return w;
    if ((spins & 63) == 63 && std::chrono::steady_clock::now() > until) break;
    if (over) std::this_thread::yield();
    else cpu_relax();
  }
  std::unique_lock<std::mutex> lk(pool.m);
  pool.sleepers.fetch_add(1, std::memory_order_seq_cst);
  uint64_t w;
  while (((w = pool.state.load(std::memory_order_seq_cst)) >> 32) == seen) pool.cv.wait(lk);
  pool.sleepers.fetch_sub(1, std::memory_order_relaxed);
  return w;
}

void worker_main(int tid) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t w = wait_for_call(seen);
    seen = w >> 32;
    join_call(pool, w, seen, tid);
  }
}

// Starts workers up to tid `upto`. A thread the system refuses to start (a container's pids limit, RLIMIT_NPROC,
// memory for its stack) is not fatal: std::thread throws std::system_error, which unguarded would terminate the
// process. The pool then keeps the workers that did start, lowers the setting to them (what getThreads() reports
// from then on), and says so once on stderr. The posted call needs no change: a worker that never joins is one
// that was late, which every job already covers.
void start_workers(int upto) {
  for (; pool.started < upto; pool.started++) {
    try {
      std::thread(worker_main, pool.started + 1).detach();
    } catch (const std::exception& e) {  // std::system_error: EAGAIN
      pool.threads.store(pool.started + 1, std::memory_order_relaxed);
      if (!pool.start_failed) {
        pool.start_failed = true;
        std::fprintf(stderr,
                     "stacked-rnn: warning: the system refused to start thread %d of %d (%s); running on %d thread%s\n",
                     pool.started + 2, upto + 1, e.what(), pool.started + 1, pool.started == 0 ? "" : "s");
      }
      return;
    }
  }
}

// Runs job on the calling thread (tid 0) and on the workers 1 .. n-1 that join before the caller is done, with
// n capped at the setting; alone (tid 0 of 1) when n < 2 or another thread's call holds the pool.
void run(Job job, void* ctx, int n) {
  const int most = pool.threads.load(std::memory_order_relaxed);
  if (n > most) n = most;
  if (n < 2 || !pool.busy.try_lock()) {
    job(ctx, 0, 1);
    return;
  }
  if (pool.started < n - 1) start_workers(n - 1);
  pool.job = job;
  pool.ctx = ctx;
  pool.finished.store(0, std::memory_order_relaxed);
  const uint64_t g = (pool.state.load(std::memory_order_relaxed) >> 32) + 1;
  pool.state.store(g << 32 | (uint64_t)n << 17, std::memory_order_seq_cst);
  if (pool.sleepers.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lk(pool.m); }  // a worker between its check and its wait holds m
    pool.cv.notify_all();
  }
  job(ctx, 0, n);
  const int joined = (int)(pool.state.fetch_or(CLOSED, std::memory_order_acq_rel) & 0xffff);
  spin_until([&] { return pool.finished.load(std::memory_order_acquire) == joined; });
  pool.busy.unlock();
}

// Sets the thread count (1 .. MAX_THREADS; workers start on first use), waiting for a call in flight.
void set_threads(int n) {
  std::lock_guard<std::mutex> lk(pool.busy);
  pool.threads.store(n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n, std::memory_order_relaxed);
}

float* alloc_floats(size_t n) {
  return static_cast<float*>(rnn_aligned_alloc(n * sizeof(float)));
}

}  // namespace
