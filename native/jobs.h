// The jobs native/addon.cc runs on the pool (part of its one translation unit): how each kernel call's work is
// split between T threads (pool.h: the calling thread and T-1 workers, woken per call). The arithmetic is
// core.h's; the Node-API glue is addon.cc's.
//
// Every split changes only which thread computes what, never a float: each output element is the same chain of
// operations whichever thread computes it and whatever the thread count.
//
// - The input projection (and dx in the backward) hands out blocks of 96 rows from a shared counter.
// - The recurrence (forward and backward) splits the batch into blocks of rows, each run through every step by a
//   team of threads that share each step's output panels (`recurrence_split`): with enough rows every team is
//   one thread (rows are independent sequences: nothing crosses between the cores from one step to the next),
//   unless W_hh is larger than the L3 (TEAM_WEIGHTS);
//   with few rows one team of every thread shares each step (a column split), a step starting once every panel
//   of the step before is done, since step t+1 needs all of h_t; in between, both.
// - A unidirectional stack whose steps are too small to split (`layers`) runs as a wavefront: layer k on one
//   thread a chunk of steps behind layer k-1 on another, up to K threads.
// - The weight gradients go chunk by chunk over the L*N rows they sum (1024 rows each); each chunk's transpose
//   and packing, then its tiles, are shared out, every element of the float64 accumulator summed by one thread
//   per chunk, chunks in order: the floats of one thread.
#pragma once
// Needs core.h, included before it with the AVX2 target (as addon.cc does).

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "portable.h"
#ifdef __wasm__
#include "wasm_pool.h"  // the threaded WebAssembly build's pool (native/wasm_threads.cc)
#else
#include "pool.h"
#endif

