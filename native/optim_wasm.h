// The optimizers in the WebAssembly kernels (included at the end of native/wasm.cc): native/optim.h's arithmetic,
// every parameter in one call, as native/optim_addon.h's adamStep, sgdStep, sumSquares and scale. The caller
// (src/train/optim-kernel.ts) copies the arrays into this module's memory and writes a table of their addresses:
// K words per parameter (Adam: p, g, m, v, vmax or 0; SGD: p, g, buf or 0; the clip's: x) and the lengths n[P].
// `consts` is laid out as optim_addon.h's. `blocks` is scratch for P + 1 ints (each parameter's first block of
// OPTIM_BLOCK elements) and, for the sum of squares, one double per block after them (optim_wasm_blocks says how
// many bytes).
//
// The blocks are handed out from a shared counter: the one-thread build runs them on this thread; the threaded
// build exports the same functions from native/wasm_optim_pool.h, which runs the same job on its pool, so each
// element's floats, and each block's sum in its own slot (summed in order afterwards), never depend on the split.
#pragma once
#include <stdint.h>

#include "optim.h"

namespace {

// One call's blocks: body(a, j0, j1, t) on elements j0 .. j1 of parameter a, block t.
template <class F>
struct OptimWasmJob {
  const int32_t* first;  // first[a]: parameter a's first block; first[P]: the blocks in all
  const int32_t* n;
  int P;
  F body;
  alignas(64) int next;  // the next block (atomically: the threaded build's workers share it)
};

template <class F>
void optim_wasm_job(void* c, int, int) {
  OptimWasmJob<F>& k = *static_cast<OptimWasmJob<F>*>(c);
  const int blocks = k.first[k.P];
  for (int t; (t = __atomic_fetch_add(&k.next, 1, __ATOMIC_RELAXED)) < blocks;) {
    int lo = 0, hi = k.P - 1;  // the last parameter whose first block is at most t (empty ones have none)
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (k.first[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    const size_t j0 = (size_t)(t - k.first[lo]) * OPTIM_BLOCK, n = (size_t)k.n[lo];
    k.body(lo, j0, n < j0 + OPTIM_BLOCK ? n : j0 + OPTIM_BLOCK, t);
  }
}

// Runs a job on this thread: the one-thread build's runner.
struct OptimWasmSerial {
  template <class F>
  void operator()(OptimWasmJob<F>& job, size_t) const {
    optim_wasm_job<F>(&job, 0, 1);
  }
};

// Writes each parameter's first block into first[0 .. P] and runs body over the blocks with `run`.
template <class Run, class F>
void optim_wasm_run(const int32_t* n, int P, int32_t* first, Run run, F body) {
  size_t total = 0;
  first[0] = 0;
  for (int a = 0; a < P; a++) {
    first[a + 1] = first[a] + (int32_t)(((size_t)n[a] + OPTIM_BLOCK - 1) / OPTIM_BLOCK);
    total += (size_t)n[a];
  }
  OptimWasmJob<F> job{first, n, P, body, 0};
  run(job, total);
}

template <class Run>
void optim_wasm_adam(float* const* arrays, const int32_t* n, int P, const double* c, int32_t* blocks, Run run) {
  const bool ams = c[2] != 0;
  const AdamRange plain = adam_range_for(c[0] != 0, (int)c[1], false);
  const AdamRange withMax = adam_range_for(c[0] != 0, (int)c[1], ams);
  optim_wasm_run(n, P, blocks, run, [=](int a, size_t j0, size_t j1, int) {
    float* const* q = arrays + 5 * a;
    const AdamConsts k = {(float)c[3], (float)c[4], (float)c[5], (float)c[6], (float)c[7], (float)c[8], (float)c[9],
                          (float)c[10 + 2 * a], (float)c[11 + 2 * a]};
    (q[4] ? withMax : plain)(q[0], q[1], q[2], q[3], q[4], j0, j1, k);
  });
}

template <class Run>
void optim_wasm_sgd(float* const* arrays, const int32_t* n, int P, const double* c, int32_t* blocks, Run run) {
  const SgdConsts k = {(float)c[3], (float)c[4], (float)c[5], (float)c[6]};
  const bool maximize = c[0] != 0, wd = c[1] != 0, nesterov = c[2] != 0;
  optim_wasm_run(n, P, blocks, run, [=](int a, size_t j0, size_t j1, int) {
    float* const* q = arrays + 3 * a;
    sgd_range_for(maximize, wd, q[2] ? (int)c[7 + a] : 0, nesterov)(q[0], q[1], q[2], j0, j1, k);
  });
}

// out[a] = the sum of squares of x[a], block by block in order (native/optim.h's order).
template <class Run>
void optim_wasm_sum_squares(const float* const* x, const int32_t* n, int P, double* out, int32_t* blocks, Run run) {
  double* sums = (double*)(((uintptr_t)(blocks + P + 1) + 7) / 8 * 8);
  optim_wasm_run(n, P, blocks, run,
                 [=](int a, size_t j0, size_t j1, int t) { sums[t] = sum_squares(x[a] + j0, j1 - j0); });
  for (int a = 0; a < P; a++) {
    double total = 0;
    for (int t = blocks[a]; t < blocks[a + 1]; t++) total += sums[t];
    out[a] = total;
  }
}

template <class Run>
void optim_wasm_scale(float* const* x, const int32_t* n, int P, float coef, int32_t* blocks, Run run) {
  optim_wasm_run(n, P, blocks, run, [=](int a, size_t j0, size_t j1, int) { scale_range(x[a], j0, j1, coef); });
}

}  // namespace

extern "C" {

// Bytes of `blocks` scratch for P parameters of `total` elements in all.
__attribute__((export_name("optim_blocks_bytes"))) int optim_blocks_bytes(int P, double total) {
  const double blocks = total / OPTIM_BLOCK + P;  // at least the blocks of any P lengths that sum to total
  return (int)(4 * (P + 1) + 8 + 8 * blocks);
}

// The one-thread build's entry points; the threaded build (atomics) exports wasm_optim_pool.h's, on its pool,
// under the same names.
#ifndef __wasm_atomics__
__attribute__((export_name("optim_adam"))) void optim_adam(float* const* arrays, const int32_t* n, int P,
                                                           const double* consts, int32_t* blocks) {
  optim_wasm_adam(arrays, n, P, consts, blocks, OptimWasmSerial());
}

__attribute__((export_name("optim_sgd"))) void optim_sgd(float* const* arrays, const int32_t* n, int P,
                                                         const double* consts, int32_t* blocks) {
  optim_wasm_sgd(arrays, n, P, consts, blocks, OptimWasmSerial());
}

__attribute__((export_name("optim_sum_squares"))) void optim_sum_squares(const float* const* x, const int32_t* n,
                                                                         int P, double* out, int32_t* blocks) {
  optim_wasm_sum_squares(x, n, P, out, blocks, OptimWasmSerial());
}

__attribute__((export_name("optim_scale"))) void optim_scale(float* const* x, const int32_t* n, int P, float coef,
                                                             int32_t* blocks) {
  optim_wasm_scale(x, n, P, coef, blocks, OptimWasmSerial());
}

#endif

}  // extern "C"
