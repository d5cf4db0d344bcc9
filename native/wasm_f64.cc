// The float64 WebAssembly kernel: native/f64.h compiled for WebAssembly SIMD (2 double lanes), one thread, in a
// build of its own (scripts/build-wasm.sh: src/kernels/wasm/binary-f64.ts), so that the float32 builds, which
// every page loads, stay their size: src/kernels/wasm/f64.ts loads it when a float64 model first runs on the
// WebAssembly kernels. No libc, as native/wasm.cc.
#define RNN_VBYTES 16
#define RNN_F64_PROJECTION 0  // src/kernels/wasm/f64.ts runs a projected LSTM as gated.ts's steps
#include "core.h"
#include "f64_wasm.h"
