// The backward of core.h's forward, in the same float32 arithmetic: core.h's tiles and panels run each layer's
// products in reverse (see docs/performance.md, Training step). Included after core.h by addon.cc and wasm.cc.
#pragma once
#include "core.h"

// Backward. The three products of a layer's backward have the forward's shape C = A @ W^T with one operand
// transposed, so they reuse the same tiles: the transposed operand is packed into panels (`pack_panels_rows`),
// and where A itself is transposed (dW = dY^T X) a chunk of it is transposed into a small buffer first.

// Panels of a matrix whose output features are its columns: Bp[(p*K + k)*NR + c] = row(k)[p*NR + c], zeros past
// O. For w (O, C) read as (K = O) x C this packs w^T; for a chunk of rows of X it packs X^T.
template <class Row>
static void pack_panels_rows(float* Bp, Row&& row, int K, int O) {
  const int P = (int)panel_count(O);
  for (int k = 0; k < K; k++) {
    const float* src = row(k);
    for (int p = 0; p < P; p++) {
      float* d = Bp + ((size_t)p * K + k) * NR;
      const int c0 = p * NR;
      const int width = O - c0 < NR ? O - c0 : NR;
      for (int c = 0; c < width; c++) d[c] = src[c0 + c];
      for (int c = width; c < NR; c++) d[c] = 0.0f;
    }
  }
}

// dx rows m0..m1 (C features) += dy (rows O apart) @ w (O, C), from w^T's panels (pack_panels_rows over w's rows).
static void linear_backward_dx_rows(float* dx, const float* dy, const float* Bp, int m0, int m1, int O, int C) {
  for_tiles(dy, (size_t)O, Bp, O, m0, m1, 0, (int)panel_count(C), [&](int m, int R, int p, int np, const float* T) {
    const int c0 = p * NR;
    const int width = C - c0 < np * NR ? C - c0 : np * NR;
    for (int i = 0; i < R; i++) {
      float* dst = dx + (size_t)(m + i) * C + c0;
      const float* t = T + i * TW;
      for (int j = 0; j < width; j++) dst[j] += t[j];
    }
  });
}

// Rows of dY^T X summed per chunk: the float32 tiles (restarted every KB terms) add up GW_ROWS terms, and the
// chunks are added in float64, so the long sum over all L*N rows is a three-level one.
#define GW_ROWS 1024
#define GW_LD (GW_ROWS + 16)  // floats between the rows of the transposed chunk: not a multiple of 4 KB, whose rows
                              // would all fall in the same L1 set

// Scratch floats for grad_weight_rows: the transposed chunk of dY (O x GW_ROWS) and the panels of X's chunk.
static inline size_t grad_weight_work(int O, int C) {
  return (size_t)O * GW_LD + panel_count(C) * NR * GW_ROWS;
}

// Doubles between the rows of a weight-gradient accumulator (O, C): padded off a multiple of 4 KB for the same reason.
static inline size_t acc_ld(int C) { return (size_t)C + 8; }

// A chunk's two operands in work (grad_weight_work floats): At (O, Kc), rows GW_LD apart, = rows m0..m1 of dY
// (dyrow(m): O features) transposed, with bsum (O, when not null) += their column sums row after row; then the
// panels of X's rows m0..m1 (xrow(m): C features), whose start is returned.
template <class DY, class XR>
static const float* grad_weight_operands(float* work, double* bsum, DY&& dyrow, XR&& xrow, int m0, int m1, int O,
                                         int C) {
  const int Kc = m1 - m0;
  float* At = work;
  for (int k0 = 0; k0 < Kc; k0 += 4) {  // 4 rows at a time, in 4 x 4 blocks
    const int k1 = Kc < k0 + 4 ? Kc : k0 + 4;
    const float* r[4];
    for (int k = k0; k < k1; k++) r[k - k0] = dyrow(m0 + k);
    int o = 0;
    if (k1 - k0 == 4) {
      for (; o + 4 <= O; o += 4) transpose4(At + (size_t)o * GW_LD + k0, GW_LD, r[0] + o, r[1] + o, r[2] + o, r[3] + o);
    }
    for (; o < O; o++) {
      for (int k = k0; k < k1; k++) At[(size_t)o * GW_LD + k] = r[k - k0][o];
    }
    if (bsum) {
      for (int k = k0; k < k1; k++)
        for (int o2 = 0; o2 < O; o2++) bsum[o2] += (double)r[k - k0][o2];
    }
  }
  float* Bp = work + (size_t)O * GW_LD;
  pack_panels_rows(Bp, [&](int k) { return xrow(m0 + k); }, Kc, C);
  return Bp;
}

