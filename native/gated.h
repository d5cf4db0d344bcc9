// The LSTM and GRU recurrences, fused: core.h's tiles and panels for each step's h_{t-1} W_hh^T, with the gate
// math in the tile's epilogue. Included after core.h by addon.cc and wasm.cc (the same source for both), as
// core.h, it has no threads and no I/O; native/gated_jobs.h splits the steps between threads.
//
// The math is src/kernels/gated.ts's (see its header): per step t and sequence n still running,
//   LSTM: a = pre_t + h W_hh^T (4H): i = s(a_i), f = s(a_f), g = tanh(a_g), o = s(a_o); c = f c + i g;
//         h = o tanh(c), then h = h W_hr^T with proj_size.                 tape: i f g o c    (5H)
//   GRU:  b = h W_hh^T + b_hh (3H): r = s(pre_r + b_r), z = s(pre_z + b_z), n = tanh(pre_n + r b_n);
//         h = (h - n) z + n.                                                 tape: r z n b_n    (4H)
// Precision, as the RNN's: the products are float32 tiles (FMA, restarted every KB terms); everything after them
// (pre + sum + b_hh, the sigmoids and tanh, c, h) is float64, each stored value rounded once to float32, but for the
// GRU's r and z gates, float32 (see gru_vector). The state h and c are carried in float32, as PyTorch carries them.
//
// Gate-interleaved panels: W_hh's G*H rows are packed so that the G panels of one block of NR units sit side by
// side (panel u*G + g holds the rows g*H + u*NR ..). A tile of R rows runs over the G panels of a unit block at
// once, so its epilogue sees every gate of its units: a step is one pass over its rows, as the RNN's is. The
// files keep PyTorch's [i; f; g; o] (and [r; z; n]) order; packing already copies, so the permutation is free.
#pragma once
#include "core.h"

// Blocks of NR units over H (the last one padded with zero panels).
static inline int unit_blocks(int H) { return (H + NR - 1) / NR; }

// Bp: unit_blocks(H) * G panels of K (W's columns) x NR, panel u*G + g holding W's rows g*H + u*NR + c (c < NR,
// zeros past H). W is (G*H, K).
static void pack_gated(float* Bp, const float* W, int G, int H, int K) {
  const int U = unit_blocks(H);
  for (int u = 0; u < U; u++) {
    const int rows = H - u * NR < NR ? H - u * NR : NR;
    for (int g = 0; g < G; g++)
      pack_panels(Bp + ((size_t)u * G + g) * K * NR, W + ((size_t)g * H + (size_t)u * NR) * K, rows, K);
  }
}

// VH floats as float64. GCC 12 turns __builtin_convertvector from 4 floats to 4 doubles into two conversions of
// two and a lane insert (through the stack when the vector came from memory); the AVX instruction does it in one
// (both x86 builds: the AVX-512 one keeps float64 vectors at 4 doubles, see core.h).
static inline vd widen(vh v) {
#if RNN_DBYTES == 32
  return __builtin_ia32_cvtps2pd256(v);
#else
  return __builtin_convertvector(v, vd);
#endif
}

// Up to VH floats at p as float64 (n < VH: the rest 0), and back.
static inline vd load_vd(const float* p, int n) {
  vh v;
  if (n >= VH) {
    __builtin_memcpy(&v, p, sizeof v);
  } else {
    v = (vh){};
    for (int c = 0; c < n; c++) v[c] = p[c];
  }
  return widen(v);
}

static inline void store_vd(float* p, vd x, int n) {
  const vh v = __builtin_convertvector(x, vh);
  if (n >= VH) {
    __builtin_memcpy(p, &v, sizeof v);
  } else {
    for (int c = 0; c < n; c++) p[c] = v[c];
  }
}

// Loads and stores of VH floats as float64, whole (the backward's epilogues).
static inline vd ld(const float* p) {
  vh v;
  __builtin_memcpy(&v, p, sizeof v);
  return widen(v);
}
static inline void st(float* p, vd x) {
  const vh v = __builtin_convertvector(x, vh);
  __builtin_memcpy(p, &v, sizeof v);
}

