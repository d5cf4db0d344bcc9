// The native kernel for Node.js: core.h compiled for AVX2+FMA, run on both cores, behind Node-API.
//
// Exports (all float32; src/kernels/native.ts checks dtypes and falls back to the reference otherwise):
//   supported: boolean                 whether this CPU has AVX2 and FMA (if not, nothing else may be called)
//   threads(n?): number                the thread count (1 or 2), set when n is given
//   linear(y, x, w, b1|null, b2|null, M, C, O)
//   recurrence(out, hN, pre, whh, h0, L, N, H, outStride, outOffset, relu, reverse, lengths|null)
//   layers(outs[], hN, x, h0, wih[], whh[], bih[], bhh[], L, N, I, H, relu, lengths|null): boolean
//   linearBackward(dx|null, dw, db1|null, db2|null, dy, x, w, M, C, O)
//   recurrenceBackward(dpre, dh0, dwhh, dout|null, dhN|null, out, h0, whh, L, N, H, outStride, outOffset, relu,
//                      reverse, lengths|null)
// with the meanings of src/kernels/kernel.ts.
//
// Threads: one worker besides the calling thread, woken per call. The input projection splits its rows between
// the two. The recurrence (forward and backward) splits a batch of 12 rows or more into blocks of rows, each run
// through every step by one thread; with fewer rows it splits each step's output columns (each thread's half of
// the packed W_hh stays in its own L2) and a step starts once every panel of the step before is done, since step
// t+1 needs all of h_t. A unidirectional stack whose steps are too small to split (`layers`) runs as a wavefront:
// layer k on one thread a chunk of steps behind layer k-1 on the other. The weight gradients split the L*N rows
// they sum over into chunks, each thread summing its chunks into its own float64 accumulator.
#include <node_api.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "core.h"
#pragma GCC pop_options

namespace {

inline void cpu_relax() { __builtin_ia32_pause(); }

// ---------------------------------------------------------------------------------------------------------------
// the pool: the calling thread is thread 0, one persistent worker is thread 1

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

// ---------------------------------------------------------------------------------------------------------------
// the two jobs

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
// Rows go in blocks of 96 taken from a shared counter, so a thread that loses its core mid-call only costs its
// current block (a static half-and-half split would wait for all of its half).
void linear_job(void* c, int, int) {
  LinearJob& j = *static_cast<LinearJob*>(c);
  constexpr int ROWS = 96;
  for (;;) {
    const int m0 = j.next.fetch_add(ROWS, std::memory_order_relaxed);
    if (m0 >= j.M) return;
    linear_rows(j.y, j.x, j.Bp, j.b1, j.b2, m0, j.M < m0 + ROWS ? j.M : m0 + ROWS, j.C, j.O);
  }
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
  constexpr int ROWS = 96;
  for (;;) {
    const int m0 = j.next.fetch_add(ROWS, std::memory_order_relaxed);
    if (m0 >= j.M) return;
    linear_backward_dx_rows(j.dx, j.dy, j.Bp, m0, j.M < m0 + ROWS ? j.M : m0 + ROWS, j.O, j.C);
  }
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
  for (;;) {
    const int m0 = j.next.fetch_add(GW_ROWS, std::memory_order_relaxed);
    if (m0 >= j.M) return;
    j.used[tid] = true;
    grad_weight_rows(j.acc[tid], j.bias ? j.bsum[tid] : nullptr, j.work[tid], j.dyrow, j.xrow, m0,
                     j.M < m0 + GW_ROWS ? j.M : m0 + GW_ROWS, j.O, j.C);
  }
}
#pragma GCC pop_options

// ---------------------------------------------------------------------------------------------------------------
// Node-API glue

napi_value throw_range(napi_env env, const char* message) {
  napi_throw_range_error(env, nullptr, message);
  return nullptr;
}

// A typed array of element type T (napi kind K), or with nullable null/undefined giving nullptr; false if neither.
template <typename T, napi_typedarray_type K>
bool get_typed(napi_env env, napi_value v, T** data, size_t* length, bool nullable) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  if (nullable && (type == napi_null || type == napi_undefined)) {
    *data = nullptr;
    *length = 0;
    return true;
  }
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) return false;
  napi_typedarray_type kind;
  void* raw = nullptr;
  napi_get_typedarray_info(env, v, &kind, length, &raw, nullptr, nullptr);
  if (kind != K) return false;
  *data = static_cast<T*>(raw);
  return true;
}

