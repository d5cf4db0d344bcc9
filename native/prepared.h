// Prepared weights (issue 21): a weight matrix packed once into the panels a call's products read, held by a
// JavaScript external that frees it when collected, so that a module packs its weights once, not on every call
// (oneDNN's reordered weights, onnxruntime's pre-packed initializers). Part of native/addon.cc's one translation
// unit, included inside its namespace after its helpers (get_f32, get_int, throw_range), so it includes nothing.
//
//   prepare(w, layout, O, C, into?): External     w (O, C) as `layout` lays it out (into: a handle to pack again):
//       0  pack_panels: panels of NR of the O outputs (linear's W_ih, the RNN's W_hh, a projection's W_hr)
//       3  pack_gated, G = 3: the GRU's W_hh (O = 3H), the gates of NR features side by side
//       4  pack_gated, G = 4: the LSTM's W_hh (O = 4H)
//   preparedBytes(External): number        the bytes it holds
// A Float64Array w gives a float64 handle (native/f64.h's layouts), which only the float64 calls take.
//
// Every call that takes a weight (linear's w, recurrence's whh, gatedRecurrence's whh and whr) takes either the
// Float32Array, packed for that call alone as before, or an External of the matching layout and sizes, read as
// it is. A packed layout depends on the build (NR: 16 floats for AVX2, 32 for AVX-512), so an External made by
// one build is refused by the other (`isa`).

struct Prepared {
  int layout;  // 0, 3 or 4 (see above)
  int isa;     // RNN_VBYTES of the build that packed it
  int64_t O, C;
  size_t bytes;
  float* Bp;            // a float32 weight's panels, or null
  double* Bd = nullptr;  // a float64 weight's (native/f64.h's layouts), or null
};

size_t prepared_floats(int layout, int64_t O, int64_t C) {
  if (layout == 0) return panel_count((int)O) * NR * (size_t)C;
  return (size_t)unit_blocks((int)(O / layout)) * layout * NR * (size_t)C;
}

void finalize_prepared(napi_env env, void* data, void*) {
  Prepared* p = static_cast<Prepared*>(data);
  int64_t change = 0;
  napi_adjust_external_memory(env, -(int64_t)p->bytes, &change);
  std::free(p->Bp);
  std::free(p->Bd);
  delete p;
}

Prepared* prepared_of(napi_env env, napi_value v);

void pack_prepared(Prepared* p, const float* w) {
  if (p->layout == 0) {
    pack_panels(p->Bp, w, (int)p->O, (int)p->C);
  } else {
    pack_gated(p->Bp, w, p->layout, (int)(p->O / p->layout), (int)p->C);
  }
}

// p's handle: an External that frees p when collected, its bytes told to V8. Frees p when it cannot be made.
napi_value handle_of(napi_env env, Prepared* p) {
  napi_value result;
  if (napi_create_external(env, p, finalize_prepared, nullptr, &result) != napi_ok) {
    std::free(p->Bp);
    std::free(p->Bd);
    delete p;
    return throw_range(env, "prepare: could not make the handle");
  }
  int64_t change = 0;
  napi_adjust_external_memory(env, (int64_t)p->bytes, &change);
  return result;
}

// The handle of a Float64Array weight: f64.h's panels (into: a float64 handle of the same layout and sizes, packed
// again in place and returned).
napi_value prepare64(napi_env env, napi_value intoValue, const double* w, int layout, int64_t O, int64_t C) {
  if (intoValue) {
    Prepared* into = prepared_of(env, intoValue);
    if (into && into->Bd && into->layout == layout && into->isa == RNN_VBYTES && into->O == O && into->C == C) {
      pack64_layout(into->Bd, w, layout, (int)O, (int)C);
      return intoValue;
    }
  }
  const size_t doubles = prepared64_doubles(layout, O, C);
  Prepared* p = new (std::nothrow) Prepared{layout, RNN_VBYTES, O, C, doubles * sizeof(double), nullptr};
  if (p) p->Bd = aligned_doubles(doubles);
  if (!p || !p->Bd) {
    delete p;
    return throw_range(env, "prepare: out of memory");
  }
  pack64_layout(p->Bd, w, layout, (int)O, (int)C);
  return handle_of(env, p);
}

