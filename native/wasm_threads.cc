// The threaded WebAssembly kernel: wasm.cc's functions, plus the forward ones again on the pool of wasm_pool.h
// (Web Workers or worker_threads sharing this module's memory), split as native/addon.cc splits them (jobs.h,
// gated_jobs.h): the input projection by blocks of rows, the recurrence by row blocks and teams, and a stack of
// small steps as the layer wavefront. The floats are wasm.cc's at any thread count. The backward runs on the
// calling thread, as in wasm.cc.
//
// Built by scripts/build-wasm.sh with atomics and a shared, imported memory into src/kernels/wasm/binary-threads.ts;
// src/kernels/wasm/threads.ts starts the workers. native/wasm_std stands in for the bits of libc++ jobs.h uses.
#ifdef RNN_RELAXED
// the relaxed-SIMD build: the products' multiply-adds as f32x4.relaxed_madd (fused where the CPU has FMA)
#define RNN_MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4((a), (b), (c))
#endif
#include "wasm.cc"

#include "jobs.h"
#include "gated_jobs.h"

extern "C" {

// wasm.cc's linear, its row blocks on the pool.
__attribute__((export_name("pool_linear"))) void pool_linear(float* y, const float* x, const float* w, const float* b1,
                                                             const float* b2, int M, int C, int O, float* Bp) {
  if (w) pack_panels(Bp, w, O, C);  // null: Bp holds w's prepared panels
  LinearJob job;
  job.y = y, job.x = x, job.Bp = Bp, job.b1 = b1, job.b2 = b2, job.M = M, job.C = C, job.O = O;
  run(linear_job, &job, linear_threads(M, C, O));
}

// wasm.cc's recurrence, its steps on the pool (jobs.h's recurrence_split). 0 when out of memory.
__attribute__((export_name("pool_recurrence"))) int pool_recurrence(float* out, float* hN, const float* pre,
                                                                    const float* whh, const float* h0, int L, int N,
                                                                    int H, int outStride, int outOffset, int relu,
                                                                    int reverse, const int32_t* lengths, float* Bp,
                                                                    float* buf) {
  if (L == 0 || N == 0 || H == 0 || row_tanh_for(N, H, relu, lengths)) {
    recurrence(out, hN, pre, whh, h0, L, N, H, outStride, outOffset, relu, reverse, lengths, Bp, buf);
    return 1;
  }
  if (whh) pack_panels(Bp, whh, H, H);  // null: Bp holds whh's prepared panels
  RecurrenceJob job;
  job.out = out, job.pre = pre, job.Bp = Bp, job.h0 = h0, job.buf[0] = buf, job.buf[1] = buf + (size_t)N * H;
  job.L = L, job.N = N, job.H = H, job.P = (int)panel_count(H), job.outStride = (size_t)outStride;
  job.outOffset = outOffset, job.relu = relu, job.reverse = reverse, job.lengths = lengths;
  const Split split = recurrence_split(N, H, pool.threads.load(std::memory_order_relaxed));
  if (!job.sched.init(L, N, job.P, split)) return 0;
  run(recurrence_job, &job, split.threads);
  const float* last = job.buf[(L - 1) & 1];
  for (size_t i = 0; i < (size_t)N * H; i++) hN[i] = last[i];
  return 1;
}

// wasm.cc's gated_recurrence, its substeps on the pool (gated_jobs.h's run_gated). 0 when out of memory.
__attribute__((export_name("pool_gated_recurrence"))) int pool_gated_recurrence(
    float* out, float* hN, float* cN, const float* pre, const float* whh, const float* h0, const float* c0,
    const float* whr, const float* bhh, float* tape, int L, int N, int H, int P, int outStride, int outOffset, int lstm,
    int reverse, const int32_t* lengths, char* work, const float* whhPacked, const float* whrPacked) {
  if (N == 0 || H == 0) return 1;
  GatedForward f = gated_forward(out, pre, whh, h0, c0, whr, bhh, tape, L, N, H, P, outStride, outOffset, lstm,
                                 reverse, lengths, work, whhPacked, whrPacked);
  if (!run_gated(f)) return 0;
  gated_forward_end(f, hN, cN);
  return 1;
}

// Whether layers takes a stack of K layers of N rows and H features (addon.cc's layers_take).
__attribute__((export_name("layers_takes"))) int layers_takes(int K, int N, int H) {
  return pool.threads.load(std::memory_order_relaxed) >= 2 && K >= 2 && !step_shared(N, H);
}

// Whether gated_layers takes such a stack (gated_jobs.h's gated_layers_take).
__attribute__((export_name("gated_layers_takes"))) int gated_layers_takes(int lstm, int K, int N, int H) {
  return gated_layers_take(lstm ? 4 : 3, K, N, H);
}

// Chunks of about 16 rows for the wavefront, as addon.cc's.
static int wave_chunk(int N) { return N >= 16 ? 1 : 16 / N; }

// addon.cc's layers: K unidirectional RNN layers as jobs.h's wavefront, when layers_takes (the caller asks
// first). outs, wih, whh, bih and bhh are tables of K addresses (bih and bhh entries may be 0). 0 when out of memory.
__attribute__((export_name("layers"))) int layers(float* const* outs, float* hN, const float* x, const float* h0,
                                                  const float* const* wih, const float* const* whh,
                                                  const float* const* bih, const float* const* bhh, int L, int N,
                                                  int I, int H, int K, int relu, const int32_t* lengths) {
  for (size_t i = 0; i < (size_t)K * N * H; i++) hN[i] = h0[i];
  if (L == 0 || N == 0 || H == 0) return 1;
  const int CH = wave_chunk(N);
  const size_t ihFloats = panel_count(H) * NR * (size_t)(I > H ? I : H), hhFloats = panel_count(H) * NR * H;
  float** Bih = (float**)std::malloc(2 * K * sizeof(float*));
  float** Bhh = Bih ? Bih + K : nullptr;
  const int nt = threads_for(K, pool.threads.load(std::memory_order_relaxed));
  float** work = (float**)std::malloc(nt * sizeof(float*));
  Progress* progress = new (std::nothrow) Progress[K];
  bool ok = Bih && work && progress;
  for (int k = 0; ok && k < K; k++) ok = (Bih[k] = alloc_floats(ihFloats)) && (Bhh[k] = alloc_floats(hhFloats));
  for (int i = 0; ok && i < nt; i++) ok = (work[i] = alloc_floats(layers_work(CH, N, H))) != nullptr;
  if (!ok) return 0;
  LayersJob job;
  LayersPlan& p = job.plan;
  p.x = x, p.outs = outs, p.hN = hN, p.wih = wih, p.whh = whh, p.b1 = bih, p.b2 = bhh, p.Bih = Bih, p.Bhh = Bhh;
  p.work = work, p.L = L, p.N = N, p.I = I, p.H = H, p.K = K, p.CH = CH, p.relu = relu, p.lengths = lengths;
  p.progress = progress;
  run(layers_job, &job, nt);
  return 1;
}

// addon.cc's gatedLayers: K unidirectional LSTM (lstm 1) or GRU layers without projection as gated_jobs.h's
// wavefront, when gated_layers_takes. Tables of K addresses as for layers (tapes 0: not recorded). 0 when out of
// memory.
__attribute__((export_name("gated_layers"))) int gated_layers(float* const* outs, float* hN, float* cN, const float* x,
                                                              const float* h0, const float* c0, const float* const* wih,
                                                              const float* const* whh, const float* const* bih,
                                                              const float* const* bhh, float* const* tapes, int L,
                                                              int N, int I, int H, int K, int lstm,
                                                              const int32_t* lengths) {
  const int G = lstm ? 4 : 3;
  const size_t NH = (size_t)N * H, GH = (size_t)G * H;
  for (size_t i = 0; i < K * NH; i++) hN[i] = h0[i];
  for (size_t i = 0; lstm && cN && i < K * NH; i++) cN[i] = c0 ? c0[i] : 0.0f;
  if (L == 0 || N == 0 || H == 0) return 1;
  const int CH = wave_chunk(N);
  float** Bih = (float**)std::malloc(2 * K * sizeof(float*));
  float** Bhh = Bih ? Bih + K : nullptr;
  const int nt = threads_for(K, pool.threads.load(std::memory_order_relaxed));
  float** work = (float**)std::malloc(nt * sizeof(float*));
  Progress* progress = new (std::nothrow) Progress[K];
  bool ok = Bih && work && progress;
  for (int k = 0; ok && k < K; k++) {
    ok = (Bih[k] = alloc_floats(panel_count((int)GH) * NR * (size_t)(I > H ? I : H))) &&
         (Bhh[k] = alloc_floats((size_t)unit_blocks(H) * G * NR * H));
  }
  for (int i = 0; ok && i < nt; i++) ok = (work[i] = alloc_floats(gated_layers_work(CH, N, G, H))) != nullptr;
  if (!ok) return 0;
  GatedLayersJob job;
  GatedLayersPlan& p = job.plan;
  p.x = x, p.outs = outs, p.hN = hN, p.cN = lstm ? cN : nullptr, p.h0 = h0, p.c0 = lstm ? c0 : nullptr;
  p.wih = wih, p.whh = whh, p.bih = bih, p.bhh = bhh, p.tapes = tapes, p.Bih = Bih, p.Bhh = Bhh, p.work = work;
  p.L = L, p.N = N, p.I = I, p.H = H, p.K = K, p.CH = CH, p.G = G, p.lengths = lengths, p.progress = progress;
  run(gated_layers_job, &job, nt);
  return 1;
}
}
#include "wasm_optim_pool.h"
