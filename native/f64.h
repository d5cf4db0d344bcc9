// The float64 kernels: core.h's products (weights packed once into panels, register tiles of rows x panels, rows
// in blocks that stay in L2) over vectors of doubles, and the cells' epilogues in float64. The same source compiles
// for AVX2 + FMA (4 lanes), AVX-512 (8), NEON and WebAssembly SIMD (2), as core.h does; it has no threads and no
// I/O (native/f64_jobs.h shares the work, native/f64_addon.h and native/f64_wasm.h call it; f64_backward.h is
// its backward).
//
// Summation order, which is what makes these floats differ from the reference kernel's (within 1e-12 of it and of
// PyTorch float64, relative to the output's scale; tested): every output of a product is one chain of fused
// multiply-adds over k = 0 .. K-1 in order, from zero (the reference kernel adds the same terms in the same order
// with a rounding after each product), then + b1, then + b2. The weight gradients sum their rows in chunks of
// GW64_ROWS (one chain each), the chunks added in order. Where the target has no fused multiply-add (WebAssembly
// without relaxed SIMD) each product is rounded, as the reference's. The activations are this file's own (exp_parts:
// within about 2 float64 ulps), not libm's.
//
// Dimension letters: M rows of a product, K summed features, O output features, N batch, H hidden, G gates.
#pragma once
#include "core.h"

#define DL (RNN_VBYTES / 8)  // double lanes a register: 4 AVX2, 8 AVX-512, 2 NEON and WebAssembly
#define DNR (2 * DL)         // panel width: output features per register tile
#define DTW (4 * DNR)        // widest tile: 1 row x 4 panels (the LSTM's four gates)

typedef double v64 __attribute__((vector_size(RNN_VBYTES)));
typedef double v64u __attribute__((vector_size(RNN_VBYTES), aligned(8)));
typedef int64_t i64v __attribute__((vector_size(RNN_VBYTES)));

// c + a * b: fused by -ffp-contract=fast where the target has FMA, or by the relaxed-SIMD WebAssembly build's
// definition (f64x2.relaxed_madd)
#ifndef RNN_MADD64
#define RNN_MADD64(a, b, c) ((c) + (a) * (b))
#endif

// Whether the projected LSTM's steps are built: native/f64_addon.h runs them; the WebAssembly build leaves them out
// to stay small (its projected LSTM runs src/kernels/gated.ts's steps around its products).
#ifndef RNN_F64_PROJECTION
#define RNN_F64_PROJECTION 1
#endif

static inline v64 splat64(double s) { return s - (v64){}; }
static inline v64 load64(const double* p) { return *(const v64u*)p; }
static inline void store64(double* p, v64 v) { *(v64u*)p = v; }

// Up to DL doubles at p (n < DL: the rest 0), and back.
static inline v64 load64n(const double* p, int n) {
  if (n >= DL) return load64(p);
  v64 v = (v64){};
  for (int c = 0; c < n; c++) v[c] = p[c];
  return v;
}
static inline void store64n(double* p, v64 v, int n) {
  if (n >= DL) {
    store64(p, v);
    return;
  }
  for (int c = 0; c < n; c++) p[c] = v[c];
}

// ---------------------------------------------------------------------------------------------------------------
// Panels: panel p holds W's rows p*DNR .. p*DNR+DNR-1 transposed, Bp[(p*K + k)*DNR + c] = W[(p*DNR + c)*K + k],
// zeros past O, so every tile runs full width.
static inline size_t panels64(int O) { return (size_t)((O + DNR - 1) / DNR); }

static void pack64(double* Bp, const double* W, int O, int K) {
  const int P = (int)panels64(O);
  for (int p = 0; p < P; p++) {
    double* dst = Bp + (size_t)p * K * DNR;
    for (int c = 0; c < DNR; c++) {
      const int o = p * DNR + c;
      const double* src = W + (size_t)o * K;
      if (o < O) {
        for (int k = 0; k < K; k++) dst[(size_t)k * DNR + c] = src[k];
      } else {
        for (int k = 0; k < K; k++) dst[(size_t)k * DNR + c] = 0.0;
      }
    }
  }
}