// The gate epilogues' float64 vectors: GV doubles, 8 with AVX-512 (half the instructions of 4), else core.h's vd.
// Their math is lane by lane (the one division shared between vectors, recip4, is shared between the four gates of
// the same units), so their floats do not depend on the width: the AVX-512 build's are the AVX2 build's.
#if RNN_VBYTES == 64
#define GV 8
#else
#define GV VH
#endif
typedef double gd __attribute__((vector_size(GV * 8)));
typedef float gfl __attribute__((vector_size(GV * 4)));
typedef int64_t gi __attribute__((vector_size(GV * 8)));

static inline gd gsplat(double s) { return s - (gd){}; }
static inline gd gabs(gd x) { return x < 0 ? -x : x; }

// core.h's exp_small and tanh_from for gd: the same operations, lane by lane.
static inline gd g_exp(gd z) { return exp_small_of<gd, gi>(z); }
static inline gd g_tanh_from(gd x, gd z, gd two) { return tanh_from(x, z, two); }

// GV floats at p as float64, and back (widening in one instruction, as widen).
static inline gd gld(const float* p) {
  gfl v;
  __builtin_memcpy(&v, p, sizeof v);
#if GV == 8
  return __builtin_ia32_cvtps2pd512_mask(v, (gd){}, (unsigned char)0xff, 4);
#elif RNN_DBYTES == 32
  return __builtin_ia32_cvtps2pd256(v);
#else
  return __builtin_convertvector(v, gd);
#endif
}
static inline void gst(float* p, gd x) {
  const gfl v = __builtin_convertvector(x, gfl);
  __builtin_memcpy(p, &v, sizeof v);
}

// d[0..3] = 1/d[0..3] with one division: q = 1/(d0 d1 d2 d3), then 1/(d0 d1) = q d2 d3 and 1/(d2 d3) = q d0 d1, and
// 1/d0 = d1/(d0 d1) and so on, within a few float64 ulps (far below the 1e-11 that matters). Each denominator is at
// most e^110 + 1 (the sigmoid's) or e^40 + 1 (tanh's), so their product stays far from overflow (e^370 against
// e^709) and its reciprocal from underflow.
static inline void recip4(gd* d) {
  const gd p01 = d[0] * d[1], p23 = d[2] * d[3];
  const gd q = 1.0 / (p01 * p23);
  const gd q01 = q * p23, q23 = q * p01;
  const gd r0 = q01 * d[1], r2 = q23 * d[3];
  d[1] = q01 * d[0];
  d[3] = q23 * d[2];
  d[0] = r0;
  d[2] = r2;
}

// The sigmoid in float64 from the exp of core.h: with z = min(|x|, 110) (NaN: 110, so that it cannot spread through
// a shared division), d = e^z + 1 and q = 1/d, s(x) = q for x < 0 and 1 - q otherwise (1 - q >= 1/2 loses
// nothing). Past |x| = 110 the sigmoid is 0 or 1 once rounded to float32 (e^-104 is half the least subnormal).
static inline gd sigmoid_z(gd x) {
  const gd ax = gabs(x);
  return ax <= 110.0 ? ax : gsplat(110.0);
}
static inline gd sigmoid_from(gd x, gd q) {
  const gd r = x < 0 ? q : 1.0 - q;
  return x != x ? x : r;
}
// tanh as tanh_vd4 does it: z = min(|x|, 20) (NaN: 20), d = e^(2z) + 1, and tanh_from(x, z, 2/d).
static inline gd tanh_z(gd x) {
  const gd ax = gabs(x);
  return ax <= 20.0 ? ax : gsplat(20.0);
}

