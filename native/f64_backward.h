// The float64 kernels' backward (native/f64.h's twin of core_backward.h and gated_backward.h): dx = dy W and the
// weight gradients dW = dY^T X as f64.h's products, and the recurrence's backward for every mode, the cells' gate
// gradients in float64 vectors. No threads and no I/O (native/f64_jobs.h shares the work).
#pragma once
#include "f64.h"

// ---------------------------------------------------------------------------------------------------------------
// The backward's products.

// dx rows m0..m1 (C features) += dy (rows O apart) @ W, from W^T's panels (pack64_rows of W's rows).
static void dx64_rows(double* dx, const double* dy, const double* Bp, int m0, int m1, int O, int C) {
  for_tiles64(dy, (size_t)O, Bp, O, m0, m1, 0, (int)panels64(C), [&](int m, int R, int p, int np, const double* T) {
    const int c0 = p * DNR;
    const int width = C - c0 < np * DNR ? C - c0 : np * DNR;
    for (int i = 0; i < R; i++) {
      double* d = dx + (size_t)(m + i) * C + c0;
      for (int j = 0; j < width; j++) d[j] += T[i * DTW + j];
    }
  });
}

// Rows of dY and X a chunk of the weight gradient sums at once (one chain per output each).
#define GW64_ROWS 256

// Doubles of a weight-gradient chunk's work buffer: dY^T's rows o0..o1 (O1 of them) and X's panels.
static inline size_t gw64_work(int O1, int C) { return (size_t)O1 * GW64_ROWS + panels64(C) * DNR * GW64_ROWS; }