// The panels of a matrix given by its columns: Bp as pack64's for W (O, K) with W[o][k] = row(k)[o], so that
// row(k) is a row of O features (W^T's rows: the backward's dy @ W, and dy^T @ x's rows of x).
template <class Row>
static void pack64_rows(double* Bp, Row&& row, int K, int O) {
  const int P = (int)panels64(O);
  for (int p = 0; p < P; p++) {
    double* dst = Bp + (size_t)p * K * DNR;
    const int o0 = p * DNR, w = O - o0 < DNR ? O - o0 : DNR;
    for (int k = 0; k < K; k++) {
      const double* src = row(k) + o0;
      double* d = dst + (size_t)k * DNR;
      for (int c = 0; c < w; c++) d[c] = src[c];
      for (int c = w; c < DNR; c++) d[c] = 0.0;
    }
  }
}

// Blocks of DNR units over H, and the gated cells' W_hh (G*H, K) packed gate-interleaved: panel u*G + g holds W's
// rows g*H + u*DNR + c, so that one tile's epilogue sees every gate of its units (gated.h's layout, in doubles).
static inline int units64(int H) { return (H + DNR - 1) / DNR; }

static void pack64_gated(double* Bp, const double* W, int G, int H, int K) {
  for (int u = 0; u < units64(H); u++) {
    const int rows = H - u * DNR < DNR ? H - u * DNR : DNR;
    for (int g = 0; g < G; g++)
      pack64(Bp + ((size_t)u * G + g) * K * DNR, W + ((size_t)g * H + (size_t)u * DNR) * K, rows, K);
  }
}

// Doubles a prepared weight of `layout` (0 panels, 3 the GRU's W_hh, 4 the LSTM's) holds, and its packing.
static inline size_t prepared64_doubles(int layout, int64_t O, int64_t C) {
  if (layout == 0) return panels64((int)O) * DNR * (size_t)C;
  return (size_t)units64((int)(O / layout)) * layout * DNR * (size_t)C;
}
static inline void pack64_layout(double* Bp, const double* w, int layout, int O, int C) {
  if (layout == 0) pack64(Bp, w, O, C);
  else pack64_gated(Bp, w, layout, O / layout, C);
}