// The chunk's tiles of dY^T @ X (At and Bp from grad_weight_operands, Kc rows): put(row, column, tile row, width)
// for each tile row's width columns of output row `row` from column `column` on.
template <class Put>
static void grad_weight_tiles(const float* At, const float* Bp, int Kc, int O, int C, Put&& put) {
  for_tiles(At, (size_t)GW_LD, Bp, Kc, 0, O, 0, (int)panel_count(C), [&](int m, int R, int p, int np, const float* T) {
    const int c0 = p * NR;
    const int width = C - c0 < np * NR ? C - c0 : np * NR;
    for (int i = 0; i < R; i++) put(m + i, c0, T + i * TW, width);
  });
}

// acc (O, C; rows acc_ld(C) apart) += dY^T @ X over rows m0..m1 (at most GW_ROWS), in float64; dyrow(m) is row m
// of dY (O features), xrow(m) row m of X (C features); bsum (O), when not null, += the column sums of those rows.
template <class DY, class XR>
static void grad_weight_rows(double* acc, double* bsum, float* work, DY&& dyrow, XR&& xrow, int m0, int m1, int O,
                             int C) {
  const float* Bp = grad_weight_operands(work, bsum, dyrow, xrow, m0, m1, O, C);
  grad_weight_tiles(work, Bp, m1 - m0, O, C, [&](int o, int c0, const float* t, int width) {
    double* dst = acc + (size_t)o * acc_ld(C) + c0;
    for (int j = 0; j < width; j++) dst[j] += (double)t[j];
  });
}

// One chunk's dY^T @ X over rows m0..m1 (at most GW_ROWS) by itself: sums (O, C; rows `ld` floats apart) = the
// float32 tile sums that grad_weight_rows adds into its float64 accumulator, so that adding the chunks' sums into
// one in chunk order gives grad_weight_rows's floats (the native kernel's threads take whole chunks this way);
// bsum (O), when not null, = the chunk's column sums of dY in float64, as grad_weight_rows would add them into a
// zeroed bsum.
template <class DY, class XR>
static void grad_weight_chunk(float* sums, size_t ld, double* bsum, float* work, DY&& dyrow, XR&& xrow, int m0,
                              int m1, int O, int C) {
  for (int o = 0; bsum && o < O; o++) bsum[o] = 0.0;
  const float* Bp = grad_weight_operands(work, bsum, dyrow, xrow, m0, m1, O, C);
  grad_weight_tiles(work, Bp, m1 - m0, O, C, [&](int o, int c0, const float* t, int width) {
    float* dst = sums + (size_t)o * ld + c0;
    for (int j = 0; j < width; j++) dst[j] = t[j];
  });
}

// dz for one row of a step being undone: (g + dout) * f'(h), f' read off the forward's output h (1 - h^2 for
// tanh, [h > 0] for relu), in float64 and rounded once; a null dout is 0.
static inline void dz_row(float* z, const float* g, const float* dout, const float* h, int width, int relu) {
  for (int j = 0; j < width; j++) {
    const double s = (double)g[j] + (dout ? (double)dout[j] : 0.0);
    const double hj = (double)h[j];
    z[j] = (float)(relu ? (hj > 0 ? s : 0.0) : s * (1.0 - hj * hj));
  }
}

