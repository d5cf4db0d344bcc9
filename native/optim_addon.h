// The optimizers in the native addon (part of addon.cc's translation unit, included after its Node-API helpers):
// one call steps every parameter (native/optim.h's arithmetic), and one call sums every gradient's squares for
// clip_grad_norm. Large calls (more than OPTIM_THREADED elements) go to the pool in blocks of OPTIM_BLOCK
// elements handed out from a shared counter: each element's floats are the same on any thread, and each block's
// sum of squares is written to its own slot, summed in order afterwards, so the results never depend on the split.
//
//   adamStep(p[], g[], m[], v[], vmax[]|null, consts: Float64Array)
//       consts: maximize, wd mode (0 none, 1 L2, 2 decoupled), amsgrad, b1, c1, b2, c2, eps, wd, decay, then
//       negStep, bc2 for each parameter (src/train/optim-kernel.ts writes them)
//   sgdStep(p[], g[], buf[] (null entries: no momentum), consts: Float64Array)
//       consts: maximize, wd on, nesterov, wd, momentum, keep, negLr, then for each parameter its momentum state
//       (0 none, 1 first step, 2 later)
//   sumSquares(x[], out: Float64Array)     out[i] = the sum of squares of x[i] (optim.h's order)
//   scale(x[], coef)                       x[i] *= coef (float products)
#pragma once
// (addon.cc includes this inside its anonymous namespace, after <atomic> and <vector>.)
#pragma GCC push_options
RNN_TARGET_VECTOR
#include "optim.h"
#pragma GCC pop_options

