// The float64 kernels behind Node-API (part of native/addon.cc's one translation unit, after f64_jobs.h):
//
//   linear64(y, x, w, b1|null, b2|null, M, C, O)               w: a Float64Array or prepare()'s float64 handle
//   linearBackward64(dx|null, dw, db1|null, db2|null, dy, x, w, M, C, O)
//   recurrence64(out, hN, cN|null, pre, whh, h0, c0|null, bhh|null, tape|null, L, N, H, outStride, outOffset,
//                mode, reverse, lengths|null)
//       mode 0 tanh, 1 relu (whh: panels), 3 the GRU, 4 the LSTM (whh: their gate-interleaved layouts); c0 and cN
//       the LSTM's, bhh the GRU's; tape, when given, gets what src/kernels/gated.ts's backward reads
// with the meanings of src/kernels/kernel.ts, every array a Float64Array (src/kernels/native.ts sends float64
// calls here and float32 ones to the float32 kernels).

namespace {

bool get_f64(napi_env env, napi_value v, double** data, size_t* length, bool nullable) {
  return get_typed<double, napi_float64_array>(env, v, data, length, nullable);
}

// W's panels: the prepared ones, or packed into *own (freed by the caller) from the array. False when out of memory.
bool panels_of(const double* w, const double* packed, int layout, int64_t O, int64_t C, const double** Bp,
               double** own) {
  *own = nullptr;
  if (packed) {
    *Bp = packed;
    return true;
  }
  *own = aligned_doubles(prepared64_doubles(layout, O, C));
  if (!*own) return false;
  pack64_layout(*own, w, layout, (int)O, (int)C);
  *Bp = *own;
  return true;
}

napi_value LinearF64(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  double *y, *x, *w, *b1, *b2;
  const double* packed;
  size_t ny, nx, nb1, nb2;
  int64_t M, C, O;
  if (argc != 8 || !get_f64(env, a[0], &y, &ny, false) || !get_f64(env, a[1], &x, &nx, false) ||
      !get_f64(env, a[3], &b1, &nb1, true) || !get_f64(env, a[4], &b2, &nb2, true) || !get_int(env, a[5], &M) ||
      !get_int(env, a[6], &C) || !get_int(env, a[7], &O) || !get_weight64(env, a[2], 0, O, C, &w, &packed, false)) {
    return throw_range(env, "linear64: expected (Float64Array y, x, w or its prepared panels, b1|null, b2|null, M, C, O)");
  }
  if (ny < (size_t)(M * O) || nx < (size_t)(M * C) || (b1 && nb1 < (size_t)O) || (b2 && nb2 < (size_t)O)) {
    return throw_range(env, "linear64: an array is shorter than M, C and O require");
  }
  if (M == 0 || O == 0) return nullptr;
  const double* Bp;
  double* own;
  if (!panels_of(w, packed, 0, O, C, &Bp, &own)) return throw_range(env, "linear64: out of memory");
  Linear64Job job;
  job.y = y, job.x = x, job.Bp = Bp, job.b1 = b1, job.b2 = b2, job.M = (int)M, job.C = (int)C, job.O = (int)O;
  run(linear64_job, &job, linear64_threads(M, C, O));
  std::free(own);
  return nullptr;
}

napi_value LinearBackwardF64(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value a[10];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  double *dx, *dw, *db1, *db2, *dy, *x, *w;
  size_t ndx, ndw, ndb1, ndb2, ndy, nx, nw;
  int64_t M, C, O;
  if (argc != 10 || !get_f64(env, a[0], &dx, &ndx, true) || !get_f64(env, a[1], &dw, &ndw, false) ||
      !get_f64(env, a[2], &db1, &ndb1, true) || !get_f64(env, a[3], &db2, &ndb2, true) ||
      !get_f64(env, a[4], &dy, &ndy, false) || !get_f64(env, a[5], &x, &nx, false) ||
      !get_f64(env, a[6], &w, &nw, false) || !get_int(env, a[7], &M) || !get_int(env, a[8], &C) ||
      !get_int(env, a[9], &O)) {
    return throw_range(env, "linearBackward64: expected (Float64Array dx|null, dw, db1|null, db2|null, dy, x, w, M, C, O)");
  }
  if ((dx && ndx < (size_t)(M * C)) || ndw < (size_t)(O * C) || (db1 && ndb1 < (size_t)O) ||
      (db2 && ndb2 < (size_t)O) || ndy < (size_t)(M * O) || nx < (size_t)(M * C) || nw < (size_t)(O * C)) {
    return throw_range(env, "linearBackward64: an array is shorter than M, C and O require");
  }
  if (M == 0 || O == 0) return nullptr;
  if (dx && C > 0) {
    double* Bp = aligned_doubles(panels64((int)C) * DNR * (size_t)O);
    if (!Bp) return throw_range(env, "linearBackward64: out of memory");
    const double* wc = w;
    pack64_rows(Bp, [&](int k) { return wc + (size_t)k * C; }, (int)O, (int)C);
    Dx64Job job;
    job.dx = dx, job.dy = dy, job.Bp = Bp, job.M = (int)M, job.C = (int)C, job.O = (int)O;
    run(dx64_job, &job, product_threads(M, C, O));
    std::free(Bp);
  }
  // the biases' gradient is summed once and added into each (the two biases of a layer get the same gradient)
  double* bsum = db1 || db2 ? static_cast<double*>(std::calloc((size_t)O, sizeof(double))) : nullptr;
  const double* dyc = dy;
  const double* xc = x;
  const int64_t Cc = C, Oc = O;
  const bool ok = (!(db1 || db2) || bsum) &&
                  grad_weight64(
                      dw, bsum, [=](int m) { return dyc + (size_t)m * Oc; }, [=](int m) { return xc + (size_t)m * Cc; },
                      (int)M, (int)O, (int)C);
  for (int64_t o = 0; ok && bsum && o < O; o++) {
    if (db1) db1[o] += bsum[o];
    if (db2) db2[o] += bsum[o];
  }
  std::free(bsum);
  if (!ok) return throw_range(env, "linearBackward64: out of memory");
  return nullptr;
}

napi_value RecurrenceF64(napi_env env, napi_callback_info info) {
  size_t argc = 19;
  napi_value a[19];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  double *out, *hN, *cN, *pre, *whh, *h0, *c0, *bhh, *tape, *whr;
  const double *packed, *packedr;
  size_t nout, nhN, ncN, npre, nh0, nc0, nbhh, ntape, nlen;
  int32_t* lengths;
  int64_t L, N, H, outStride, outOffset, mode, P;
  bool reverse = false;
  const char* usage =
      "recurrence64: expected (Float64Array out, hN, cN|null, pre, whh or its prepared panels, h0, c0|null, "
      "bhh|null, tape|null, L, N, H, outStride, outOffset, mode 0|1|3|4, reverse, Int32Array lengths|null, "
      "whr|its prepared panels|null, P)";
  if (argc != 19 || !get_f64(env, a[0], &out, &nout, false) || !get_f64(env, a[1], &hN, &nhN, false) ||
      !get_f64(env, a[2], &cN, &ncN, true) || !get_f64(env, a[3], &pre, &npre, false) ||
      !get_f64(env, a[5], &h0, &nh0, false) || !get_f64(env, a[6], &c0, &nc0, true) ||
      !get_f64(env, a[7], &bhh, &nbhh, true) || !get_f64(env, a[8], &tape, &ntape, true) ||
      !get_int(env, a[9], &L) || !get_int(env, a[10], &N) || !get_int(env, a[11], &H) ||
      !get_int(env, a[12], &outStride) || !get_int(env, a[13], &outOffset) || !get_int(env, a[14], &mode) ||
      (mode != 0 && mode != 1 && mode != 3 && mode != 4) || napi_get_value_bool(env, a[15], &reverse) != napi_ok ||
      !get_i32_array(env, a[16], &lengths, &nlen) || !get_int(env, a[18], &P)) {
    return throw_range(env, usage);
  }
  const int G = mode < 3 ? 1 : (int)mode;
  // a projection (the LSTM's proj_size, P < H): W_hr (P, H), and the state P wide
  if (!get_weight64(env, a[17], 0, P, H, &whr, &packedr, true) || (G != 4 && (whr || packedr)) ||
      ((whr || packedr) ? P < 1 || P >= H : P != H)) {
    return throw_range(env, usage);
  }
  if (!get_weight64(env, a[4], mode < 3 ? 0 : G, G * H, P, &whh, &packed, false)) return throw_range(env, usage);
  const size_t NH = (size_t)(N * H), NP = (size_t)(N * P);
  const size_t outNeed = L * N > 0 ? (size_t)((L * N - 1) * outStride + outOffset + P) : 0;
  if (nout < outNeed || outOffset + P > outStride || npre < (size_t)(L * N * G * H) || nhN < NP || nh0 < NP ||
      (cN && ncN < NH) || (c0 && nc0 < NH) || (bhh && nbhh < (size_t)(G * H)) ||
      (tape && ntape < (size_t)(L * N * (G + 1) * H)) || (lengths && nlen < (size_t)N)) {
    return throw_range(env, "recurrence64: an array is shorter than L, N, H and the output stride require");
  }
  if (N == 0 || H == 0) return nullptr;
  const bool projected = whr || packedr;
  const double *Bp, *Bpr = nullptr;
  double *own, *ownr = nullptr;
  double* state = aligned_doubles(2 * NP + 2 * NH);  // two states, c, and the projection's hh
  if (!state || !panels_of(whh, packed, mode < 3 ? 0 : G, G * H, P, &Bp, &own) ||
      (projected && !panels_of(whr, packedr, 0, P, H, &Bpr, &ownr))) {
    std::free(state);
    std::free(own);
    return throw_range(env, "recurrence64: out of memory");
  }
  double* c = state + 2 * NP;
  for (size_t i = 0; i < NH; i++) c[i] = c0 ? c0[i] : 0.0, c[NH + i] = 0.0;
  Recurrence64 r{out + outOffset, pre, Bp, G == 3 ? bhh : nullptr, h0, {state, state + NP}, c,
                 G > 1 ? tape : nullptr, (size_t)outStride, (int)L, (int)N, (int)H, G, mode == 1, reverse, lengths};
  r.Bpr = Bpr, r.P = (int)P, r.hh = c + NH;
  const bool ok = run_recurrence64(r);
  if (ok) {
    std::memmove(hN, r.state((int)L - 1), NP * sizeof(double));
    if (cN && G == 4) std::memcpy(cN, c, NH * sizeof(double));
  }
  std::free(state);
  std::free(own);
  std::free(ownr);
  if (!ok) return throw_range(env, "recurrence64: out of memory");
  return nullptr;
}

// recurrenceBackward64(dpre, dh0, dc0|null, dwhh, dbhh|null, dout|null, dhN|null, dcN|null, out, h0, c0|null,
// whh, tape|null, L, N, H, outStride, outOffset, mode, reverse, lengths|null): the time loop (f64.h's Backward64,
// in blocks of rows), then dwhh (and the GRU's dbhh) as one product over every step's gate gradients and the state
// each step read.
napi_value RecurrenceBackwardF64(napi_env env, napi_callback_info info) {
  size_t argc = 24;
  napi_value a[24];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  double *dpre, *dh0, *dc0, *dwhh, *dbhh, *dout, *dhN, *dcN, *out, *h0, *c0, *whh, *tape, *whr, *dwhr;
  size_t ndpre, ndh0, ndc0, ndwhh, ndbhh, ndout, ndhN, ndcN, nout, nh0, nc0, nwhh, ntape, nlen, nwhr, ndwhr;
  int32_t* lengths;
  int64_t L, N, H, outStride, outOffset, mode, P;
  bool reverse = false;
  const char* usage =
      "recurrenceBackward64: expected (Float64Array dpre, dh0, dc0|null, dwhh, dbhh|null, dout|null, dhN|null, "
      "dcN|null, out, h0, c0|null, whh, tape|null, L, N, H, outStride, outOffset, mode 0|1|3|4, reverse, Int32Array "
      "lengths|null, whr|null, dwhr|null, P)";
  if (argc != 24 || !get_f64(env, a[0], &dpre, &ndpre, false) || !get_f64(env, a[1], &dh0, &ndh0, false) ||
      !get_f64(env, a[2], &dc0, &ndc0, true) || !get_f64(env, a[3], &dwhh, &ndwhh, false) ||
      !get_f64(env, a[4], &dbhh, &ndbhh, true) || !get_f64(env, a[5], &dout, &ndout, true) ||
      !get_f64(env, a[6], &dhN, &ndhN, true) || !get_f64(env, a[7], &dcN, &ndcN, true) ||
      !get_f64(env, a[8], &out, &nout, false) || !get_f64(env, a[9], &h0, &nh0, false) ||
      !get_f64(env, a[10], &c0, &nc0, true) || !get_f64(env, a[11], &whh, &nwhh, false) ||
      !get_f64(env, a[12], &tape, &ntape, true) || !get_int(env, a[13], &L) || !get_int(env, a[14], &N) ||
      !get_int(env, a[15], &H) || !get_int(env, a[16], &outStride) || !get_int(env, a[17], &outOffset) ||
      !get_int(env, a[18], &mode) || (mode != 0 && mode != 1 && mode != 3 && mode != 4) ||
      napi_get_value_bool(env, a[19], &reverse) != napi_ok || !get_i32_array(env, a[20], &lengths, &nlen) ||
      !get_f64(env, a[21], &whr, &nwhr, true) || !get_f64(env, a[22], &dwhr, &ndwhr, true) || !get_int(env, a[23], &P)) {
    return throw_range(env, usage);
  }
  const int G = mode < 3 ? 1 : (int)mode;
  const bool projected = whr != nullptr;
  if ((projected ? G != 4 || P < 1 || P >= H || nwhr < (size_t)(P * H) || (dwhr && ndwhr < (size_t)(P * H)) : P != H) ||
      (!projected && dwhr)) {
    return throw_range(env, usage);
  }
  const size_t NH = (size_t)(N * H), NP = (size_t)(N * P), GH = (size_t)G * H, LN = (size_t)(L * N);
  const size_t outNeed = LN > 0 ? (size_t)((LN - 1) * outStride + outOffset + P) : 0;
  if (nout < outNeed || (dout && ndout < outNeed) || outOffset + P > outStride || ndpre < LN * GH || ndh0 < NP ||
      (dc0 && ndc0 < NH) || (dhN && ndhN < NP) || (dcN && ndcN < NH) || nh0 < NP || (c0 && nc0 < NH) ||
      ndwhh < GH * P || nwhh < GH * P || (dbhh && ndbhh < GH) || (G > 1 && (!tape || ntape < LN * (G + 1) * H)) ||
      (lengths && nlen < (size_t)N)) {
    return throw_range(env, "recurrenceBackward64: an array is shorter than L, N, H and the output stride require");
  }
  if (LN == 0 || H == 0) return nullptr;
  Owned own;
  double* Z = own.keep(aligned_doubles(LN * GH));
  double* Bp = own.keep(aligned_doubles(panels64((int)P) * DNR * GH));
  double* state = own.keep(aligned_doubles(NP + 3 * NH + P));  // dh, dc, the GRU's dy z, dhh, a row of zeros
  double* bsum = G == 3 && dbhh ? own.keep(static_cast<double*>(std::calloc(GH, sizeof(double)))) : nullptr;
  double* gh = projected ? own.keep(aligned_doubles(LN * P)) : nullptr;
  double* hhs = projected ? own.keep(aligned_doubles(LN * H)) : nullptr;
  double* Bpr = projected ? own.keep(aligned_doubles(panels64((int)H) * DNR * P)) : nullptr;
  if (!own.ok()) return throw_range(env, "recurrenceBackward64: out of memory");
  std::memset(state, 0, (NP + 3 * NH + P) * sizeof(double));
  double *dh = state, *dc = state + NP, *dhz = dc + NH, *dhh = dhz + NH;
  const double* zeros = dhh + NH;
  if (dhN) std::memcpy(dh, dhN, NP * sizeof(double));
  if (dcN && G == 4) std::memcpy(dc, dcN, NH * sizeof(double));
  const double* w = whh;
  pack64_rows(Bp, [&](int k) { return w + (size_t)k * P; }, (int)GH, (int)P);
  const double* wr = whr;
  if (projected) pack64_rows(Bpr, [&](int k) { return wr + (size_t)k * H; }, (int)P, (int)H);
  Backward64 b{Z, dpre, dh, dc, dhz, dout ? dout + outOffset : nullptr, out + outOffset, h0, G == 4 ? c0 : nullptr, tape,
               Bp, (size_t)outStride, (int)L, (int)N, (int)H, G, mode == 1, reverse, lengths};
  b.Bpr = Bpr, b.P = (int)P, b.gh = gh, b.hhs = hhs, b.dhh = dhh;
  bool ok = run_backward64(b);
  if (ok) {
    for (size_t i = 0; i < NP; i++) dh0[i] += dh[i];
    if (dc0 && G == 4)
      for (size_t i = 0; i < NH; i++) dc0[i] += dc[i];
    const double* Zc = Z;
    const int Ni = (int)N;
    ok = grad_weight64(
        dwhh, bsum, [=](int m) { return Zc + (size_t)m * GH; },
        [=, &b](int m) { return b.active(m / Ni, m % Ni) ? b.prev_h(m / Ni, m % Ni) : zeros; }, (int)LN, (int)GH,
        (int)P);
    for (size_t o = 0; ok && bsum && o < GH; o++) dbhh[o] += bsum[o];
    if (ok && projected && dwhr) {
      const double *ghc = gh, *hc = hhs;
      const int Hi = (int)H, Pi = (int)P;
      ok = grad_weight64(
          dwhr, nullptr, [=](int m) { return ghc + (size_t)m * Pi; }, [=](int m) { return hc + (size_t)m * Hi; },
          (int)LN, Pi, Hi);
    }
  }
  if (!ok) return throw_range(env, "recurrenceBackward64: out of memory");
  return nullptr;
}

// layersTakes64(mode, K, N, H): whether layers64 would take such a stack (f64_jobs.h's layers64_take).
napi_value LayersTakesF64(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  int64_t mode, K, N, H;
  if (argc != 4 || !get_int(env, a[0], &mode) || !get_int(env, a[1], &K) || !get_int(env, a[2], &N) ||
      !get_int(env, a[3], &H)) {
    return throw_range(env, "layersTakes64: expected (mode, K, N, H)");
  }
  napi_value result;
  napi_get_boolean(env, layers64_take(mode < 3 ? 1 : (int)mode, K, N, H), &result);
  return result;
}

// layers64(outs[], hN, cN|null, x, h0, c0|null, wih[], whh[], bih[], bhh[], tapes[]|null, L, N, I, H, mode,
// lengths|null): a unidirectional stack as the wavefront (f64_jobs.h's layers64_job), every array float64 (a
// weight may be its prepared handle); true when it ran, false when it declines (layers64_take), writing nothing.
napi_value LayersF64(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value a[17];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  const char* usage =
      "layers64: expected (Float64Array[] outs, hN, cN|null, x, h0, c0|null, (Float64Array|prepared)[] wih, whh, "
      "(Float64Array|null)[] bih, bhh, Float64Array[]|null tapes, L, N, I, H, mode 0|1|3|4, Int32Array lengths|null)";
  double *hN, *cN, *x, *h0, *c0;
  size_t nhN, ncN, nx, nh0, nc0, nlen;
  int32_t* lengths;
  int64_t L, N, I, H, mode;
  uint32_t K = 0;
  napi_valuetype tapesType;
  if (argc != 17 || !array_length(env, a[0], &K) || K == 0 || K > 4096 || !get_f64(env, a[1], &hN, &nhN, false) ||
      !get_f64(env, a[2], &cN, &ncN, true) || !get_f64(env, a[3], &x, &nx, false) ||
      !get_f64(env, a[4], &h0, &nh0, false) || !get_f64(env, a[5], &c0, &nc0, true) ||
      napi_typeof(env, a[10], &tapesType) != napi_ok || !get_int(env, a[11], &L) || !get_int(env, a[12], &N) ||
      !get_int(env, a[13], &I) || !get_int(env, a[14], &H) || !get_int(env, a[15], &mode) ||
      (mode != 0 && mode != 1 && mode != 3 && mode != 4) || !get_i32_array(env, a[16], &lengths, &nlen)) {
    return throw_range(env, usage);
  }
  const int G = mode < 3 ? 1 : (int)mode;
  const size_t NH = (size_t)(N * H), LNH = (size_t)L * NH, GH = (size_t)G * H;
  const bool recorded = G > 1 && tapesType != napi_null && tapesType != napi_undefined;
  std::vector<double*> outs(K), wih(K), whh(K), bih(K), bhh(K), tapes(K);
  std::vector<const double*> wihPacked(K), whhPacked(K);
  const int layout = G == 1 ? 0 : G;
  auto list = [&](napi_value v, std::vector<double*>& into, size_t least, bool nullable) {
    return each_element(env, v, K, [&](uint32_t i, napi_value e) {
      size_t len = 0;
      return get_f64(env, e, &into[i], &len, nullable) && (!into[i] || len >= least);
    });
  };
  auto weights = [&](napi_value v, int lay, int64_t C0, std::vector<double*>& raw, std::vector<const double*>& packed) {
    return each_element(env, v, K, [&](uint32_t i, napi_value e) {
      return get_weight64(env, e, lay, (int64_t)GH, i == 0 ? C0 : H, &raw[i], &packed[i], false);
    });
  };
  if (!list(a[0], outs, LNH, false) || !weights(a[6], 0, I, wih, wihPacked) || !weights(a[7], layout, H, whh, whhPacked) ||
      !list(a[8], bih, GH, true) || !list(a[9], bhh, GH, true) || (recorded && !list(a[10], tapes, LNH * (G + 1), false))) {
    return throw_range(env, "layers64: expected arrays of K Float64Arrays as long as L, N, I and H require");
  }
  if (nhN < K * NH || nh0 < K * NH || nx < (size_t)(L * N * I) || (G == 4 && cN && ncN < K * NH) ||
      (G == 4 && c0 && nc0 < K * NH) || (lengths && nlen < (size_t)N)) {
    return throw_range(env, "layers64: an array is shorter than L, N, I, H and the layer count require");
  }
  for (int64_t n = 0; lengths && n < N; n++)
    if (lengths[n] < 0 || lengths[n] > L) return throw_range(env, "layers64: a length is outside 0..L");
  napi_value result;
  const bool take = layers64_take(G, K, N, H);
  napi_get_boolean(env, take, &result);
  if (!take) return result;
  std::memmove(hN, h0, K * NH * sizeof(double));
  for (size_t i = 0; G == 4 && cN && i < K * NH; i++) cN[i] = c0 ? c0[i] : 0.0;
  if (L == 0 || N == 0 || H == 0) return result;
  const int CH = N >= 16 ? 1 : (int)(16 / N);  // chunks of about 16 rows, as layers
  Owned own;
  std::vector<double*> Bih(K), Bhh(K);
  for (uint32_t k = 0; k < K; k++) {
    Bih[k] = wihPacked[k] ? const_cast<double*>(wihPacked[k])
                          : own.keep(aligned_doubles(prepared64_doubles(0, (int64_t)GH, I > H ? I : H)));
    Bhh[k] = whhPacked[k] ? const_cast<double*>(whhPacked[k]) : own.keep(aligned_doubles(prepared64_doubles(layout, (int64_t)GH, H)));
  }
  const int nt = threads_for((int)K, pool.threads.load(std::memory_order_relaxed));
  std::vector<double*> work(nt);
  for (int i = 0; i < nt; i++) work[i] = own.keep(aligned_doubles(layers64_work(CH, (int)N, G, (int)H)));
  std::unique_ptr<Progress[]> progress(new (std::nothrow) Progress[K]);
  if (!own.ok() || !progress) return throw_range(env, "layers64: out of memory");
  Layers64Job job;
  Layers64Plan& p = job.plan;
  p.x = x, p.outs = outs.data(), p.hN = hN, p.cN = G == 4 ? cN : nullptr, p.h0 = h0, p.c0 = G == 4 ? c0 : nullptr;
  p.wih = wih.data(), p.whh = whh.data(), p.bih = bih.data(), p.bhh = bhh.data();
  p.tapes = recorded ? tapes.data() : nullptr, p.Bih = Bih.data(), p.Bhh = Bhh.data(), p.work = work.data();
  p.L = (int)L, p.N = (int)N, p.I = (int)I, p.H = (int)H, p.K = (int)K, p.CH = CH, p.G = G, p.relu = mode == 1;
  p.lengths = lengths, p.progress = progress.get();
  run(layers64_job, &job, nt);
  return result;
}

void register_f64(napi_env env, napi_value exports) {
  napi_value v;
  napi_create_function(env, "layers64", NAPI_AUTO_LENGTH, LayersF64, nullptr, &v);
  napi_set_named_property(env, exports, "layers64", v);
  napi_create_function(env, "layersTakes64", NAPI_AUTO_LENGTH, LayersTakesF64, nullptr, &v);
  napi_set_named_property(env, exports, "layersTakes64", v);
  napi_create_function(env, "recurrenceBackward64", NAPI_AUTO_LENGTH, RecurrenceBackwardF64, nullptr, &v);
  napi_set_named_property(env, exports, "recurrenceBackward64", v);
  napi_create_function(env, "linear64", NAPI_AUTO_LENGTH, LinearF64, nullptr, &v);
  napi_set_named_property(env, exports, "linear64", v);
  napi_create_function(env, "linearBackward64", NAPI_AUTO_LENGTH, LinearBackwardF64, nullptr, &v);
  napi_set_named_property(env, exports, "linearBackward64", v);
  napi_create_function(env, "recurrence64", NAPI_AUTO_LENGTH, RecurrenceF64, nullptr, &v);
  napi_set_named_property(env, exports, "recurrence64", v);
}

}  // namespace