namespace {

// Threads (or pieces) for a call: `most`, or as many as there are pieces of work when fewer; at least 1.
inline int threads_for(int pieces, int most) {
  const int n = pieces < most ? pieces : most;
  return n < 1 ? 1 : n;
}

struct LinearJob {
  float* y;
  const float* x;
  const float* Bp;
  const float* b1;
  const float* b2;
  int M, C, O;
  alignas(64) std::atomic<int> next{0};  // the next block of rows to take, on a line of its own
};

#pragma GCC push_options
RNN_TARGET_VECTOR
// Calls f(m0, m1) for blocks of `rows` of the M rows, taken from the shared counter `next` until none are left, so
// a thread that loses its core mid-call only costs its current block (a static split would wait for all of its
// share). Alone (nt = 1), all M rows at once.
template <class F>
inline void take_row_blocks(std::atomic<int>& next, int M, int rows, int nt, F&& f) {
  if (nt == 1) {
    f(0, M);
    return;
  }
  for (int m0; (m0 = next.fetch_add(rows, std::memory_order_relaxed)) < M;) f(m0, M < m0 + rows ? M : m0 + rows);
}

// Rows go in blocks of 96.
constexpr int LINEAR_ROWS = 96;
// A product of at most LINEAR_ROWS rows (one block: a step of a stream, a short batch) whose weights hold at least
// LINEAR_SPLIT_WEIGHTS floats is split by blocks of LINEAR_PANELS output panels instead: reading the weights is
// its whole cost, and each core then reads its own part (a GRU step at H 512, I 512: 3 MB of W_ih).
constexpr int LINEAR_PANELS = 4;
constexpr double LINEAR_SPLIT_WEIGHTS = 1 << 18;

inline bool split_by_panels(int64_t M, int64_t C, int64_t O) {
  return M <= LINEAR_ROWS && (double)C * O >= LINEAR_SPLIT_WEIGHTS;
}

void linear_job(void* c, int, int nt) {
  LinearJob& j = *static_cast<LinearJob*>(c);
  if (nt > 1 && split_by_panels(j.M, j.C, j.O)) {
    take_row_blocks(j.next, (int)panel_count(j.O), LINEAR_PANELS, nt, [&](int p0, int p1) {
      linear_panels(j.y, j.x, j.Bp, j.b1, j.b2, 0, j.M, p0, p1, j.C, j.O);
    });
    return;
  }
  take_row_blocks(j.next, j.M, LINEAR_ROWS, nt,
                  [&](int m0, int m1) { linear_rows(j.y, j.x, j.Bp, j.b1, j.b2, m0, m1, j.C, j.O); });
}

// Threads for a product of M rows, C inputs and O outputs split by blocks of rows: all of them when it is above
// about 2 M multiply-adds (~40 us), else one.
inline int product_threads(int64_t M, int64_t C, int64_t O) {
  if ((double)M * C * O < (1 << 21) || M <= LINEAR_ROWS) return 1;
  return threads_for((int)((M + LINEAR_ROWS - 1) / LINEAR_ROWS), pool.threads.load(std::memory_order_relaxed));
}

// Threads for linear_job: product_threads, or for a product of one block of rows with large weights
// (split_by_panels) as many as there are blocks of panels.
inline int linear_threads(int64_t M, int64_t C, int64_t O) {
  if (M < 1 || !split_by_panels(M, C, O)) return product_threads(M, C, O);
  const int blocks = (int)((panel_count((int)O) + LINEAR_PANELS - 1) / LINEAR_PANELS);
  return threads_for(blocks, pool.threads.load(std::memory_order_relaxed));
}

// ---------------------------------------------------------------------------------------------------------------
// The recurrence's schedule.
//
// A step's work is one tile per panel (16 output columns) for each row. The N rows are split into `blocks` blocks
// of consecutive rows, and each block runs through all L steps on its team of `team` threads: thread tid belongs
// to block tid % blocks as member tid / blocks, and its home is its share of each step's panels (member m of a
// team of S: panels P*m/S .. P*(m+1)/S), so on a quiet machine each thread keeps the same part of W_hh in its own
// cache step after step. A thread takes its home panels from the front; when none are left it takes what its
// teammates have not taken yet from the back of their homes (one of them lost its core, or is late to wake); and
// when its block is done it helps the blocks that are not. A panel of step s runs once every panel of step s-1
// of its block is done (it reads all of the block's h_{s-1}): the last thread to finish a step publishes it.
// A team of one has no one to wait for: its block is taken whole, by its own thread or, if that one is late, by
// the first thread done with its own, and run through every step alone (a thread helping a block that is under
// way would only hand its steps back and forth between two cores: measured, 15% slower).
struct Split {
  int threads, blocks, team;  // threads = blocks * team
};

// Whether a recurrence step of N rows and H features is shared at all: threads pay once a step's products (~10 us
// on one core) outweigh handing panels and h_t between the cores. Smaller steps of a unidirectional stack run as
// the layer wavefront (`layers`) instead.
inline bool step_shared(int64_t N, int64_t H) { return (double)N * H * H >= (1 << 19); }

// Rows of a block, at least: one tile (MR).
constexpr int BLOCK_ROWS = MR;
// Multiply-adds of a step per thread of a team of several, at least: each step of a team costs a round trip
// between its cores and its rows of h handed over.
constexpr double TEAM_WORK = 1 << 16;

// Weights a step reads (floats: rowWork, a row's multiply-adds) from which the largest team is preferred to blocks
// of rows: past the whole shared L3 (32 MB here), where every step reads W_hh from memory. A block of rows reads
// all of W_hh every step, so with a block on each core memory gives W_hh once per core and step; a team's members
// read only their home panels (W_hh / team), for all the rows, at the price of a meeting per step. Measured on 2
// cores, the LSTM and GRU at H = 2048 (64 and 48 MB): the forward 4% to 14% faster (the GRU once 42%), the
// backward -3% to +6%. Below it the meetings cost more than they save: the RNN at H = 2048 (16 MB, in L3) was 10%
// faster on a quiet machine but 7% to 60% slower on a loaded one, where a member that loses its core holds up
// every step; at H = 512 and 1024 (N = 128 and 32) 30% and 10% slower.
constexpr double TEAM_WEIGHTS = 1 << 23;

// The split of a time loop of N rows on T threads, a step costing rowWork multiply-adds a row in `parts` parts
// that a team can share: none below 2^19 multiply-adds a step (step_shared); else the most threads that blocks of
// at least BLOCK_ROWS rows and teams whose members keep teamWork a step allow, and of those the smallest teams
// (the largest past TEAM_WEIGHTS).
inline Split split_steps(int N, double rowWork, int parts, int T, double teamWork) {
  if (T < 2 || N <= 0 || parts <= 0 || (double)N * rowWork < (1 << 19)) return {1, 1, 1};
  const int most = N / BLOCK_ROWS < 1 ? 1 : N / BLOCK_ROWS;
  const bool huge = rowWork >= TEAM_WEIGHTS;
  Split best{1, 1, 1};
  for (int team = 1; team <= parts && team <= T; team++) {
    const int blocks = most < T / team ? most : T / team;
    if (team > 1 && (double)N / blocks * rowWork / team < teamWork) continue;
    if (blocks * team > best.threads || (huge && blocks * team == best.threads)) best = {blocks * team, blocks, team};
  }
  return best;
}

// The split of the RNN's recurrence of N rows and H features on T threads (a step: H*H a row, in H/16 panels).
inline Split recurrence_split(int N, int H, int T) {
  if (H <= 0) return {1, 1, 1};
  return split_steps(N, (double)H * H, (int)panel_count(H), T, TEAM_WORK);
}

// The panels of one step not yet taken from one thread's home: (step + 1) << 40 | first << 20 | end. A word of an
// earlier step stands for the whole home of the step asked for: every thread of a block moves on to step s only
// once all of step s-1 is taken, so nothing of an earlier step is ever left in it.
struct alignas(64) HomePanels {
  std::atomic<uint64_t> word{0};
};
struct alignas(64) BlockClock {
  std::atomic<int> completed{0};  // steps of the block finished; polled by its team
};
struct alignas(64) BlockCount {
  std::atomic<int> done[2]{};     // panels finished of steps s and s+1, in slots s & 1
  std::atomic<int> claimed{0};    // a block of a team of one: whether a thread has taken it
};

struct StepSchedule {
  int L = 0, N = 0, P = 0;
  Split split{1, 1, 1};
  std::unique_ptr<HomePanels[]> home;   // split.threads
  std::unique_ptr<BlockClock[]> clock;  // split.blocks
  std::unique_ptr<BlockCount[]> count;  // split.blocks
  // False when out of memory.
  bool init(int L_, int N_, int P_, Split s) {
    L = L_, N = N_, P = P_, split = s;
    home.reset(new (std::nothrow) HomePanels[s.threads]);
    clock.reset(new (std::nothrow) BlockClock[s.blocks]);
    count.reset(new (std::nothrow) BlockCount[s.blocks]);
    return home && clock && count;
  }
  int row(int b) const { return (int)((int64_t)N * b / split.blocks); }  // block b's first row
  int first(int m) const { return (int)((int64_t)P * m / split.team); }  // member m's first home panel
};

inline uint64_t home_word(uint64_t step, uint64_t first, uint64_t end) { return (step + 1) << 40 | first << 20 | end; }

// Takes up to `most` panels of step s from member m's home in `h`: from the front for its owner, from the back
// for the others. False when none are left; else the panels are p0 .. p1.
bool take_panels(const StepSchedule& sc, HomePanels& h, int m, int s, bool owner, int most, int& p0, int& p1) {
  uint64_t w = h.word.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t step1 = w >> 40;
    if (step1 > (uint64_t)s + 1) return false;
    const int first = step1 == (uint64_t)s + 1 ? (int)(w >> 20 & 0xfffff) : sc.first(m);
    const int end = step1 == (uint64_t)s + 1 ? (int)(w & 0xfffff) : sc.first(m + 1);
    if (first >= end) return false;
    const int n = end - first < most ? end - first : most;
    p0 = owner ? first : end - n;
    p1 = p0 + n;
    const uint64_t next = owner ? home_word(s, first + n, end) : home_word(s, first, end - n);
    if (h.word.compare_exchange_weak(w, next, std::memory_order_acq_rel)) return true;
  }
}