namespace {

// Below this many elements in all, one thread: waking the workers costs more than the step.
constexpr size_t OPTIM_THREADED = 1 << 16;

// One block of one array: elements j0 .. j1 of array a.
struct OptimTask {
  int a;
  size_t j0, j1;
};

template <class F>
struct OptimJob {
  const std::vector<OptimTask>& tasks;
  F body;  // body(task, its index)
  alignas(64) std::atomic<size_t> next{0};
  OptimJob(const std::vector<OptimTask>& t, F f) : tasks(t), body(f) {}
};

template <class F>
void optim_job(void* c, int, int) {
  OptimJob<F>& j = *static_cast<OptimJob<F>*>(c);
  for (size_t t; (t = j.next.fetch_add(1, std::memory_order_relaxed)) < j.tasks.size();) j.body(j.tasks[t], t);
}

// The blocks of arrays of the given lengths, in order.
std::vector<OptimTask> optim_tasks(const std::vector<size_t>& lengths) {
  std::vector<OptimTask> tasks;
  for (size_t a = 0; a < lengths.size(); a++) {
    for (size_t j0 = 0; j0 < lengths[a]; j0 += OPTIM_BLOCK) {
      tasks.push_back({(int)a, j0, lengths[a] < j0 + OPTIM_BLOCK ? lengths[a] : j0 + OPTIM_BLOCK});
    }
  }
  return tasks;
}

// Runs body(task, index) over every block of arrays of the given lengths, threaded when they are large.
template <class F>
std::vector<OptimTask> optim_run(const std::vector<size_t>& lengths, F body) {
  std::vector<OptimTask> tasks = optim_tasks(lengths);
  size_t total = 0;
  for (size_t n : lengths) total += n;
  OptimJob<F> job(tasks, body);
  const int most = pool.threads.load(std::memory_order_relaxed);
  run(optim_job<F>, &job, total > OPTIM_THREADED ? threads_for((int)tasks.size(), most) : 1);
  return tasks;
}

// The Float32Arrays of a JavaScript array (entries may be null where nullable); false if it is not one.
bool get_f32_list(napi_env env, napi_value list, std::vector<float*>& out, std::vector<size_t>& lengths,
                  bool nullable) {
  uint32_t n = 0;
  if (!array_length(env, list, &n)) return false;
  out.resize(n);
  lengths.resize(n);
  return each_element(env, list, n, [&](uint32_t i, napi_value e) {
    return get_f32(env, e, &out[i], &lengths[i], nullable);
  });
}

bool get_f64(napi_env env, napi_value v, double** data, size_t* length) {
  return get_typed<double, napi_float64_array>(env, v, data, length, false);
}

// Every state array of a parameter holds at least its elements (p's length).
bool covers(const std::vector<size_t>& lengths, const std::vector<size_t>& need, bool nullable,
            const std::vector<float*>& data) {
  if (lengths.size() != need.size()) return false;
  for (size_t i = 0; i < need.size(); i++) {
    if (nullable && data[i] == nullptr) continue;
    if (lengths[i] < need[i]) return false;
  }
  return true;
}

napi_value AdamStep(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  std::vector<float *> p, g, m, v, vmax;
  std::vector<size_t> np, ng, nm, nv, nvmax;
  double* c;
  size_t nc;
  napi_valuetype t5;
  if (argc == 6) napi_typeof(env, a[4], &t5);
  const bool ams = argc == 6 && t5 != napi_null && t5 != napi_undefined;
  if (argc != 6 || !get_f32_list(env, a[0], p, np, false) || !get_f32_list(env, a[1], g, ng, false) ||
      !get_f32_list(env, a[2], m, nm, false) || !get_f32_list(env, a[3], v, nv, false) ||
      (ams && !get_f32_list(env, a[4], vmax, nvmax, false)) || !get_f64(env, a[5], &c, &nc)) {
    return throw_range(env, "adamStep: expected (Float32Array[] p, g, m, v, vmax|null, Float64Array consts)");
  }
  const size_t P = p.size();
  if (!covers(ng, np, false, g) || !covers(nm, np, false, m) || !covers(nv, np, false, v) ||
      (ams && !covers(nvmax, np, false, vmax)) || nc != 10 + 2 * P) {
    return throw_range(env, "adamStep: the arrays and constants do not match the parameters");
  }
  const AdamRange range = adam_range_for(c[0] != 0, (int)c[1], c[2] != 0 && ams);
  std::vector<AdamConsts> k(P);
  for (size_t i = 0; i < P; i++) {
    k[i] = {(float)c[3], (float)c[4], (float)c[5], (float)c[6], (float)c[7], (float)c[8], (float)c[9],
            (float)c[10 + 2 * i], (float)c[11 + 2 * i]};
  }
  optim_run(np, [&](const OptimTask& t, size_t) {
    range(p[t.a], g[t.a], m[t.a], v[t.a], ams ? vmax[t.a] : nullptr, t.j0, t.j1, k[t.a]);
  });
  return nullptr;
}

napi_value SgdStep(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  std::vector<float *> p, g, buf;
  std::vector<size_t> np, ng, nbuf;
  double* c;
  size_t nc;
  if (argc != 4 || !get_f32_list(env, a[0], p, np, false) || !get_f32_list(env, a[1], g, ng, false) ||
      !get_f32_list(env, a[2], buf, nbuf, true) || !get_f64(env, a[3], &c, &nc)) {
    return throw_range(env, "sgdStep: expected (Float32Array[] p, g, (Float32Array|null)[] buf, Float64Array consts)");
  }
  const size_t P = p.size();
  if (!covers(ng, np, false, g) || !covers(nbuf, np, true, buf) || nc != 7 + P) {
    return throw_range(env, "sgdStep: the arrays and constants do not match the parameters");
  }
  std::vector<SgdRange> ranges(P);
  for (size_t i = 0; i < P; i++) {
    const int momentum = buf[i] ? (int)c[7 + i] : 0;
    ranges[i] = sgd_range_for(c[0] != 0, c[1] != 0, momentum, c[2] != 0);
  }
  const SgdConsts k = {(float)c[3], (float)c[4], (float)c[5], (float)c[6]};
  optim_run(np, [&](const OptimTask& t, size_t) { ranges[t.a](p[t.a], g[t.a], buf[t.a], t.j0, t.j1, k); });
  return nullptr;
}

napi_value SumSquares(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  std::vector<float*> x;
  std::vector<size_t> nx;
  double* out;
  size_t nout;
  if (argc != 2 || !get_f32_list(env, a[0], x, nx, false) || !get_f64(env, a[1], &out, &nout) ||
      nout < x.size()) {
    return throw_range(env, "sumSquares: expected (Float32Array[] x, Float64Array out)");
  }
  // each block's sum in its own slot, added in order afterwards
  size_t blocks = 0;
  for (size_t n : nx) blocks += (n + OPTIM_BLOCK - 1) / OPTIM_BLOCK;
  std::vector<double> sums(blocks, 0.0);
  const std::vector<OptimTask> tasks =
      optim_run(nx, [&](const OptimTask& t, size_t i) { sums[i] = sum_squares(x[t.a] + t.j0, t.j1 - t.j0); });
  for (size_t i = 0; i < x.size(); i++) out[i] = 0;
  for (size_t t = 0; t < tasks.size(); t++) out[tasks[t].a] += sums[t];
  return nullptr;
}

napi_value Scale(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  std::vector<float*> x;
  std::vector<size_t> nx;
  double coef;
  if (argc != 2 || !get_f32_list(env, a[0], x, nx, false) || napi_get_value_double(env, a[1], &coef) != napi_ok) {
    return throw_range(env, "scale: expected (Float32Array[] x, coef)");
  }
  const float k = (float)coef;
  optim_run(nx, [&](const OptimTask& t, size_t) { scale_range(x[t.a], t.j0, t.j1, k); });
  return nullptr;
}

void register_optim(napi_env env, napi_value exports) {
  const struct {
    const char* name;
    napi_callback f;
  } fns[] = {{"adamStep", AdamStep}, {"sgdStep", SgdStep}, {"sumSquares", SumSquares}, {"scale", Scale}};
  for (const auto& fn : fns) {
    napi_value v;
    napi_create_function(env, fn.name, NAPI_AUTO_LENGTH, fn.f, nullptr, &v);
    napi_set_named_property(env, exports, fn.name, v);
  }
}

}  // namespace