static inline bool active_at(const int32_t* lengths, int t, int n) { return !lengths || t < lengths[n]; }

// One step of the recurrence's backward for rows 0..N x panels p0..p1 (the columns this thread owns). Undoing the
// step at time t, whose dz rows are Zt: the gradient carried to the step before is dh = Zt @ whh (from whh^T's
// panels); rows inactive at t carry their dh through unchanged. Then, if there is a step before (tn >= 0, the time
// the forward visited just before t), its dz: Zn[n] = (dh[n] + dout_tn[n]) * f'(out_tn[n]) where active at tn,
// else 0. dout_tn and out_tn are rows `stride` apart (dout_tn may be null). The rows the step after this one
// reads and writes (dout_pf, out_pf, z_pf; null: none) are prefetched for the same columns.
static void backward_step(float* dh, float* Zn, const float* Zt, const float* Bp, const float* dout_tn,
                          const float* out_tn, size_t stride, int N, int H, int p0, int p1, const int32_t* lengths,
                          int t, int tn, int relu, const float* dout_pf, const float* out_pf, float* z_pf) {
  for_tiles(Zt, (size_t)H, Bp, H, 0, N, p0, p1, [&](int m, int R, int p, int np, const float* T) {
    const int j0 = p * NR;
    const int width = H - j0 < np * NR ? H - j0 : np * NR;
    for (int i = 0; i < R; i++) {
      const int n = m + i;
      if (out_pf) {
        if (dout_pf) prefetch_row(dout_pf + (size_t)n * stride + j0, width, 0);
        prefetch_row(out_pf + (size_t)n * stride + j0, width, 0);
        prefetch_row(z_pf + (size_t)n * H + j0, width, 1);
      }
      float* g = dh + (size_t)n * H + j0;
      if (active_at(lengths, t, n)) {
        const float* s = T + i * TW;
        for (int j = 0; j < width; j++) g[j] = s[j];
      }
      if (tn < 0) continue;
      float* z = Zn + (size_t)n * H + j0;
      if (active_at(lengths, tn, n)) {
        dz_row(z, g, dout_tn ? dout_tn + (size_t)n * stride + j0 : nullptr, out_tn + (size_t)n * stride + j0, width,
               relu);
      } else {
        for (int j = 0; j < width; j++) z[j] = 0.0f;
      }
    }
  });
}

// Row m = t*N + n of the shifted state sequence h_{t-1} that step t read (its own forward order): the previous
// active step's output, h0 before the first one, and a row of zeros where t is inactive (its dz is 0 anyway).
static inline const float* prev_state_row(const float* out, size_t stride, const float* h0, const float* zero, int L,
                                          int N, int H, int reverse, const int32_t* lengths, int m) {
  const int t = m / N, n = m % N;
  const int len = lengths ? lengths[n] : L;
  if (t >= len) return zero;
  const int prev = reverse ? t + 1 : t - 1;
  if (prev >= 0 && prev < len) return out + ((size_t)prev * N + n) * stride;
  return h0 + (size_t)n * H;
}

// Before the first step is undone: the carried gradient starts as dhN (null: 0), and the dz of the step at time t
// (the forward's last) is computed from it as backward_step does for the steps after.
static void backward_start(float* dh, float* Zt, const float* dhN, const float* dout_t, const float* out_t,
                           size_t stride, int N, int H, const int32_t* lengths, int t, int relu) {
  for (int i = 0; i < N * H; i++) dh[i] = dhN ? dhN[i] : 0.0f;
  for (int n = 0; n < N; n++) {
    float* z = Zt + (size_t)n * H;
    if (active_at(lengths, t, n)) {
      dz_row(z, dh + (size_t)n * H, dout_t ? dout_t + (size_t)n * stride : nullptr, out_t + (size_t)n * stride, H,
             relu);
    } else {
      for (int j = 0; j < H; j++) z[j] = 0.0f;
    }
  }
}
