// The backward of gated.h's fused LSTM and GRU recurrences, in the same arithmetic: float32 products on core.h's
// tiles, float64 epilogues rounded once. Included after core.h, core_backward.h and gated.h by addon.cc and
// wasm.cc. The math is src/kernels/gated.ts's gatedRecurrenceBackward.
//
// Undoing step t takes one product per step (two with a projection), each with the gate math in its epilogue:
//   dh_{t-1} = dgates_t W_hh (K = G*H, from W_hh^T's panels; the GRU adds dy_t z_t, carried in float64),
// and, in the same epilogue for the same units, the gates' gradients of the step before from dy = dh + dout and,
// for the LSTM, the carried d c (float64). With proj_size the step is first d(o tanh c) = (dh + dout) W_hr, whose
// epilogue makes the gates' gradients, then dh_{t-1} as above. The weight gradients are then one product each over
// all steps (core_backward.h's grad_weight_rows): dW_hh += dgates^T h_{t-1} (the GRU's db_hh += sum dgates),
// dW_hr += (dh + dout)^T o tanh(c).
#pragma once
#include "core.h"
#include "core_backward.h"
#include "gated.h"

// Up to VH doubles at p (n < VH: the rest 0), and back.
static inline vd load_d(const double* p, int n) {
  vd v;
  if (n >= VH) {
    __builtin_memcpy(&v, p, sizeof v);
  } else {
    v = (vd){};
    for (int c = 0; c < n; c++) v[c] = p[c];
  }
  return v;
}

static inline void store_d(double* p, vd x, int n) {
  if (n >= VH) {
    __builtin_memcpy(p, &x, sizeof x);
  } else {
    for (int c = 0; c < n; c++) p[c] = x[c];
  }
}

// The LSTM's gate gradients of one vector of VH units (see lstm_units_backward), every array at its first unit,
// gate g at g*gs (z, tape), given tc = tanh(c) and dy; cp null: c_{t-1} = 0.
static inline void lstm_vector_backward(float* z, double* dc, float* hh, vd dy, vd tc, const float* tape,
                                        const float* cp, size_t gs) {
  const vd i = ld(tape), f = ld(tape + gs), g = ld(tape + 2 * gs), o = ld(tape + 3 * gs);
  const vd cprev = cp ? ld(cp) : (vd){};
  vd dcv;
  __builtin_memcpy(&dcv, dc, sizeof dcv);
  const vd dC = dcv + dy * o * (1.0 - tc * tc);
  const vd next = dC * f;
  __builtin_memcpy(dc, &next, sizeof next);
  st(z, dC * g * i * (1.0 - i));
  st(z + gs, dC * cprev * f * (1.0 - f));
  st(z + 2 * gs, dC * i * (1.0 - g * g));
  st(z + 3 * gs, dy * tc * o * (1.0 - o));
  if (hh) st(hh, o * tc);
}

// One row's units 0..width of an LSTM step being undone. dy = a + b (b null: 0) is d loss / d (o tanh c) of this
// step; tape: the step's i f g o c at g*H; cp: c_{t-1} at the block (null: 0); dc: d loss / d c_t (float64, carried),
// left as d loss / d c_{t-1}. Writes z = [di df dg do] (at g*H) and, when not null, hh = o tanh(c). Four vectors at a
// time where there are (their tanh(c) interleaved, two divisions for the four: tanh_vd4), then single vectors, and
// the last few units through padded copies.
static inline void lstm_units_backward(float* z, double* dc, float* hh, const float* a, const float* b,
                                       const float* tape, const float* cp, int H, int width) {
  const size_t gs = (size_t)H;
  int j = 0;
  for (; j + 4 * VH <= width; j += 4 * VH) {
    vd c[4], tc[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) c[v] = ld(tape + 4 * gs + j + v * VH);
    tanh_vd4(tc, c);
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
      const int k = j + v * VH;
      const vd dy = b ? ld(a + k) + ld(b + k) : ld(a + k);
      lstm_vector_backward(z + k, dc + k, hh ? hh + k : nullptr, dy, tc[v], tape + k, cp ? cp + k : nullptr, gs);
    }
  }
  for (; j + VH <= width; j += VH) {
    const vd dy = b ? ld(a + j) + ld(b + j) : ld(a + j);
    lstm_vector_backward(z + j, dc + j, hh ? hh + j : nullptr, dy, tanh_vd(ld(tape + 4 * gs + j)), tape + j,
                         cp ? cp + j : nullptr, gs);
  }
  if (j == width) return;
  const int n = width - j;
  float t[5 * VH] = {}, zv[4 * VH], hv[VH], cpv[VH] = {}, av[VH] = {}, bv[VH] = {};
  double dcv[VH] = {};
  for (int k = 0; k < n; k++) {
    for (int g = 0; g < 5; g++) t[g * VH + k] = tape[(size_t)g * gs + j + k];
    if (cp) cpv[k] = cp[j + k];
    av[k] = a[j + k];
    if (b) bv[k] = b[j + k];
    dcv[k] = dc[j + k];
  }
  const vd dy = b ? ld(av) + ld(bv) : ld(av);
  lstm_vector_backward(zv, dcv, hv, dy, tanh_vd(ld(t + 4 * VH)), t, cp ? cpv : nullptr, VH);
  for (int k = 0; k < n; k++) {
    for (int g = 0; g < 4; g++) z[(size_t)g * gs + j + k] = zv[g * VH + k];
    dc[j + k] = dcv[k];
    if (hh) hh[j + k] = hv[k];
  }
}

