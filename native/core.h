// The float32 arithmetic of the fast kernels, written once with GCC/Clang vector extensions so the same source
// compiles to AVX2+FMA (native addon, 8 lanes) and to WebAssembly SIMD (4 lanes). It is the C twin of
// src/kernels/reference.ts and is tested against it; it has no threads and no I/O (addon.cc and wasm.cc add those).
//
// Dimension letters: L sequence, N batch, H hidden, M rows of a product, K summed features, O output features.
//
// One product kernel serves both the input projection (M = L*N rows at once) and each recurrence step (M = N):
//   C (M, O) = A (M, K) @ W (O, K)^T,
// with W packed once into panels of NR output features (`pack_panels`), and a register tile of MR rows x NR
// columns kept in registers while k runs. Sums are float32 with FMA, as in OpenBLAS, but restarted every KB
// terms and added into the tile (a two-level sum: error grows like sqrt(KB) + sqrt(K/KB) rather than sqrt(K)),
// and everything after the products (biases, pre-activation, tanh) is done in float64 and rounded once.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifndef RNN_VBYTES
#define RNN_VBYTES 32  // bytes per SIMD register: 32 for AVX2, 64 for AVX-512, 16 for WebAssembly SIMD
#endif
#define VL (RNN_VBYTES / 4)  // float lanes per register
#define NR (2 * VL)          // panel width: output features per register tile
#define MR 6                 // rows per register tile: 12 accumulators + 2 panel loads + 1 broadcast = 15 registers
#define KB 64                // terms summed in registers before they are added into the tile
#define TW (4 * NR)          // widest tile: 1 row x 4 panels

typedef float vf __attribute__((vector_size(RNN_VBYTES)));
typedef float vfu __attribute__((vector_size(RNN_VBYTES), aligned(4)));
// float64 work (the activation) goes half a register of floats at a time, so each float64 vector is one register;
// with 512-bit registers it stays at 4 doubles, so that the float64 code pairs the same lanes (tanh_vd4's shared
// division) and every float is the AVX2 build's: only the products' tiles widen, and their sums do not depend on it
#if RNN_VBYTES > 32
#define RNN_DBYTES 32
#else
#define RNN_DBYTES RNN_VBYTES
#endif
#define VH (RNN_DBYTES / 8)
typedef float vh __attribute__((vector_size(RNN_DBYTES / 2)));
typedef double vd __attribute__((vector_size(RNN_DBYTES)));
typedef int64_t vi __attribute__((vector_size(RNN_DBYTES)));

static inline vf splat(float s) { return s - (vf){}; }  // s - 0 is s exactly, so this is a plain broadcast
// c + a * b of the products: fused by -ffp-contract=fast where the target has FMA (AVX2), or by the relaxed-SIMD
// WebAssembly build's definition (native/wasm_threads.cc: f32x4.relaxed_madd)
#ifndef RNN_MADD
#define RNN_MADD(a, b, c) ((c) + (a) * (b))
#endif
static inline vd splatd(double s) { return s - (vd){}; }

// Panels: panel p holds W's rows p*NR .. p*NR+NR-1 transposed, Bp[(p*K + k)*NR + c] = W[(p*NR + c)*K + k], with
// zeros past O so every tile can run full width.
static inline size_t panel_count(int O) { return (size_t)((O + NR - 1) / NR); }

typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4)));

// dst rows 0..3 (ld apart) = the columns of the 4 x 4 block whose rows are a, b, c, d.
static inline void transpose4(float* dst, size_t ld, const float* a, const float* b, const float* c, const float* d) {
  const v4 r0 = *(const v4u*)a, r1 = *(const v4u*)b, r2 = *(const v4u*)c, r3 = *(const v4u*)d;
  const v4 t0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5), t1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
  const v4 t2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5), t3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
  *(v4u*)dst = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  *(v4u*)(dst + ld) = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  *(v4u*)(dst + 2 * ld) = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  *(v4u*)(dst + 3 * ld) = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

