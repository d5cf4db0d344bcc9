// The native kernel for Node.js: core.h and core_backward.h compiled for AVX2+FMA, run on every core, behind
// Node-API. Built twice by native/build.mjs: as is (stacked_rnn.node), and with RNN_VBYTES 64 for AVX-512
// (stacked_rnn_avx512.node: the same floats, twice the product throughput where the CPU has it).
//
// Exports (float32 but the float64 ones of f64_addon.h; src/kernels/native.ts checks dtypes and falls back to the
// reference otherwise):
//   supported: boolean                 whether this CPU has AVX2 and FMA (and AVX-512 for that build; if not,
//                                      nothing else may be called)
//   avx512: boolean, isa: string       whether this CPU runs the AVX-512 build; which build this is ('avx2',
//                                      'avx512' or 'neon')
//   sourceHash: string                 the hash of the native sources it was built from (RNN_SOURCE_HASH, set by
//                                      scripts/build-prebuilds.sh; '' in a source build), which
//                                      src/kernels/native.ts compares with the shipped sources' hash
//   first: boolean                     whether this load made the process's pool (a worker_thread's later load
//                                      shares the pool and its thread count)
//   threads(n?): number                the process's thread count (1 .. 1024: the calling thread and workers),
//                                      set when n is given (src/kernels/threads.ts: at the first load, and on
//                                      setThreads)
//   recurrenceSplit(N, H): number[]    [threads, blocks, team]: how recurrence would split such a step now
//   prepare(w, layout, O, C), preparedBytes(p)   weights packed once (native/prepared.h); every w, whh and whr
//                                      below may be such a handle instead of the Float32Array
//   linear(y, x, w, b1|null, b2|null, M, C, O)
//   recurrence(out, hN, pre, whh, h0, L, N, H, outStride, outOffset, relu, reverse, lengths|null)
//   layers(outs[], hN, x, h0, wih[], whh[], bih[], bhh[], L, N, I, H, relu, lengths|null): boolean
//   layersTakes(K, N, H): boolean      whether layers would take such a stack (it declines otherwise)
//   linearBackward(dx|null, dw, db1|null, db2|null, dy, x, w, M, C, O)
//   recurrenceBackward(dpre, dh0, dwhh, dout|null, dhN|null, out, h0, whh, L, N, H, outStride, outOffset, relu,
//                      reverse, lengths|null)
//   gatedRecurrence, gatedRecurrenceBackward   the fused LSTM and GRU (native/gated_addon.h)
//   linear64, linearBackward64, recurrence64, recurrenceBackward64   the float64 kernels (native/f64_addon.h)
// with the meanings of src/kernels/kernel.ts.
//
// The parts, one translation unit: core.h and core_backward.h the arithmetic (shared with the wasm build; f64.h
// its float64 twin),
// pool.h the threads, jobs.h how a call's work is split between them, and this file the Node-API glue.
#include <node_api.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "portable.h"

#pragma GCC push_options
RNN_TARGET_VECTOR
#include "core.h"
#include "core_backward.h"
#include "gated.h"
#include "gated_backward.h"
#include "f64.h"
#include "f64_backward.h"
#pragma GCC pop_options

#include "pool.h"
#include "jobs.h"
#include "gated_jobs.h"
#include "f64_jobs.h"

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Node-API glue

napi_value throw_range(napi_env env, const char* message) {
  napi_throw_range_error(env, nullptr, message);
  return nullptr;
}

// A typed array of element type T (napi kind K), or with nullable null/undefined giving nullptr; false if neither.
template <typename T, napi_typedarray_type K>
bool get_typed(napi_env env, napi_value v, T** data, size_t* length, bool nullable) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  if (nullable && (type == napi_null || type == napi_undefined)) {
    *data = nullptr;
    *length = 0;
    return true;
  }
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) return false;
  napi_typedarray_type kind;
  void* raw = nullptr;
  napi_get_typedarray_info(env, v, &kind, length, &raw, nullptr, nullptr);
  if (kind != K) return false;
  *data = static_cast<T*>(raw);
  return true;
}

bool get_f32(napi_env env, napi_value v, float** data, size_t* length, bool nullable) {
  return get_typed<float, napi_float32_array>(env, v, data, length, nullable);
}

// lengths: an Int32Array, or null/undefined (every sequence runs all L steps).
bool get_i32_array(napi_env env, napi_value v, int32_t** data, size_t* length) {
  return get_typed<int32_t, napi_int32_array>(env, v, data, length, true);
}