// Every step of block b (of a team of several) that is left, on thread tid (its member `me`, or -1 for a thread
// helping another block): run(s, p0, p1, m0, m1) does panels p0..p1 of rows m0..m1 of step s.
template <class Step>
void block_steps(StepSchedule& sc, int b, int me, Step&& run) {
  const Split& sp = sc.split;
  BlockClock& clock = sc.clock[b];
  BlockCount& count = sc.count[b];
  const int m0 = sc.row(b), m1 = sc.row(b + 1);
  // A thread takes one panel at a time from its home, or 2 or 4 when the block's last tile has 2 rows or 1 (such
  // a tile is as fast as a full one only over 2 or 4 panels at once: core.h's tile_panels); others' one at a time.
  const int rest = (m1 - m0) % MR;
  const int own = rest == 1 ? 4 : rest == 2 ? 2 : 1, most = 1;
  auto finish = [&](int s, int n) {
    std::atomic<int>& done = count.done[s & 1];
    if (done.fetch_add(n, std::memory_order_acq_rel) + n == sc.P) {
      // the last panels of step s: the slot now serves step s+2, then step s+1 may start
      done.store(0, std::memory_order_relaxed);
      clock.completed.store(s + 1, std::memory_order_release);
    }
  };
  auto ready = [&](int s) { spin_until([&] { return clock.completed.load(std::memory_order_acquire) >= s; }); };
  for (int s = clock.completed.load(std::memory_order_acquire); s < sc.L; s++) {
    int p0, p1;
    if (me >= 0) {
      int did = 0;
      while (take_panels(sc, sc.home[b + sp.blocks * me], me, s, true, own, p0, p1)) {
        ready(s);
        run(s, p0, p1, m0, m1);
        did += p1 - p0;
      }
      if (did > 0) finish(s, did);
    }
    // what the teammates have not taken, from the next member on
    for (int k = 1; k <= sp.team; k++) {
      const int m = me >= 0 ? (me + k) % sp.team : k - 1;
      if (m == me) continue;
      while (take_panels(sc, sc.home[b + sp.blocks * m], m, s, false, most, p0, p1)) {
        ready(s);
        run(s, p0, p1, m0, m1);
        finish(s, p1 - p0);
      }
    }
  }
}