static void pack_panels(float* Bp, const float* W, int O, int K) {
  const int P = (int)panel_count(O);
  for (int p = 0; p < P; p++) {
    float* dst = Bp + (size_t)p * K * NR;
    const int c1 = O - p * NR < NR ? O - p * NR : NR;  // the panel's columns that exist; zeros after them
    const float* src = W + (size_t)p * NR * K;  // the panel's first row of W
    int c = 0;
    for (; c + 4 <= c1; c += 4) {  // 4 rows of W at a time, in 4 x 4 blocks
      const float* r = src + (size_t)c * K;
      int k = 0;
      for (; k + 4 <= K; k += 4) transpose4(dst + (size_t)k * NR + c, NR, r + k, r + K + k, r + 2 * K + k, r + 3 * K + k);
      for (; k < K; k++)
        for (int i = 0; i < 4; i++) dst[(size_t)k * NR + c + i] = r[(size_t)i * K + k];
    }
    for (; c < c1; c++)
      for (int k = 0; k < K; k++) dst[(size_t)k * NR + c] = src[(size_t)c * K + k];
    for (c = c1; c < NR; c++)
      for (int k = 0; k < K; k++) dst[(size_t)k * NR + c] = 0.0f;
  }
}

// T (R, NP*NR) = A (R rows, stride lda) @ panels p .. p+NP-1 (each K x NR, `ps` floats apart).
// R rows x NP panels: R*NP*2 accumulators, so a single row still keeps 8 independent FMA chains.
// Not inlined: on its own the register allocator keeps all accumulators in registers; inlined into a caller it
// has been seen to spill one and chain every k through memory (half speed).
//
// `lines` cache lines from pf on are prefetched meanwhile, spread over the blocks of KB terms (for_tiles: the next
// panels, while this one is reused by every tile of rows).
template <int R, int NP>
__attribute__((noinline)) static void tile(float* T, const float* A, size_t lda, const float* Bp, size_t ps, int K,
                                           const float* pf = nullptr, int lines = 0) {
  const int per = lines > 0 ? (int)(((int64_t)lines * KB + K - 1) / K) : 0;  // lines per block of KB terms
  for (int k0 = 0, l = 0; k0 < K; k0 += KB) {
    const int k1 = K < k0 + KB ? K : k0 + KB;
    for (const int e = l + per < lines ? l + per : lines; l < e; l++) __builtin_prefetch(pf + (size_t)l * 16, 0, 2);
    vf c[R][NP][2];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
      for (int q = 0; q < NP; q++) c[i][q][0] = c[i][q][1] = (vf){};
    for (int k = k0; k < k1; k++) {
      vf b[NP][2];
#pragma GCC unroll 8
      for (int q = 0; q < NP; q++) {
        b[q][0] = *(const vf*)(Bp + q * ps + (size_t)k * NR);
        b[q][1] = *(const vf*)(Bp + q * ps + (size_t)k * NR + VL);
      }
#pragma GCC unroll 8
      for (int i = 0; i < R; i++) {
        const vf a = splat(A[i * lda + k]);
#pragma GCC unroll 8
        for (int q = 0; q < NP; q++) {
          c[i][q][0] = RNN_MADD(a, b[q][0], c[i][q][0]);
          c[i][q][1] = RNN_MADD(a, b[q][1], c[i][q][1]);
        }
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
      for (int q = 0; q < NP; q++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
          vf* t = (vf*)(T + i * TW + q * NR + h * VL);
          *t = k0 == 0 ? c[i][q][h] : *t + c[i][q][h];
        }
  }
  if (K == 0) {
    for (int i = 0; i < R; i++)
      for (int j = 0; j < NP * NR; j++) T[i * TW + j] = 0.0f;
  }
}

// Panels a tile of R rows covers at once: more for few rows, so that a single row (a matrix-vector product, as
// in online inference with N = 1) still has 8 independent FMA chains.
static inline int tile_panels(int R, int panels) {
  int most = R == 1 ? 4 : R == 2 ? 2 : 1;
  while (most > panels) most /= 2;
  return most;
}

static inline void tile_any(float* T, int R, int NP, const float* A, size_t lda, const float* Bp, size_t ps, int K,
                            const float* pf = nullptr, int lines = 0) {
  if (R == 1 && NP == 4) return tile<1, 4>(T, A, lda, Bp, ps, K, pf, lines);
  if (R == 1 && NP == 2) return tile<1, 2>(T, A, lda, Bp, ps, K, pf, lines);
  if (R == 2 && NP == 2) return tile<2, 2>(T, A, lda, Bp, ps, K, pf, lines);
  switch (R) {
    case 1: return tile<1, 1>(T, A, lda, Bp, ps, K, pf, lines);
    case 2: return tile<2, 1>(T, A, lda, Bp, ps, K, pf, lines);
    case 3: return tile<3, 1>(T, A, lda, Bp, ps, K, pf, lines);
    case 4: return tile<4, 1>(T, A, lda, Bp, ps, K, pf, lines);
    case 5: return tile<5, 1>(T, A, lda, Bp, ps, K, pf, lines);
    default: return tile<6, 1>(T, A, lda, Bp, ps, K, pf, lines);
  }
}

// Rows of the next tile when `left` rows are left: MR, but where the last tile would have 1 or 2 rows (2 or 4 FMA
// chains, half speed or less) the last two tiles take about half each (8 rows: 4 + 4, 7: 4 + 3). A tile's rows
// never change a float: each output is its own chain.
static inline int tile_rows(int left) {
  if (left <= MR) return left;
  return left - MR <= 2 ? (left + 1) / 2 : MR;
}

// Every tile of rows m0..m1 x panels p0..p1 of A (rows `lda` apart) @ panels, handed to epi(m, R, p, np, T) as
// soon as its sums are done, while it is still in L1. Rows go in blocks of MC so a block of A stays in L2 while
// the panels go by, and each panel is reused by every row of the block.
//
// Where the panels are too many to stay in L2 (past PF_FLOATS: an input projection at H = 2048), the first tile of
// each panel would wait for it from L3 or memory while the others find it in L2: so the tiles of a row block
// prefetch the next panel, a slice each, spread over their terms. The loads are the same, only earlier: no float
// changes. Only for row blocks of PF_TILES tiles or more, whose slices are small: the projection at H = 2048 was
// 1% to 7% faster on 2 threads; the recurrence's steps (3 to 6 tiles a block) 1% to 7% slower.
#define PF_FLOATS (1 << 21)
#define PF_TILES 8
template <class Epi>
static void for_tiles(const float* A, size_t lda, const float* Bp, int K, int m0, int m1, int p0, int p1, Epi&& epi) {
  const size_t ps = (size_t)K * NR;
  float T[MR * TW] __attribute__((aligned(64)));
  const int MC = 96;
  const bool fetch = (size_t)(p1 - p0) * ps > PF_FLOATS;
  for (int mb = m0; mb < m1; mb += MC) {
    const int me = m1 < mb + MC ? m1 : mb + MC;
    const int R0 = me - mb < MR ? me - mb : MR;
    for (int p = p0; p < p1;) {
      const int step = tile_panels(R0, p1 - p);
      const float* next = Bp + (size_t)(p + step) * ps;  // the next step's panels: (step x K x NR), 16 floats a line
      const int tiles = (me - mb + MR - 1) / MR;  // tile_rows makes as many tiles as MR rows each would
      const int lines = fetch && tiles >= PF_TILES && p + step < p1
                            ? (int)((p1 - p - step < step ? p1 - p - step : step) * ps / 16)
                            : 0;
      for (int m = mb, R, i = 0; m < me; m += R, i++) {
        R = tile_rows(me - m);
        const int l0 = (int)((int64_t)lines * i / tiles), l1 = (int)((int64_t)lines * (i + 1) / tiles);
        for (int pp = p; pp < p + step;) {
          const int q = tile_panels(R, p + step - pp);
          tile_any(T, R, q, A + (size_t)m * lda, lda, Bp + (size_t)pp * ps, ps, K, next + (size_t)l0 * 16,
                   pp == p ? l1 - l0 : 0);
          epi(m, R, pp, q, (const float*)T);
          pp += q;
        }
      }
      p += step;
    }
  }
}

// The low and high halves of a register of floats as float64, and two halves joined.
#if RNN_VBYTES == 64
// (none: recurrence_row_tanh takes each register's four quarters through memory)
#elif RNN_VBYTES == 32
static inline vd lo(vf a) { return __builtin_convertvector(__builtin_shufflevector(a, a, 0, 1, 2, 3), vd); }
static inline vd hi(vf a) { return __builtin_convertvector(__builtin_shufflevector(a, a, 4, 5, 6, 7), vd); }
static inline vf join(vh a, vh b) { return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7); }
#else
static inline vd lo(vf a) { return __builtin_convertvector(__builtin_shufflevector(a, a, 0, 1), vd); }
static inline vd hi(vf a) { return __builtin_convertvector(__builtin_shufflevector(a, a, 2, 3), vd); }
static inline vf join(vh a, vh b) { return __builtin_shufflevector(a, b, 0, 1, 2, 3); }
#endif

// exp for 0 <= z <= 40 in float64: z = k ln2 + r, |r| <= ln2/2, Taylor to r^9 (relative error < 1e-11, far
// below float32's 6e-8, so the float32 result is the correctly rounded one but for values within 1e-11 of a tie).
// Written once for any float64 vector D (with I its int64 vector of the same lanes): the gate epilogues of
// gated.h run it on wider vectors, with the same operations lane by lane.
template <class D, class I>
static inline D exp_small_of(D z) {
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer kept in the low bits
  const D kd = z * 1.4426950408889634 + shifter;
  const D k = kd - shifter;
  const D r = (z - k * 0.6931471803691238) - k * 1.9082149292705877e-10;
  // Estrin's scheme: the same polynomial as Horner's 9 dependent steps, in 4 levels
  const D r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const D a0 = 1.0 + r, a1 = 0.5 + r * (1.0 / 6), a2 = 1.0 / 24 + r * (1.0 / 120), a3 = 1.0 / 720 + r * (1.0 / 5040),
           a4 = 1.0 / 40320 + r * (1.0 / 362880);
  const D p = (a0 + r2 * a1) + r4 * (a2 + r2 * a3) + r8 * a4;
  I bits;
  __builtin_memcpy(&bits, &kd, sizeof bits);
  bits = (bits - (int64_t)0x4338000000000000LL + 1023) << 52;
  D scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
static inline vd exp_small(vd z) { return exp_small_of<vd, vi>(z); }

// tanh in float64, close enough to exact that rounding to float32 is correctly rounded but for rare ties.
// What tanh_vd and tanh_vd4 share: tanh(x) from z = min(|x|, 20) and two = 2 / (e^(2z) + 1), that is 1 - two,
// or the series where |x| < 0.01 (where 1 - two cancels), with x's sign; NaN stays NaN.
template <class D>
static inline D tanh_from(D x, D z, D two) {
  const D big = 1.0 - two;
  const D x2 = z * z;
  const D small = z + z * x2 * (-1.0 / 3 + x2 * (2.0 / 15 - x2 * (17.0 / 315)));  // |x| < 0.01: error < 1e-17
  D r = z < 0.01 ? small : big;
  r = x < 0 ? -r : r;
  return x != x ? x : r;
}

static inline vd tanh_vd(vd x) {
  const vd ax = x < 0 ? -x : x;
  const vd z = ax > 20.0 ? splatd(20.0) : ax;  // tanh(20) rounds to 1; NaN passes through the compare
  return tanh_from(x, z, 2.0 / (exp_small(z + z) + 1.0));
}

// tanh_vd of 4 vectors at once, written out so that their chains interleave, with one division for two vectors:
// q = 2 / (a b) gives 2/a = q b and 2/b = q a within a few float64 ulps, far below the 1e-11 that matters. a and b
// are at most e^40 + 1, so a b stays far from overflow.
static inline void tanh_vd4(vd* out, const vd* x) {
  vd z[4], d[4];
#pragma GCC unroll 4
  for (int u = 0; u < 4; u++) {
    const vd ax = x[u] < 0 ? -x[u] : x[u];
    // tanh(20) rounds to 1; NaN becomes 20 too, so that it cannot spread through the shared division to the other
    // vector's lane (it is put back at the end)
    z[u] = ax <= 20.0 ? ax : splatd(20.0);
  }
#pragma GCC unroll 4
  for (int u = 0; u < 4; u++) d[u] = exp_small(z[u] + z[u]) + 1.0;
  vd two[4];
#pragma GCC unroll 2
  for (int u = 0; u < 4; u += 2) {
    const vd q = 2.0 / (d[u] * d[u + 1]);
    two[u] = q * d[u + 1];
    two[u + 1] = q * d[u];
  }
#pragma GCC unroll 4
  for (int u = 0; u < 4; u++) out[u] = tanh_from(x[u], z[u], two[u]);
}

// The float32 gate math of float32 models (gated.h's epilogues, gated_backward.h's tanh(c)): PyTorch computes its
// CPU gates in float32, and a float32 model's contract is PyTorch float32's error, so the epilogue may be float32
// too, at a full register of lanes (8 AVX2, 16 AVX-512, 4 WebAssembly and NEON) instead of half a register of
// doubles. Every operation is lane by lane and IEEE-rounded (+ - * /, compares, selects, integer bit moves), with
// no fused multiply-add: so every build gives the same bits. The products here are kept apart from the sums they
// feed (f32_mul), which -ffp-contract=fast would otherwise fuse on x86 and arm64 (GCC), and clang's pragma keeps
// the WebAssembly builds (whose relaxed build could fuse into relaxed_madd) from it.
// Accuracy, checked over every float32 input by native/test/f32math.cc against float64 libm (see
// docs/how-it-works.md): f32_exp_neg, f32_sigmoid and f32_tanh each within 2 ulp of the correctly rounded result.
#if defined(__clang__)
#define F32_EXACT_OPS _Pragma("clang fp contract(off)")
#else
#define F32_EXACT_OPS
#endif
template <class V>
static inline V f32_mul(V a, V b) {
  F32_EXACT_OPS
  V p = a * b;
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__wasm__)
  __asm__("" : "+v"(p));  // an opaque value: GCC cannot fuse it into the add that reads it
#elif defined(__aarch64__)
  __asm__("" : "+w"(p));
#endif
  return p;
}

// e^z for z <= 0 (NaN: some NaN or number; the callers put NaN back): z = n ln2 + r, |r| <= ln2/2 (Cephes' expf:
// ln2 in two parts, the first exact in n ln2, and its degree-7 polynomial), then 2^n in two factors so that the
// subnormal results (z < -87.3) are rounded once. Past z = -104 the result is 0 (e^-104 is below half the least
// subnormal).
template <class V, class U>
static inline V f32_exp_neg(V z) {
  F32_EXACT_OPS
  const V lo = (V){} + -104.0f;
  z = z < lo ? lo : z;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer kept in the low bits
  const V kd = f32_mul(z, (V){} + 1.44269504088896341f) + shifter;
  const V k = kd - shifter;
  const V r = (z - f32_mul(k, (V){} + 0.693359375f)) - f32_mul(k, (V){} + -2.12194440e-4f);
  const V r2 = f32_mul(r, r);
  V p = f32_mul(r, (V){} + 1.9875691500e-4f) + 1.3981999507e-3f;
  p = f32_mul(p, r) + 8.3334519073e-3f;
  p = f32_mul(p, r) + 4.1665795894e-2f;
  p = f32_mul(p, r) + 1.6666665459e-1f;
  p = f32_mul(p, r) + 5.0000001201e-1f;
  p = (f32_mul(p, r2) + r) + 1.0f;
  U bits;
  __builtin_memcpy(&bits, &kd, sizeof bits);
  // n = bits - bits(shifter), in -150..0: 2^n = 2^a 2^b with a = n / 2 rounded toward -inf and b = n - a, both
  // normal, so p 2^a is exact and only the last product rounds
  const U n = bits - (U){} - 0x4B400000u;
  typedef int32_t S __attribute__((vector_size(sizeof(V))));
  const S ns = (S)n;
  const S ha = ns >> 1, hb = ns - ha;
  const U ea = (U)((ha + 127) << 23), eb = (U)((hb + 127) << 23);
  V sa, sb;
  __builtin_memcpy(&sa, &ea, sizeof sa);
  __builtin_memcpy(&sb, &eb, sizeof sb);
  return f32_mul(f32_mul(p, sa), sb);
}

// The logistic sigmoid: e = e^-|x|, s = 1/(1 + e) for x >= 0 and e/(1 + e) below; NaN stays NaN.
template <class V, class U>
static inline V f32_sigmoid(V x) {
  F32_EXACT_OPS
  const V ax = x < 0 ? -x : x;
  const V e = f32_exp_neg<V, U>(-ax);
  const V one = (V){} + 1.0f;
  const V s = (x < 0 ? e : one) / (e + 1.0f);
  return x != x ? x : s;
}

// tanh: below |x| = 0.625, x + x^3 P(x^2) (Cephes' tanhf polynomial); above, 1 - 2q/(1 + q) with q = e^-2|x|; the
// sign of x; NaN stays NaN.
template <class V, class U>
static inline V f32_tanh(V x) {
  F32_EXACT_OPS
  const V ax = x < 0 ? -x : x;
  const V q = f32_exp_neg<V, U>(-(ax + ax));
  const V big = 1.0f - (q + q) / (q + 1.0f);
  const V z = f32_mul(ax, ax);
  V p = f32_mul(z, (V){} + -5.70498872745e-3f) + 2.06390887954e-2f;
  p = f32_mul(p, z) - 5.37397155531e-2f;
  p = f32_mul(p, z) + 1.33314422036e-1f;
  p = f32_mul(p, z) - 3.33332819422e-1f;
  const V small = f32_mul(f32_mul(p, z), ax) + ax;
  V r = ax < 0.625f ? small : big;
  r = x < 0 ? -r : r;
  return x != x ? x : r;
}

// One row of a recurrence tile: h = f(acc + pre) in float64, rounded once; `width` <= TW valid columns. Vector
// conversions and selects throughout: a branch on the sign of each value would mispredict half the time.
static inline void activate_row(float* h, const float* acc, const float* pre, int width, int relu) {
  int j0 = 0;
  if (!relu) {
    // 4 vectors per iteration: their chains are independent, so one's latency hides behind the others'
    for (; j0 + 4 * VH <= width; j0 += 4 * VH) {
      vd s[4], r[4];
#pragma GCC unroll 4
      for (int u = 0; u < 4; u++) {
        vh a, p;
        __builtin_memcpy(&a, acc + j0 + u * VH, sizeof a);
        __builtin_memcpy(&p, pre + j0 + u * VH, sizeof p);
        s[u] = __builtin_convertvector(a, vd) + __builtin_convertvector(p, vd);
      }
      tanh_vd4(r, s);
#pragma GCC unroll 4
      for (int u = 0; u < 4; u++) {
        const vh v = __builtin_convertvector(r[u], vh);
        __builtin_memcpy(h + j0 + u * VH, &v, sizeof v);
      }
    }
  }
  for (int j = j0; j < width; j += VH) {
    vh a, p;
    const bool full = j + VH <= width;
    __builtin_memcpy(&a, acc + j, sizeof a);  // the tile is TW wide, so this read is always in bounds
    if (full) {
      __builtin_memcpy(&p, pre + j, sizeof p);
    } else {
      p = (vh){};
      for (int c = 0; c < width - j; c++) p[c] = pre[j + c];
    }
    const vd s = __builtin_convertvector(a, vd) + __builtin_convertvector(p, vd);
    const vd r = relu ? (s < 0 ? splatd(0.0) : s) : tanh_vd(s);  // s < 0 is false for NaN: relu keeps it
    const vh v = __builtin_convertvector(r, vh);
    if (full) {
      __builtin_memcpy(h + j, &v, sizeof v);
    } else {
      for (int c = 0; c < width - j; c++) h[j + c] = v[c];
    }
  }
}

// y rows m0..m1 (of O features) = x @ W^T + b1 + b2, from W's panels; the biases are added in float64.
// Rows m0..m1 of the product, output panels p0..p1 only (a product of few rows is split by panels between threads:
// native/jobs.h). Each output element is the same chain of operations whatever the ranges.
static void linear_panels(float* y, const float* x, const float* Bp, const float* b1, const float* b2, int m0,
                          int m1, int p0, int p1, int K, int O) {
  for_tiles(x, (size_t)K, Bp, K, m0, m1, p0, p1, [&](int m, int R, int p, int np, const float* T) {
    const int o0 = p * NR;
    const int width = O - o0 < np * NR ? O - o0 : np * NR;
    for (int i = 0; i < R; i++) {
      float* dst = y + (size_t)(m + i) * O + o0;
      const float* t = T + i * TW;
      for (int j = 0; j < width; j++) {
        double s = (double)t[j];
        if (b1) s += (double)b1[o0 + j];
        if (b2) s += (double)b2[o0 + j];
        dst[j] = (float)s;
      }
    }
  });
}

static void linear_rows(float* y, const float* x, const float* Bp, const float* b1, const float* b2, int m0, int m1,
                        int K, int O) {
  linear_panels(y, x, Bp, b1, b2, m0, m1, 0, (int)panel_count(O), K, O);
}

// Asks for the lines of `width` floats at p to be brought into cache (for writing when write is 1): the rows a
// step reads and writes lie H or more floats apart, a pattern the hardware prefetcher does not follow, so each
// would otherwise wait for memory when its step comes.
static inline void prefetch_row(const float* p, int width, int write) {
  for (int j = 0; j < width; j += 16) {
    if (write) __builtin_prefetch(p + j, 1);
    else __builtin_prefetch(p + j, 0);
  }
}

// One recurrence step for rows 0..N x panels p0..p1 (the columns this thread owns):
//   hn[n] = f(pre_t[n] + h[n] @ Whh^T), out_t[n] = hn[n] while t < lengths[n]; else hn[n] = h[n], out_t[n] = 0.
// pre_next and out_next (null after the last step) are the next step's rows, prefetched for the same columns.
static void recurrence_step(float* hn, float* out_t, size_t outStride, const float* h, const float* pre_t,
                            const float* Bp, int N, int H, int p0, int p1, const int32_t* lengths, int t, int relu,
                            const float* pre_next, float* out_next) {
  for_tiles(h, (size_t)H, Bp, H, 0, N, p0, p1, [&](int m, int R, int p, int np, const float* T) {
    const int j0 = p * NR;
    const int width = H - j0 < np * NR ? H - j0 : np * NR;
    for (int i = 0; i < R; i++) {
      const int n = m + i;
      if (pre_next) {
        prefetch_row(pre_next + (size_t)n * H + j0, width, 0);
        prefetch_row(out_next + (size_t)n * outStride + j0, width, 1);
      }
      float* dst = hn + (size_t)n * H + j0;
      float* o = out_t + (size_t)n * outStride + j0;
      if (lengths && t >= lengths[n]) {
        for (int j = 0; j < width; j++) dst[j] = h[(size_t)n * H + j0 + j], o[j] = 0.0f;
        continue;
      }
      activate_row(dst, T + i * TW, pre_t + (size_t)n * H + j0, width, relu);
      for (int j = 0; j < width; j++) o[j] = dst[j];
    }
  });
}
// The tanh recurrence for a single row (N = 1, online inference) and H = 16 G, n steps: one step is a
// matrix-vector product too small to share between threads, so it is written out with its accumulators kept in
// registers from the products to the activation. The sums are tile<1, G>'s (one float32 FMA chain per column, k
// in order; H <= KB so there is no restart) and the activation is activate_row's, so the numbers are the same.
// out and pre point at the first step's rows, each next step's `ostep` and `pstep` floats on (negative walking
// backwards); out's row and the state are written together. The state is read from hin before the first step and
// written to hout after the last (they may be the same array).
template <int G>
static void recurrence_row_tanh(float* out, ptrdiff_t ostep, const float* pre, ptrdiff_t pstep, const float* Bp,
                                const float* hin, float* hout, int n) {
  constexpr int H = 16 * G, V = H / VL;  // V accumulators of VL columns
  static_assert(H <= KB, "one block of sums");
  float h[H] __attribute__((aligned(64)));
  vf c[V];
#pragma GCC unroll 16
  for (int v = 0; v < V; v++) c[v] = (vf){};
  for (int k = 0; k < H; k++) {
    const vf a = splat(hin[k]);
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) c[v] = RNN_MADD(a, *(const vf*)(Bp + (size_t)(v / 2) * H * NR + (size_t)k * NR + (v % 2) * VL), c[v]);
  }
  for (int j = 0; j < H; j++) h[j] = hin[j];  // n = 0 leaves the state as it was
  for (int s = 0; s < n; s++) {
    const float* p = pre + s * pstep;
    float* o = out + s * ostep;
    vf done[V];  // the finished sums of step s; c starts step s+1's
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) done[v] = c[v], c[v] = (vf){};
    const bool more = s + 1 < n;
    // Group g of 16 columns is activated, then the next step's products take its 16 terms, so that group g+1's
    // activation (independent of them) can run alongside. Measured, this gains little (about 1 us per 100 steps
    // of H = 64): the products and the activation compete for the same two FMA pipes.
#pragma GCC unroll 4
    for (int g = 0; g < G; g++) {
#if RNN_VBYTES == 64
      {  // register g holds the group's 16 sums: its quarters, paired as the AVX2 build pairs them
        float a[16] __attribute__((aligned(64)));
        __builtin_memcpy(a, &done[g], sizeof a);
        vd x[4], r[4];
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
          vh s4, q4;
          __builtin_memcpy(&s4, a + 4 * u, sizeof s4);
          __builtin_memcpy(&q4, p + 16 * g + 4 * u, sizeof q4);
          x[u] = __builtin_convertvector(s4, vd) + __builtin_convertvector(q4, vd);
        }
        tanh_vd4(r, x);
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
          const vh y = __builtin_convertvector(r[u], vh);
          __builtin_memcpy(h + 16 * g + 4 * u, &y, sizeof y);
          __builtin_memcpy(o + 16 * g + 4 * u, &y, sizeof y);
        }
      }