bool get_int(napi_env env, napi_value v, int64_t* out) {
  return napi_get_value_int64(env, v, out) == napi_ok && *out >= 0 && *out <= 0x7fffffff;
}

// The length of v into n when v is a JavaScript array; false otherwise.
bool array_length(napi_env env, napi_value v, uint32_t* n) {
  bool is = false;
  return napi_is_array(env, v, &is) == napi_ok && is && napi_get_array_length(env, v, n) == napi_ok;
}

// Whether v is a JavaScript array of exactly K elements, each of which take(i, element) accepts.
template <class F>
bool each_element(napi_env env, napi_value v, int64_t K, F&& take) {
  uint32_t n = 0;
  if (!array_length(env, v, &n) || n != K) return false;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || !take(i, e)) return false;
  }
  return true;
}

#include "prepared.h"

napi_value Linear(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 8) return throw_range(env, "linear: expected 8 arguments");
  float *y, *x, *w, *b1, *b2;
  const float* packed;
  size_t ny, nx, nb1, nb2;
  int64_t M, C, O;
  if (!get_f32(env, a[0], &y, &ny, false) || !get_f32(env, a[1], &x, &nx, false) ||
      !get_f32(env, a[3], &b1, &nb1, true) || !get_f32(env, a[4], &b2, &nb2, true) || !get_int(env, a[5], &M) ||
      !get_int(env, a[6], &C) || !get_int(env, a[7], &O) || !get_weight(env, a[2], 0, O, C, &w, &packed, false)) {
    return throw_range(env, "linear: expected (Float32Array y, x, w or its prepared panels, b1|null, b2|null, M, C, O)");
  }
  if (ny < (size_t)(M * O) || nx < (size_t)(M * C) || (b1 && nb1 < (size_t)O) || (b2 && nb2 < (size_t)O)) {
    return throw_range(env, "linear: an array is shorter than M, C and O require");
  }
  if (M == 0 || O == 0) return nullptr;
  float* own = packed ? nullptr : alloc_floats(panel_count((int)O) * NR * (size_t)C);
  if (!packed && !own) return throw_range(env, "linear: out of memory");
  if (own) pack_panels(own, w, (int)O, (int)C);
  LinearJob job;
  job.y = y;
  job.x = x;
  job.Bp = packed ? packed : own;
  job.b1 = b1;
  job.b2 = b2;
  job.M = (int)M;
  job.C = (int)C;
  job.O = (int)O;
  run(linear_job, &job, linear_threads(M, C, O));
  std::free(own);
  return nullptr;
}

