// The jobs native/addon.cc runs on the pool (part of its one translation unit): how each kernel call's work is
// split between the two threads. The arithmetic is core.h's; the Node-API glue is addon.cc's.
//
// One worker besides the calling thread, woken per call. The input projection splits its rows between
// the two. The recurrence (forward and backward) splits a batch of 12 rows or more into blocks of rows, each run
// through every step by one thread; with fewer rows it splits each step's output columns (each thread's half of
// the packed W_hh stays in its own L2) and a step starts once every panel of the step before is done, since step
// t+1 needs all of h_t. A unidirectional stack whose steps are too small to split (`layers`) runs as a wavefront:
// layer k on one thread a chunk of steps behind layer k-1 on the other. The weight gradients split the L*N rows
// they sum over into chunks, each thread summing its chunks into its own float64 accumulator.
#pragma once
// Needs core.h, included before it with the AVX2 target (as addon.cc does).

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "pool.h"

namespace {

struct LinearJob {
  float* y;
  const float* x;
  const float* Bp;
  const float* b1;
  const float* b2;
  int M, C, O;
  std::atomic<int> next{0};  // the next block of rows to take
};

#pragma GCC push_options
#pragma GCC target("avx2,fma")
// Calls f(m0, m1) for blocks of `rows` of the M rows, taken from the shared counter `next` until none are left, so
// a thread that loses its core mid-call only costs its current block (a static half-and-half split would wait
// for all of its half).
template <class F>
inline void take_row_blocks(std::atomic<int>& next, int M, int rows, F&& f) {
  for (int m0; (m0 = next.fetch_add(rows, std::memory_order_relaxed)) < M;) f(m0, M < m0 + rows ? M : m0 + rows);
}

// Rows go in blocks of 96.
void linear_job(void* c, int, int) {
  LinearJob& j = *static_cast<LinearJob*>(c);
  take_row_blocks(j.next, j.M, 96, [&](int m0, int m1) { linear_rows(j.y, j.x, j.Bp, j.b1, j.b2, m0, m1, j.C, j.O); });
}

// The recurrence's work for step t is one tile per panel (16 output columns, all N rows). Thread 0 takes panels
// from the front and thread 1 from the back of each step, so on a quiet machine each keeps the same half of
// W_hh in its own L2 step after step, and when one thread loses its core the other takes the rest of the step.
// A panel of step t waits until every panel of step t-1 is done (it reads all of h_{t-1}).
struct StepSlot {
  std::atomic<uint64_t> range;  // step (bits 40..63), first (20..39) and end (0..19) of the panels not yet taken
  std::atomic<int> done;        // panels of this step finished
};

inline uint64_t slot_word(uint64_t step, uint64_t first, uint64_t end) { return step << 40 | first << 20 | end; }

// Rows of a batch are independent sequences, so with enough rows the two threads split the batch rather than each
// step: a block of rows runs all L steps on the thread that took it, with nothing handed between the cores from
// one step to the next (each step of a column split reads the other core's half of h_{t-1}: as slow as that core
// is far, 0.1 to 0.4 us a line on this machine). Blocks are taken from a shared counter, so a thread that is late
// leaves its blocks to the other.
struct RowBlocks {
  int count = 0;  // 0: split each step's panels instead
  std::atomic<int> next{0};
  // the first row of block b: a multiple of MR, so only the last block has a short tile
  int start(int b, int N) const { return b >= count ? N : N * b / count / MR * MR; }
};

// Blocks for N rows: up to 4 (so a thread that finishes early takes another), each at least 2 tiles of MR rows.
inline int row_block_count(int N) { return N < 2 * MR ? 0 : N < 4 * MR ? 2 : N < 8 * MR ? 3 : 4; }

// Whether a recurrence step of N rows and H features is shared between the two threads: two threads pay once a
// step's products (~10 us) outweigh handing panels and h_t between the cores.
inline bool step_shared(int64_t N, int64_t H) { return (double)N * H * H >= (1 << 19); }

struct RecurrenceJob {
  float* out;
  const float* pre;
  const float* Bp;
  const float* h0;
  float* buf[2];
  int L, N, H, P;
  size_t outStride;
  int outOffset;
  int relu, reverse;
  const int32_t* lengths;
  StepSlot slot[2];                 // steps s and s+1 in slots s&1 and (s+1)&1
  std::atomic<int> completed{0};    // steps finished
  RowBlocks rows;
};

// Takes a panel of step s from the front (tid 0) or the back; -1 when all of step s's panels are taken.
int take_panel(StepSlot& slot, int s, int tid) {
  uint64_t w = slot.range.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t first = w >> 20 & 0xfffff, end = w & 0xfffff;
    if ((w >> 40) != (uint64_t)s || first >= end) return -1;
    const uint64_t next = tid == 0 ? slot_word(s, first + 1, end) : slot_word(s, first, end - 1);
    if (slot.range.compare_exchange_weak(w, next, std::memory_order_acq_rel)) return (int)(tid == 0 ? first : end - 1);
  }
}

