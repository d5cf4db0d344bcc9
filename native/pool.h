// The thread pool of native/addon.cc (part of its one translation unit): the calling thread is thread 0, one
// persistent worker is thread 1, woken per call; `run` hands a job to both and returns when both are done.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace {

inline void cpu_relax() { __builtin_ia32_pause(); }

using Job = void (*)(void* ctx, int tid, int nthreads);

struct Pool {
  int threads = 1;
  std::thread worker;
  std::mutex m;
  std::condition_variable cv;
  // the current job's generation g and state: g << 2 | POSTED, TAKEN (by the worker) or CANCELLED (by the caller,
  // who finished every block before the worker woke up, so the worker must not touch the job at all)
  std::atomic<uint64_t> word{0};
  std::atomic<uint64_t> done{0};  // the last generation the worker finished
  Job job = nullptr;
  void* ctx = nullptr;
  std::mutex busy;  // one parallel call at a time; a concurrent caller (another worker_thread) runs alone
  bool started = false;
};
enum : uint64_t { POSTED = 1, TAKEN = 2, CANCELLED = 3 };

// never destroyed: glibc's condition-variable destructor would wait at exit for the sleeping worker
Pool& pool = *new Pool;
constexpr int SPIN = 1 << 16;  // ~ a few hundred microseconds of spinning before the worker sleeps

void worker_main() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t w;
    int spins = 0;
    while (((w = pool.word.load(std::memory_order_acquire)) >> 2) == seen) {
      if (++spins < SPIN) {
        cpu_relax();
      } else {
        std::unique_lock<std::mutex> lk(pool.m);
        pool.cv.wait(lk, [&] { return (pool.word.load(std::memory_order_acquire) >> 2) != seen; });
      }
    }
    seen = w >> 2;
    uint64_t posted = seen << 2 | POSTED;
    if (pool.word.compare_exchange_strong(posted, seen << 2 | TAKEN, std::memory_order_acq_rel)) {
      pool.job(pool.ctx, 1, 2);
      pool.done.store(seen, std::memory_order_release);
    }
  }
}

// Runs job on the calling thread and, when parallel, on the worker too; the job splits its work dynamically, so
// a worker that is slow to wake (asleep, or its core busy) costs nothing: the caller does everything and cancels.
void run(Job job, void* ctx, bool parallel) {
  if (!parallel || pool.threads < 2 || !pool.busy.try_lock()) {
    job(ctx, 0, 1);
    return;
  }
  if (!pool.started) {
    pool.worker = std::thread(worker_main);
    pool.worker.detach();
    pool.started = true;
  }
  pool.job = job;
  pool.ctx = ctx;
  uint64_t g;
  {
    std::lock_guard<std::mutex> lk(pool.m);
    g = (pool.word.load(std::memory_order_relaxed) >> 2) + 1;
    pool.word.store(g << 2 | POSTED, std::memory_order_release);
  }
  pool.cv.notify_one();
  job(ctx, 0, 2);
  uint64_t posted = g << 2 | POSTED;
  if (!pool.word.compare_exchange_strong(posted, g << 2 | CANCELLED, std::memory_order_acq_rel)) {
    for (int spins = 0; pool.done.load(std::memory_order_acquire) != g; spins++) {
      if (spins < SPIN) cpu_relax();
      else std::this_thread::yield();
    }
  }
  pool.busy.unlock();
}

float* alloc_floats(size_t n) {
  const size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
  return static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
}

}  // namespace