// V vectors of GV units of an LSTM step (see lstm_units), every array at its first unit, gate g at g*gs (pre) or
// g*ts (tape). A whole block of NR units (V = NR / GV) interleaves V copies of one vector's long dependent chain
// (exp, the division, c, exp again, the division), which alone leaves the FP pipes mostly idle: measured per unit on
// this machine (E's shapes, AVX2), 10.3 ns a vector at a time with two divisions per vector, 8.9 with one, 7.1 two
// vectors at a time and 6.1 four.
template <int V>
static inline void lstm_vector(float* h, float* out, float* c, float* tape, size_t ts, const float* acc, const float* pre,
                               size_t gs) {
  gd x[V][4], z[V][4], d[V][4], cc[V], zc[V];
#pragma GCC unroll 8
  for (int v = 0; v < V; v++) {
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
      x[v][g] = gld(acc + g * NR + v * GV) + gld(pre + g * gs + v * GV);
      z[v][g] = g == 2 ? tanh_z(x[v][g]) : sigmoid_z(x[v][g]);
      d[v][g] = g_exp(g == 2 ? z[v][g] + z[v][g] : z[v][g]) + 1.0;
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < V; v++) {
    recip4(d[v]);
    x[v][0] = sigmoid_from(x[v][0], d[v][0]);
    x[v][1] = sigmoid_from(x[v][1], d[v][1]);
    x[v][2] = g_tanh_from(x[v][2], z[v][2], d[v][2] + d[v][2]);
    x[v][3] = sigmoid_from(x[v][3], d[v][3]);
    cc[v] = x[v][1] * gld(c + v * GV) + x[v][0] * x[v][2];
    zc[v] = tanh_z(cc[v]);
  }
#pragma GCC unroll 8
  for (int v = 0; v < V; v++) {
    const gd hv = x[v][3] * g_tanh_from(cc[v], zc[v], 2.0 / (g_exp(zc[v] + zc[v]) + 1.0));
    gst(h + v * GV, hv);
    if (out) gst(out + v * GV, hv);
    gst(c + v * GV, cc[v]);
    if (tape) {
      for (int g = 0; g < 4; g++) gst(tape + g * ts + v * GV, x[v][g]);
      gst(tape + 4 * ts + v * GV, cc[v]);
    }
  }
}

// One row's units 0..width (<= NR) of an LSTM step. acc: the tile's row, gate g's sums at g*NR; pre: the row's
// pre-activations at the block's first unit, gate g at g*H; c: the row's cell state at the block, read and
// written; h (and out, when not null): where o tanh(c) goes; tape (null: none): i f g o c at g*H. Whole vectors of
// GV units straight from the arrays; the last few units through padded copies, so the main loop has no branch per
// load (the tile is NR wide, so its columns past width are there, and zero).
static inline void lstm_units(float* h, float* out, float* c, float* tape, const float* acc, const float* pre, int H,
                              int width) {
  if (width == NR) return lstm_vector<NR / GV>(h, out, c, tape, (size_t)H, acc, pre, (size_t)H);
  int j = 0;
  for (; j + GV <= width; j += GV)
    lstm_vector<1>(h + j, out ? out + j : nullptr, c + j, tape ? tape + j : nullptr, (size_t)H, acc + j, pre + j,
                   (size_t)H);
  if (j == width) return;
  const int n = width - j;
  float p[4 * GV] = {}, cv[GV] = {}, hv[GV], tv[5 * GV];
  for (int g = 0; g < 4; g++)
    for (int k = 0; k < n; k++) p[g * GV + k] = pre[(size_t)g * H + j + k];
  for (int k = 0; k < n; k++) cv[k] = c[j + k];
  lstm_vector<1>(hv, nullptr, cv, tv, GV, acc + j, p, GV);
  for (int k = 0; k < n; k++) {
    h[j + k] = hv[k];
    if (out) out[j + k] = hv[k];
    c[j + k] = cv[k];
    for (int g = 0; tape && g < 5; g++) tape[(size_t)g * H + j + k] = tv[g * GV + k];
  }
}