bool get_f32(napi_env env, napi_value v, float** data, size_t* length, bool nullable) {
  return get_typed<float, napi_float32_array>(env, v, data, length, nullable);
}

// lengths: an Int32Array, or null/undefined (every sequence runs all L steps).
bool get_i32_array(napi_env env, napi_value v, int32_t** data, size_t* length) {
  return get_typed<int32_t, napi_int32_array>(env, v, data, length, true);
}

bool get_int(napi_env env, napi_value v, int64_t* out) {
  return napi_get_value_int64(env, v, out) == napi_ok && *out >= 0 && *out <= 0x7fffffff;
}

napi_value Linear(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 8) return throw_range(env, "linear: expected 8 arguments");
  float *y, *x, *w, *b1, *b2;
  size_t ny, nx, nw, nb1, nb2;
  int64_t M, C, O;
  if (!get_f32(env, a[0], &y, &ny, false) || !get_f32(env, a[1], &x, &nx, false) ||
      !get_f32(env, a[2], &w, &nw, false) || !get_f32(env, a[3], &b1, &nb1, true) ||
      !get_f32(env, a[4], &b2, &nb2, true) || !get_int(env, a[5], &M) || !get_int(env, a[6], &C) ||
      !get_int(env, a[7], &O)) {
    return throw_range(env, "linear: expected (Float32Array y, x, w, b1|null, b2|null, M, C, O)");
  }
  if (ny < (size_t)(M * O) || nx < (size_t)(M * C) || nw < (size_t)(O * C) || (b1 && nb1 < (size_t)O) ||
      (b2 && nb2 < (size_t)O)) {
    return throw_range(env, "linear: an array is shorter than M, C and O require");
  }
  if (M == 0 || O == 0) return nullptr;
  float* Bp = alloc_floats(panel_count((int)O) * NR * (size_t)C);
  if (!Bp) return throw_range(env, "linear: out of memory");
  pack_panels(Bp, w, (int)O, (int)C);
  LinearJob job;
  job.y = y;
  job.x = x;
  job.Bp = Bp;
  job.b1 = b1;
  job.b2 = b2;
  job.M = (int)M;
  job.C = (int)C;
  job.O = (int)O;
  run(linear_job, &job, (double)M * C * O >= (1 << 21) && M > 96);  // > ~40 us of work
  std::free(Bp);
  return nullptr;
}

napi_value Recurrence(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 13) return throw_range(env, "recurrence: expected 13 arguments");
  float *out, *hN, *pre, *whh, *h0;
  size_t nout, nhN, npre, nwhh, nh0, nlen;
  int32_t* lengths;
  int64_t L, N, H, outStride, outOffset;
  bool relu = false, reverse = false;
  if (!get_f32(env, a[0], &out, &nout, false) || !get_f32(env, a[1], &hN, &nhN, false) ||
      !get_f32(env, a[2], &pre, &npre, false) || !get_f32(env, a[3], &whh, &nwhh, false) ||
      !get_f32(env, a[4], &h0, &nh0, false) || !get_int(env, a[5], &L) || !get_int(env, a[6], &N) ||
      !get_int(env, a[7], &H) || !get_int(env, a[8], &outStride) || !get_int(env, a[9], &outOffset) ||
      napi_get_value_bool(env, a[10], &relu) != napi_ok || napi_get_value_bool(env, a[11], &reverse) != napi_ok ||
      !get_i32_array(env, a[12], &lengths, &nlen)) {
    return throw_range(env,
                       "recurrence: expected (Float32Array out, hN, pre, whh, h0, L, N, H, outStride, outOffset, "
                       "relu, reverse, Int32Array lengths|null)");
  }
  const size_t outNeed = L * N > 0 ? (size_t)((L * N - 1) * outStride + outOffset + H) : 0;
  if (nout < outNeed || outOffset + H > outStride || nhN < (size_t)(N * H) || npre < (size_t)(L * N * H) ||
      nwhh < (size_t)(H * H) || nh0 < (size_t)(N * H) || (lengths && nlen < (size_t)N)) {
    return throw_range(env, "recurrence: an array is shorter than L, N, H and the output stride require");
  }
  if (N == 0 || H == 0) return nullptr;
  float* Bp = alloc_floats(panel_count((int)H) * NR * (size_t)H);
  float* buf = alloc_floats(2 * (size_t)N * H);
  if (!Bp || !buf) {
    std::free(Bp);
    std::free(buf);
    return throw_range(env, "recurrence: out of memory");
  }
  pack_panels(Bp, whh, (int)H, (int)H);
  if (const RowTanh row = L > 0 ? row_tanh_for((int)N, (int)H, relu, lengths) : nullptr) {
    // online inference: the whole time loop on this thread, accumulators in registers (core.h)
    const ptrdiff_t last = reverse ? (ptrdiff_t)L - 1 : 0, dir = reverse ? -1 : 1;
    row(out + outOffset + last * outStride, dir * (ptrdiff_t)outStride, pre + last * H, dir * (ptrdiff_t)H, Bp, h0, hN,
        (int)L);
    std::free(Bp);
    std::free(buf);
    return nullptr;
  }
  RecurrenceJob job;
  job.out = out;
  job.pre = pre;
  job.Bp = Bp;
  job.h0 = h0;
  job.buf[0] = buf;
  job.buf[1] = buf + (size_t)N * H;
  job.L = (int)L;
  job.N = (int)N;
  job.H = (int)H;
  job.P = (int)panel_count((int)H);
  job.outStride = (size_t)outStride;
  job.outOffset = (int)outOffset;
  job.relu = relu;
  job.reverse = reverse;
  job.lengths = lengths;
  init_slots(job.slot, job.P);
  job.rows.count = row_block_count((int)N);
  // two threads pay once a step's products (~10 us) outweigh handing panels and h_t between the cores
  run(recurrence_job, &job, (double)N * H * H >= (1 << 19) && (job.P >= 2 || job.rows.count > 0));
  const float* last = L == 0 ? h0 : job.buf[(L - 1) & 1];
  std::memmove(hN, last, (size_t)N * H * sizeof(float));
  std::free(Bp);
  std::free(buf);
  return nullptr;
}

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