#else
#pragma GCC unroll 4
      for (int v = 16 * g / VL; v < 16 * (g + 1) / VL; v += 2) {
        vf q0, q1;
        __builtin_memcpy(&q0, p + v * VL, sizeof q0);
        __builtin_memcpy(&q1, p + v * VL + VL, sizeof q1);
        vd x[4] = {lo(done[v]) + lo(q0), hi(done[v]) + hi(q0), lo(done[v + 1]) + lo(q1), hi(done[v + 1]) + hi(q1)};
        vd r[4];
        tanh_vd4(r, x);
        const vf y0 = join(__builtin_convertvector(r[0], vh), __builtin_convertvector(r[1], vh));
        const vf y1 = join(__builtin_convertvector(r[2], vh), __builtin_convertvector(r[3], vh));
        __builtin_memcpy(h + v * VL, &y0, sizeof y0);
        __builtin_memcpy(h + v * VL + VL, &y1, sizeof y1);
        __builtin_memcpy(o + v * VL, &y0, sizeof y0);
        __builtin_memcpy(o + v * VL + VL, &y1, sizeof y1);
      }
#endif
      if (more) {
        for (int k = 16 * g; k < 16 * g + 16; k++) {
          const vf a = splat(h[k]);
#pragma GCC unroll 16
          for (int v = 0; v < V; v++)
            c[v] = RNN_MADD(a, *(const vf*)(Bp + (size_t)(v / 2) * H * NR + (size_t)k * NR + (v % 2) * VL), c[v]);
        }
      }
    }
  }
  for (int j = 0; j < H; j++) hout[j] = h[j];
}