// ---------------------------------------------------------------------------------------------------------------
// T (R, NP*DNR) = A (R rows, stride lda) @ panels p .. p+NP-1 (each K x DNR, `ps` doubles apart): R*NP*2
// accumulators, one fused chain per output over k in order. Not inlined, as core.h's tile, so that the
// accumulators stay in registers.
template <int R, int NP>
__attribute__((noinline)) static void tile64(double* T, const double* A, size_t lda, const double* Bp, size_t ps,
                                             int K) {
  v64 c[R][NP][2];
#pragma GCC unroll 8
  for (int i = 0; i < R; i++)
#pragma GCC unroll 8
    for (int q = 0; q < NP; q++) c[i][q][0] = c[i][q][1] = (v64){};
  for (int k = 0; k < K; k++) {
    v64 b[NP][2];
#pragma GCC unroll 8
    for (int q = 0; q < NP; q++) {
      b[q][0] = *(const v64*)(Bp + q * ps + (size_t)k * DNR);
      b[q][1] = *(const v64*)(Bp + q * ps + (size_t)k * DNR + DL);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
      const v64 a = splat64(A[i * lda + k]);
#pragma GCC unroll 8
      for (int q = 0; q < NP; q++) {
        c[i][q][0] = RNN_MADD64(a, b[q][0], c[i][q][0]);
        c[i][q][1] = RNN_MADD64(a, b[q][1], c[i][q][1]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; i++)
#pragma GCC unroll 8
    for (int q = 0; q < NP; q++) {
      *(v64*)(T + i * DTW + q * DNR) = c[i][q][0];
      *(v64*)(T + i * DTW + q * DNR + DL) = c[i][q][1];
    }
}

static inline void tile64_any(double* T, int R, int NP, const double* A, size_t lda, const double* Bp, size_t ps,
                              int K) {
  if (R == 1 && NP == 4) return tile64<1, 4>(T, A, lda, Bp, ps, K);
  if (R == 1 && NP == 3) return tile64<1, 3>(T, A, lda, Bp, ps, K);
  if (R == 1 && NP == 2) return tile64<1, 2>(T, A, lda, Bp, ps, K);
  if (R == 2 && NP == 2) return tile64<2, 2>(T, A, lda, Bp, ps, K);
  for (int q = 0; q < NP; q++) {
    double* Tq = T + q * DNR;
    const double* B = Bp + q * ps;
    switch (R) {
      case 1: tile64<1, 1>(Tq, A, lda, B, ps, K); break;
      case 2: tile64<2, 1>(Tq, A, lda, B, ps, K); break;
      case 3: tile64<3, 1>(Tq, A, lda, B, ps, K); break;
      case 4: tile64<4, 1>(Tq, A, lda, B, ps, K); break;
      case 5: tile64<5, 1>(Tq, A, lda, B, ps, K); break;
      default: tile64<6, 1>(Tq, A, lda, B, ps, K); break;
    }
  }
}

// Every tile of rows m0..m1 x panels p0..p1 of A (rows `lda` apart) @ panels, handed to epi(m, R, p, np, T) while
// still in L1: rows in blocks of MC64 (a block of A stays in L2 while the panels go by), up to 4 panels a tile for
// a single row (8 independent chains) as core.h's for_tiles. The tiles' shapes never change a float.
#define MC64 64
template <class Epi>
static void for_tiles64(const double* A, size_t lda, const double* Bp, int K, int m0, int m1, int p0, int p1,
                        Epi&& epi) {
  const size_t ps = (size_t)K * DNR;
  double T[MR * DTW] __attribute__((aligned(64)));
  for (int mb = m0; mb < m1; mb += MC64) {
    const int me = m1 < mb + MC64 ? m1 : mb + MC64;
    const int R0 = me - mb < MR ? me - mb : MR;
    for (int p = p0; p < p1;) {
      const int step = tile_panels(R0, p1 - p);
      for (int m = mb, R; m < me; m += R) {
        R = tile_rows(me - m);
        for (int pp = p; pp < p + step;) {
          const int q = tile_panels(R, p + step - pp);
          tile64_any(T, R, q, A + (size_t)m * lda, lda, Bp + (size_t)pp * ps, ps, K);
          epi(m, R, pp, q, (const double*)T);
          pp += q;
        }
      }
      p += step;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The activations in float64, lane by lane.
//
// e^z = 2^k (1 + p) and e^z - 1 = 2^k p + (2^k - 1) for -708 <= z <= 0: k = round(z / ln2), r = z - k ln2 (ln2 in
// two parts, the first exact in k ln2), |r| <= ln2/2, and p = e^r - 1 by its Taylor series to r^13 (the next term
// is below 1e-17 of p), so that both are within about 2 ulps. expm1 keeps tanh accurate near 0, where 1 - 2/(e^2x
// + 1) would cancel.
static inline void exp_parts(v64 z, v64& p, v64& scale) {
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer kept in the low bits
  z = z < -708.0 ? splat64(-708.0) : z;
  const v64 kd = z * 1.4426950408889634 + shifter;
  const v64 k = kd - shifter;
  const v64 r = (z - k * 0.6931471803691238) - k * 1.9082149292705877e-10;
  const v64 r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  // q = sum of r^j / (j+2)! for j = 0 .. 11, by Estrin's scheme; p = r + r^2 q
  const v64 q = ((1.0 / 2 + r * (1.0 / 6)) + r2 * (1.0 / 24 + r * (1.0 / 120))) +
                r4 * ((1.0 / 720 + r * (1.0 / 5040)) + r2 * (1.0 / 40320 + r * (1.0 / 362880))) +
                r8 * ((1.0 / 3628800 + r * (1.0 / 39916800)) + r2 * (1.0 / 479001600 + r * (1.0 / 6227020800)));
  p = r + r2 * q;
  i64v bits;
  __builtin_memcpy(&bits, &kd, sizeof bits);
  bits = (bits - (int64_t)0x4338000000000000LL + 1023) << 52;
  __builtin_memcpy(&scale, &bits, sizeof scale);
}

// 1 / d for n vectors with one division: prefix products, then back (each within a few ulps). The callers' d are in
// [1, 2], so no product over- or underflows.
template <int n>
static inline void recip64(v64* d) {
  v64 pre[n];
  pre[0] = d[0];
#pragma GCC unroll 4
  for (int i = 1; i < n; i++) pre[i] = pre[i - 1] * d[i];
  v64 inv = 1.0 / pre[n - 1];
#pragma GCC unroll 4
  for (int i = n - 1; i > 0; i--) {
    const v64 di = d[i];
    d[i] = inv * pre[i - 1];
    inv = inv * di;
  }
  d[0] = inv;
}

// The sigmoid's and tanh's numerator and denominator (in [1, 2]): s(x) = num / den, tanh(x) = num / den, each
// with x's sign and NaN put back by finish.
static inline void sigmoid_parts(v64 x, v64& num, v64& den) {
  v64 p, scale;
  exp_parts(x < 0 ? x : -x, p, scale);
  const v64 e = scale * p + scale;  // e^-|x|
  num = x < 0 ? e : splat64(1.0);
  den = 1.0 + e;
}
static inline void tanh_parts(v64 x, v64& num, v64& den) {
  v64 p, scale;
  const v64 ax = x < 0 ? -x : x;
  exp_parts(-(ax + ax), p, scale);
  const v64 em = scale * p + (scale - 1.0);  // e^-2|x| - 1, in (-1, 0]
  num = -em;
  den = 2.0 + em;
}
static inline v64 sigmoid_finish(v64 x, v64 num, v64 inv) {
  const v64 s = num * inv;
  return x != x ? x : s;
}
static inline v64 tanh_finish(v64 x, v64 num, v64 inv) {
  const v64 r = num * inv;
  return x != x ? x : x < 0 ? -r : r;
}
static inline v64 tanh64(v64 x) {
  v64 num, den;
  tanh_parts(x, num, den);
  return tanh_finish(x, num, 1.0 / den);
}

// ---------------------------------------------------------------------------------------------------------------
// The forward's epilogues.

// y rows m0..m1 (O features) = x @ W^T + b1 + b2 from W's panels, output panels p0..p1 only.
static void linear64_panels(double* y, const double* x, const double* Bp, const double* b1, const double* b2, int m0,
                            int m1, int p0, int p1, int K, int O) {
  for_tiles64(x, (size_t)K, Bp, K, m0, m1, p0, p1, [&](int m, int R, int p, int np, const double* T) {
    const int o0 = p * DNR;
    const int width = O - o0 < np * DNR ? O - o0 : np * DNR;
    for (int i = 0; i < R; i++) {
      double* dst = y + (size_t)(m + i) * O + o0;
      const double* t = T + i * DTW;
      for (int j = 0; j < width; j++) {
        double s = t[j];
        if (b1) s += b1[o0 + j];
        if (b2) s += b2[o0 + j];
        dst[j] = s;
      }
    }
  });
}

// What one step of a recurrence reads and writes (rows are absolute; every array at its step's first row):
//   h (N, H) the state before, hn (N, H) after; out_t (rows outStride apart) its output; pre_t (rows G*H apart);
//   c (N, H) the LSTM's cell state, updated in place; tape_t (rows (G+1)*H apart, or null) what the backward reads;
//   Bp W_hh's panels (gate-interleaved for the LSTM and GRU); bhh the GRU's b_hh (or null).
struct Step64 {
  double* hn;
  double* out_t;
  size_t outStride;
  const double* h;
  const double* pre_t;
  double* c;
  double* tape_t;
  const double* Bp;
  const double* bhh;
  int H;
  // A projected LSTM's: P the state's width (h, hn and out_t rows P wide; H without a projection), hh (N, H) the
  // step's o tanh(c) before the projection, Bpr W_hr's panels (null: no projection)
  int P;
  double* hh;
  const double* Bpr;
};

// Rows that have ended (t >= lengths[n]) keep their state and write zeros; c and the tape are left alone.
static inline void carry_row64(const Step64& s, int n, int j0, int width) {
  double* dst = s.hn + (size_t)n * s.P + j0;
  double* o = s.out_t + (size_t)n * s.outStride + j0;
  for (int j = 0; j < width; j++) dst[j] = s.h[(size_t)n * s.P + j0 + j], o[j] = 0.0;
}

// The RNN's step, rows m0..m1 x panels p0..p1: hn = f(pre_t + h W_hh^T), f tanh or relu (NaN kept).
static void rnn_step64(const Step64& s, int m0, int m1, int p0, int p1, const int32_t* lengths, int t, bool relu) {
  const int H = s.H;
  for_tiles64(s.h, (size_t)H, s.Bp, H, m0, m1, p0, p1, [&](int m, int R, int p, int np, const double* T) {
    const int j0 = p * DNR;
    const int width = H - j0 < np * DNR ? H - j0 : np * DNR;
    for (int i = 0; i < R; i++) {
      const int n = m + i;
      if (lengths && t >= lengths[n]) {
        carry_row64(s, n, j0, width);
        continue;
      }
      const double* pre = s.pre_t + (size_t)n * H + j0;
      double* dst = s.hn + (size_t)n * H + j0;
      double* o = s.out_t + (size_t)n * s.outStride + j0;
      for (int j = 0; j < width; j += DL) {
        const int w = width - j;
        const v64 x = load64(T + i * DTW + j) + load64n(pre + j, w);
        const v64 v = relu ? (x < 0 ? splat64(0.0) : x) : tanh64(x);  // x < 0 is false for NaN: relu keeps it
        store64n(dst + j, v, w);
        store64n(o + j, v, w);
      }
    }
  });
}

// The LSTM's units of one row: a = pre + T (gates i f g o at g*DNR of T, g*H of pre and tape), c = f c + i g,
// h = o tanh(c); the tape gets i f g o c.
static inline void lstm_units64(double* h, double* out, double* c, double* tape, const double* T, const double* pre,
                                int H, int width) {
  for (int j = 0; j < width; j += DL) {
    const int w = width - j;
    v64 x[4], num[4], den[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) x[g] = load64(T + g * DNR + j) + load64n(pre + (size_t)g * H + j, w);
    sigmoid_parts(x[0], num[0], den[0]);
    sigmoid_parts(x[1], num[1], den[1]);
    tanh_parts(x[2], num[2], den[2]);
    sigmoid_parts(x[3], num[3], den[3]);
    recip64<4>(den);
    const v64 i = sigmoid_finish(x[0], num[0], den[0]), f = sigmoid_finish(x[1], num[1], den[1]);
    const v64 g = tanh_finish(x[2], num[2], den[2]), o = sigmoid_finish(x[3], num[3], den[3]);
    const v64 cc = f * load64n(c + j, w) + i * g;
    const v64 v = o * tanh64(cc);
    store64n(c + j, cc, w);
    store64n(h + j, v, w);
    if (out) store64n(out + j, v, w);
    if (tape) {
      store64n(tape + j, i, w);
      store64n(tape + H + j, f, w);
      store64n(tape + 2 * H + j, g, w);
      store64n(tape + 3 * H + j, o, w);
      store64n(tape + 4 * H + j, cc, w);
    }
  }
}

// The GRU's units of one row: b = T + b_hh; r = s(pre_r + b_r), z = s(pre_z + b_z), n = tanh(pre_n + r b_n),
// h = (h_prev - n) z + n; the tape gets r z n b_n.
static inline void gru_units64(double* h, double* out, double* tape, const double* T, const double* pre,
                               const double* bhh, const double* hprev, int H, int width) {
  for (int j = 0; j < width; j += DL) {
    const int w = width - j;
    v64 b[3], x[2], num[2], den[2];
#pragma GCC unroll 3
    for (int g = 0; g < 3; g++) b[g] = load64(T + g * DNR + j) + (bhh ? load64n(bhh + (size_t)g * H + j, w) : (v64){});
    for (int g = 0; g < 2; g++) {
      x[g] = load64n(pre + (size_t)g * H + j, w) + b[g];
      sigmoid_parts(x[g], num[g], den[g]);
    }
    recip64<2>(den);
    const v64 r = sigmoid_finish(x[0], num[0], den[0]), z = sigmoid_finish(x[1], num[1], den[1]);
    const v64 n = tanh64(load64n(pre + 2 * (size_t)H + j, w) + r * b[2]);
    const v64 v = (load64n(hprev + j, w) - n) * z + n;
    store64n(h + j, v, w);
    store64n(out + j, v, w);
    if (tape) {
      store64n(tape + j, r, w);
      store64n(tape + H + j, z, w);
      store64n(tape + 2 * H + j, n, w);
      store64n(tape + 3 * H + j, b[2], w);
    }
  }
}

// The tile of R rows over the G panels of one unit block (Bp at its first panel): T[i*DTW + g*DNR + c].
template <int G>
static inline void gated_tile64(double* T, int R, const double* A, size_t lda, const double* Bp, size_t ps, int K) {
  if (R <= 2) {
    tile64_any(T, R, G == 4 && R == 1 ? 4 : G == 3 && R == 1 ? 3 : 2, A, lda, Bp, ps, K);
    if (R == 2) tile64_any(T + 2 * DNR, R, G - 2, A, lda, Bp + 2 * ps, ps, K);
  } else {
    for (int g = 0; g < G; g++) tile64_any(T + g * DNR, R, 1, A, lda, Bp + g * ps, ps, K);
  }
}

// The LSTM's (G 4) or GRU's (G 3) fused step, rows m0..m1 x unit blocks u0..u1 (gated.h's gated_step in doubles).
template <int G>
static void gated_step64(const Step64& s, int m0, int m1, int u0, int u1, const int32_t* lengths, int t) {
  const int H = s.H, P = s.P;
  const size_t ps = (size_t)P * DNR, GH = (size_t)G * H, tw = (size_t)(G + 1) * H;
  double T[MR * DTW] __attribute__((aligned(64)));
  for (int mb = m0; mb < m1; mb += MC64) {
    const int me = m1 < mb + MC64 ? m1 : mb + MC64;
    for (int u = u0; u < u1; u++) {
      const int j0 = u * DNR;
      const int width = H - j0 < DNR ? H - j0 : DNR;
      for (int m = mb, R; m < me; m += R) {
        R = me - m < MR ? me - m : MR;
        gated_tile64<G>(T, R, s.h + (size_t)m * P, (size_t)P, s.Bp + (size_t)u * G * ps, ps, P);
        for (int i = 0; i < R; i++) {
          const int n = m + i;
          if (lengths && t >= lengths[n]) {
            if (!s.hh) carry_row64(s, n, j0, width);  // projected: the projection's step carries the row
            continue;
          }
          double* tp = s.tape_t ? s.tape_t + (size_t)n * tw + j0 : nullptr;
          const double* pre = s.pre_t + (size_t)n * GH + j0;
          double* dst = s.hh ? s.hh + (size_t)n * H + j0 : s.hn + (size_t)n * H + j0;
          double* o = s.hh ? nullptr : s.out_t + (size_t)n * s.outStride + j0;
          if (G == 4) {
            lstm_units64(dst, o, s.c + (size_t)n * H + j0, tp, T + i * DTW, pre, H, width);
          } else {
            gru_units64(dst, o, tp, T + i * DTW, pre, s.bhh ? s.bhh + j0 : nullptr, s.h + (size_t)n * H + j0, H,
                        width);
          }
        }
      }
    }
  }
}

// A projected LSTM's step, rows m0..m1, after gated_step64 wrote hh: hn = out_t = hh W_hr^T (P wide); rows that
// have ended keep their state and write zeros.
static void projection_step64(const Step64& s, int m0, int m1, const int32_t* lengths, int t) {
  const int H = s.H, P = s.P;
  for_tiles64(s.hh, (size_t)H, s.Bpr, H, m0, m1, 0, (int)panels64(P), [&](int m, int R, int p, int np, const double* T) {
    const int j0 = p * DNR;
    const int width = P - j0 < np * DNR ? P - j0 : np * DNR;
    for (int i = 0; i < R; i++) {
      const int n = m + i;
      if (lengths && t >= lengths[n]) {
        carry_row64(s, n, j0, width);
        continue;
      }
      double* dst = s.hn + (size_t)n * P + j0;
      double* o = s.out_t + (size_t)n * s.outStride + j0;
      for (int j = 0; j < width; j++) dst[j] = o[j] = T[i * DTW + j];
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// One direction's recurrence over every step, for any mode (G 1: the RNN, tanh or relu; 3 the GRU; 4 the LSTM),
// as a list of steps that f64_jobs.h shares between threads (or a caller runs in order): step s, panels (RNN) or
// unit blocks (LSTM, GRU) p0..p1, rows m0..m1. The state goes h0 -> hbuf[0] -> hbuf[1] -> hbuf[0] ...; c (the
// LSTM's, c0 to begin with) is updated in place.
struct Recurrence64 {
  double* out;  // at the direction's offset: (L, N, outStride)
  const double* pre;  // (L, N, G*H)
  const double* Bp;
  const double* bhh;  // the GRU's (G*H) or null
  const double* h0;  // (N, P)
  double* hbuf[2];  // 2 x (N, P)
  double* c;  // (N, H): the LSTM's
  double* tape;  // (L, N, (G+1)*H) or null
  size_t outStride;
  int L, N, H, G;
  bool relu, reverse;
  const int32_t* lengths;
  int t0 = 0;  // the time of step s = 0 for `lengths` (a chunk of a layer's steps in the wavefront: t0 > 0)
  // A projected LSTM's (steps then run in blocks of rows, whole: run_recurrence64): W_hr's panels (null: none),
  // the state's width P, and hh (N, H) the steps' o tanh(c)
  const double* Bpr = nullptr;
  int P = 0;
  double* hh = nullptr;
  int width() const { return Bpr ? P : H; }
  int panels() const { return G == 1 ? (int)panels64(H) : units64(H); }
  int time(int s) const { return reverse ? L - 1 - s : s; }
  // The state after step s (s = -1: h0).
  const double* state(int s) const { return s < 0 ? h0 : hbuf[s & 1]; }
  void step(int s, int p0, int p1, int m0, int m1) const {
    const int t = time(s);
    const size_t row = (size_t)t * N;
    const Step64 st{hbuf[s & 1], out + row * outStride, outStride, state(s - 1), pre + row * G * H, c,
                    tape ? tape + row * (G + 1) * H : nullptr, Bp, bhh, H, width(), Bpr ? hh : nullptr, Bpr};
    if (RNN_F64_PROJECTION && G == 4 && Bpr) {  // whole rows: the schedule counts a projected step as one part
      gated_step64<4>(st, m0, m1, 0, panels(), lengths, t0 + t);
      projection_step64(st, m0, m1, lengths, t0 + t);
    } else if (G == 4) gated_step64<4>(st, m0, m1, p0, p1, lengths, t0 + t);
    else if (G == 3) gated_step64<3>(st, m0, m1, p0, p1, lengths, t0 + t);
    else rnn_step64(st, m0, m1, p0, p1, lengths, t0 + t, relu);
  }
};