// The schedule both recurrence jobs share: L steps of P panels each, run(s, p0, p1, m0, m1) doing panels p0..p1
// of rows m0..m1 of step s. Alone, a thread runs whole steps; two split the rows into blocks when there are enough
// of them, else each step's panels.
template <class Step>
void run_steps(StepSlot (&slot)[2], std::atomic<int>& completed, RowBlocks& rows, int L, int N, int P, int tid,
               int nt, Step&& run) {
  if (nt == 1) {
    for (int s = 0; s < L; s++) run(s, 0, P, 0, N);
    return;
  }
  if (rows.count > 0) {
    for (int b; (b = rows.next.fetch_add(1, std::memory_order_relaxed)) < rows.count;) {
      const int m0 = rows.start(b, N), m1 = rows.start(b + 1, N);
      for (int s = 0; s < L; s++) run(s, 0, P, m0, m1);
    }
    return;
  }
  for (int s = 0; s < L;) {
    StepSlot& sl = slot[s & 1];
    const int p = take_panel(sl, s, tid);
    if (p < 0) {
      s++;
      continue;
    }
    for (int spins = 0; completed.load(std::memory_order_acquire) < s; spins++) {
      if (spins < (1 << 12)) cpu_relax();  // yield soon: if the other thread lost its core, spinning delays it
      else std::this_thread::yield();
    }
    run(s, p, p + 1, 0, N);
    if (sl.done.fetch_add(1, std::memory_order_acq_rel) + 1 == P) {
      // the last panel of step s: the slot now serves step s+2, then step s+1 may start
      sl.done.store(0, std::memory_order_relaxed);
      sl.range.store(slot_word(s + 2, 0, P), std::memory_order_release);
      completed.store(s + 1, std::memory_order_release);
    }
  }
  for (int spins = 0; completed.load(std::memory_order_acquire) < L; spins++) {
    if (spins < (1 << 12)) cpu_relax();
    else std::this_thread::yield();
  }
}

void init_slots(StepSlot (&slot)[2], int P) {
  slot[0].range.store(slot_word(0, 0, P));
  slot[0].done.store(0);
  slot[1].range.store(slot_word(1, 0, P));
  slot[1].done.store(0);
}

void recurrence_job(void* c, int tid, int nt) {
  RecurrenceJob& j = *static_cast<RecurrenceJob*>(c);
  run_steps(j.slot, j.completed, j.rows, j.L, j.N, j.P, tid, nt, [&](int s, int p0, int p1, int m0, int m1) {
    const int t = j.reverse ? j.L - 1 - s : s;
    const int tn = s + 1 < j.L ? (j.reverse ? t - 1 : t + 1) : -1;
    // rows m0..m1 are rows 0..m1-m0 of arrays that start at row m0
    const size_t h = (size_t)m0 * j.H, o = (size_t)m0 * j.outStride + j.outOffset;
    float* out = j.out + o;
    const float* pre = j.pre + h;
    recurrence_step(j.buf[s & 1] + h, out + (size_t)t * j.N * j.outStride, j.outStride,
                    (s == 0 ? j.h0 : j.buf[(s - 1) & 1]) + h, pre + (size_t)t * j.N * j.H, j.Bp, m1 - m0, j.H, p0,
                    p1, j.lengths ? j.lengths + m0 : nullptr, t, j.relu,
                    tn < 0 ? nullptr : pre + (size_t)tn * j.N * j.H,
                    tn < 0 ? nullptr : out + (size_t)tn * j.N * j.outStride);
  });
}

// The backward's time loop: step q undoes the forward's step L-1-q (time tq(q)); its products read all of the
// dz rows the step before wrote, so it has the forward's dependencies and schedule.
struct RecurrenceBackwardJob {
  float* Z;  // (L, N, H) dz of every step
  float* dh;  // (N, H) the carried gradient
  const float* Bp;  // whh^T's panels
  const float* dout;  // at the direction's offset, or null
  const float* out;  // at the direction's offset
  size_t stride;
  int L, N, H, P;
  int relu, reverse;
  const int32_t* lengths;
  StepSlot slot[2];
  std::atomic<int> completed{0};
  RowBlocks rows;
  int tq(int q) const { return reverse ? q : L - 1 - q; }
};

