// The WebAssembly kernel: core.h compiled for WebAssembly SIMD (128-bit vectors, 4 float lanes), one thread.
// Built by scripts/build-wasm.sh into src/kernels/wasm/binary.ts; src/kernels/wasm/wasm.ts lays out the arrays
// in this module's memory, calls these two functions, and copies the results back.
//
// No libc: -mbulk-memory turns any memset/memcpy the compiler wants into memory.fill/memory.copy.
#define RNN_VBYTES 16
#include "core.h"

extern "C" {

// y (M, O) = x (M, C) @ w (O, C)^T + b1 + b2; Bp is scratch for panel_count(O) * NR * C floats.
__attribute__((export_name("linear"))) void linear(float* y, const float* x, const float* w, const float* b1,
                                                   const float* b2, int M, int C, int O, float* Bp) {
  pack_panels(Bp, w, O, C);
  linear_rows(y, x, Bp, b1, b2, 0, M, C, O);
}

// src/kernels/kernel.ts's recurrence; Bp is scratch for panel_count(H) * NR * H floats, buf for 2 * N * H.
__attribute__((export_name("recurrence"))) void recurrence(float* out, float* hN, const float* pre, const float* whh,
                                                           const float* h0, int L, int N, int H, int outStride,
                                                           int outOffset, int relu, int reverse,
                                                           const int32_t* lengths, float* Bp, float* buf) {
  pack_panels(Bp, whh, H, H);
  const int P = (int)panel_count(H);
  for (int s = 0; s < L; s++) {
    const int t = reverse ? L - 1 - s : s;
    recurrence_step(buf + (size_t)(s & 1) * N * H, out + (size_t)t * N * outStride + outOffset, (size_t)outStride,
                    s == 0 ? h0 : buf + (size_t)((s - 1) & 1) * N * H, pre + (size_t)t * N * H, Bp, N, H, 0, P,
                    lengths, t, relu);
  }
  const float* last = L == 0 ? h0 : buf + (size_t)((L - 1) & 1) * N * H;
  for (int i = 0; i < N * H; i++) hN[i] = last[i];
}

// Floats per panel column block, so the caller can size the scratch: NR (8 here).
__attribute__((export_name("panel_width"))) int panel_width() { return NR; }
}
