// The optimizers' per-element arithmetic (float32 parameters), shared by the native addon (native/optim_addon.h)
// and the WebAssembly kernels (native/optim_wasm.h): torch.optim 1.13's Adam, AdamW and SGD, the same floats as
// the scalar JavaScript step of src/train/optim.ts, which src/train/optim-kernel.ts checks bit for bit.
//
// That JavaScript rounds each tensor operation PyTorch performs to float32 (Math.fround), and does PyTorch's
// "add with alpha" (a + alpha * b, fused in PyTorch's vectorized kernels) as a + alpha * b in double, then rounded.
// This file mirrors it operation by operation:
//   - a + b * c (the fused ones, and every sum): in double, then rounded to float. b and c are floats, so b * c is
//     exact in double: contracting it into a fused multiply-add (-ffp-contract=fast, as addon.cc and the wasm
//     builds compile) cannot change a bit, and no product of two doubles that are not floats is ever formed;
//   - a float product, quotient or square root: in float (IEEE's correctly rounded one, which is what rounding
//     the exact double result gives too). Its result is converted to double before any sum, so no float product
//     can be fused into a float sum.
// But a compiler may narrow (float)((double)a + (double)b) of floats a, b to a float sum (the same value), and then
// fuse a float product into that sum: the pragmas below turn contraction off in this file
// (GCC's optimize pragma; clang, see OPTIM_UNFUSED), which test/optim-kernel.test.ts checks bit for bit. With it, the loops give the same
// bits whatever the vector width or thread split.
//
// The clip norm's sum of squares (sum_squares) goes in blocks of OPTIM_BLOCK elements, each summed in 8 double
// lanes (element j into lane j % 8) combined pairwise, blocks in order: src/train/clip.ts sums the same way.
#pragma once
#include <stddef.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#if defined(__x86_64__)
// clang's -ffp-contract=fast overrides the pragma, and its x86 code generator would fuse a float product, widened,
// into a double sum: there (x86 has FMA) each float product that meets a sum is kept out of it by an empty asm. WebAssembly's SIMD has no fused multiply-add for it to make.
#define OPTIM_UNFUSED(x) __asm__("" : "+x"(x))
#endif
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
#ifndef OPTIM_UNFUSED
#define OPTIM_UNFUSED(x) (void)0
#endif

namespace {

// Elements per block: the unit of the threads' split and of the norm's summation order (clip.ts: NORM_BLOCK).
constexpr size_t OPTIM_BLOCK = 1 << 16;

inline float optim_round(double x) { return (float)x; }

// JavaScript's Math.max of two floats: NaN if either is NaN, +0 over -0.
inline float js_max(float a, float b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a > b) return a;
  if (b > a) return b;
  return __builtin_signbit(a) ? b : a;
}

// Adam's constants for one parameter, each already a float as src/train/optim.ts rounds it.
struct AdamConsts {
  float b1, c1, b2, c2, eps, wd, decay;  // beta1, 1 - beta1, beta2, 1 - beta2, eps, weight decay, 1 - lr * wd
  float negStep, bc2;                    // -lr / (1 - beta1^t), sqrt(1 - beta2^t)
};

// The state arrays are the optimizer's own (restrict), apart from each other and from p; g is the caller's and may
// be p itself (each element is read before it is written either way).
// Adam (WD 0: no weight decay, 1: L2 in the gradient, 2: decoupled as AdamW) over elements j0 .. j1.
template <bool MAXIMIZE, int WD, bool AMSGRAD>
void adam_range(float* p, const float* g, float* __restrict m, float* __restrict v,
                float* __restrict vmax, size_t j0, size_t j1, const AdamConsts& k) {
  const double b1 = k.b1, c1 = k.c1, b2 = k.b2, c2 = k.c2, eps = k.eps, wd = k.wd, negStep = k.negStep;
  const float decay = k.decay, bc2 = k.bc2, c2f = k.c2;
  for (size_t j = j0; j < j1; j++) {
    float gj = MAXIMIZE ? -g[j] : g[j];
    float pj = p[j];
    if (WD == 2) {
      pj = pj * decay;
      OPTIM_UNFUSED(pj);
    }
    if (WD == 1) gj = optim_round((double)gj + wd * (double)pj);
    float mb = optim_round((double)m[j] * b1), vb = optim_round((double)v[j] * b2), sq = (c2f * gj) * gj;
    OPTIM_UNFUSED(mb);
    OPTIM_UNFUSED(vb);
    OPTIM_UNFUSED(sq);
    const float mj = optim_round((double)mb + c1 * (double)gj);
    const float vj = optim_round((double)vb + (double)sq);
    m[j] = mj;
    v[j] = vj;
    float second = vj;
    if (AMSGRAD) {
      second = js_max(vmax[j], vj);
      vmax[j] = second;
    }
    const float root = __builtin_sqrtf(second) / bc2;
    const float denom = optim_round((double)root + eps);
    const float q = mj / denom;
    p[j] = optim_round((double)pj + negStep * (double)q);
  }
}