napi_value Recurrence(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 13) return throw_range(env, "recurrence: expected 13 arguments");
  float *out, *hN, *pre, *whh, *h0;
  const float* packed;
  size_t nout, nhN, npre, nh0, nlen;
  int32_t* lengths;
  int64_t L, N, H, outStride, outOffset;
  bool relu = false, reverse = false;
  if (!get_f32(env, a[0], &out, &nout, false) || !get_f32(env, a[1], &hN, &nhN, false) ||
      !get_f32(env, a[2], &pre, &npre, false) || !get_f32(env, a[4], &h0, &nh0, false) ||
      !get_int(env, a[5], &L) || !get_int(env, a[6], &N) || !get_int(env, a[7], &H) ||
      !get_int(env, a[8], &outStride) || !get_int(env, a[9], &outOffset) ||
      napi_get_value_bool(env, a[10], &relu) != napi_ok || napi_get_value_bool(env, a[11], &reverse) != napi_ok ||
      !get_i32_array(env, a[12], &lengths, &nlen) ||
      (H > 0 && !get_weight(env, a[3], 0, H, H, &whh, &packed, false))) {
    return throw_range(env,
                       "recurrence: expected (Float32Array out, hN, pre, whh or its prepared panels, h0, L, N, H, "
                       "outStride, outOffset, relu, reverse, Int32Array lengths|null)");
  }
  const size_t outNeed = L * N > 0 ? (size_t)((L * N - 1) * outStride + outOffset + H) : 0;
  if (nout < outNeed || outOffset + H > outStride || nhN < (size_t)(N * H) || npre < (size_t)(L * N * H) ||
      nh0 < (size_t)(N * H) || (lengths && nlen < (size_t)N)) {
    return throw_range(env, "recurrence: an array is shorter than L, N, H and the output stride require");
  }
  if (N == 0 || H == 0) return nullptr;
  float* own = packed ? nullptr : alloc_floats(panel_count((int)H) * NR * (size_t)H);
  float* buf = alloc_floats(2 * (size_t)N * H);
  if ((!packed && !own) || !buf) {
    std::free(own);
    std::free(buf);
    return throw_range(env, "recurrence: out of memory");
  }
  if (own) pack_panels(own, whh, (int)H, (int)H);
  const float* Bp = packed ? packed : own;
  if (const RowTanh row = L > 0 ? row_tanh_for((int)N, (int)H, relu, lengths) : nullptr) {
    // online inference: the whole time loop on this thread, accumulators in registers (core.h)
    const ptrdiff_t last = reverse ? (ptrdiff_t)L - 1 : 0, dir = reverse ? -1 : 1;
    row(out + outOffset + last * outStride, dir * (ptrdiff_t)outStride, pre + last * H, dir * (ptrdiff_t)H, Bp, h0, hN,
        (int)L);
    std::free(own);
    std::free(buf);
    return nullptr;
  }
  RecurrenceJob job;
  job.out = out;
  job.pre = pre;
  job.Bp = Bp;
  job.h0 = h0;
  job.buf[0] = buf;
  job.buf[1] = buf + (size_t)N * H;
  job.L = (int)L;
  job.N = (int)N;
  job.H = (int)H;
  job.P = (int)panel_count((int)H);
  job.outStride = (size_t)outStride;
  job.outOffset = (int)outOffset;
  job.relu = relu;
  job.reverse = reverse;
  job.lengths = lengths;
  const Split split = recurrence_split((int)N, (int)H, pool.threads.load(std::memory_order_relaxed));
  if (!job.sched.init((int)L, (int)N, job.P, split)) {
    std::free(own);
    std::free(buf);
    return throw_range(env, "recurrence: out of memory");
  }
  run(recurrence_job, &job, split.threads);
  const float* last = L == 0 ? h0 : job.buf[(L - 1) & 1];
  std::memmove(hN, last, (size_t)N * H * sizeof(float));
  std::free(own);
  std::free(buf);
  return nullptr;
}

// A JavaScript array of K Float32Arrays (null entries allowed when nullable), each at least `least` long (the first
// at least `least0`).
bool get_f32_list(napi_env env, napi_value v, int64_t K, float** data, size_t least0, size_t least, bool nullable) {
  return each_element(env, v, K, [&](uint32_t i, napi_value e) {
    size_t len = 0;
    return get_f32(env, e, &data[i], &len, nullable) && (!data[i] || len >= (i == 0 ? least0 : least));
  });
}

// Whether layers takes a stack of K layers of N rows and H features. Declined: with one thread the layer-by-layer
// calls are as fast, and a step big enough to share between the cores (as recurrence does) is better run that way.
bool layers_take(int64_t K, int64_t N, int64_t H) {
  return pool.threads.load(std::memory_order_relaxed) >= 2 && K >= 2 && !step_shared(N, H);
}

// layersTakes(K, N, H): layers_take, for the caller to ask before it makes any buffer.
napi_value LayersTakes(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  int64_t K, N, H;
  if (argc != 3 || !get_int(env, a[0], &K) || !get_int(env, a[1], &N) || !get_int(env, a[2], &H)) {
    return throw_range(env, "layersTakes: expected (K, N, H)");
  }
  napi_value result;
  napi_get_boolean(env, layers_take(K, N, H), &result);
  return result;
}

