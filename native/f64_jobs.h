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

// dw += dY^T X: blocks of output rows from a shared counter, each summed over all M rows by one thread (its own
// work buffer), so each element is the same chunked chain whatever the thread count. Each block lays out every
// chunk of X's rows again, so blocks are as large as the threads allow (up to GW64_MOST rows: its dY^T chunk and
// X's panels, 256 rows each, stay within L2).
constexpr int GW64_LEAST = 64, GW64_MOST = 256;

inline int gw64_block(int O, int T) {
  const int per = (O + T - 1) / T;
  const int rows = per < GW64_LEAST ? GW64_LEAST : per > GW64_MOST ? GW64_MOST : per;
  return (rows + MR - 1) / MR * MR;
}

template <class DY, class XR>
struct GradWeight64Job {
  DY dyrow;
  XR xrow;
  double* dw;
  double* db;
  double* const* work;  // per thread: gw64_work(block, C)
  int M, O, C, block;
  alignas(64) std::atomic<int> next{0};
  GradWeight64Job(DY d, XR x) : dyrow(d), xrow(x) {}
};

template <class Job>
void grad_weight64_job(void* c, int tid, int nt) {
  Job& j = *static_cast<Job*>(c);
  take_row_blocks(j.next, j.O, j.block, nt, [&](int o0, int o1) {
    for (int b = o0; b < o1; b += j.block) {
      const int e = o1 < b + j.block ? o1 : b + j.block;
      grad_weight64_rows(j.dw, j.db, j.work[tid], j.dyrow, j.xrow, 0, j.M, b, e, j.C);
    }
  });
}

// dw (O, C) += dY^T X over M rows, db (O, or null) += dY's column sums. False when out of memory (nothing written).
template <class DY, class XR>
bool grad_weight64(double* dw, double* db, DY dyrow, XR xrow, int M, int O, int C) {
  GradWeight64Job<DY, XR> job(dyrow, xrow);
  job.dw = dw, job.db = db, job.M = M, job.O = O, job.C = C;
  const int most = pool.threads.load(std::memory_order_relaxed);
  job.block = gw64_block(O, most);
  const int blocks = (O + job.block - 1) / job.block;
  const int T = (double)M * O * C >= (1 << 20) ? threads_for(blocks, most) : 1;
  std::vector<double*> work(T, nullptr);
  bool ok = true;
  for (double*& w : work) {
    w = reinterpret_cast<double*>(alloc_floats(2 * gw64_work(job.block, C)));
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

struct Backward64Job {
  const Backward64* b;
  StepSchedule sched;
};

void backward64_job(void* c, int tid, int nt) {
  Backward64Job& j = *static_cast<Backward64Job*>(c);
  const Backward64& b = *j.b;
  run_steps(j.sched, tid, nt, [&](int s, int p0, int p1, int m0, int m1) { b.step(s, p0, p1, m0, m1); });
}

// Runs every step of b: in blocks of rows, one thread each (split_steps with teams of one: a step's gate math
// needs the whole of its rows' dh), when a step is big enough to share. False when out of memory.
inline bool run_backward64(const Backward64& b) {
  Backward64Job job;
  job.b = &b;
  const Split split = split_steps(b.N, (double)b.G * b.H * b.H, 1, pool.threads.load(std::memory_order_relaxed),
                                  TEAM_WORK);
  if (!job.sched.init(b.L, b.N, 1, split)) return false;
  run(backward64_job, &job, split.threads);
  return true;
}

#pragma GCC pop_options

}  // namespace