// A JavaScript array of K Float32Arrays (null entries allowed when nullable), each at least `least` long (the first
// at least `least0`).
bool get_f32_list(napi_env env, napi_value v, int64_t K, float** data, size_t least0, size_t least, bool nullable) {
  bool is = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &n) != napi_ok || n != K) {
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    size_t len = 0;
    if (napi_get_element(env, v, i, &e) != napi_ok || !get_f32(env, e, &data[i], &len, nullable)) return false;
    if (data[i] && len < (i == 0 ? least0 : least)) return false;
  }
  return true;
}

// layers(outs[], hN, x, h0, wih[], whh[], bih[], bhh[], L, N, I, H, relu, lengths|null): true when it ran, false
// when it declines, having written nothing: a step big enough to be shared between the cores (as recurrence
// does) is better run layer by layer.
napi_value Layers(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value a[14];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 14) return throw_range(env, "layers: expected 14 arguments");
  float *hN, *x, *h0;
  size_t nhN, nx, nh0, nlen;
  int32_t* lengths;
  int64_t L, N, I, H;
  bool relu = false;
  const char* usage =
      "layers: expected (Float32Array[] outs, hN, x, h0, Float32Array[] wih, whh, (Float32Array|null)[] bih, bhh, "
      "L, N, I, H, relu, Int32Array lengths|null)";
  uint32_t K = 0;
  bool isArray = false;
  if (napi_is_array(env, a[0], &isArray) != napi_ok || !isArray || napi_get_array_length(env, a[0], &K) != napi_ok ||
      K == 0 || K > 4096 || !get_f32(env, a[1], &hN, &nhN, false) || !get_f32(env, a[2], &x, &nx, false) ||
      !get_f32(env, a[3], &h0, &nh0, false) || !get_int(env, a[8], &L) || !get_int(env, a[9], &N) ||
      !get_int(env, a[10], &I) || !get_int(env, a[11], &H) || napi_get_value_bool(env, a[12], &relu) != napi_ok ||
      !get_i32_array(env, a[13], &lengths, &nlen)) {
    return throw_range(env, usage);
  }
  std::vector<float*> outs(K), wih(K), whh(K), bih(K), bhh(K);
  const size_t LNH = (size_t)(L * N * H);
  if (!get_f32_list(env, a[0], K, outs.data(), LNH, LNH, false) ||
      !get_f32_list(env, a[4], K, wih.data(), (size_t)(H * I), (size_t)(H * H), false) ||
      !get_f32_list(env, a[5], K, whh.data(), (size_t)(H * H), (size_t)(H * H), false) ||
      !get_f32_list(env, a[6], K, bih.data(), (size_t)H, (size_t)H, true) ||
      !get_f32_list(env, a[7], K, bhh.data(), (size_t)H, (size_t)H, true)) {
    return throw_range(env, "layers: expected arrays of K Float32Arrays as long as L, N, I and H require");
  }
  if (nhN < (size_t)(K * N * H) || nh0 < (size_t)(K * N * H) || nx < (size_t)(L * N * I) ||
      (lengths && nlen < (size_t)N)) {
    return throw_range(env, "layers: an array is shorter than L, N, I, H and the layer count require");
  }
  // Declined: with one thread the layer-by-layer calls are as fast, and a step big enough to share between the
  // cores (as recurrence does) is better run that way.
  napi_value result;
  const bool take = pool.threads >= 2 && K >= 2 && (double)N * H * H < (1 << 19);
  napi_get_boolean(env, take, &result);
  if (!take) return result;
  std::memmove(hN, h0, (size_t)K * N * H * sizeof(float));
  if (L == 0 || N == 0 || H == 0) return result;
  // Chunks of about 16 rows: layer k+1 starts one chunk behind layer k, and each chunk's output crosses to the
  // other core at once (a line read by the other core costs about 0.1 to 0.4 us to get back, depending on where
  // the host has placed the two cores).
  const int CH = N >= 16 ? 1 : (int)(16 / N);
  const size_t ihFloats = panel_count((int)H) * NR * (size_t)(I > H ? I : H), hhFloats = panel_count((int)H) * NR * H;
  std::vector<float*> owned;  // every buffer, freed at the end
  auto take_floats = [&](size_t n) {
    float* p = alloc_floats(n);
    owned.push_back(p);
    return p;
  };
  std::vector<float*> Bih(K), Bhh(K);
  for (uint32_t k = 0; k < K; k++) Bih[k] = take_floats(ihFloats), Bhh[k] = take_floats(hhFloats);
  float* work0 = take_floats(layers_work(CH, (int)N, (int)H));
  float* work1 = take_floats(layers_work(CH, (int)N, (int)H));
  std::unique_ptr<Progress[]> progress(new (std::nothrow) Progress[K]);
  bool ok = progress != nullptr;
  for (float* p : owned) ok = ok && p;
  if (ok) {
    LayersJob job;
    LayersPlan& p = job.plan;
    p.x = x, p.outs = outs.data(), p.hN = hN;
    p.wih = wih.data(), p.whh = whh.data(), p.b1 = bih.data(), p.b2 = bhh.data(), p.Bih = Bih.data(), p.Bhh = Bhh.data();
    p.work[0] = work0, p.work[1] = work1;
    p.L = (int)L, p.N = (int)N, p.I = (int)I, p.H = (int)H, p.K = (int)K, p.CH = CH;
    p.relu = relu, p.lengths = lengths, p.progress = progress.get();
    run(layers_job, &job, true);
  }
  for (float* p : owned) std::free(p);
  if (!ok) return throw_range(env, "layers: out of memory");
  return result;
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