void recurrence_backward_job(void* c, int tid, int nt) {
  RecurrenceBackwardJob& j = *static_cast<RecurrenceBackwardJob*>(c);
  const size_t NH = (size_t)j.N * j.H, tstride = (size_t)j.N * j.stride;  // floats from one step to the next
  run_steps(j.slot, j.completed, j.rows, j.L, j.N, j.P, tid, nt, [&](int q, int p0, int p1, int m0, int m1) {
    const int t = j.tq(q), tn = q + 1 < j.L ? j.tq(q + 1) : -1, tnn = q + 2 < j.L ? j.tq(q + 2) : -1;
    // rows m0..m1 are rows 0..m1-m0 of arrays that start at row m0
    float* Z = j.Z + (size_t)m0 * j.H;
    const float* dout = j.dout ? j.dout + (size_t)m0 * j.stride : nullptr;
    const float* out = j.out + (size_t)m0 * j.stride;
    backward_step(j.dh + (size_t)m0 * j.H, tn >= 0 ? Z + tn * NH : nullptr, Z + t * NH, j.Bp,
                  dout && tn >= 0 ? dout + tn * tstride : nullptr, tn >= 0 ? out + tn * tstride : nullptr, j.stride,
                  m1 - m0, j.H, p0, p1, j.lengths ? j.lengths + m0 : nullptr, t, tn, j.relu,
                  dout && tnn >= 0 ? dout + tnn * tstride : nullptr, tnn >= 0 ? out + tnn * tstride : nullptr,
                  tnn >= 0 ? Z + tnn * NH : nullptr);
  });
}

// dx += dy @ w, rows in blocks of 96 from a shared counter (as linear_job).
struct DxJob {
  float* dx;
  const float* dy;
  const float* Bp;  // w^T's panels
  int M, C, O;
  std::atomic<int> next{0};
};

void dx_job(void* c, int, int) {
  DxJob& j = *static_cast<DxJob*>(c);
  take_row_blocks(j.next, j.M, 96,
                  [&](int m0, int m1) { linear_backward_dx_rows(j.dx, j.dy, j.Bp, m0, m1, j.O, j.C); });
}

// acc (O, C) += dY^T X (and bsum += column sums of dY) over M rows: chunks of GW_ROWS rows from a shared counter,
// each thread summing into its own float64 accumulators, added together by the caller.
template <class DY, class XR>
struct GradWeightJob {
  DY dyrow;
  XR xrow;
  int M, O, C;
  bool bias;
  double* acc[2];   // (O, C) per thread, rows acc_ld(C) apart, zeroed
  double* bsum[2];  // (O) per thread, zeroed
  float* work[2];   // grad_weight_work(O, C) per thread
  bool used[2] = {false, false};
  std::atomic<int> next{0};
  GradWeightJob(DY d, XR x) : dyrow(d), xrow(x) {}
};

template <class Job>
void grad_weight_job(void* c, int tid, int) {
  Job& j = *static_cast<Job*>(c);
  take_row_blocks(j.next, j.M, GW_ROWS, [&](int m0, int m1) {
    j.used[tid] = true;
    grad_weight_rows(j.acc[tid], j.bias ? j.bsum[tid] : nullptr, j.work[tid], j.dyrow, j.xrow, m0, m1, j.O, j.C);
  });
}
#pragma GCC pop_options

// The layer pipeline (a wavefront over the layers): K unidirectional layers in one call, layer k running steps
// t0..t1 as soon as layer k-1 has finished them, while layer k-1 goes on with its later steps on the other core.
// Each layer is taken whole by one thread (layers are handed out in order from a shared counter, so a worker
// that is slow to wake only means the caller runs more of them) and moves in chunks of CH steps: it packs its own
// weights when it takes the layer, projects each chunk's input rows itself (its W_ih stays in its cache), and
// publishes how far it has got after each chunk. What crosses between the cores is each layer's output, once per
// chunk (see layer_steps), and the progress counters.
struct alignas(64) Progress {
  std::atomic<int> steps{0};  // steps of this layer finished; on its own cache line, as each is polled by a reader
};

// What every thread reads: set before the job starts and copied by each thread to its own stack, so that no line
// of it is shared with anything the other thread writes while the layers run.
struct LayersPlan {
  const float* x;             // (L, N, I)
  float* const* outs;         // K x (L, N, H)
  float* hN;                  // (K, N, H): h0 to begin with, each layer's last state at the end
  const float* const* wih;    // K x (H, I or H)
  const float* const* whh;    // K x (H, H)
  const float* const* b1;     // K x (H) or null
  const float* const* b2;     // K x (H) or null
  float* const* Bih;          // K x room for W_ih's panels, packed by the thread that takes the layer
  float* const* Bhh;          // K x room for W_hh's panels, likewise
  float* work[2];             // per thread: pre (CH, N, H), two states (N, H), the chunk's outputs (CH, N, H)
  int L, N, I, H, K, CH;
  int relu;
  const int32_t* lengths;
  Progress* progress;  // K
};