// prepare(w, layout, O, C, into?): into, a handle of the same layout and sizes, is packed again in place and
// returned (a module whose weights changed keeps its memory rather than waiting for the old handle's finalizer).
napi_value Prepare(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float* w = nullptr;
  double* wd = nullptr;
  size_t nw;
  int64_t layout, O, C;
  if ((argc != 4 && argc != 5) ||
      (!get_f32(env, a[0], &w, &nw, false) && !get_typed<double, napi_float64_array>(env, a[0], &wd, &nw, false)) ||
      !get_int(env, a[1], &layout) ||
      !get_int(env, a[2], &O) || !get_int(env, a[3], &C) || (layout != 0 && layout != 3 && layout != 4) || O < 1 ||
      C < 1 || (layout != 0 && O % layout != 0)) {
    return throw_range(env, "prepare: expected (Float32Array or Float64Array w, layout 0|3|4, O >= 1, C >= 1), O a multiple of the layout's gates");
  }
  if (nw < (size_t)(O * C)) return throw_range(env, "prepare: w is shorter than O * C");
  if (wd) return prepare64(env, argc == 5 ? a[4] : nullptr, wd, (int)layout, O, C);
  if (argc == 5) {
    Prepared* into = prepared_of(env, a[4]);
    if (into && into->Bp && into->layout == layout && into->isa == RNN_VBYTES && into->O == O && into->C == C) {
      pack_prepared(into, w);
      return a[4];
    }
  }
  const size_t floats = prepared_floats((int)layout, O, C);
  Prepared* p = new (std::nothrow) Prepared{(int)layout, RNN_VBYTES, O, C, floats * sizeof(float), alloc_floats(floats)};
  if (!p || !p->Bp) {
    if (p) std::free(p->Bp);
    delete p;
    return throw_range(env, "prepare: out of memory");
  }
  pack_prepared(p, w);
  return handle_of(env, p);
}

// The Prepared behind v, or null when v is not an External.
Prepared* prepared_of(napi_env env, napi_value v) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external) return nullptr;
  void* data = nullptr;
  napi_get_value_external(env, v, &data);
  return static_cast<Prepared*>(data);
}

napi_value PreparedBytes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  Prepared* p = argc == 1 ? prepared_of(env, a[0]) : nullptr;
  if (!p) return throw_range(env, "preparedBytes: expected a prepared weight");
  napi_value result;
  napi_create_double(env, (double)p->bytes, &result);
  return result;
}

// A prepared weight's panels of element type T (float32's Bp, float64's Bd; null when it holds the other).
template <class T>
const T* panels_in(const Prepared* p);
template <>
const float* panels_in<float>(const Prepared* p) { return p->Bp; }
template <>
const double* panels_in<double>(const Prepared* p) { return p->Bd; }

// A weight argument: a typed array of T (napi kind K) of at least O*C elements (*w set, *packed null; nullable:
// null/undefined gives both null), or an External of T's panels prepared with `layout` for exactly O and C by this
// build (*packed set, *w null).
template <class T, napi_typedarray_type K>
bool get_weight_of(napi_env env, napi_value v, int layout, int64_t O, int64_t C, T** w, const T** packed,
                   bool nullable) {
  *packed = nullptr;
  if (Prepared* p = prepared_of(env, v)) {
    *w = nullptr;
    const T* panels = panels_in<T>(p);
    if (!panels || p->layout != layout || p->isa != RNN_VBYTES || p->O != O || p->C != C) return false;
    *packed = panels;
    return true;
  }
  size_t n = 0;
  if (!get_typed<T, K>(env, v, w, &n, nullable)) return false;
  return *w == nullptr || n >= (size_t)(O * C);
}

bool get_weight(napi_env env, napi_value v, int layout, int64_t O, int64_t C, float** w, const float** packed,
                bool nullable) {
  return get_weight_of<float, napi_float32_array>(env, v, layout, O, C, w, packed, nullable);
}

bool get_weight64(napi_env env, napi_value v, int layout, int64_t O, int64_t C, double** w, const double** packed,
                  bool nullable) {
  return get_weight_of<double, napi_float64_array>(env, v, layout, O, C, w, packed, nullable);
}

// A JavaScript array of K weights, each as get_weight takes it: W (O, C0) for the first, (O, C) for the others.
// raw[k] is set for an array (packed by the call), packed[k] for a prepared one.
bool get_weight_list(napi_env env, napi_value v, int64_t K, int layout, int64_t O, int64_t C0, int64_t C,
                     float** raw, const float** packed) {
  return each_element(env, v, K, [&](uint32_t i, napi_value e) {
    return get_weight(env, e, layout, O, i == 0 ? C0 : C, &raw[i], &packed[i], false);
  });
}