// One row's units 0..width of a GRU step being undone. dy = a + b (b null: 0) is d loss / d h_t; tape: r z n b_n at
// g*H; hp: h_{t-1} at the block. Writes z = [dr dz dn r] (the gradient of h W_hh^T + b_hh, at g*H), adds [dr dz dn]
// into dpre (each rounded once), and leaves dy z, the direct path h_{t-1} -> h_t, in dhz (float64).
static inline void gru_units_backward(float* z, float* dpre, double* dhz, const float* a, const float* b,
                                      const float* tape, const float* hp, int H, int width) {
  for (int j = 0; j < width; j += VH) {
    const int n = width - j;
    const vd dy = b ? load_vd(a + j, n) + load_vd(b + j, n) : load_vd(a + j, n);
    const vd r = load_vd(tape + j, n), zz = load_vd(tape + H + j, n), nn = load_vd(tape + 2 * (size_t)H + j, n),
             bn = load_vd(tape + 3 * (size_t)H + j, n);
    const vd dn = dy * (1.0 - zz) * (1.0 - nn * nn);
    const vd dr = dn * bn * r * (1.0 - r);
    const vd dz = dy * (load_vd(hp + j, n) - nn) * zz * (1.0 - zz);
    store_d(dhz + j, dy * zz, n);
    store_vd(z + j, dr, n);
    store_vd(z + H + j, dz, n);
    store_vd(z + 2 * (size_t)H + j, dn * r, n);
    store_vd(dpre + j, load_vd(dpre + j, n) + dr, n);
    store_vd(dpre + H + j, load_vd(dpre + H + j, n) + dz, n);
    store_vd(dpre + 2 * (size_t)H + j, load_vd(dpre + 2 * (size_t)H + j, n) + dn, n);
  }
}

// One direction's backward time loop, as substeps as GatedForward's: substep s undoes the forward's step L-1-s/S
// (time tq(s/S)); with a projection, first its gates (units of H), then dh_{t-1} (panels of P); without one, dh_{t-1}
// and the step before's gates in one product's epilogue. Row indices are absolute; rows of the (L, N, ...) arrays
// are (t*N + n).
struct GatedBackward {
  int G, L, N, H, P;
  int reverse;
  const int32_t* lengths;
  size_t stride;       // between the rows of out and dout
  const float* out;    // the forward's, at the direction's offset
  const float* dout;   // at the direction's offset, or null
  const float* h0;     // (N, P)
  const float* c0;     // LSTM: (N, H), or null for zeros
  const float* tape;   // (L, N, (G+1)*H) the forward's
  float* Z;            // (L, N, G*H) d loss / d (h_{t-1} W_hh^T [+ b_hh]) of every step; the LSTM's is its d pre
  float* dpre;         // GRU: accumulated here in the epilogue ([dr dz dn]); null for the LSTM
  float* dh;           // (N, P) the carried gradient
  double* dc;          // LSTM: (N, H) the carried d c
  double* dhz;         // GRU: (N, H) dy z of the step being undone
  float* gh;           // with a projection: (L, N, P) d loss / d h_t, the projection's output
  float* hh;           // with a projection: (L, N, H) o tanh(c_t)
  const float* Bp;     // W_hh^T's panels (pack_panels_rows over W_hh's G*H rows): K = G*H, P columns
  const float* Bpr;    // with a projection: W_hr^T's panels (over W_hr's P rows): K = P, H columns; else null

  int S() const { return Bpr ? 2 : 1; }
  int panels() const {
    const int Q = (int)panel_count(P), U = Bpr ? unit_blocks(H) : 0;
    return U > Q ? U : Q;
  }
  int tq(int q) const { return reverse ? q : L - 1 - q; }
  bool active(int t, int n) const { return !lengths || t < lengths[n]; }

