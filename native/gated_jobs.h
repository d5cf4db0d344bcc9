// How native/addon.cc shares the fused LSTM and GRU recurrences (native/gated.h, gated_backward.h) between its
// threads: with jobs.h's schedule for the RNN's recurrence (run_steps over a StepSchedule), which it takes as it
// is, each step's S substeps counted as steps: the batch in blocks of rows, each run through every step by a team
// whose threads share each substep's units (forward) or panels of dh (backward), a substep starting once every
// part of the one before is done (gated_split says how many of each). Part of addon.cc's one translation unit,
// after jobs.h.
#pragma once

#include <atomic>

#include "jobs.h"

namespace {

#pragma GCC push_options
RNN_TARGET_VECTOR
// A GatedForward or GatedBackward on the pool: Steps has L, N, S() substeps per step, panels() parts per substep
// and substep(s, p0, p1, m0, m1).
template <class Steps>
struct GatedJob {
  const Steps* steps;
  StepSchedule sched;
};

template <class Steps>
void gated_job(void* c, int tid, int nt) {
  GatedJob<Steps>& j = *static_cast<GatedJob<Steps>*>(c);
  const Steps& st = *j.steps;
  run_steps(j.sched, tid, nt, [&](int s, int p0, int p1, int m0, int m1) { st.substep(s, p0, p1, m0, m1); });
}
#pragma GCC pop_options

// How the threads share the steps of N rows (a step: G*H*P multiply-adds a row, and H*P more with a projection, in
// `panels` parts a substep): as the RNN's recurrence (split_steps), blocks of rows from 2^19 multiply-adds a step,
// since nothing crosses between the cores from one step to the next; a team's members each keep 2^19 a step, 8x
// the RNN's, since a team meets after every substep, and every meeting costs a round trip between the cores, or a
// whole time slice when the host has taken a core away (E's LSTM, 2^18 a member, took 6x longer split by columns
// on a busy 2-core machine). On 16 cores, C's 32 rows (5 blocks of one with 2^20 a member) at 16 threads took
// 52.9 ms for the LSTM and 39.9 for the GRU against 78.2 and 63.6 (docs/performance.md, Every core).
inline Split gated_split(int64_t N, int G, int64_t H, int64_t P, bool projection, int panels) {
  const double rowWork = (double)H * P * (G + (projection ? 1 : 0));
  return split_steps((int)N, rowWork, panels, pool.threads.load(std::memory_order_relaxed), 1 << 19);
}

// Runs every substep of `steps` on this thread, or on the pool's threads when a step is big enough to share.
// False when out of memory (nothing is run then).
template <class Steps>
bool run_gated(const Steps& steps) {
  GatedJob<Steps> job;
  job.steps = &steps;
  const Split split = gated_split(steps.N, steps.G, steps.H, steps.P, steps.Bpr != nullptr, steps.panels());
  if (!job.sched.init(steps.L * steps.S(), steps.N, steps.panels(), split)) return false;
  run(gated_job<Steps>, &job, split.threads);
  return true;
}

// The layer pipeline of jobs.h (layers_job: a wavefront over the layers) for the LSTM and GRU: K unidirectional
// layers without projection in one call, layer k running steps t0..t1 as soon as layer k-1 has finished them, while
// layer k-1 goes on with its later steps on another core (up to K threads). As layers_job: each layer is taken whole by one thread
// (in order, from a shared counter), packs its own weights, and moves in chunks of CH steps, projecting each chunk's
// input rows itself (linear_rows: x W_ih^T + b_ih, + b_hh for the LSTM), running the chunk's steps (GatedForward
// over the chunk, its time offset t0 for lengths) into a private stage copied to the layer's output at once, and
// publishing its progress. The floats are those of linear then the fused recurrence, layer by layer.
struct GatedLayersPlan {
  const float* x;           // (L, N, I)
  float* const* outs;       // K x (L, N, H)
  float* hN;                // (K, N, H)
  float* cN;                // LSTM: (K, N, H) or null
  const float* h0;          // (K, N, H)
  const float* c0;          // LSTM: (K, N, H) or null for zeros
  const float* const* wih;  // K x (G*H, I or H)
  const float* const* whh;  // K x (G*H, H)
  const float* const* bih;  // K x (G*H) or null
  const float* const* bhh;  // K x (G*H) or null
  float* const* tapes;      // K x (L, N, (G+1)*H), or null: not recorded
  float* const* Bih;        // K x room for W_ih's panels, packed by the thread that takes the layer
  float* const* Bhh;        // K x room for W_hh's gate-interleaved panels, likewise
  float* const* work;       // per thread (tid): gated_layers_work floats
  int L, N, I, H, K, CH, G;
  const int32_t* lengths;
  Progress* progress;       // K
};

struct GatedLayersJob {
  GatedLayersPlan plan;
  alignas(64) std::atomic<int> next{0};  // the next layer to take, on a line of its own
};

// Per thread: pre (CH, N, G*H), the chunk's outputs (CH, N, H), then h, two step states and c (N, H) each.
inline size_t gated_layers_work(int CH, int N, int G, int H) { return (size_t)(CH * (G + 1) + 4) * N * H; }

#pragma GCC push_options
RNN_TARGET_VECTOR
void gated_layers_job(void* c, int tid, int) {
  GatedLayersJob& job = *static_cast<GatedLayersJob*>(c);
  const GatedLayersPlan j = job.plan;
  const bool lstm = j.G == 4;
  const size_t NH = (size_t)j.N * j.H, GH = (size_t)j.G * j.H, W = (size_t)(j.G + 1) * j.H;
  float* pre = j.work[tid];
  float* stage = pre + (size_t)j.CH * j.N * GH;
  float* h = stage + (size_t)j.CH * NH;
  float* hb = h + NH;  // two states
  float* cs = hb + 2 * NH;
  for (int k; (k = job.next.fetch_add(1, std::memory_order_relaxed)) < j.K;) {
    const float* in = k == 0 ? j.x : j.outs[k - 1];
    const int C = k == 0 ? j.I : j.H;
    if (j.wih[k]) pack_panels(j.Bih[k], j.wih[k], (int)GH, C);  // null: prepared, already in Bih[k]
    if (j.whh[k]) pack_gated(j.Bhh[k], j.whh[k], j.G, j.H, j.H);
    std::atomic<int>* below = k > 0 ? &j.progress[k - 1].steps : nullptr;
    std::atomic<int>& mine = j.progress[k].steps;
    std::memcpy(h, j.h0 + k * NH, NH * sizeof(float));
    for (size_t i = 0; lstm && i < NH; i++) cs[i] = j.c0 ? j.c0[k * NH + i] : 0.0f;
    GatedForward f;
    f.G = j.G, f.N = j.N, f.H = j.H, f.P = j.H, f.reverse = 0, f.lengths = j.lengths;
    f.out = stage, f.outStride = (size_t)j.H, f.pre = pre, f.h0 = h, f.bhh = lstm ? nullptr : j.bhh[k];
    f.Bp = j.Bhh[k], f.Bpr = nullptr, f.hbuf[0] = hb, f.hbuf[1] = hb + NH, f.c = lstm ? cs : nullptr, f.hh = nullptr;
    for (int t0 = 0; t0 < j.L; t0 += j.CH) {
      const int t1 = j.L < t0 + j.CH ? j.L : t0 + j.CH;
      for (int spins = 0; below && below->load(std::memory_order_acquire) < t1; spins++) {
        if (spins < (1 << 12)) cpu_relax();  // as run_steps: yield soon, in case the other thread lost its core
        else std::this_thread::yield();
      }
      const int n = t1 - t0;
      linear_rows(pre, in + (size_t)t0 * j.N * C, j.Bih[k], j.bih[k], lstm ? j.bhh[k] : nullptr, 0, n * j.N, C,
                  (int)GH);
      f.L = n, f.t0 = t0, f.tape = j.tapes ? j.tapes[k] + (size_t)t0 * j.N * W : nullptr;
      f.run_all();
      std::memcpy(h, f.last(), NH * sizeof(float));
      std::memcpy(j.outs[k] + (size_t)t0 * NH, stage, (size_t)n * NH * sizeof(float));
      mine.store(t1, std::memory_order_release);
    }
    std::memcpy(j.hN + k * NH, h, NH * sizeof(float));
    if (lstm && j.cN) std::memcpy(j.cN + k * NH, cs, NH * sizeof(float));
  }
}
#pragma GCC pop_options

// Whether gatedLayers takes a stack of K layers of N rows and H features (each cell's own rule, as layers_take): two
// threads or more, two layers or more, and steps the recurrence would not share between the threads.
inline bool gated_layers_take(int G, int64_t K, int64_t N, int64_t H) {
  return pool.threads.load(std::memory_order_relaxed) >= 2 && K >= 2 &&
         gated_split(N, G, H, H, false, unit_blocks((int)H)).threads == 1;
}

}  // namespace