// Which instantiation: the flags as runtime values.
typedef void (*AdamRange)(float*, const float*, float*, float*, float*, size_t, size_t, const AdamConsts&);
inline AdamRange adam_range_for(bool maximize, int wd, bool amsgrad) {
#define OPTIM_ADAM(M, W) amsgrad ? adam_range<M, W, true> : adam_range<M, W, false>
  if (maximize) return wd == 0 ? OPTIM_ADAM(true, 0) : wd == 1 ? OPTIM_ADAM(true, 1) : OPTIM_ADAM(true, 2);
  return wd == 0 ? OPTIM_ADAM(false, 0) : wd == 1 ? OPTIM_ADAM(false, 1) : OPTIM_ADAM(false, 2);
#undef OPTIM_ADAM
}

// SGD's constants, floats as src/train/optim.ts rounds them.
struct SgdConsts {
  float wd, mom, keep, negLr;  // weight decay, momentum, 1 - dampening, -lr
};

// SGD over elements j0 .. j1. MOMENTUM 0: no buffer (buf unused); 1: the first step (buf = d); 2: later steps.
template <bool MAXIMIZE, bool WD, int MOMENTUM, bool NESTEROV>
void sgd_range(float* p, const float* g, float* __restrict buf, size_t j0, size_t j1,
               const SgdConsts& k) {
  const double wd = k.wd, mom = k.mom, keep = k.keep, negLr = k.negLr;
  for (size_t j = j0; j < j1; j++) {
    float d = MAXIMIZE ? -g[j] : g[j];
    const float pj = p[j];
    if (WD) d = optim_round((double)d + wd * (double)pj);
    if (MOMENTUM != 0) {
      float bm = MOMENTUM == 1 ? 0.0f : optim_round((double)buf[j] * mom);
      OPTIM_UNFUSED(bm);
      const float b = MOMENTUM == 1 ? d : optim_round((double)bm + keep * (double)d);
      buf[j] = b;
      d = NESTEROV ? optim_round((double)d + mom * (double)b) : b;
    }
    p[j] = optim_round((double)pj + negLr * (double)d);
  }
}

typedef void (*SgdRange)(float*, const float*, float*, size_t, size_t, const SgdConsts&);
inline SgdRange sgd_range_for(bool maximize, bool wd, int momentum, bool nesterov) {
#define OPTIM_SGD(M, W)                                                                      \
  momentum == 0   ? sgd_range<M, W, 0, false>                                                \
  : momentum == 1 ? (nesterov ? sgd_range<M, W, 1, true> : sgd_range<M, W, 1, false>)        \
                  : (nesterov ? sgd_range<M, W, 2, true> : sgd_range<M, W, 2, false>)
  if (maximize) return wd ? OPTIM_SGD(true, true) : OPTIM_SGD(true, false);
  return wd ? OPTIM_SGD(false, true) : OPTIM_SGD(false, false);
#undef OPTIM_SGD
}

// The sum of squares of x[0 .. n) (at most one block): element j into lane j % 8 in double, the lanes combined
// pairwise. Each square of a float is exact in double, so a fused multiply-add changes nothing.
inline double sum_squares(const float* x, size_t n) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int l = 0; l < 8; l++) {
      const double e = x[j + l];
      a[l] += e * e;
    }
  }
  for (int l = 0; j < n; j++, l++) {
    const double e = x[j];
    a[l] += e * e;
  }
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// x *= coef (a float product: the clip's scaling).
inline void scale_range(float* x, size_t j0, size_t j1, float coef) {
  for (size_t j = j0; j < j1; j++) x[j] = x[j] * coef;
}

}  // namespace

#if !defined(__clang__) && defined(__GNUC__)
#pragma GCC pop_options
#endif
