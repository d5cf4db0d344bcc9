// The WebAssembly kernel: core.h and core_backward.h compiled for WebAssembly SIMD (128-bit vectors, 4 float lanes), one thread.
// Built by scripts/build-wasm.sh into src/kernels/wasm/binary.ts; src/kernels/wasm/wasm.ts lays out the arrays
// in this module's memory, calls these functions, and copies the results back.
//
// No libc: -mbulk-memory turns any memset/memcpy the compiler wants into memory.fill/memory.copy.
#define RNN_VBYTES 16
#include "core.h"
#include "core_backward.h"
#include "gated.h"
#include "gated_backward.h"

// Scratch carved from one region: each array 64-byte aligned. From base 0 it measures the bytes a call needs.
struct Carve {
  size_t at;
  template <class T>
  T* take(size_t n) {
    at = (at + 63) / 64 * 64;
    T* p = (T*)at;
    at += n * sizeof(T);
    return p;
  }
};

// dw (O, C) += dY^T X over M rows (dyrow(m), xrow(m)), db (O, when not null) += the column sums of dY: float32 tiles
// summed per chunk of GW_ROWS rows into float64, rounded into dw and db once (as linear_backward below).
template <class DY, class XR>
static void grad_weight_serial(float* dw, float* db, DY&& dyrow, XR&& xrow, int M, int O, int C, float* work,
                               double* acc, double* bsum) {
  for (size_t i = 0; i < (size_t)O * acc_ld(C); i++) acc[i] = 0.0;
  for (int o = 0; o < O; o++) bsum[o] = 0.0;
  for (int m0 = 0; m0 < M; m0 += GW_ROWS)
    grad_weight_rows(acc, db ? bsum : nullptr, work, dyrow, xrow, m0, M < m0 + GW_ROWS ? M : m0 + GW_ROWS, O, C);
  for (int o = 0; o < O; o++)
    for (int c = 0; c < C; c++) dw[(size_t)o * C + c] = (float)((double)dw[(size_t)o * C + c] + acc[o * acc_ld(C) + c]);
  for (int o = 0; db && o < O; o++) db[o] = (float)((double)db[o] + bsum[o]);
}

// The scratch of gated_recurrence (G gates, projection when P < H): W_hh's gate-interleaved panels, W_hr's, two
// states, c and o tanh(c).
struct GatedForwardWork {
  float *Bp, *Bpr, *hbuf, *c, *hh;
  GatedForwardWork(Carve& w, int G, int N, int H, int P) {
    const bool proj = P < H;
    Bp = w.take<float>((size_t)unit_blocks(H) * G * NR * P);
    Bpr = proj ? w.take<float>(panel_count(P) * NR * H) : nullptr;
    hbuf = w.take<float>(2 * (size_t)N * P);
    c = w.take<float>((size_t)N * H);
    hh = proj ? w.take<float>((size_t)N * H) : nullptr;
  }
};

// The scratch of gated_recurrence_backward: the gates' gradients of every step, W_hh^T's and W_hr^T's panels, the
// carried gradients, the projection's per-step factors, a row of zeros and the weight gradients' chunk buffers.
struct GatedBackwardWork {
  float *Z, *Bp, *Bpr, *dh, *gh, *hh, *zeros, *work;
  double *dc, *dhz, *acc, *bsum;
  GatedBackwardWork(Carve& w, int G, int L, int N, int H, int P) {
    const bool proj = P < H;
    const size_t LN = (size_t)L * N, GH = (size_t)G * H;
    Z = w.take<float>(LN * GH);
    Bp = w.take<float>(panel_count(P) * NR * GH);
    Bpr = proj ? w.take<float>(panel_count(H) * NR * P) : nullptr;
    dh = w.take<float>((size_t)N * P);
    gh = proj ? w.take<float>(LN * P) : nullptr;
    hh = proj ? w.take<float>(LN * H) : nullptr;
    zeros = w.take<float>(P);
    const size_t wk = grad_weight_work((int)GH, P), wr = proj ? grad_weight_work(P, H) : 0;
    work = w.take<float>(wk > wr ? wk : wr);
    dc = w.take<double>((size_t)N * H);
    dhz = w.take<double>((size_t)N * H);
    const size_t ak = GH * acc_ld(P), ar = proj ? (size_t)P * acc_ld(H) : 0;
    acc = w.take<double>(ak > ar ? ak : ar);
    bsum = w.take<double>(GH);
  }
};