// layers(outs[], hN, x, h0, wih[], whh[], bih[], bhh[], L, N, I, H, relu, lengths|null): true when it ran, false
// when it declines, having written nothing: a step big enough to be shared between the cores (as recurrence
// does) is better run layer by layer.
napi_value Layers(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value a[14];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 14) return throw_range(env, "layers: expected 14 arguments");
  float *hN, *x, *h0;
  size_t nhN, nx, nh0, nlen;
  int32_t* lengths;
  int64_t L, N, I, H;
  bool relu = false;
  const char* usage =
      "layers: expected (Float32Array[] outs, hN, x, h0, (Float32Array|prepared)[] wih, whh, (Float32Array|null)[] bih, bhh, "
      "L, N, I, H, relu, Int32Array lengths|null)";
  uint32_t K = 0;
  bool isArray = false;
  if (napi_is_array(env, a[0], &isArray) != napi_ok || !isArray || napi_get_array_length(env, a[0], &K) != napi_ok ||
      K == 0 || K > 4096 || !get_f32(env, a[1], &hN, &nhN, false) || !get_f32(env, a[2], &x, &nx, false) ||
      !get_f32(env, a[3], &h0, &nh0, false) || !get_int(env, a[8], &L) || !get_int(env, a[9], &N) ||
      !get_int(env, a[10], &I) || !get_int(env, a[11], &H) || napi_get_value_bool(env, a[12], &relu) != napi_ok ||
      !get_i32_array(env, a[13], &lengths, &nlen)) {
    return throw_range(env, usage);
  }
  std::vector<float*> outs(K), wih(K), whh(K), bih(K), bhh(K);
  std::vector<const float*> wihPacked(K), whhPacked(K);
  const size_t LNH = (size_t)(L * N * H);
  if (!get_f32_list(env, a[0], K, outs.data(), LNH, LNH, false) ||
      !get_weight_list(env, a[4], K, 0, H, I, H, wih.data(), wihPacked.data()) ||
      !get_weight_list(env, a[5], K, 0, H, H, H, whh.data(), whhPacked.data()) ||
      !get_f32_list(env, a[6], K, bih.data(), (size_t)H, (size_t)H, true) ||
      !get_f32_list(env, a[7], K, bhh.data(), (size_t)H, (size_t)H, true)) {
    return throw_range(env, "layers: expected arrays of K Float32Arrays as long as L, N, I and H require");
  }
  if (nhN < (size_t)(K * N * H) || nh0 < (size_t)(K * N * H) || nx < (size_t)(L * N * I) ||
      (lengths && nlen < (size_t)N)) {
    return throw_range(env, "layers: an array is shorter than L, N, I, H and the layer count require");
  }
  napi_value result;
  const bool take = layers_take(K, N, H);
  napi_get_boolean(env, take, &result);
  if (!take) return result;
  std::memmove(hN, h0, (size_t)K * N * H * sizeof(float));
  if (L == 0 || N == 0 || H == 0) return result;
  // Chunks of about 16 rows: layer k+1 starts one chunk behind layer k, and each chunk's output crosses to the
  // other core at once (a line read by the other core costs about 0.1 to 0.4 us to get back, depending on where
  // the host has placed the two cores).
  const int CH = N >= 16 ? 1 : (int)(16 / N);
  const size_t ihFloats = panel_count((int)H) * NR * (size_t)(I > H ? I : H), hhFloats = panel_count((int)H) * NR * H;
  std::vector<float*> owned;  // every buffer, freed at the end
  auto take_floats = [&](size_t n) {
    float* p = alloc_floats(n);
    owned.push_back(p);
    return p;
  };
  std::vector<float*> Bih(K), Bhh(K);
  // prepared weights are read as they are (the job packs only the arrays: wih[k] or whh[k] not null)
  for (uint32_t k = 0; k < K; k++) {
    Bih[k] = wihPacked[k] ? const_cast<float*>(wihPacked[k]) : take_floats(ihFloats);
    Bhh[k] = whhPacked[k] ? const_cast<float*>(whhPacked[k]) : take_floats(hhFloats);
  }
  // one thread per layer, up to the thread count; each with its own work buffers
  const int nt = threads_for((int)K, pool.threads.load(std::memory_order_relaxed));
  std::vector<float*> work(nt);
  for (int i = 0; i < nt; i++) work[i] = take_floats(layers_work(CH, (int)N, (int)H));
  std::unique_ptr<Progress[]> progress(new (std::nothrow) Progress[K]);
  bool ok = progress != nullptr;
  for (float* p : owned) ok = ok && p;
  if (ok) {
    LayersJob job;
    LayersPlan& p = job.plan;
    p.x = x, p.outs = outs.data(), p.hN = hN;
    p.wih = wih.data(), p.whh = whh.data(), p.b1 = bih.data(), p.b2 = bhh.data(), p.Bih = Bih.data(), p.Bhh = Bhh.data();
    p.work = work.data();
    p.L = (int)L, p.N = (int)N, p.I = (int)I, p.H = (int)H, p.K = (int)K, p.CH = CH;
    p.relu = relu, p.lengths = lengths, p.progress = progress.get();
    run(layers_job, &job, nt);
  }
  for (float* p : owned) std::free(p);
  if (!ok) return throw_range(env, "layers: out of memory");
  return result;
}