// The schedule both recurrence jobs share: L steps of P panels each, run(s, p0, p1, m0, m1) doing panels p0..p1
// of rows m0..m1 of step s. Alone, a thread runs whole steps of all rows; else its own block, then what is left of
// the others. Returns when every panel of every step is taken (the pool waits for the threads that took them).
template <class Step>
void run_steps(StepSchedule& sc, int tid, int nt, Step&& run) {
  if (nt == 1) {
    for (int s = 0; s < sc.L; s++) run(s, 0, sc.P, 0, sc.N);
    return;
  }
  const Split& sp = sc.split;
  if (sp.team == 1) {
    for (int k = 0; k < sp.blocks; k++) {
      const int b = (tid + k) % sp.blocks;
      if (sc.count[b].claimed.exchange(1, std::memory_order_acq_rel) != 0) continue;
      for (int s = 0; s < sc.L; s++) run(s, 0, sc.P, sc.row(b), sc.row(b + 1));
    }
    return;
  }
  const int b = tid % sp.blocks;
  block_steps(sc, b, tid / sp.blocks, run);
  for (int k = 1; k < sp.blocks; k++) {
    const int other = (b + k) % sp.blocks;
    if (sc.clock[other].completed.load(std::memory_order_acquire) < sc.L) block_steps(sc, other, -1, run);
  }
}

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
  StepSchedule sched;
};