napi_value LinearBackward(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value a[10];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 10) return throw_range(env, "linearBackward: expected 10 arguments");
  float *dx, *dw, *db1, *db2, *dy, *x, *w;
  size_t ndx, ndw, ndb1, ndb2, ndy, nx, nw;
  int64_t M, C, O;
  if (!get_f32(env, a[0], &dx, &ndx, true) || !get_f32(env, a[1], &dw, &ndw, false) ||
      !get_f32(env, a[2], &db1, &ndb1, true) || !get_f32(env, a[3], &db2, &ndb2, true) ||
      !get_f32(env, a[4], &dy, &ndy, false) || !get_f32(env, a[5], &x, &nx, false) ||
      !get_f32(env, a[6], &w, &nw, false) || !get_int(env, a[7], &M) || !get_int(env, a[8], &C) ||
      !get_int(env, a[9], &O)) {
    return throw_range(env, "linearBackward: expected (Float32Array dx|null, dw, db1|null, db2|null, dy, x, w, M, C, O)");
  }
  if ((dx && ndx < (size_t)(M * C)) || ndw < (size_t)(O * C) || (db1 && ndb1 < (size_t)O) ||
      (db2 && ndb2 < (size_t)O) || ndy < (size_t)(M * O) || nx < (size_t)(M * C) || nw < (size_t)(O * C)) {
    return throw_range(env, "linearBackward: an array is shorter than M, C and O require");
  }
  if (M == 0 || O == 0) return nullptr;
  if (dx && C > 0) {
    float* Bp = alloc_floats(panel_count((int)C) * NR * (size_t)O);
    if (!Bp) return throw_range(env, "linearBackward: out of memory");
    pack_panels_rows(Bp, [&](int k) { return (const float*)w + (size_t)k * C; }, (int)O, (int)C);
    DxJob job;
    job.dx = dx;
    job.dy = dy;
    job.Bp = Bp;
    job.M = (int)M;
    job.C = (int)C;
    job.O = (int)O;
    run(dx_job, &job, (double)M * C * O >= (1 << 21) && M > 96);
    std::free(Bp);
  }
  const float* dyc = dy;
  const float* xc = x;
  const int64_t Cc = C, Oc = O;
  if (!grad_weight(
          dw, db1, db2, [=](int m) { return dyc + (size_t)m * Oc; }, [=](int m) { return xc + (size_t)m * Cc; },
          (int)M, (int)O, (int)C)) {
    return throw_range(env, "linearBackward: out of memory");
  }
  return nullptr;
}