// The GRU's epilogue (issue 26): its r and z gates in float32, with core.h's f32_sigmoid on a whole register of VL
// units (8 AVX2, 16 AVX-512, 4 WebAssembly), lane by lane and unfused, so that every width gives the same floats;
// what leaves the step in float64, rounded once: n = tanh(pre_n + r b_n) (r b_n is exact in float64) and
// h = (h - n) z + n. The state carries rounding from step to step, and PyTorch rounds its h twice a step after a
// 1-ulp tanh, so that is where float64 keeps us more accurate than PyTorch float32 (docs/how-it-works.md, Numbers).
// The LSTM keeps the float64 epilogue above: with its gates in float32 it was less accurate than PyTorch float32 on
// some cases of test/gated-torch-live.test.ts, and no faster (docs/performance.md, Float32 gates).
typedef uint32_t vu __attribute__((vector_size(RNN_VBYTES)));
static inline vf sig(vf x) { return f32_sigmoid<vf, vu>(x); }
static inline vf ldf(const float* p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
static inline void stf(float* p, vf v) { __builtin_memcpy(p, &v, sizeof v); }

// A register of floats as two registers of doubles (VL / 2 each), and back.
typedef double vdr __attribute__((vector_size(RNN_VBYTES)));
typedef float vhf __attribute__((vector_size(RNN_VBYTES / 2)));
static inline vdr lo_d(vf a) {
#if RNN_VBYTES == 64
  return __builtin_convertvector(__builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7), vdr);
#elif RNN_VBYTES == 32
  return __builtin_convertvector(__builtin_shufflevector(a, a, 0, 1, 2, 3), vdr);
#else
  return __builtin_convertvector(__builtin_shufflevector(a, a, 0, 1), vdr);
#endif
}
static inline vdr hi_d(vf a) {
#if RNN_VBYTES == 64
  return __builtin_convertvector(__builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15), vdr);
#elif RNN_VBYTES == 32
  return __builtin_convertvector(__builtin_shufflevector(a, a, 4, 5, 6, 7), vdr);
#else
  return __builtin_convertvector(__builtin_shufflevector(a, a, 2, 3), vdr);
#endif
}
static inline vf join_f(vdr l, vdr h) {
  const vhf a = __builtin_convertvector(l, vhf), b = __builtin_convertvector(h, vhf);
#if RNN_VBYTES == 64
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#elif RNN_VBYTES == 32
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7);
#else
  return __builtin_shufflevector(a, b, 0, 1, 2, 3);
#endif
}
typedef int64_t vir __attribute__((vector_size(RNN_VBYTES)));
// core.h's float64 tanh (tanh_vd) on a register of doubles, for the GRU's n, from an argument never rounded to float32
static inline vdr tanh_dr(vdr x) {
  F32_EXACT_OPS
  const vdr ax = x < 0 ? -x : x;
  const vdr z = ax <= 20.0 ? ax : ax - ax + 20.0;
  return tanh_from(x, z, 2.0 / (exp_small_of<vdr, vir>(z + z) + 1.0));
}
// the GRU's (h - n) z + n in float64 (n's halves nl and nh as float64), rounded once to float32
static inline vf gru_state(vf h, vdr nl, vdr nh, vf z) {
  F32_EXACT_OPS
  return join_f((lo_d(h) - nl) * lo_d(z) + nl, (hi_d(h) - nh) * hi_d(z) + nh);
}

