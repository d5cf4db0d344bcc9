// How the float64 kernels' calls (native/f64.h) are shared between the pool's threads: jobs.h's rules and schedule
// (part of the same translation unit, after jobs.h), in doubles. As there, a split changes only which thread
// computes what, never a float.
//   linear: blocks of LINEAR_ROWS rows from a shared counter, or for one block of rows with large weights, blocks
//           of output panels;
//   the recurrence: run_steps over a StepSchedule (blocks of rows, each through every step, or teams sharing a
//           step's panels), as the float32 RNN's and the fused cells';
//   dx: blocks of rows; the weight gradients: blocks of output rows, each thread summing its rows over every
//           chunk of the M rows in order.
#pragma once

#include <atomic>

#include "jobs.h"

namespace {

#pragma GCC push_options
RNN_TARGET_VECTOR

struct Linear64Job {
  double* y;
  const double* x;
  const double* Bp;
  const double* b1;
  const double* b2;
  int M, C, O;
  alignas(64) std::atomic<int> next{0};
};

void linear64_job(void* c, int, int nt) {
  Linear64Job& j = *static_cast<Linear64Job*>(c);
  if (nt > 1 && split_by_panels(j.M, j.C, j.O)) {
    take_row_blocks(j.next, (int)panels64(j.O), LINEAR_PANELS, nt, [&](int p0, int p1) {
      linear64_panels(j.y, j.x, j.Bp, j.b1, j.b2, 0, j.M, p0, p1, j.C, j.O);
    });
    return;
  }
  take_row_blocks(j.next, j.M, LINEAR_ROWS, nt, [&](int m0, int m1) {
    linear64_panels(j.y, j.x, j.Bp, j.b1, j.b2, m0, m1, 0, (int)panels64(j.O), j.C, j.O);
  });
}

// Threads for a float64 product: jobs.h's product_threads, or a split by panels for one block of rows with large
// weights (a float64 multiply-add costs about two float32 ones, so the same rules are, if anything, late).
inline int linear64_threads(int64_t M, int64_t C, int64_t O) {
  if (M < 1 || !split_by_panels(M, C, O)) return product_threads(M, C, O);
  const int blocks = (int)((panels64((int)O) + LINEAR_PANELS - 1) / LINEAR_PANELS);
  return threads_for(blocks, pool.threads.load(std::memory_order_relaxed));
}

struct Dx64Job {
  double* dx;
  const double* dy;
  const double* Bp;
  int M, C, O;
  alignas(64) std::atomic<int> next{0};
};

void dx64_job(void* c, int, int nt) {
  Dx64Job& j = *static_cast<Dx64Job*>(c);
  take_row_blocks(j.next, j.M, LINEAR_ROWS, nt, [&](int m0, int m1) { dx64_rows(j.dx, j.dy, j.Bp, m0, m1, j.O, j.C); });
}

// dw += dY^T X: blocks of GW64_BLOCK output rows from a shared counter, each summed over all M rows by one thread
// (its own work buffer), so each element is the same chunked chain whatever the thread count.
constexpr int GW64_BLOCK = 64;

template <class DY, class XR>
struct GradWeight64Job {
  DY dyrow;
  XR xrow;
  double* dw;
  double* db;
  double* const* work;  // per thread: gw64_work(GW64_BLOCK, C)
  int M, O, C;
  alignas(64) std::atomic<int> next{0};
  GradWeight64Job(DY d, XR x) : dyrow(d), xrow(x) {}
};

template <class Job>
void grad_weight64_job(void* c, int tid, int nt) {
  Job& j = *static_cast<Job*>(c);
  take_row_blocks(j.next, j.O, GW64_BLOCK, nt, [&](int o0, int o1) {
    for (int b = o0; b < o1; b += GW64_BLOCK) {
      const int e = o1 < b + GW64_BLOCK ? o1 : b + GW64_BLOCK;
      grad_weight64_rows(j.dw, j.db, j.work[tid], j.dyrow, j.xrow, 0, j.M, b, e, j.C);
    }
  });
}

// dw (O, C) += dY^T X over M rows, db (O, or null) += dY's column sums. False when out of memory (nothing written).
template <class DY, class XR>
bool grad_weight64(double* dw, double* db, DY dyrow, XR xrow, int M, int O, int C) {
  GradWeight64Job<DY, XR> job(dyrow, xrow);
  job.dw = dw, job.db = db, job.M = M, job.O = O, job.C = C;
  const int blocks = (O + GW64_BLOCK - 1) / GW64_BLOCK;
  const int T = (double)M * O * C >= (1 << 20) ? threads_for(blocks, pool.threads.load(std::memory_order_relaxed)) : 1;
  std::vector<double*> work(T, nullptr);
  bool ok = true;
  for (double*& w : work) {
    w = reinterpret_cast<double*>(alloc_floats(2 * gw64_work(GW64_BLOCK, C)));
    ok = ok && w;
  }
  if (ok) {
    job.work = work.data();
    run(grad_weight64_job<GradWeight64Job<DY, XR>>, &job, T);
  }
  for (double* w : work) std::free(w);
  return ok;
}

// A recurrence (f64.h's Recurrence64) on the pool.
struct Recurrence64Job {
  const Recurrence64* r;
  StepSchedule sched;
};

void recurrence64_job(void* c, int tid, int nt) {
  Recurrence64Job& j = *static_cast<Recurrence64Job*>(c);
  const Recurrence64& r = *j.r;
  run_steps(j.sched, tid, nt, [&](int s, int p0, int p1, int m0, int m1) { r.step(s, p0, p1, m0, m1); });
}

// Runs every step of r, on this thread or, when a step is big enough to share (jobs.h's split_steps: the RNN's
// rule, and the fused cells' larger team work), on the pool. False when out of memory (nothing is run then).
inline bool run_recurrence64(const Recurrence64& r) {
  Recurrence64Job job;
  job.r = &r;
  const double rowWork = (double)r.G * r.H * r.H;
  const Split split = split_steps(r.N, rowWork, r.panels(), pool.threads.load(std::memory_order_relaxed),
                                  r.G == 1 ? TEAM_WORK : 1 << 19);
  if (!job.sched.init(r.L, r.N, r.panels(), split)) return false;
  run(recurrence64_job, &job, split.threads);
  return true;
}

#pragma GCC pop_options

}  // namespace