// The whole backward of one direction's recurrence: the time loop (both cores, as the forward), then dwhh as one
// product over every step's dz and the state it read, then dpre += dz.
napi_value RecurrenceBackward(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value a[16];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 16) return throw_range(env, "recurrenceBackward: expected 16 arguments");
  float *dpre, *dh0, *dwhh, *dout, *dhN, *out, *h0, *whh;
  size_t ndpre, ndh0, ndwhh, ndout, ndhN, nout, nh0, nwhh, nlen;
  int32_t* lengths;
  int64_t L, N, H, outStride, outOffset;
  bool relu = false, reverse = false;
  if (!get_f32(env, a[0], &dpre, &ndpre, false) || !get_f32(env, a[1], &dh0, &ndh0, false) ||
      !get_f32(env, a[2], &dwhh, &ndwhh, false) || !get_f32(env, a[3], &dout, &ndout, true) ||
      !get_f32(env, a[4], &dhN, &ndhN, true) || !get_f32(env, a[5], &out, &nout, false) ||
      !get_f32(env, a[6], &h0, &nh0, false) || !get_f32(env, a[7], &whh, &nwhh, false) ||
      !get_int(env, a[8], &L) || !get_int(env, a[9], &N) || !get_int(env, a[10], &H) ||
      !get_int(env, a[11], &outStride) || !get_int(env, a[12], &outOffset) ||
      napi_get_value_bool(env, a[13], &relu) != napi_ok || napi_get_value_bool(env, a[14], &reverse) != napi_ok ||
      !get_i32_array(env, a[15], &lengths, &nlen)) {
    return throw_range(env,
                       "recurrenceBackward: expected (Float32Array dpre, dh0, dwhh, dout|null, dhN|null, out, h0, "
                       "whh, L, N, H, outStride, outOffset, relu, reverse, Int32Array lengths|null)");
  }
  const size_t outNeed = L * N > 0 ? (size_t)((L * N - 1) * outStride + outOffset + H) : 0;
  if (nout < outNeed || (dout && ndout < outNeed) || outOffset + H > outStride || ndpre < (size_t)(L * N * H) ||
      ndh0 < (size_t)(N * H) || (dhN && ndhN < (size_t)(N * H)) || nh0 < (size_t)(N * H) ||
      ndwhh < (size_t)(H * H) || nwhh < (size_t)(H * H) || (lengths && nlen < (size_t)N)) {
    return throw_range(env, "recurrenceBackward: an array is shorter than L, N, H and the output stride require");
  }
  if (L == 0 || N == 0 || H == 0) return nullptr;
  const size_t NH = (size_t)N * H, LNH = (size_t)L * NH;
  // dz goes straight into dpre when dpre starts at zero (as the stack's backward gives it), else into a buffer
  // added into dpre at the end; the dwhh product needs dz alone
  bool zero = true;
  for (size_t i = 0; i < LNH && zero; i++) zero = dpre[i] == 0.0f;
  float* Zown = zero ? nullptr : alloc_floats(LNH);
  float* Z = zero ? dpre : Zown;
  float* Bp = alloc_floats(panel_count((int)H) * NR * (size_t)H);
  float* dh = alloc_floats(NH);
  float* zeros = static_cast<float*>(std::calloc((size_t)H, sizeof(float)));
  if ((!zero && !Zown) || !Bp || !dh || !zeros) {
    std::free(Zown);
    std::free(Bp);
    std::free(dh);
    std::free(zeros);
    return throw_range(env, "recurrenceBackward: out of memory");
  }
  pack_panels_rows(Bp, [&](int k) { return (const float*)whh + (size_t)k * H; }, (int)H, (int)H);
  RecurrenceBackwardJob job;
  job.Z = Z;
  job.dh = dh;
  job.Bp = Bp;
  job.dout = dout ? dout + outOffset : nullptr;
  job.out = out + outOffset;
  job.stride = (size_t)outStride;
  job.L = (int)L;
  job.N = (int)N;
  job.H = (int)H;
  job.P = (int)panel_count((int)H);
  job.relu = relu;
  job.reverse = reverse;
  job.lengths = lengths;
  init_slots(job.slot, job.P);
  job.rows.count = row_block_count((int)N);
  const int t0 = job.tq(0);
  backward_start(dh, Z + t0 * NH, dhN, job.dout ? job.dout + t0 * N * job.stride : nullptr,
                 job.out + t0 * N * job.stride, job.stride, (int)N, (int)H, lengths, t0, relu);
  run(recurrence_backward_job, &job, (double)N * H * H >= (1 << 19) && (job.P >= 2 || job.rows.count > 0));
  for (size_t i = 0; i < NH; i++) dh0[i] += dh[i];
  const float* o = job.out;
  const float* h0c = h0;
  const float* zc = zeros;
  const float* Zc = Z;
  const size_t stride = job.stride;
  const int Li = (int)L, Ni = (int)N, Hi = (int)H, rev = reverse;
  const int32_t* len = lengths;
  const bool ok = grad_weight(
      dwhh, nullptr, nullptr, [=](int m) { return Zc + (size_t)m * Hi; },
      [=](int m) { return prev_state_row(o, stride, h0c, zc, Li, Ni, Hi, rev, len, m); }, Li * Ni, Hi, Hi);
  if (Zown) {
    for (size_t i = 0; i < LNH; i++) dpre[i] += Zown[i];
  }
  std::free(Zown);
  std::free(Bp);
  std::free(dh);
  std::free(zeros);
  if (!ok) return throw_range(env, "recurrenceBackward: out of memory");
  return nullptr;
}