// V vectors of VL units of a GRU step (see gru_units; V as lstm_vector's), every array at its first unit, gate g at
// g*gs (pre, bhh) or g*ts (tape): b = acc + b_hh and r, z = s(pre + b) in float32, n = tanh(pre_n + r b_n) and
// h = (h - n) z + n in float64 (see above).
template <int V>
static inline void gru_vector(float* h, float* out, float* tape, size_t ts, const float* acc, const float* pre,
                              const float* bhh, size_t gs, const float* hp) {
  F32_EXACT_OPS
  vf b[V][3], x[V][2], nn[V];
  vdr nl[V], nh[V];
#pragma GCC unroll 8
  for (int v = 0; v < V; v++) {
#pragma GCC unroll 3
    for (int g = 0; g < 3; g++) {
      b[v][g] = ldf(acc + g * NR + v * VL);
      if (bhh) b[v][g] += ldf(bhh + g * gs + v * VL);
    }
#pragma GCC unroll 2
    for (int g = 0; g < 2; g++) x[v][g] = sig(ldf(pre + g * gs + v * VL) + b[v][g]);
    const vf pn = ldf(pre + 2 * gs + v * VL);
    nl[v] = tanh_dr(lo_d(x[v][0]) * lo_d(b[v][2]) + lo_d(pn));  // exact product: one rounding before tanh
    nh[v] = tanh_dr(hi_d(x[v][0]) * hi_d(b[v][2]) + hi_d(pn));
    nn[v] = join_f(nl[v], nh[v]);
  }
#pragma GCC unroll 8
  for (int v = 0; v < V; v++) {
    const vf hv = gru_state(ldf(hp + v * VL), nl[v], nh[v], x[v][1]);
    stf(h + v * VL, hv);
    if (out) stf(out + v * VL, hv);
    if (tape) {
      stf(tape + v * VL, x[v][0]);
      stf(tape + ts + v * VL, x[v][1]);
      stf(tape + 2 * ts + v * VL, nn[v]);
      stf(tape + 3 * ts + v * VL, b[v][2]);
    }
  }
}

// One row's units 0..width of a GRU step: acc and pre as lstm_units' (3 gates); bhh: b_hh at the block's first
// unit, gate g at g*H (null: 0); hp: the row's h_{t-1} at the block; h (and out, when not null): the new h;
// tape (null: none): r z n b_n at g*H. The last few units through padded copies, as lstm_units.
static inline void gru_units(float* h, float* out, float* tape, const float* acc, const float* pre, const float* bhh,
                             const float* hp, int H, int width) {
  if (width == NR) return gru_vector<NR / VL>(h, out, tape, (size_t)H, acc, pre, bhh, (size_t)H, hp);
  int j = 0;
  for (; j + VL <= width; j += VL)
    gru_vector<1>(h + j, out ? out + j : nullptr, tape ? tape + j : nullptr, (size_t)H, acc + j, pre + j,
                  bhh ? bhh + j : nullptr, (size_t)H, hp + j);
  if (j == width) return;
  const int n = width - j;
  float p[3 * VL] = {}, b[3 * VL] = {}, hpv[VL] = {}, hv[VL], tv[4 * VL];
  for (int g = 0; g < 3; g++)
    for (int k = 0; k < n; k++) {
      p[g * VL + k] = pre[(size_t)g * H + j + k];
      if (bhh) b[g * VL + k] = bhh[(size_t)g * H + j + k];
    }
  for (int k = 0; k < n; k++) hpv[k] = hp[j + k];
  gru_vector<1>(hv, nullptr, tv, VL, acc + j, p, bhh ? b : nullptr, VL, hpv);
  for (int k = 0; k < n; k++) {
    h[j + k] = hv[k];
    if (out) out[j + k] = hv[k];
    for (int g = 0; tape && g < 4; g++) tape[(size_t)g * H + j + k] = tv[g * VL + k];
  }
}

// The tile of R rows of A over the G panels of one unit block (Bp at its first panel, `ps` floats apart): T[i*TW +
// g*NR + c]. The sums are the tiles' (one float32 chain per column), so the tile's shape never changes a float.
template <int G>
static inline void gated_tile(float* T, int R, const float* A, size_t lda, const float* Bp, size_t ps, int K) {
  if (R == 1) {
    if (G == 4) tile<1, 4>(T, A, lda, Bp, ps, K);
    else tile<1, 3>(T, A, lda, Bp, ps, K);
  } else if (R == 2) {
    tile<2, 2>(T, A, lda, Bp, ps, K);
    if (G == 4) tile<2, 2>(T + 2 * NR, A, lda, Bp + 2 * ps, ps, K);
    else tile<2, 1>(T + 2 * NR, A, lda, Bp + 2 * ps, ps, K);
  } else {
    for (int g = 0; g < G; g++) tile_any(T + g * NR, R, 1, A, lda, Bp + g * ps, ps, K);
  }
}