  // The gates' gradients of row n at time t, units j0..j0+width, from dy = a + b (b null: 0); zeros where inactive.
  void units(int t, int n, int j0, int width, const float* a, const float* b) const {
    const size_t r = (size_t)t * N + n, tw = (size_t)(G + 1) * H;
    float* z = Z + r * G * H + j0;
    if (!active(t, n)) {
      for (int g = 0; g < G; g++)
        for (int j = 0; j < width; j++) z[(size_t)g * H + j] = 0.0f;
      if (hh) {
        for (int j = 0; j < width; j++) hh[r * H + j0 + j] = 0.0f;
      }
      return;
    }
    const int len = lengths ? lengths[n] : L, prev = reverse ? t + 1 : t - 1;
    const bool has = prev >= 0 && prev < len;  // else the step read h0 (and c0)
    const size_t rp = (size_t)prev * N + n;
    const float* tp = tape + r * tw + j0;
    if (G == 4) {
      const float* cp = has ? tape + rp * tw + 4 * (size_t)H + j0 : c0 ? c0 + (size_t)n * H + j0 : nullptr;
      lstm_units_backward(z, dc + (size_t)n * H + j0, hh ? hh + r * H + j0 : nullptr, a, b, tp, cp, H, width);
    } else {
      const float* hp = has ? out + rp * stride + j0 : h0 + (size_t)n * P + j0;
      gru_units_backward(z, dpre + r * G * H + j0, dhz + (size_t)n * H + j0, a, b, tp, hp, H, width);
    }
  }

  // Before the first substep: the carried gradients from dhN and dcN (null: 0), and from them the gates' gradients
  // of the forward's last step (with a projection: its d h_t).
  void start(const float* dhN, const float* dcN) const {
    const int t = tq(0);
    for (size_t i = 0; i < (size_t)N * P; i++) dh[i] = dhN ? dhN[i] : 0.0f;
    for (size_t i = 0; G == 4 && i < (size_t)N * H; i++) dc[i] = dcN ? (double)dcN[i] : 0.0;
    for (int n = 0; n < N; n++) {
      const float* g = dout ? dout + ((size_t)t * N + n) * stride : nullptr;
      if (!Bpr) {
        units(t, n, 0, H, dh + (size_t)n * P, g);
      } else {
        float* x = gh + ((size_t)t * N + n) * P;
        for (int j = 0; j < P; j++) x[j] = active(t, n) ? (float)((double)dh[(size_t)n * P + j] + (g ? g[j] : 0.0)) : 0.0f;
      }
    }
  }

  void substep(int s, int p0, int p1, int m0, int m1) const {
    const int q = s / S(), t = tq(q), tn = q + 1 < L ? tq(q + 1) : -1;
    const size_t GH = (size_t)G * H;
    if (Bpr && !(s & 1)) {
      // the gates' gradients of step t from d(o tanh c) = gh_t W_hr
      const int U = unit_blocks(H);
      if (p0 >= U) return;
      for_tiles(gh + (size_t)t * N * P, (size_t)P, Bpr, P, m0, m1, p0, p1 < U ? p1 : U,
                [&](int m, int R, int p, int np, const float* T) {
                  const int j0 = p * NR, width = H - j0 < np * NR ? H - j0 : np * NR;
                  for (int i = 0; i < R; i++) units(t, m + i, j0, width, T + i * TW, nullptr);
                });
      return;
    }
    const int Q = (int)panel_count(P);
    if (p0 >= Q) return;
    for_tiles(Z + (size_t)t * N * GH, GH, Bp, (int)GH, m0, m1, p0, p1 < Q ? p1 : Q,
              [&](int m, int R, int p, int np, const float* T) {
                const int j0 = p * NR, width = P - j0 < np * NR ? P - j0 : np * NR;
                for (int i = 0; i < R; i++) {
                  const int n = m + i;
                  float* d = dh + (size_t)n * P + j0;
                  const float* s = T + i * TW;
                  if (active(t, n)) {
                    if (G == 3) {
                      const double* y = dhz + (size_t)n * H + j0;
                      for (int j = 0; j < width; j++) d[j] = (float)(y[j] + (double)s[j]);
                    } else {
                      for (int j = 0; j < width; j++) d[j] = s[j];
                    }
                  }
                  if (tn < 0) continue;
                  const float* g = dout ? dout + ((size_t)tn * N + n) * stride + j0 : nullptr;
                  if (!Bpr) {
                    units(tn, n, j0, width, d, g);
                  } else {
                    float* x = gh + ((size_t)tn * N + n) * P + j0;
                    const bool on = active(tn, n);
                    for (int j = 0; j < width; j++) x[j] = on ? (float)((double)d[j] + (g ? g[j] : 0.0)) : 0.0f;
                  }
                }
              });
  }

  // Every substep on this thread, in order (after start).
  void run_all() const {
    const int Q = panels();
    for (int s = 0; s < L * S(); s++) substep(s, 0, Q, 0, N);
  }
};