struct LayersJob {
  LayersPlan plan;
  alignas(64) std::atomic<int> next{0};  // the next layer to take, on a line of its own
};

inline size_t layers_work(int CH, int N, int H) { return (size_t)(2 * CH + 2) * N * H; }

void layers_job(void* c, int tid, int) {
  LayersJob& job = *static_cast<LayersJob*>(c);
  const LayersPlan j = job.plan;
  const size_t NH = (size_t)j.N * j.H;
  float* pre = j.work[tid];
  float* buf = pre + (size_t)j.CH * NH;
  float* h = buf + NH;  // the running layer's state, in this thread's own buffer (hN's rows may share a line)
  float* stage = h + NH;
  for (int k; (k = job.next.fetch_add(1, std::memory_order_relaxed)) < j.K;) {
    const float* in = k == 0 ? j.x : j.outs[k - 1];
    const int C = k == 0 ? j.I : j.H;
    pack_panels(j.Bih[k], j.wih[k], j.H, C);
    pack_panels(j.Bhh[k], j.whh[k], j.H, j.H);
    std::atomic<int>* below = k > 0 ? &j.progress[k - 1].steps : nullptr;
    std::atomic<int>& mine = j.progress[k].steps;
    std::memcpy(h, j.hN + k * NH, NH * sizeof(float));
    for (int t0 = 0; t0 < j.L; t0 += j.CH) {
      const int t1 = j.L < t0 + j.CH ? j.L : t0 + j.CH;
      for (int spins = 0; below && below->load(std::memory_order_acquire) < t1; spins++) {
        if (spins < (1 << 12)) cpu_relax();  // as run_steps: yield soon, in case the other thread lost its core
        else std::this_thread::yield();
      }
      layer_steps(j.outs[k], h, buf, pre, stage, in, j.Bih[k], j.b1[k], j.b2[k], j.Bhh[k], t0, t1, j.N, C, j.H,
                  j.relu, j.lengths);
      mine.store(t1, std::memory_order_release);
    }
    std::memcpy(j.hN + k * NH, h, NH * sizeof(float));
  }
}

// dw (O, C) += dY^T X over M rows, db1 and db2 (O) += the column sums of dY (each skipped when null), summed in
// float64 on both cores and rounded into storage once. False when out of memory (nothing is written then).
template <class DY, class XR>
bool grad_weight(float* dw, float* db1, float* db2, DY dyrow, XR xrow, int M, int O, int C) {
  GradWeightJob<DY, XR> job(dyrow, xrow);
  job.M = M;
  job.O = O;
  job.C = C;
  job.bias = db1 || db2;
  const bool parallel = (double)M * O * C >= (1 << 21) && M > GW_ROWS;
  const int T = parallel && pool.threads >= 2 ? 2 : 1;
  bool ok = true;
  for (int i = 0; i < 2; i++) {
    const bool mine = i < T;
    job.acc[i] = mine ? static_cast<double*>(std::calloc((size_t)O * acc_ld(C), sizeof(double))) : nullptr;
    job.bsum[i] = mine ? static_cast<double*>(std::calloc((size_t)O, sizeof(double))) : nullptr;
    job.work[i] = mine ? alloc_floats(grad_weight_work(O, C)) : nullptr;
    ok = ok && (!mine || (job.acc[i] && job.bsum[i] && job.work[i]));
  }
  if (ok) {
    run(grad_weight_job<GradWeightJob<DY, XR>>, &job, T == 2);
    const double* a0 = job.acc[0];
    const double* a1 = job.used[1] ? job.acc[1] : nullptr;
    for (int o = 0; o < O; o++) {
      const size_t r = (size_t)o * acc_ld(C);
      float* d = dw + (size_t)o * C;
      for (int c = 0; c < C; c++) d[c] = (float)((double)d[c] + (a1 ? a0[r + c] + a1[r + c] : a0[r + c]));
    }
    for (int o = 0; o < O && job.bias; o++) {
      const double b = job.bsum[0][o] + (job.used[1] ? job.bsum[1][o] : 0.0);
      if (db1) db1[o] = (float)((double)db1[o] + b);
      if (db2) db2[o] = (float)((double)db2[o] + b);
    }
  }
  for (int i = 0; i < 2; i++) {
    std::free(job.acc[i]);
    std::free(job.bsum[i]);
    std::free(job.work[i]);
  }
  return ok;
}

}  // namespace