typedef void (*RowTanh)(float*, ptrdiff_t, const float*, ptrdiff_t, const float*, const float*, float*, int);

// The fused single-row recurrence for these sizes, or null where the general step applies.
static inline RowTanh row_tanh_for(int N, int H, int relu, const int32_t* lengths) {
  if (N != 1 || relu || lengths) return nullptr;
  switch (H) {
    case 16: return recurrence_row_tanh<1>;
    case 32: return recurrence_row_tanh<2>;
    case 48: return recurrence_row_tanh<3>;
    case 64: return recurrence_row_tanh<4>;
    default: return nullptr;
  }
}

// Steps t0..t1 of one unidirectional layer on this thread, its input projection included, for the layer
// pipeline (addon.cc): the rows of those steps are projected (x rows t0*N.., C features, from W_ih's panels, plus
// both biases) into pre, then the steps run, writing their outputs into stage, which is then copied to out
// (L, N, H) at once: the next layer's thread reads out, and lines it has read must not be written one by one in
// the time loop, where each write would wait for the line to come back. pre and stage hold (t1 - t0) * N * H
// floats; h (N, H) holds the state before t0 and after t1, buf (N, H) is scratch. The numbers are those of
// linear_rows then recurrence_step (or the fused row) over the whole sequence: every sum is the same chain.
static void layer_steps(float* out, float* h, float* buf, float* pre, float* stage, const float* x, const float* Bih,
                        const float* b1, const float* b2, const float* Bhh, int t0, int t1, int N, int C, int H,
                        int relu, const int32_t* lengths) {
  const size_t NH = (size_t)N * H;
  const int n = t1 - t0;
  linear_rows(pre, x + (size_t)t0 * N * C, Bih, b1, b2, 0, n * N, C, H);
  if (const RowTanh row = row_tanh_for(N, H, relu, lengths)) {
    row(stage, H, pre, H, Bhh, h, h, n);
  } else {
    const int P = (int)panel_count(H);
    float* state[2] = {h, buf};
    for (int s = 0; s < n; s++) {
      const bool more = s + 1 < n;
      recurrence_step(state[(s + 1) & 1], stage + (size_t)s * NH, (size_t)H, state[s & 1], pre + (size_t)s * NH, Bhh,
                      N, H, 0, P, lengths, t0 + s, relu, more ? pre + (size_t)(s + 1) * NH : nullptr,
                      more ? stage + (size_t)(s + 1) * NH : nullptr);
    }
    if (n & 1) {
      for (size_t i = 0; i < NH; i++) h[i] = buf[i];
    }
  }
  __builtin_memcpy(out + (size_t)t0 * NH, stage, (size_t)n * NH * sizeof(float));
}