napi_value Threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc >= 1) {
    int64_t n;
    napi_valuetype type;
    napi_typeof(env, a[0], &type);
    if (type != napi_undefined) {
      if (!get_int(env, a[0], &n) || n < 1) return throw_range(env, "threads: expected a positive integer");
      std::lock_guard<std::mutex> lk(pool.busy);
      pool.threads = n >= 2 && std::thread::hardware_concurrency() >= 2 ? 2 : 1;
    }
  }
  napi_value result;
  napi_create_int32(env, pool.threads, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  __builtin_cpu_init();
  const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  pool.threads = std::thread::hardware_concurrency() >= 2 ? 2 : 1;
  if (const char* t = std::getenv("STACKED_RNN_THREADS")) {
    if (std::atoi(t) == 1) pool.threads = 1;
  }
  napi_value v;
  napi_get_boolean(env, supported, &v);
  napi_set_named_property(env, exports, "supported", v);
  napi_create_function(env, "threads", NAPI_AUTO_LENGTH, Threads, nullptr, &v);
  napi_set_named_property(env, exports, "threads", v);
  if (supported) {
    napi_create_function(env, "linear", NAPI_AUTO_LENGTH, Linear, nullptr, &v);
    napi_set_named_property(env, exports, "linear", v);
    napi_create_function(env, "recurrence", NAPI_AUTO_LENGTH, Recurrence, nullptr, &v);
    napi_set_named_property(env, exports, "recurrence", v);
    napi_create_function(env, "layers", NAPI_AUTO_LENGTH, Layers, nullptr, &v);
    napi_set_named_property(env, exports, "layers", v);
    napi_create_function(env, "linearBackward", NAPI_AUTO_LENGTH, LinearBackward, nullptr, &v);
    napi_set_named_property(env, exports, "linearBackward", v);
    napi_create_function(env, "recurrenceBackward", NAPI_AUTO_LENGTH, RecurrenceBackward, nullptr, &v);
    napi_set_named_property(env, exports, "recurrenceBackward", v);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