void recurrence_job(void* c, int tid, int nt) {
  RecurrenceJob& j = *static_cast<RecurrenceJob*>(c);
  run_steps(j.sched, tid, nt, [&](int s, int p0, int p1, int m0, int m1) {
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
  StepSchedule sched;
  int tq(int q) const { return reverse ? q : L - 1 - q; }
};

void recurrence_backward_job(void* c, int tid, int nt) {
  RecurrenceBackwardJob& j = *static_cast<RecurrenceBackwardJob*>(c);
  const size_t NH = (size_t)j.N * j.H, tstride = (size_t)j.N * j.stride;  // floats from one step to the next
  run_steps(j.sched, tid, nt, [&](int q, int p0, int p1, int m0, int m1) {
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
  alignas(64) std::atomic<int> next{0};
};

void dx_job(void* c, int, int nt) {
  DxJob& j = *static_cast<DxJob*>(c);
  take_row_blocks(j.next, j.M, LINEAR_ROWS, nt,
                  [&](int m0, int m1) { linear_backward_dx_rows(j.dx, j.dy, j.Bp, m0, m1, j.O, j.C); });
}

// acc (O, C) += dY^T X and bsum += the column sums of dY over M rows, chunk by chunk (GW_ROWS rows): each
// chunk's float32 tile sums and its float64 column sums are added into the float64 acc and bsum in chunk order,
// whatever the thread count (grad_weight). Each chunk is taken whole by one thread, which transposes and packs it
// in its own work buffer and writes its sums into a slot of its wave (W chunks at a time: as many as threads);
// once a wave's chunks are done, acc's and bsum's rows are shared out, each block adding the wave's slots in
// chunk order. So what crosses between the cores is each chunk's sums, once, rather than the chunk's transposed
// and packed operands.
//
// The pieces are numbered phase after phase (wave w's chunks, then wave w's additions) and taken from a shared
// counter; a piece waits until every piece of the phase before is done (`finished`: pieces only finish once the
// phase before them is done, so when it reaches a phase's first number, every earlier piece is done).
template <class DY, class XR>
struct GradWeightJob {
  DY dyrow;
  XR xrow;
  int M, O, C;
  double* acc;         // (O, C), rows acc_ld(C) apart
  double* bsum;        // (O) or null
  float* const* work;  // per thread (tid): grad_weight_work(O, C) floats
  float* slots;        // W x (O, C), rows acc_ld(C) apart: a wave's chunk sums
  double* bslots;      // W x (O): a wave's chunk column sums, when bsum is wanted
  int chunks, W, addPieces;
  alignas(64) std::atomic<int> next{0};
  alignas(64) std::atomic<int> finished{0};
  GradWeightJob(DY d, XR x) : dyrow(d), xrow(x) {}
  int waves() const { return (chunks + W - 1) / W; }
  int chunksIn(int w) const { return chunks - w * W < W ? chunks - w * W : W; }
  int pieces() const { return chunks + waves() * addPieces; }
};

// Block r of n blocks of O rows: its first row.
inline int block_row(int O, int r, int n) { return (int)((int64_t)O * r / n); }

template <class Job>
void grad_weight_job(void* c, int tid, int) {
  Job& j = *static_cast<Job*>(c);
  const size_t ld = acc_ld(j.C), slot = (size_t)j.O * ld;
  const int total = j.pieces();
  int w = 0, first = 0;  // the wave of the last piece taken, and the number of its first piece
  for (int i; (i = j.next.fetch_add(1, std::memory_order_relaxed)) < total;) {
    while (i >= first + j.chunksIn(w) + j.addPieces) first += j.chunksIn(w++) + j.addPieces;
    const int r = i - first, produce = j.chunksIn(w);
    const int phase = r < produce ? first : first + produce;  // the number of this phase's first piece
    spin_until([&] { return j.finished.load(std::memory_order_acquire) >= phase; });
    if (r < produce) {
      const int chunk = w * j.W + r, m0 = chunk * GW_ROWS, m1 = j.M < m0 + GW_ROWS ? j.M : m0 + GW_ROWS;
      grad_weight_chunk(j.slots + r * slot, ld, j.bsum ? j.bslots + (size_t)r * j.O : nullptr, j.work[tid], j.dyrow,
                        j.xrow, m0, m1, j.O, j.C);
    } else {
      const int a = r - produce, o0 = block_row(j.O, a, j.addPieces), o1 = block_row(j.O, a + 1, j.addPieces);
      for (int k = 0; k < produce; k++) {
        for (int o = o0; o < o1; o++) {
          double* d = j.acc + (size_t)o * ld;
          const float* t = j.slots + k * slot + (size_t)o * ld;
          for (int cc = 0; cc < j.C; cc++) d[cc] += (double)t[cc];
        }
        for (int o = o0; j.bsum && o < o1; o++) j.bsum[o] += j.bslots[(size_t)k * j.O + o];
      }
    }
    j.finished.fetch_add(1, std::memory_order_acq_rel);
  }
}
#pragma GCC pop_options

// The layer pipeline (a wavefront over the layers): K unidirectional layers in one call, layer k running steps
// t0..t1 as soon as layer k-1 has finished them, while layer k-1 goes on with its later steps on another core.
// Each layer is taken whole by one thread (layers are handed out in order from a shared counter, so a worker
// that is slow to wake only means the others run more of them; min(K, T) threads) and moves in chunks of CH
// steps: it packs its own weights when it takes the layer, projects each chunk's input rows itself (its W_ih
// stays in its cache), and publishes how far it has got after each chunk. What crosses between the cores is each
// layer's output, once per chunk (see layer_steps), and the progress counters.
struct alignas(64) Progress {
  std::atomic<int> steps{0};  // steps of this layer finished; on its own cache line, as each is polled by a reader
};

// What every thread reads: set before the job starts and copied by each thread to its own stack, so that no line
// of it is shared with anything another thread writes while the layers run.
struct LayersPlan {
  const float* x;             // (L, N, I)
  float* const* outs;         // K x (L, N, H)
  float* hN;                  // (K, N, H): h0 to begin with, each layer's last state at the end
  const float* const* wih;    // K x (H, I or H), null where Bih holds it prepared
  const float* const* whh;    // K x (H, H), likewise
  const float* const* b1;     // K x (H) or null
  const float* const* b2;     // K x (H) or null
  float* const* Bih;          // K x room for W_ih's panels, packed by the thread that takes the layer (or prepared)
  float* const* Bhh;          // K x room for W_hh's panels, likewise
  float* const* work;         // per thread (tid): pre (CH, N, H), two states (N, H), the chunk's outputs (CH, N, H)
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
    if (j.wih[k]) pack_panels(j.Bih[k], j.wih[k], j.H, C);  // null: prepared, already in Bih[k]
    if (j.whh[k]) pack_panels(j.Bhh[k], j.whh[k], j.H, j.H);
    std::atomic<int>* below = k > 0 ? &j.progress[k - 1].steps : nullptr;
    std::atomic<int>& mine = j.progress[k].steps;
    std::memcpy(h, j.hN + k * NH, NH * sizeof(float));
    for (int t0 = 0; t0 < j.L; t0 += j.CH) {
      const int t1 = j.L < t0 + j.CH ? j.L : t0 + j.CH;
      if (below) spin_until([&] { return below->load(std::memory_order_acquire) >= t1; });
      layer_steps(j.outs[k], h, buf, pre, stage, in, j.Bih[k], j.b1[k], j.b2[k], j.Bhh[k], t0, t1, j.N, C, j.H,
                  j.relu, j.lengths);
      mine.store(t1, std::memory_order_release);
    }
    std::memcpy(j.hN + k * NH, h, NH * sizeof(float));
  }
}

// dw (O, C) += dY^T X over M rows, db1 and db2 (O) += the column sums of dY (each skipped when null), summed in
// float64 and rounded into storage once, on every thread when the product is big enough (the same floats on any
// number). False when out of memory (nothing is written then).
template <class DY, class XR>
bool grad_weight(float* dw, float* db1, float* db2, DY dyrow, XR xrow, int M, int O, int C) {
  GradWeightJob<DY, XR> job(dyrow, xrow);
  job.M = M;
  job.O = O;
  job.C = C;
  const bool bias = db1 || db2;
  job.chunks = (M + GW_ROWS - 1) / GW_ROWS;
  // threads take whole chunks: as many as there are chunks, when the product is big enough to share
  const int most = pool.threads.load(std::memory_order_relaxed);
  const int T = (double)M * O * C >= (1 << 21) ? threads_for(job.chunks, most) : 1;
  job.W = T;
  job.addPieces = threads_for(O / 4, T);
  job.acc = static_cast<double*>(std::calloc((size_t)O * acc_ld(C), sizeof(double)));
  job.bsum = bias ? static_cast<double*>(std::calloc((size_t)O, sizeof(double))) : nullptr;
  std::vector<float*> work(T, nullptr);
  for (float*& w : work) w = alloc_floats(grad_weight_work(O, C));
  float* slots = T > 1 ? alloc_floats((size_t)T * O * acc_ld(C)) : nullptr;
  double* bslots = static_cast<double*>(std::malloc((size_t)T * O * sizeof(double) + 8));
  bool ok = job.acc && (!bias || job.bsum) && (T == 1 || slots) && bslots;
  for (float* w : work) ok = ok && w;
  if (ok) {
    job.bslots = bslots;
    if (T == 1) {
      // the floats of the threads' split: each chunk's column sums from zero, then added in chunk order
      for (int m0 = 0; m0 < M; m0 += GW_ROWS) {
        for (int o = 0; bias && o < O; o++) bslots[o] = 0.0;
        grad_weight_rows(job.acc, bias ? bslots : nullptr, work[0], dyrow, xrow, m0,
                         M < m0 + GW_ROWS ? M : m0 + GW_ROWS, O, C);
        for (int o = 0; bias && o < O; o++) job.bsum[o] += bslots[o];
      }
    } else {
      job.work = work.data();
      job.slots = slots;
      run(grad_weight_job<GradWeightJob<DY, XR>>, &job, T);
    }
    for (int o = 0; o < O; o++) {
      const double* a = job.acc + (size_t)o * acc_ld(C);
      float* d = dw + (size_t)o * C;
      for (int c = 0; c < C; c++) d[c] = (float)((double)d[c] + a[c]);
    }
    for (int o = 0; o < O && bias; o++) {
      if (db1) db1[o] = (float)((double)db1[o] + job.bsum[o]);
      if (db2) db2[o] = (float)((double)db2[o] + job.bsum[o]);
    }
  }
  std::free(job.acc);
  std::free(job.bsum);
  for (float* w : work) std::free(w);
  std::free(slots);
  std::free(bslots);
  return ok;
}

}  // namespace
