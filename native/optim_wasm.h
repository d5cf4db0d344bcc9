// The optimizers in the WebAssembly kernels (included at the end of native/wasm.cc): native/optim.h's arithmetic
// on one parameter's arrays, which src/train/optim-kernel.ts copies into this module's memory, one parameter per
// call. `consts` is laid out as native/optim_addon.h's adamStep and sgdStep take it; i is the parameter's index.
#pragma once
#include "optim.h"

extern "C" {

__attribute__((export_name("optim_adam"))) void optim_adam(float* p, const float* g, float* m, float* v, float* vmax,
                                                           int n, const double* c, int i) {
  const AdamConsts k = {(float)c[3], (float)c[4], (float)c[5], (float)c[6], (float)c[7], (float)c[8], (float)c[9],
                        (float)c[10 + 2 * i], (float)c[11 + 2 * i]};
  adam_range_for(c[0] != 0, (int)c[1], c[2] != 0 && vmax)(p, g, m, v, vmax, 0, (size_t)n, k);
}

__attribute__((export_name("optim_sgd"))) void optim_sgd(float* p, const float* g, float* buf, int n, const double* c,
                                                         int i) {
  const SgdConsts k = {(float)c[3], (float)c[4], (float)c[5], (float)c[6]};
  sgd_range_for(c[0] != 0, c[1] != 0, buf ? (int)c[7 + i] : 0, c[2] != 0)(p, g, buf, 0, (size_t)n, k);
}

// The sum of squares of x[0 .. n), block by block in order (native/optim.h's order).
__attribute__((export_name("optim_sum_squares"))) double optim_sum_squares(const float* x, int n) {
  double total = 0;
  for (size_t j0 = 0; j0 < (size_t)n; j0 += OPTIM_BLOCK) {
    const size_t j1 = (size_t)n < j0 + OPTIM_BLOCK ? (size_t)n : j0 + OPTIM_BLOCK;
    total += sum_squares(x + j0, j1 - j0);
  }
  return total;
}

__attribute__((export_name("optim_scale"))) void optim_scale(float* x, int n, float coef) {
  scale_range(x, 0, (size_t)n, coef);
}

}  // extern "C"