extern "C" {

// w (O, C) packed into Bp as `layout` lays it out (0: pack_panels; 3 or 4: pack_gated, the GRU's or LSTM's W_hh):
// a weight prepared once (src/kernels/wasm/wasm.ts's prepare), which the calls below take with a null weight.
__attribute__((export_name("pack"))) void pack(float* Bp, const float* w, int layout, int O, int C) {
  if (layout == 0) pack_panels(Bp, w, O, C);
  else pack_gated(Bp, w, layout, O / layout, C);
}

// The floats `pack` writes.
__attribute__((export_name("packed_floats"))) int packed_floats(int layout, int O, int C) {
  return layout == 0 ? (int)(panel_count(O) * NR * C) : unit_blocks(O / layout) * layout * NR * C;
}

// y (M, O) = x (M, C) @ w (O, C)^T + b1 + b2; Bp is scratch for panel_count(O) * NR * C floats, or with a null w
// holds w's prepared panels.
__attribute__((export_name("linear"))) void linear(float* y, const float* x, const float* w, const float* b1,
                                                   const float* b2, int M, int C, int O, float* Bp) {
  if (w) pack_panels(Bp, w, O, C);
  linear_rows(y, x, Bp, b1, b2, 0, M, C, O);
}

// src/kernels/kernel.ts's recurrence; Bp is scratch for panel_count(H) * NR * H floats (with a null whh: whh's
// prepared panels), buf for 2 * N * H.
__attribute__((export_name("recurrence"))) void recurrence(float* out, float* hN, const float* pre, const float* whh,
                                                           const float* h0, int L, int N, int H, int outStride,
                                                           int outOffset, int relu, int reverse,
                                                           const int32_t* lengths, float* Bp, float* buf) {
  if (whh) pack_panels(Bp, whh, H, H);
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

// Bytes of `work` scratch for gated_recurrence (backward 0) or gated_recurrence_backward (backward 1).
__attribute__((export_name("gated_work_bytes"))) int gated_work_bytes(int backward, int lstm, int L, int N, int H,
                                                                     int P) {
  Carve w{0};
  if (backward) GatedBackwardWork(w, lstm ? 4 : 3, L, N, H, P);
  else GatedForwardWork(w, lstm ? 4 : 3, N, H, P);
  return (int)w.at + 64;  // room to align the region's start
}

// The fused forward of gated_recurrence's arguments over the work carved from `work`: W_hh (and W_hr) packed, c,
// the projected state and hh set, ready to run on this thread (gated_recurrence) or on the pool
// (wasm_threads.cc's pool_gated_recurrence).
static GatedForward gated_forward(float* out, const float* pre, const float* whh, const float* h0, const float* c0,
                                  const float* whr, const float* bhh, float* tape, int L, int N, int H, int P,
                                  int outStride, int outOffset, int lstm, int reverse, const int32_t* lengths,
                                  char* work, const float* whhPacked, const float* whrPacked) {
  const int G = lstm ? 4 : 3;
  Carve w{(size_t)work};
  const GatedForwardWork s(w, G, N, H, P);
  if (!whhPacked) pack_gated(s.Bp, whh, G, H, P);
  if (s.Bpr && !whrPacked) pack_panels(s.Bpr, whr, P, H);
  for (int i = 0; lstm && i < N * H; i++) s.c[i] = c0 ? c0[i] : 0.0f;
  for (int i = 0; s.Bpr && i < N * P; i++) s.hbuf[i] = h0[i];
  for (int i = 0; s.hh && i < N * H; i++) s.hh[i] = 0.0f;
  GatedForward f;
  f.G = G, f.L = L, f.N = N, f.H = H, f.P = P, f.reverse = reverse, f.lengths = lengths;
  f.out = out + outOffset, f.outStride = (size_t)outStride, f.pre = pre, f.h0 = h0, f.bhh = lstm ? nullptr : bhh;
  f.tape = tape, f.Bp = whhPacked ? whhPacked : s.Bp, f.Bpr = s.Bpr && whrPacked ? whrPacked : s.Bpr;
  f.hbuf[0] = s.hbuf, f.hbuf[1] = s.hbuf + (size_t)N * P;
  f.c = lstm ? s.c : nullptr, f.hh = s.hh;
  return f;
}

// A run forward's last state into h_N (N, P) and, for the LSTM, c_N (N, H) when not null.
static void gated_forward_end(const GatedForward& f, float* hN, float* cN) {
  const float* last = f.last();
  for (int i = 0; i < f.N * f.P; i++) hN[i] = last[i];
  for (int i = 0; f.c && cN && i < f.N * f.H; i++) cN[i] = f.c[i];
}

// src/kernels/kernel.ts's recurrence for the LSTM (lstm 1) and the GRU (native/gated.h), on this thread; null
// pointers are absent arrays (cN, c0, whr, bhh, tape, lengths). work: gated_work_bytes(0, ...) bytes. whhPacked and
// whrPacked: the weights' prepared panels (`pack`), read instead of packing whh and whr, or null.
__attribute__((export_name("gated_recurrence"))) void gated_recurrence(
    float* out, float* hN, float* cN, const float* pre, const float* whh, const float* h0, const float* c0,
    const float* whr, const float* bhh, float* tape, int L, int N, int H, int P, int outStride, int outOffset, int lstm,
    int reverse, const int32_t* lengths, char* work, const float* whhPacked, const float* whrPacked) {
  if (N == 0 || H == 0) return;
  GatedForward f = gated_forward(out, pre, whh, h0, c0, whr, bhh, tape, L, N, H, P, outStride, outOffset, lstm,
                                 reverse, lengths, work, whhPacked, whrPacked);
  f.run_all();
  gated_forward_end(f, hN, cN);
}

// Its backward (native/gated_backward.h), accumulating; null pointers are absent arrays (dc0, dwhr, dbhh, dout, dhN,
// dcN, c0, whr, lengths). work: gated_work_bytes(1, ...) bytes.
__attribute__((export_name("gated_recurrence_backward"))) void gated_recurrence_backward(
    float* dpre, float* dh0, float* dc0, float* dwhh, float* dwhr, float* dbhh, const float* dout, const float* dhN,
    const float* dcN, const float* out, const float* h0, const float* c0, const float* whh, const float* whr,
    const float* tape, int L, int N, int H, int P, int outStride, int outOffset, int lstm, int reverse,
    const int32_t* lengths, char* work) {
  if (N == 0 || H == 0) return;
  if (L == 0) {
    for (int i = 0; dhN && i < N * P; i++) dh0[i] += dhN[i];
    for (int i = 0; lstm && dc0 && dcN && i < N * H; i++) dc0[i] += dcN[i];
    return;
  }
  const int G = lstm ? 4 : 3, GH = G * H, M = L * N;
  Carve w{(size_t)work};
  const GatedBackwardWork s(w, G, L, N, H, P);
  pack_panels_rows(s.Bp, [&](int k) { return whh + (size_t)k * P; }, GH, P);
  if (s.Bpr) pack_panels_rows(s.Bpr, [&](int k) { return whr + (size_t)k * H; }, P, H);
  for (int j = 0; j < P; j++) s.zeros[j] = 0.0f;
  GatedBackward b;
  b.G = G, b.L = L, b.N = N, b.H = H, b.P = P, b.reverse = reverse, b.lengths = lengths;
  b.stride = (size_t)outStride, b.out = out + outOffset, b.dout = dout ? dout + outOffset : nullptr;
  b.h0 = h0, b.c0 = lstm ? c0 : nullptr, b.tape = tape, b.Z = s.Z, b.dpre = lstm ? nullptr : dpre;
  b.dh = s.dh, b.dc = s.dc, b.dhz = s.dhz, b.gh = s.gh, b.hh = s.hh, b.Bp = s.Bp, b.Bpr = s.Bpr;
  b.start(dhN, lstm ? dcN : nullptr);
  b.run_all();
  for (int i = 0; i < N * P; i++) dh0[i] += s.dh[i];
  for (int i = 0; lstm && dc0 && i < N * H; i++) dc0[i] = (float)((double)dc0[i] + s.dc[i]);
  const size_t stride = b.stride;
  grad_weight_serial(
      dwhh, lstm ? nullptr : dbhh, [&](int m) { return (const float*)s.Z + (size_t)m * GH; },
      [&](int m) { return prev_state_row(b.out, stride, h0, s.zeros, L, N, P, reverse, lengths, m); }, M, GH, P,
      s.work, s.acc, s.bsum);
  if (s.Bpr && dwhr) {
    grad_weight_serial(
        dwhr, nullptr, [&](int m) { return (const float*)s.gh + (size_t)m * P; },
        [&](int m) { return (const float*)s.hh + (size_t)m * H; }, M, P, H, s.work, s.acc, s.bsum);
  }
  for (size_t i = 0; lstm && i < (size_t)M * GH; i++) dpre[i] += s.Z[i];
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
#include "optim_wasm.h"