// dw rows o0..o1 (C features) += dY^T X over rows m0..m1, and db (rows o0..o1, when not null) += dY's column sums,
// chunk by chunk in order: each chunk's dY^T rows and X's panels are laid out in `work`, then its tiles added in.
template <class DY, class XR>
static void grad_weight64_rows(double* dw, double* db, double* work, DY&& dyrow, XR&& xrow, int m0, int m1, int o0,
                               int o1, int C) {
  const int O1 = o1 - o0;
  double* At = work;                           // (O1, GW64_ROWS): dY^T's rows o0..o1 of the chunk
  double* Bx = work + (size_t)O1 * GW64_ROWS;  // X's panels over the chunk's rows
  for (int c0 = m0; c0 < m1; c0 += GW64_ROWS) {
    const int Mc = m1 - c0 < GW64_ROWS ? m1 - c0 : GW64_ROWS;
    for (int k = 0; k < Mc; k++) {
      const double* d = dyrow(c0 + k);
      for (int o = 0; o < O1; o++) At[(size_t)o * Mc + k] = d[o0 + o];
    }
    if (db) {
      for (int o = 0; o < O1; o++) {
        double s = 0;
        for (int k = 0; k < Mc; k++) s += At[(size_t)o * Mc + k];
        db[o0 + o] += s;
      }
    }
    pack64_rows(Bx, [&](int k) { return xrow(c0 + k); }, Mc, C);
    for_tiles64(At, (size_t)Mc, Bx, Mc, 0, O1, 0, (int)panels64(C), [&](int m, int R, int p, int np, const double* T) {
      const int cc = p * DNR;
      const int width = C - cc < np * DNR ? C - cc : np * DNR;
      for (int i = 0; i < R; i++) {
        double* d = dw + (size_t)(o0 + m + i) * C + cc;
        for (int j = 0; j < width; j++) d[j] += T[i * DTW + j];
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One direction's recurrence backward, any mode (a projected LSTM's is src/kernels/gated.ts's), as steps over
// blocks of rows: step q undoes the forward's step at t = tq(q), for rows m0..m1, in two parts:
//   1. from the carried dh (and dc), the step's dout and the forward's tape (or, for the RNN, its output), the
//      gradient of the gates' pre-activations: into Z_t (what flows into h_{t-1} W_hh^T: for the GRU's n gate
//      r dn, else the same) and dpre_t (accumulated);
//   2. dh = Z_t @ W_hh (plus the GRU's direct path dy z), from W_hh's rows as panels (pack64_rows).
// The cells' formulas are src/kernels/gated.ts's and the reference kernel's RNN (see there). Rows past their length
// at t are left alone: their dh and dc pass through, Z_t's row stays 0.
struct Backward64 {
  double* Z;  // (L, N, G*H): every row written (0 where padded)
  double* dpre;  // (L, N, G*H), accumulated
  double* dh;  // (N, P): dhN to begin with
  double* dc;  // (N, H): the LSTM's, dcN to begin with
  double* dhz;  // (N, H): the GRU's dy z of the step
  const double* dout;  // at the direction's offset, rows outStride apart, or null
  const double* out;  // likewise: the forward's output
  const double* h0;  // (N, P)
  const double* c0;  // (N, H) or null
  const double* tape;  // (L, N, (G+1)*H)
  const double* Bp;  // W_hh's rows as panels: (G*H) terms -> P outputs
  size_t outStride;
  int L, N, H, G;
  bool relu, reverse;
  const int32_t* lengths;
  // A projected LSTM's (h = (o tanh(c)) W_hr^T, P wide; the step then first forms gh = dh + dout (P), kept for
  // dW_hr, and dhh = gh W_hr (H), the gradient of o tanh(c), which it keeps too): W_hr's rows as panels (P terms
  // -> H outputs; null: no projection), P, gh (L, N, P), hhs (L, N, H) and dhh (N, H).
  const double* Bpr = nullptr;
  int P = 0;
  double* gh = nullptr;
  double* hhs = nullptr;
  double* dhh = nullptr;
  int width() const { return Bpr ? P : H; }
  int tq(int q) const { return reverse ? q : L - 1 - q; }
  bool active(int t, int n) const { return !lengths || t < lengths[n]; }
  // The state step t read, for row n: the previous active step's output or h0 (the same rule as the forward's).
  const double* prev_h(int t, int n) const {
    const int p = reverse ? t + 1 : t - 1;
    const int len = lengths ? lengths[n] : L;
    return p >= 0 && p < len ? out + ((size_t)p * N + n) * outStride : h0 + (size_t)n * width();
  }
  const double* prev_c(int t, int n) const {
    const int p = reverse ? t + 1 : t - 1;
    const int len = lengths ? lengths[n] : L;
    if (p >= 0 && p < len) return tape + ((size_t)p * N + n) * 5 * H + 4 * (size_t)H;
    return c0 ? c0 + (size_t)n * H : nullptr;
  }
  void gates(int t, int n) const {
    const size_t GH = (size_t)G * H, row = (size_t)t * N + n;
    double* z = Z + row * GH;
    double* dp = dpre + row * GH;
    // the gradient of the step's h before any projection: dh + dout, or the projection's dhh
    const double* d = dout && !Bpr ? dout + row * outStride : nullptr;
    const double* dhr = Bpr ? dhh + (size_t)n * H : dh + (size_t)n * H;
    for (int j = 0; j < H; j += DL) {
      const int w = H - j;
      const v64 dy = load64n(dhr + j, w) + (d ? load64n(d + j, w) : (v64){});
      if (G == 1) {
        const v64 h = load64n(out + row * outStride + j, w);
        const v64 v = relu ? (h > 0 ? dy : (v64){}) : dy * (1.0 - h * h);
        store64n(z + j, v, w);
        store64n(dp + j, load64n(dp + j, w) + v, w);
      } else if (G == 4) {
        const double* tp = tape + row * 5 * H + j;
        const v64 i = load64n(tp, w), f = load64n(tp + H, w), g = load64n(tp + 2 * H, w), o = load64n(tp + 3 * H, w);
        const v64 tc = tanh64(load64n(tp + 4 * H, w));
        const double* cp = prev_c(t, n);
        const v64 cPrev = cp ? load64n(cp + j, w) : (v64){};
        double* dcr = dc + (size_t)n * H + j;
        const v64 dC = load64n(dcr, w) + dy * o * (1.0 - tc * tc);
        store64n(dcr, dC * f, w);
        const v64 gi = dC * g * i * (1.0 - i), gf = dC * cPrev * f * (1.0 - f), gg = dC * i * (1.0 - g * g),
                  go = dy * tc * o * (1.0 - o);
        const v64 all[4] = {gi, gf, gg, go};
        for (int q = 0; q < 4; q++) {
          store64n(z + (size_t)q * H + j, all[q], w);
          store64n(dp + (size_t)q * H + j, load64n(dp + (size_t)q * H + j, w) + all[q], w);
        }
      } else {
        const double* tp = tape + row * 4 * H + j;
        const v64 r = load64n(tp, w), zz = load64n(tp + H, w), nn = load64n(tp + 2 * H, w), bn = load64n(tp + 3 * H, w);
        const v64 dn = dy * (1.0 - zz) * (1.0 - nn * nn);
        const v64 dr = dn * bn * r * (1.0 - r);
        const v64 dz = dy * (load64n(prev_h(t, n) + j, w) - nn) * zz * (1.0 - zz);
        store64n(dhz + (size_t)n * H + j, dy * zz, w);
        store64n(z + j, dr, w);
        store64n(z + H + j, dz, w);
        store64n(z + 2 * (size_t)H + j, dn * r, w);
        store64n(dp + j, load64n(dp + j, w) + dr, w);
        store64n(dp + H + j, load64n(dp + H + j, w) + dz, w);
        store64n(dp + 2 * (size_t)H + j, load64n(dp + 2 * (size_t)H + j, w) + dn, w);
      }
    }
  }
  // A projected step's first part, rows m0..m1 at time t: gh_t = dh + dout_t and hh_t = o tanh(c_t) kept (0 where
  // padded, so they add nothing to dW_hr), then dhh = gh_t W_hr.
  void project(int t, int m0, int m1) const {
    const size_t row0 = (size_t)t * N;
    for (int n = m0; n < m1; n++) {
      double* g = gh + (row0 + n) * P;
      double* hh = hhs + (row0 + n) * H;
      if (!active(t, n)) {
        for (int j = 0; j < P; j++) g[j] = 0.0;
        for (int j = 0; j < H; j++) hh[j] = 0.0;
        continue;
      }
      const double* d = dout ? dout + (row0 + n) * outStride : nullptr;
      for (int j = 0; j < P; j++) g[j] = dh[(size_t)n * P + j] + (d ? d[j] : 0.0);
      const double* tp = tape + (row0 + n) * 5 * H;
      for (int j = 0; j < H; j += DL) {
        const int w = H - j;
        store64n(hh + j, load64n(tp + 3 * H + j, w) * tanh64(load64n(tp + 4 * H + j, w)), w);
      }
    }
    for_tiles64(gh + row0 * P, (size_t)P, Bpr, P, m0, m1, 0, (int)panels64(H),
                [&](int m, int R, int p, int np, const double* T) {
                  const int j0 = p * DNR;
                  const int width = H - j0 < np * DNR ? H - j0 : np * DNR;
                  for (int i = 0; i < R; i++)
                    for (int j = 0; j < width; j++) dhh[(size_t)(m + i) * H + j0 + j] = T[i * DTW + j];
                });
  }
  // Step q for rows m0..m1 (the panels are always all of them: blocks of rows never share a step).
  void step(int q, int, int, int m0, int m1) const {
    const int t = tq(q);
    const size_t GH = (size_t)G * H;
    if (RNN_F64_PROJECTION && Bpr) project(t, m0, m1);
    for (int n = m0; n < m1; n++) {
      if (active(t, n)) {
        gates(t, n);
      } else {
        double* z = Z + ((size_t)t * N + n) * GH;  // a padded row adds nothing to dh or dW_hh
        for (size_t j = 0; j < GH; j++) z[j] = 0.0;
      }
    }
    const int W = width();
    for_tiles64(Z + (size_t)t * N * GH, GH, Bp, (int)GH, m0, m1, 0, (int)panels64(W),
                [&](int m, int R, int p, int np, const double* T) {
                  const int j0 = p * DNR;
                  const int width = W - j0 < np * DNR ? W - j0 : np * DNR;
                  for (int i = 0; i < R; i++) {
                    const int n = m + i;
                    if (!active(t, n)) continue;
                    double* d = dh + (size_t)n * W + j0;
                    const double* direct = G == 3 ? dhz + (size_t)n * H + j0 : nullptr;
                    for (int j = 0; j < width; j++) d[j] = T[i * DTW + j] + (direct ? direct[j] : 0.0);
                  }
                });
  }
};
