// The threaded WebAssembly build's optimizers (included at the end of native/wasm_threads.cc): native/optim_wasm.h's
// entry points under the same names (that header leaves its own out of a build with atomics), their blocks of
// OPTIM_BLOCK elements split between the pool's threads as native/optim_addon.h splits them (more than
// OPTIM_WASM_THREADED elements in all; fewer run on the calling thread). The floats, and each block's sum of
// squares, are the one-thread build's at any thread count.
#pragma once
#include "optim_wasm.h"

namespace {

// Below this many elements in all, one thread: waking the workers costs more than the step (optim_addon.h's).
constexpr size_t OPTIM_WASM_THREADED = 1 << 16;

struct OptimWasmPool {
  template <class F>
  void operator()(OptimWasmJob<F>& job, size_t total) const {
    const int most = pool.threads.load(std::memory_order_relaxed);
    run(optim_wasm_job<F>, &job, total > OPTIM_WASM_THREADED ? threads_for(job.first[job.P], most) : 1);
  }
};

}  // namespace

extern "C" {

__attribute__((export_name("optim_adam"))) void optim_adam(float* const* arrays, const int32_t* n, int P,
                                                           const double* consts, int32_t* blocks) {
  optim_wasm_adam(arrays, n, P, consts, blocks, OptimWasmPool());
}

__attribute__((export_name("optim_sgd"))) void optim_sgd(float* const* arrays, const int32_t* n, int P,
                                                         const double* consts, int32_t* blocks) {
  optim_wasm_sgd(arrays, n, P, consts, blocks, OptimWasmPool());
}

__attribute__((export_name("optim_sum_squares"))) void optim_sum_squares(const float* const* x, const int32_t* n,
                                                                         int P, double* out, int32_t* blocks) {
  optim_wasm_sum_squares(x, n, P, out, blocks, OptimWasmPool());
}

__attribute__((export_name("optim_scale"))) void optim_scale(float* const* x, const int32_t* n, int P, float coef,
                                                             int32_t* blocks) {
  optim_wasm_scale(x, n, P, coef, blocks, OptimWasmPool());
}

}  // extern "C"
