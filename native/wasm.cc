// The WebAssembly kernel: core.h and core_backward.h compiled for WebAssembly SIMD (128-bit vectors, 4 float lanes), one thread.
// Built by scripts/build-wasm.sh into src/kernels/wasm/binary.ts; src/kernels/wasm/wasm.ts lays out the arrays
// in this module's memory, calls these functions, and copies the results back.
//
// No libc: -mbulk-memory turns any memset/memcpy the compiler wants into memory.fill/memory.copy.
#define RNN_VBYTES 16
#include "core.h"
#include "core_backward.h"

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
  if (const RowTanh row = L > 0 ? row_tanh_for(N, H, relu, lengths) : nullptr) {
    // online inference (N = 1, tanh): the fused time loop, accumulators kept from the products to the activation
    const ptrdiff_t last = reverse ? (ptrdiff_t)L - 1 : 0, dir = reverse ? -1 : 1;
    row(out + outOffset + last * outStride, dir * (ptrdiff_t)outStride, pre + last * H, dir * (ptrdiff_t)H, Bp, h0, hN,
        L);
    return;
  }
  const int P = (int)panel_count(H);
  for (int s = 0; s < L; s++) {
    const int t = reverse ? L - 1 - s : s;
    recurrence_step(buf + (size_t)(s & 1) * N * H, out + (size_t)t * N * outStride + outOffset, (size_t)outStride,
                    s == 0 ? h0 : buf + (size_t)((s - 1) & 1) * N * H, pre + (size_t)t * N * H, Bp, N, H, 0, P,
                    lengths, t, relu, nullptr, nullptr);  // no prefetch instruction in WebAssembly
  }
  const float* last = L == 0 ? h0 : buf + (size_t)((L - 1) & 1) * N * H;
  for (int i = 0; i < N * H; i++) hN[i] = last[i];
}

// src/kernels/kernel.ts's linearBackward (null pointers are 0). Scratch: Bp for panel_count(C) * NR * O floats
// (when dx is wanted), work for grad_weight_work(O, C) floats, acc for O * acc_ld(C) doubles and bsum for O doubles.
__attribute__((export_name("linear_backward"))) void linear_backward(float* dx, float* dw, float* db1, float* db2,
                                                                     const float* dy, const float* x, const float* w,
                                                                     int M, int C, int O, float* Bp, float* work,
                                                                     double* acc, double* bsum) {
  if (dx) {
    pack_panels_rows(Bp, [&](int k) { return w + (size_t)k * C; }, O, C);
    linear_backward_dx_rows(dx, dy, Bp, 0, M, O, C);
  }
  for (size_t i = 0; i < (size_t)O * acc_ld(C); i++) acc[i] = 0.0;
  for (int o = 0; o < O; o++) bsum[o] = 0.0;
  const bool bias = db1 || db2;
  for (int m0 = 0; m0 < M; m0 += GW_ROWS) {
    grad_weight_rows(
        acc, bias ? bsum : nullptr, work, [&](int m) { return dy + (size_t)m * O; },
        [&](int m) { return x + (size_t)m * C; }, m0, M < m0 + GW_ROWS ? M : m0 + GW_ROWS, O, C);
  }
  for (int o = 0; o < O; o++)
    for (int c = 0; c < C; c++) dw[(size_t)o * C + c] = (float)((double)dw[(size_t)o * C + c] + acc[o * acc_ld(C) + c]);
  for (int o = 0; o < O; o++) {
    if (db1) db1[o] = (float)((double)db1[o] + bsum[o]);
    if (db2) db2[o] = (float)((double)db2[o] + bsum[o]);
  }
}

// src/kernels/kernel.ts's recurrenceBackward (null pointers are 0), with every dz kept in Z (L, N, H) and added
// into dpre at the end. Scratch: Bp for panel_count(H) * NR * H floats, dh for N * H, zero for H (zeroed here),
// work for grad_weight_work(H, H) floats, acc for H * acc_ld(H) doubles.
__attribute__((export_name("recurrence_backward"))) void recurrence_backward(
    float* dpre, float* dh0, float* dwhh, const float* dout, const float* dhN, const float* out, const float* h0,
    const float* whh, int L, int N, int H, int outStride, int outOffset, int relu, int reverse,
    const int32_t* lengths, float* Z, float* Bp, float* dh, float* zero, float* work, double* acc) {
  if (L == 0 || N == 0 || H == 0) return;
  const size_t stride = (size_t)outStride;
  const float* o = out + outOffset;
  const float* g = dout ? dout + outOffset : nullptr;
  // undo the forward's steps in reverse: q = 0 is the forward's last step, at time tq(q)
  auto tq = [&](int q) { return reverse ? q : L - 1 - q; };
  const size_t NH = (size_t)N * H;
  backward_start(dh, Z + tq(0) * NH, dhN, g ? g + tq(0) * N * stride : nullptr, o + tq(0) * N * stride, stride, N, H,
                 lengths, tq(0), relu);
  pack_panels_rows(Bp, [&](int k) { return whh + (size_t)k * H; }, H, H);
  const int P = (int)panel_count(H);
  for (int q = 0; q < L; q++) {
    const int t = tq(q), tn = q + 1 < L ? tq(q + 1) : -1;
    backward_step(dh, tn >= 0 ? Z + tn * NH : nullptr, Z + t * NH, Bp, g && tn >= 0 ? g + tn * N * stride : nullptr,
                  tn >= 0 ? o + tn * N * stride : nullptr, stride, N, H, 0, P, lengths, t, tn, relu, nullptr, nullptr,
                  nullptr);
  }
  for (size_t i = 0; i < NH; i++) dh0[i] += dh[i];
  for (int j = 0; j < H; j++) zero[j] = 0.0f;
  for (size_t i = 0; i < (size_t)H * acc_ld(H); i++) acc[i] = 0.0;
  const int M = L * N;
  for (int m0 = 0; m0 < M; m0 += GW_ROWS) {
    grad_weight_rows(
        acc, nullptr, work, [&](int m) { return Z + (size_t)m * H; },
        [&](int m) { return prev_state_row(o, stride, h0, zero, L, N, H, reverse, lengths, m); }, m0,
        M < m0 + GW_ROWS ? M : m0 + GW_ROWS, H, H);
  }
  for (int o = 0; o < H; o++)
    for (int c = 0; c < H; c++) dwhh[(size_t)o * H + c] = (float)((double)dwhh[(size_t)o * H + c] + acc[o * acc_ld(H) + c]);
  for (size_t i = 0; i < (size_t)M * H; i++) dpre[i] += Z[i];
}

// Floats of `work` scratch for linear_backward and recurrence_backward with O output and C input features.
__attribute__((export_name("grad_weight_floats"))) int grad_weight_floats(int O, int C) {
  return (int)grad_weight_work(O, C);
}

// Doubles of `acc` scratch for the same: O rows of acc_ld(C).
__attribute__((export_name("grad_weight_doubles"))) int grad_weight_doubles(int O, int C) {
  return (int)((size_t)O * acc_ld(C));
}

// Floats per panel column block, so the caller can size the scratch: NR (8 here).
__attribute__((export_name("panel_width"))) int panel_width() { return NR; }
}