// One fused step of rows m0..m1 (absolute), unit blocks u0..u1:
//   the gates of h (rows P apart; K = P) @ W_hh^T from the gate-interleaved panels Bp, plus pre_t (rows G*H apart),
//   then per unit LSTM: c (rows H apart) and hn = o tanh(c) (rows H apart); GRU: hn (rows H apart, b_hh added to
//   the sums, h_{t-1} read from h); out_t (rows outStride apart; null: not written) gets hn; tape_t (rows tw apart;
//   null: none) the values the backward reads.
// Rows with t >= lengths[n] keep their state: c is left alone, hn gets h's row (when `carry`), out_t a row of zeros,
// and the tape nothing. The next step's rows of pre and out (null after the last step) are prefetched.
template <int G>
__attribute__((noinline)) static void gated_step(float* hn, float* out_t, size_t outStride, const float* h,
                                                 const float* pre_t, float* c, float* tape_t, const float* Bp,
                                                 const float* bhh, int H, int P, int m0, int m1, int u0, int u1,
                                                 const int32_t* lengths, int t, bool carry, const float* pre_next,
                                                 float* out_next) {
  const size_t ps = (size_t)P * NR, GH = (size_t)G * H, tw = (size_t)(G + 1) * H;
  float T[MR * TW] __attribute__((aligned(64)));
  const int MC = 96;
  for (int mb = m0; mb < m1; mb += MC) {
    const int me = m1 < mb + MC ? m1 : mb + MC;
    for (int u = u0; u < u1; u++) {
      const int j0 = u * NR;
      const int width = H - j0 < NR ? H - j0 : NR;
      for (int m = mb; m < me; m += MR) {
        const int R = me - m < MR ? me - m : MR;
        gated_tile<G>(T, R, h + (size_t)m * P, (size_t)P, Bp + (size_t)u * G * ps, ps, P);
        for (int i = 0; i < R; i++) {
          const int n = m + i;
          if (pre_next) {
            for (int g = 0; g < G; g++) prefetch_row(pre_next + (size_t)n * GH + (size_t)g * H + j0, width, 0);
            if (out_next) prefetch_row(out_next + (size_t)n * outStride + j0, width, 1);
          }
          float* o = out_t ? out_t + (size_t)n * outStride + j0 : nullptr;
          float* dst = hn + (size_t)n * H + j0;
          if (lengths && t >= lengths[n]) {
            if (carry) {
              for (int j = 0; j < width; j++) dst[j] = h[(size_t)n * P + j0 + j];
            }
            if (o) {
              for (int j = 0; j < width; j++) o[j] = 0.0f;
            }
            continue;
          }
          float* tp = tape_t ? tape_t + (size_t)n * tw + j0 : nullptr;
          const float* p = pre_t + (size_t)n * GH + j0;
          if (G == 4) {
            lstm_units(dst, o, c + (size_t)n * H + j0, tp, T + i * TW, p, H, width);
          } else {
            gru_units(dst, o, tp, T + i * TW, p, bhh ? bhh + j0 : nullptr, h + (size_t)n * P + j0, H, width);
          }
        }
      }
    }
  }
}

// The projection of a projected LSTM's step, rows m0..m1 x panels p0..p1 of P: h (rows P apart) = hh (rows H apart)
// @ W_hr^T from W_hr's panels (K = H), and out_t (rows outStride apart) the same; rows with t >= lengths[n] keep
// their h and write zeros.
static void projection_step(float* h, float* out_t, size_t outStride, const float* hh, const float* Bpr, int H, int P,
                            int m0, int m1, int p0, int p1, const int32_t* lengths, int t) {
  for_tiles(hh, (size_t)H, Bpr, H, m0, m1, p0, p1, [&](int m, int R, int p, int np, const float* T) {
    const int j0 = p * NR;
    const int width = P - j0 < np * NR ? P - j0 : np * NR;
    for (int i = 0; i < R; i++) {
      const int n = m + i;
      float* o = out_t + (size_t)n * outStride + j0;
      if (lengths && t >= lengths[n]) {
        for (int j = 0; j < width; j++) o[j] = 0.0f;
        continue;
      }
      float* dst = h + (size_t)n * P + j0;
      const float* s = T + i * TW;
      for (int j = 0; j < width; j++) dst[j] = s[j], o[j] = s[j];
    }
  });
}