napi_value LinearBackward(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value a[10];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 10) return throw_range(env, "linearBackward: expected 10 arguments");
  float *dx, *dw, *db1, *db2, *dy, *x, *w;
  size_t ndx, ndw, ndb1, ndb2, ndy, nx, nw;
  int64_t M, C, O;
  if (!get_f32(env, a[0], &dx, &ndx, true) || !get_f32(env, a[1], &dw, &ndw, false) ||
      !get_f32(env, a[2], &db1, &ndb1, true) || !get_f32(env, a[3], &db2, &ndb2, true) ||
      !get_f32(env, a[4], &dy, &ndy, false) || !get_f32(env, a[5], &x, &nx, false) ||
      !get_f32(env, a[6], &w, &nw, false) || !get_int(env, a[7], &M) || !get_int(env, a[8], &C) ||
      !get_int(env, a[9], &O)) {
    return throw_range(env, "linearBackward: expected (Float32Array dx|null, dw, db1|null, db2|null, dy, x, w, M, C, O)");
  }
  if ((dx && ndx < (size_t)(M * C)) || ndw < (size_t)(O * C) || (db1 && ndb1 < (size_t)O) ||
      (db2 && ndb2 < (size_t)O) || ndy < (size_t)(M * O) || nx < (size_t)(M * C) || nw < (size_t)(O * C)) {
    return throw_range(env, "linearBackward: an array is shorter than M, C and O require");
  }
  if (M == 0 || O == 0) return nullptr;
  if (dx && C > 0) {
    float* Bp = alloc_floats(panel_count((int)C) * NR * (size_t)O);
    if (!Bp) return throw_range(env, "linearBackward: out of memory");
    pack_panels_rows(Bp, [&](int k) { return (const float*)w + (size_t)k * C; }, (int)O, (int)C);
    DxJob job;
    job.dx = dx;
    job.dy = dy;
    job.Bp = Bp;
    job.M = (int)M;
    job.C = (int)C;
    job.O = (int)O;
    run(dx_job, &job, product_threads(M, C, O));
    std::free(Bp);
  }
  const float* dyc = dy;
  const float* xc = x;
  const int64_t Cc = C, Oc = O;
  if (!grad_weight(
          dw, db1, db2, [=](int m) { return dyc + (size_t)m * Oc; }, [=](int m) { return xc + (size_t)m * Cc; },
          (int)M, (int)O, (int)C)) {
    return throw_range(env, "linearBackward: out of memory");
  }
  return nullptr;
}

