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

// Room for n doubles, 64-byte aligned as the tiles' loads need, that std::free releases (pool.h's alloc_floats).
inline double* aligned_doubles(size_t n) { return reinterpret_cast<double*>(alloc_floats(2 * n)); }

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
    w = aligned_doubles(gw64_work(job.block, C));
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
  // a projected step runs whole rows (its projection reads all of their units): blocks of rows, teams of one
  const double rowWork = (double)r.G * r.H * r.width() + (r.Bpr ? (double)r.H * r.P : 0.0);
  const Split split = split_steps(r.N, rowWork, r.Bpr ? 1 : r.panels(), pool.threads.load(std::memory_order_relaxed),
                                  r.G == 1 ? TEAM_WORK : 1 << 19);
  if (!job.sched.init(r.L, r.N, r.Bpr ? 1 : r.panels(), split)) return false;
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

// The layer wavefront of jobs.h (layers_job) in float64, for every mode: K unidirectional layers in one call,
// layer k running steps t0..t1 once layer k-1 has finished them, while layer k-1 goes on with later steps on
// another core. Each layer is taken whole by one thread (in order, from a shared counter), packs its own weights,
// and moves in chunks of CH steps: it projects the chunk's input rows itself (x W_ih^T + b_ih, + b_hh but for the
// GRU), runs the chunk's steps (Recurrence64 with its time offset) into a private stage copied to the layer's
// output at once, and publishes its progress. The floats are linear64's then recurrence64's, layer by layer.
struct Layers64Plan {
  const double* x;           // (L, N, I)
  double* const* outs;       // K x (L, N, H)
  double* hN;                // (K, N, H)
  double* cN;                // LSTM: (K, N, H) or null
  const double* h0;          // (K, N, H)
  const double* c0;          // LSTM: (K, N, H) or null for zeros
  const double* const* wih;  // K x (G*H, I or H), null where Bih holds it prepared
  const double* const* whh;  // K x (G*H, H), likewise
  const double* const* bih;  // K x (G*H) or null
  const double* const* bhh;  // K x (G*H) or null
  double* const* tapes;      // LSTM, GRU: K x (L, N, (G+1)*H), or null: not recorded
  double* const* Bih;        // K x W_ih's panels
  double* const* Bhh;        // K x W_hh's panels (gate-interleaved for the LSTM and GRU)
  double* const* work;       // per thread: layers64_work doubles
  int L, N, I, H, K, CH, G;
  bool relu;
  const int32_t* lengths;
  Progress* progress;  // K
};

struct Layers64Job {
  Layers64Plan plan;
  alignas(64) std::atomic<int> next{0};
};

// Per thread: pre (CH, N, G*H), the chunk's outputs (CH, N, H), then h, two step states and c (N, H) each.
inline size_t layers64_work(int CH, int N, int G, int H) { return (size_t)(CH * (G + 1) + 4) * N * H; }

void layers64_job(void* c, int tid, int) {
  Layers64Job& job = *static_cast<Layers64Job*>(c);
  const Layers64Plan j = job.plan;
  const size_t NH = (size_t)j.N * j.H, GH = (size_t)j.G * j.H, W = (size_t)(j.G + 1) * j.H;
  double* pre = j.work[tid];
  double* stage = pre + (size_t)j.CH * j.N * GH;
  double* h = stage + (size_t)j.CH * NH;
  double* hb = h + NH;
  double* cs = hb + 2 * NH;
  for (int k; (k = job.next.fetch_add(1, std::memory_order_relaxed)) < j.K;) {
    const double* in = k == 0 ? j.x : j.outs[k - 1];
    const int C = k == 0 ? j.I : j.H;
    if (j.wih[k]) pack64(j.Bih[k], j.wih[k], (int)GH, C);
    if (j.whh[k]) pack64_layout(j.Bhh[k], j.whh[k], j.G == 1 ? 0 : j.G, (int)GH, j.H);
    std::atomic<int>* below = k > 0 ? &j.progress[k - 1].steps : nullptr;
    std::atomic<int>& mine = j.progress[k].steps;
    std::memcpy(h, j.h0 + k * NH, NH * sizeof(double));
    for (size_t i = 0; i < NH; i++) cs[i] = j.G == 4 && j.c0 ? j.c0[k * NH + i] : 0.0;
    for (int t0 = 0; t0 < j.L; t0 += j.CH) {
      const int t1 = j.L < t0 + j.CH ? j.L : t0 + j.CH;
      if (below) spin_until([&] { return below->load(std::memory_order_acquire) >= t1; });
      const int n = t1 - t0;
      linear64_panels(pre, in + (size_t)t0 * j.N * C, j.Bih[k], j.bih[k], j.G == 3 ? nullptr : j.bhh[k], 0, n * j.N, 0,
                      (int)panels64((int)GH), C, (int)GH);
      Recurrence64 r{stage, pre, j.Bhh[k], j.G == 3 ? j.bhh[k] : nullptr, h, {hb, hb + NH}, cs,
                     j.tapes && j.G > 1 ? j.tapes[k] + (size_t)t0 * j.N * W : nullptr, (size_t)j.H, n, j.N, j.H, j.G,
                     j.relu, false, j.lengths, t0};
      for (int s = 0; s < n; s++) r.step(s, 0, r.panels(), 0, j.N);
      std::memcpy(h, r.state(n - 1), NH * sizeof(double));
      std::memcpy(j.outs[k] + (size_t)t0 * NH, stage, (size_t)n * NH * sizeof(double));
      mine.store(t1, std::memory_order_release);
    }
    std::memcpy(j.hN + k * NH, h, NH * sizeof(double));
    if (j.G == 4 && j.cN) std::memcpy(j.cN + k * NH, cs, NH * sizeof(double));
  }
}

// Whether the float64 wavefront takes K layers of N rows and H features (as layers_take): two threads or more, two
// layers or more, and steps that run_recurrence64 would not share between the threads.
inline bool layers64_take(int G, int64_t K, int64_t N, int64_t H) {
  const int T = pool.threads.load(std::memory_order_relaxed);
  const int panels = G == 1 ? (int)panels64((int)H) : units64((int)H);
  return T >= 2 && K >= 2 &&
         split_steps((int)N, (double)G * H * H, panels, T, G == 1 ? TEAM_WORK : 1 << 19).threads == 1;
}

#pragma GCC pop_options

}  // namespace
