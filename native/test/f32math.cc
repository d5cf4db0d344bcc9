// Every float32 input of core.h's f32_exp_neg, f32_sigmoid and f32_tanh against float64 libm rounded to float32
// (the correctly rounded result but for float64's own last-bit ties, far rarer than the 2^-29 that could matter):
// prints the worst distance in ulps (float32 values apart) and where, and the count past 1 ulp.
// Build: g++ -O2 -mavx2 -mfma -ffp-contract=fast -std=gnu++17 native/test/f32math.cc -o /tmp/f32math (add
// -DRNN_VBYTES=64 -mavx512f -mavx512vl -mavx512dq -mavx512bw for the AVX-512 width). Args: [stride] [lo hi] over
// the 2^32 bit patterns; it also hashes every output, so two builds can be compared bit for bit.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core.h"

typedef uint32_t vu __attribute__((vector_size(RNN_VBYTES)));

static int64_t ordered(float f) {
  int32_t i;
  memcpy(&i, &f, 4);
  return i < 0 ? (int64_t)INT32_MIN - i : i;
}

struct Stat {
  const char* name;
  int64_t worst = 0, over1 = 0, count = 0;
  float at = 0, got = 0, want = 0;
  uint64_t hash = 1469598103934665603ull;
  void add(float x, float g, double w) {
    const float wf = (float)w;
    uint32_t gb;
    memcpy(&gb, &g, 4);
    hash = (hash ^ gb) * 1099511628211ull;
    count++;
    if (isnan(wf) && isnan(g)) return;
    int64_t d = isnan(g) || isnan(wf) ? INT64_MAX : llabs(ordered(g) - ordered(wf));
    if (g == 0 && wf == 0) d = 0;
    if (d > 1) over1++;
    if (d > worst) worst = d, at = x, got = g, want = wf;
  }
  void print() const {
    printf("%-8s %lld inputs: worst %lld ulp at x = %.9g (got %.9g, want %.9g); %lld past 1 ulp; hash %016llx\n", name,
           (long long)count, (long long)worst, at, got, want, (long long)over1, (unsigned long long)hash);
  }
};

int main(int argc, char** argv) {
  const uint64_t stride = argc > 1 ? strtoull(argv[1], 0, 0) : 1;
  const uint64_t lo = argc > 3 ? strtoull(argv[2], 0, 0) : 0, hi = argc > 3 ? strtoull(argv[3], 0, 0) : 1ull << 32;
  Stat se{"exp(-|x|)"}, ss{"sigmoid"}, st{"tanh"};
  float xs[VL];
  int k = 0;
  auto flush = [&](int n) {
    vf x;
    memcpy(&x, xs, sizeof x);
    const vf ax = x < 0 ? -x : x;
    vf e = f32_exp_neg<vf, vu>(-ax), s = f32_sigmoid<vf, vu>(x), t = f32_tanh<vf, vu>(x);
    for (int i = 0; i < n; i++) {
      const double d = xs[i];
      se.add(xs[i], e[i], exp(-fabs(d)));
      ss.add(xs[i], s[i], 1.0 / (1.0 + exp(-d)));
      st.add(xs[i], t[i], tanh(d));
    }
  };
  for (uint64_t b = lo; b < hi; b += stride) {
    uint32_t u = (uint32_t)b;
    memcpy(&xs[k++], &u, 4);
    if (k == VL) flush(k), k = 0;
  }
  if (k) {
    for (int i = k; i < VL; i++) xs[i] = 0;
    flush(k);
  }
  se.print();
  ss.print();
  st.print();
  return 0;
}