// The whole backward of one direction's recurrence: the time loop (on the forward's threads and split), then dwhh
// as one product over every step's dz and the state it read, then dpre += dz.
napi_value RecurrenceBackward(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value a[16];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc != 16) return throw_range(env, "recurrenceBackward: expected 16 arguments");
  float *dpre, *dh0, *dwhh, *dout, *dhN, *out, *h0, *whh;
  size_t ndpre, ndh0, ndwhh, ndout, ndhN, nout, nh0, nwhh, nlen;
  int32_t* lengths;
  int64_t L, N, H, outStride, outOffset;
  bool relu = false, reverse = false;
  if (!get_f32(env, a[0], &dpre, &ndpre, false) || !get_f32(env, a[1], &dh0, &ndh0, false) ||
      !get_f32(env, a[2], &dwhh, &ndwhh, false) || !get_f32(env, a[3], &dout, &ndout, true) ||
      !get_f32(env, a[4], &dhN, &ndhN, true) || !get_f32(env, a[5], &out, &nout, false) ||
      !get_f32(env, a[6], &h0, &nh0, false) || !get_f32(env, a[7], &whh, &nwhh, false) ||
      !get_int(env, a[8], &L) || !get_int(env, a[9], &N) || !get_int(env, a[10], &H) ||
      !get_int(env, a[11], &outStride) || !get_int(env, a[12], &outOffset) ||
      napi_get_value_bool(env, a[13], &relu) != napi_ok || napi_get_value_bool(env, a[14], &reverse) != napi_ok ||
      !get_i32_array(env, a[15], &lengths, &nlen)) {
    return throw_range(env,
                       "recurrenceBackward: expected (Float32Array dpre, dh0, dwhh, dout|null, dhN|null, out, h0, "
                       "whh, L, N, H, outStride, outOffset, relu, reverse, Int32Array lengths|null)");
  }
  const size_t outNeed = L * N > 0 ? (size_t)((L * N - 1) * outStride + outOffset + H) : 0;
  if (nout < outNeed || (dout && ndout < outNeed) || outOffset + H > outStride || ndpre < (size_t)(L * N * H) ||
      ndh0 < (size_t)(N * H) || (dhN && ndhN < (size_t)(N * H)) || nh0 < (size_t)(N * H) ||
      ndwhh < (size_t)(H * H) || nwhh < (size_t)(H * H) || (lengths && nlen < (size_t)N)) {
    return throw_range(env, "recurrenceBackward: an array is shorter than L, N, H and the output stride require");
  }
  if (L == 0 || N == 0 || H == 0) return nullptr;
  const size_t NH = (size_t)N * H, LNH = (size_t)L * NH;
  // dz goes straight into dpre when dpre starts at zero (as the stack's backward gives it), else into a buffer
  // added into dpre at the end; the dwhh product needs dz alone
  bool zero = true;
  for (size_t i = 0; i < LNH && zero; i++) zero = dpre[i] == 0.0f;
  float* Zown = zero ? nullptr : alloc_floats(LNH);
  float* Z = zero ? dpre : Zown;
  float* Bp = alloc_floats(panel_count((int)H) * NR * (size_t)H);
  float* dh = alloc_floats(NH);
  float* zeros = static_cast<float*>(std::calloc((size_t)H, sizeof(float)));
  if ((!zero && !Zown) || !Bp || !dh || !zeros) {
    std::free(Zown);
    std::free(Bp);
    std::free(dh);
    std::free(zeros);
    return throw_range(env, "recurrenceBackward: out of memory");
  }
  pack_panels_rows(Bp, [&](int k) { return (const float*)whh + (size_t)k * H; }, (int)H, (int)H);
  RecurrenceBackwardJob job;
  job.Z = Z;
  job.dh = dh;
  job.Bp = Bp;
  job.dout = dout ? dout + outOffset : nullptr;
  job.out = out + outOffset;
  job.stride = (size_t)outStride;
  job.L = (int)L;
  job.N = (int)N;
  job.H = (int)H;
  job.P = (int)panel_count((int)H);
  job.relu = relu;
  job.reverse = reverse;
  job.lengths = lengths;
  const Split split = recurrence_split((int)N, (int)H, pool.threads.load(std::memory_order_relaxed));
  if (!job.sched.init((int)L, (int)N, job.P, split)) {
    std::free(Zown);
    std::free(Bp);
    std::free(dh);
    std::free(zeros);
    return throw_range(env, "recurrenceBackward: out of memory");
  }
  const int t0 = job.tq(0);
  backward_start(dh, Z + t0 * NH, dhN, job.dout ? job.dout + t0 * N * job.stride : nullptr,
                 job.out + t0 * N * job.stride, job.stride, (int)N, (int)H, lengths, t0, relu);
  run(recurrence_backward_job, &job, split.threads);
  for (size_t i = 0; i < NH; i++) dh0[i] += dh[i];
  const float* o = job.out;
  const float* h0c = h0;
  const float* zc = zeros;
  const float* Zc = Z;
  const size_t stride = job.stride;
  const int Li = (int)L, Ni = (int)N, Hi = (int)H, rev = reverse;
  const int32_t* len = lengths;
  const bool ok = grad_weight(
      dwhh, nullptr, nullptr, [=](int m) { return Zc + (size_t)m * Hi; },
      [=](int m) { return prev_state_row(o, stride, h0c, zc, Li, Ni, Hi, rev, len, m); }, Li * Ni, Hi, Hi);
  if (Zown) {
    for (size_t i = 0; i < LNH; i++) dpre[i] += Zown[i];
  }
  std::free(Zown);
  std::free(Bp);
  std::free(dh);
  std::free(zeros);
  if (!ok) return throw_range(env, "recurrenceBackward: out of memory");
  return nullptr;
}

napi_value Threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc >= 1) {
    int64_t n;
    napi_valuetype type;
    napi_typeof(env, a[0], &type);
    if (type != napi_undefined) {
      if (!get_int(env, a[0], &n) || n < 1 || n > MAX_THREADS) {
        return throw_range(env, "threads: expected an integer from 1 to 1024");
      }
      set_threads((int)n);
    }
  }
  napi_value result;
  napi_create_int32(env, pool.threads.load(std::memory_order_relaxed), &result);
  return result;
}

