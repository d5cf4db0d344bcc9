// The float64 kernels (native/f64.h) in the WebAssembly builds, on the calling thread (included at the end of
// native/wasm.cc; native/wasm_threads.cc adds the forward's pool versions). src/kernels/wasm/wasm.ts lays out the
// arrays, every one a float64 array but lengths (int32), and the scratch these take; null pointers are 0.
#pragma once
#include "f64_backward.h"

// dw (O, C) += dY^T X over M rows, db (O, or null) += dY's column sums, on this thread: blocks of 256 output rows.
template <class DY, class XR>
static void grad_weight64_serial(double* dw, double* db, DY&& dyrow, XR&& xrow, int M, int O, int C, double* work) {
  for (int o0 = 0; o0 < O; o0 += 256) grad_weight64_rows(dw, db, work, dyrow, xrow, 0, M, o0, O < o0 + 256 ? O : o0 + 256, C);
}

extern "C" {

// w (O, C) packed into Bp as `layout` lays it out (0 panels, 3 the GRU's W_hh, 4 the LSTM's): a weight prepared
// once, which the calls below take with a null weight.
__attribute__((export_name("pack64"))) void pack64_export(double* Bp, const double* w, int layout, int O, int C) {
  pack64_layout(Bp, w, layout, O, C);
}

// The doubles `pack64` writes.
__attribute__((export_name("packed64_doubles"))) int packed64_doubles(int layout, int O, int C) {
  return (int)prepared64_doubles(layout, O, C);
}

// y (M, O) = x (M, C) @ w (O, C)^T + b1 + b2; Bp: scratch for packed64_doubles(0, O, C), or with a null w, w's
// prepared panels.
__attribute__((export_name("linear64"))) void linear64(double* y, const double* x, const double* w, const double* b1,
                                                       const double* b2, int M, int C, int O, double* Bp) {
  if (w) pack64(Bp, w, O, C);
  linear64_panels(y, x, Bp, b1, b2, 0, M, 0, (int)panels64(O), C, O);
}

// The recurrence of one direction, mode 0 tanh, 1 relu, 3 GRU, 4 LSTM (native/f64_addon.h's recurrence64). Bp:
// scratch for W_hh's layout (or with a null whh, its prepared panels); state: 3 N H doubles.
static Recurrence64 recurrence64_of(double* out, const double* pre, const double* whh, const double* h0,
                                    const double* c0, const double* bhh, double* tape, int L, int N, int H,
                                    int outStride, int outOffset, int mode, int reverse, const int32_t* lengths,
                                    double* Bp, double* state) {
  const int G = mode < 3 ? 1 : mode;
  if (whh) pack64_layout(Bp, whh, G == 1 ? 0 : G, G * H, H);
  const size_t NH = (size_t)N * H;
  for (size_t i = 0; i < NH; i++) state[2 * NH + i] = c0 ? c0[i] : 0.0;
  return Recurrence64{out + outOffset, pre, Bp, G == 3 ? bhh : nullptr, h0, {state, state + NH}, state + 2 * NH,
                      G > 1 ? tape : nullptr, (size_t)outStride, L, N, H, G, mode == 1, reverse != 0, lengths};
}

static void recurrence64_end(const Recurrence64& r, double* hN, double* cN) {
  const double* last = r.state(r.L - 1);
  for (size_t i = 0; i < (size_t)r.N * r.H; i++) hN[i] = last[i];
  for (size_t i = 0; cN && r.G == 4 && i < (size_t)r.N * r.H; i++) cN[i] = r.c[i];
}

__attribute__((export_name("recurrence64"))) void recurrence64(double* out, double* hN, double* cN, const double* pre,
                                                               const double* whh, const double* h0, const double* c0,
                                                               const double* bhh, double* tape, int L, int N, int H,
                                                               int outStride, int outOffset, int mode, int reverse,
                                                               const int32_t* lengths, double* Bp, double* state) {
  if (N == 0 || H == 0) return;
  const Recurrence64 r = recurrence64_of(out, pre, whh, h0, c0, bhh, tape, L, N, H, outStride, outOffset, mode,
                                         reverse, lengths, Bp, state);
  for (int s = 0; s < L; s++) r.step(s, 0, r.panels(), 0, N);
  recurrence64_end(r, hN, cN);
}

// Doubles of the weight gradients' work buffer for O output and C input features (blocks of up to 256 rows).
__attribute__((export_name("gw64_doubles"))) int gw64_doubles(int O, int C) {
  return (int)gw64_work(O < 256 ? O : 256, C);
}

// linearBackward in float64. Scratch: Bp for panels64(C) * DNR * O doubles (when dx is wanted), work for
// gw64_doubles(O, C), bsum for O (when a bias gradient is wanted).
__attribute__((export_name("linear_backward64"))) void linear_backward64(double* dx, double* dw, double* db1,
                                                                         double* db2, const double* dy, const double* x,
                                                                         const double* w, int M, int C, int O,
                                                                         double* Bp, double* work, double* bsum) {
  if (dx && C > 0) {
    pack64_rows(Bp, [&](int k) { return w + (size_t)k * C; }, O, C);
    dx64_rows(dx, dy, Bp, 0, M, O, C);
  }
  const bool bias = db1 || db2;
  for (int o = 0; bias && o < O; o++) bsum[o] = 0.0;
  grad_weight64_serial(
      dw, bias ? bsum : nullptr, [&](int m) { return dy + (size_t)m * O; }, [&](int m) { return x + (size_t)m * C; },
      M, O, C, work);
  for (int o = 0; bias && o < O; o++) {
    if (db1) db1[o] += bsum[o];
    if (db2) db2[o] += bsum[o];
  }
}

// recurrenceBackward in float64, mode as recurrence64's (native/f64_addon.h's recurrenceBackward64). Scratch: Z for
// L N G H doubles, Bp for panels64(H) * DNR * G H, state for 3 N H + H, work for gw64_doubles(G H, H), bsum for
// G H.
__attribute__((export_name("recurrence_backward64"))) void recurrence_backward64(
    double* dpre, double* dh0, double* dc0, double* dwhh, double* dbhh, const double* dout, const double* dhN,
    const double* dcN, const double* out, const double* h0, const double* c0, const double* whh, const double* tape,
    int L, int N, int H, int outStride, int outOffset, int mode, int reverse, const int32_t* lengths, double* Z,
    double* Bp, double* state, double* work, double* bsum) {
  if (L == 0 || N == 0 || H == 0) return;
  const int G = mode < 3 ? 1 : mode;
  const size_t NH = (size_t)N * H, GH = (size_t)G * H, LN = (size_t)L * N;
  for (size_t i = 0; i < 3 * NH + H; i++) state[i] = 0.0;
  for (size_t i = 0; dhN && i < NH; i++) state[i] = dhN[i];
  for (size_t i = 0; dcN && G == 4 && i < NH; i++) state[NH + i] = dcN[i];
  pack64_rows(Bp, [&](int k) { return whh + (size_t)k * H; }, (int)GH, H);
  const Backward64 b{Z, dpre, state, state + NH, state + 2 * NH, dout ? dout + outOffset : nullptr, out + outOffset,
                     h0, G == 4 ? c0 : nullptr, tape, Bp, (size_t)outStride, L, N, H, G, mode == 1, reverse != 0,
                     lengths};
  for (int q = 0; q < L; q++) b.step(q, 0, 1, 0, N);
  for (size_t i = 0; i < NH; i++) dh0[i] += state[i];
  for (size_t i = 0; dc0 && G == 4 && i < NH; i++) dc0[i] += state[NH + i];
  const double* zeros = state + 3 * NH;
  const bool bias = G == 3 && dbhh;
  for (size_t o = 0; bias && o < GH; o++) bsum[o] = 0.0;
  grad_weight64_serial(
      dwhh, bias ? bsum : nullptr, [&](int m) { return (const double*)Z + (size_t)m * GH; },
      [&](int m) { return b.active(m / N, m % N) ? b.prev_h(m / N, m % N) : zeros; }, (int)LN, (int)GH, H, work);
  for (size_t o = 0; bias && o < GH; o++) dbhh[o] += bsum[o];
}

}  // extern "C"