// One direction's forward, as substeps that threads can share (gated_jobs.h) or one thread runs in order
// (`run_all`): substep s of step s / S, where S is 2 with a projection (the gates, then the projection: each reads
// all of what the one before wrote) and 1 without. A substep covers `panels()` units of work, split at will
// between threads: the gates' unit blocks, or the projection's panels of P.
struct GatedForward {
  int G, L, N, H, P;  // P: h's width (proj_size, else H)
  int reverse;
  const int32_t* lengths;
  float* out;  // at the direction's offset: row (t*N + n) at (t*N + n) * outStride
  size_t outStride;
  const float* pre;  // (L, N, G*H)
  const float* h0;   // (N, P)
  const float* bhh;  // GRU: (G*H) or null
  float* tape;       // (L, N, tape width) or null
  const float* Bp;   // pack_gated(W_hh): K = P
  const float* Bpr;  // a projected LSTM's W_hr panels (pack_panels: P features, K = H); null without projection
  float* hbuf[2];    // (N, P) each: the state, alternating without a projection, hbuf[0] in place with one
  float* c;          // LSTM: (N, H), c0 to begin with, cN at the end
  float* hh;         // with a projection: (N, H) o tanh(c) of the running step
  int t0 = 0;        // the time of these arrays' first step, for lengths (a chunk of a longer sequence: gated_jobs.h)

  int S() const { return Bpr ? 2 : 1; }
  int panels() const {
    const int U = unit_blocks(H), Q = Bpr ? (int)panel_count(P) : 0;
    return U > Q ? U : Q;
  }
  int tape_width() const { return (G + 1) * H; }  // LSTM i f g o c, GRU r z n b_n
  // the state after the last step
  const float* last() const { return Bpr ? hbuf[0] : L == 0 ? h0 : hbuf[(L - 1) & 1]; }

  void substep(int s, int p0, int p1, int m0, int m1) const {
    const int step = s / S(), t = reverse ? L - 1 - step : step;
    const size_t tN = (size_t)t * N;
    if (Bpr && (s & 1)) {
      const int Q = (int)panel_count(P);
      if (p0 < Q) projection_step(hbuf[0], out + tN * outStride, outStride, hh, Bpr, H, P, m0, m1, p0, p1 < Q ? p1 : Q,
                                  lengths, t0 + t);
      return;
    }
    const int U = unit_blocks(H);
    if (p0 >= U) return;
    const int u1 = p1 < U ? p1 : U;
    const bool more = step + 1 < L;
    const int tn = reverse ? t - 1 : t + 1;
    const float* hin = Bpr ? hbuf[0] : step == 0 ? h0 : hbuf[(step - 1) & 1];
    float* hn = Bpr ? hh : hbuf[step & 1];
    float* o = Bpr ? nullptr : out + tN * outStride;
    const float* pn = more ? pre + (size_t)tn * N * G * H : nullptr;
    float* on = more && !Bpr ? out + (size_t)tn * N * outStride : nullptr;
    float* tp = tape ? tape + tN * tape_width() : nullptr;
    if (G == 4) {
      gated_step<4>(hn, o, outStride, hin, pre + tN * G * H, c, tp, Bp, nullptr, H, P, m0, m1, p0, u1, lengths,
                    t0 + t, !Bpr, pn, on);
    } else {
      gated_step<3>(hn, o, outStride, hin, pre + tN * G * H, nullptr, tp, Bp, bhh, H, P, m0, m1, p0, u1, lengths,
                    t0 + t, true, pn, on);
    }
  }

  // Every substep on this thread, in order.
  void run_all() const {
    const int Q = panels();
    for (int s = 0; s < L * S(); s++) substep(s, 0, Q, 0, N);
  }
};