// A split as JavaScript sees it: [threads, blocks, team].
napi_value split_value(napi_env env, Split s) {
  napi_value result, v;
  napi_create_array_with_length(env, 3, &result);
  const int parts[3] = {s.threads, s.blocks, s.team};
  for (uint32_t i = 0; i < 3; i++) {
    napi_create_int32(env, parts[i], &v);
    napi_set_element(env, result, i, v);
  }
  return result;
}

// recurrenceSplit(N, H): [threads, blocks, team], how recurrence and recurrenceBackward split a step of N rows and
// H features at the current thread count (jobs.h's recurrence_split), for the tests to know which split they run.
napi_value RecurrenceSplit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  int64_t N, H;
  if (argc != 2 || !get_int(env, a[0], &N) || !get_int(env, a[1], &H)) {
    return throw_range(env, "recurrenceSplit: expected (N, H)");
  }
  return split_value(env, recurrence_split((int)N, (int)H, pool.threads.load(std::memory_order_relaxed)));
}

#include "gated_addon.h"
#include "optim_addon.h"
#include "f64_addon.h"

#ifndef RNN_SOURCE_HASH
#define RNN_SOURCE_HASH ""
#endif

napi_value Init(napi_env env, napi_value exports) {
  // avx512: whether this CPU runs the AVX-512 build of this file (RNN_VBYTES 64, stacked_rnn_avx512.node)
  const bool avx512 = rnn_cpu_has_avx512();
  const bool supported = rnn_cpu_has_vector() && (RNN_VBYTES < 64 || avx512);
  // One pool per process, whichever thread loads the addon: the first load (the main thread, or the first
  // worker_thread to load it) makes it, later loads (other worker_threads) share it and its thread count
  static std::atomic<bool> loaded{false};
  const bool first = !loaded.exchange(true);
  if (first) {
    const unsigned cores = std::thread::hardware_concurrency();
    pool.cores = cores < 1 ? 1 : (int)cores;
    set_threads(pool.cores);  // until src/kernels/native.ts sets the library's setting
  }
  napi_value v;
  napi_get_boolean(env, supported, &v);
  napi_set_named_property(env, exports, "supported", v);
  napi_get_boolean(env, avx512, &v);
  napi_set_named_property(env, exports, "avx512", v);
  napi_create_string_utf8(env, RNN_ISA, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "isa", v);
  napi_create_string_utf8(env, RNN_SOURCE_HASH, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "sourceHash", v);
  napi_get_boolean(env, first, &v);
  napi_set_named_property(env, exports, "first", v);
  napi_create_function(env, "threads", NAPI_AUTO_LENGTH, Threads, nullptr, &v);
  napi_set_named_property(env, exports, "threads", v);
  if (supported) {
    napi_create_function(env, "linear", NAPI_AUTO_LENGTH, Linear, nullptr, &v);
    napi_set_named_property(env, exports, "linear", v);
    napi_create_function(env, "recurrence", NAPI_AUTO_LENGTH, Recurrence, nullptr, &v);
    napi_set_named_property(env, exports, "recurrence", v);
    napi_create_function(env, "layers", NAPI_AUTO_LENGTH, Layers, nullptr, &v);
    napi_set_named_property(env, exports, "layers", v);
    napi_create_function(env, "recurrenceSplit", NAPI_AUTO_LENGTH, RecurrenceSplit, nullptr, &v);
    napi_set_named_property(env, exports, "recurrenceSplit", v);
    napi_create_function(env, "layersTakes", NAPI_AUTO_LENGTH, LayersTakes, nullptr, &v);
    napi_set_named_property(env, exports, "layersTakes", v);
    napi_create_function(env, "linearBackward", NAPI_AUTO_LENGTH, LinearBackward, nullptr, &v);
    napi_set_named_property(env, exports, "linearBackward", v);
    napi_create_function(env, "recurrenceBackward", NAPI_AUTO_LENGTH, RecurrenceBackward, nullptr, &v);
    napi_set_named_property(env, exports, "recurrenceBackward", v);
    napi_create_function(env, "prepare", NAPI_AUTO_LENGTH, Prepare, nullptr, &v);
    napi_set_named_property(env, exports, "prepare", v);
    napi_create_function(env, "preparedBytes", NAPI_AUTO_LENGTH, PreparedBytes, nullptr, &v);
    napi_set_named_property(env, exports, "preparedBytes", v);
    register_gated(env, exports);
    register_optim(env, exports);
    register_f64(env, exports);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
