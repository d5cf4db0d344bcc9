// The Node-API glue of the fused LSTM and GRU recurrences (native/gated.h, gated_backward.h, gated_jobs.h): part of
// native/addon.cc's one translation unit, included inside its namespace after its own helpers (get_f32, get_int,
// throw_range), so it includes nothing itself. Exports (float32 throughout, meanings of src/kernels/kernel.ts):
//   gatedRecurrence(out, hN, cN|null, pre, whh, h0, c0|null, whr|null, bhh|null, tape|null, L, N, H, P, outStride,
//                   outOffset, lstm, reverse, lengths|null)    whh and whr may be prepared (native/prepared.h)
//   gatedRecurrenceBackward(dpre, dh0, dc0|null, dwhh, dwhr|null, dbhh|null, dout|null, dhN|null, dcN|null, out,
//                           h0, c0|null, whh, whr|null, tape, L, N, H, P, outStride, outOffset, lstm, reverse,
//                           lengths|null)
//   gatedSplit(lstm, N, H, P): 'one', 'rows' or 'columns', how the threads would share such a recurrence's steps
//   gatedLayers(outs[], hN, cN|null, x, h0, c0|null, wih[], whh[], bih[], bhh[], tapes[]|null, L, N, I, H, lstm,
//               lengths|null): boolean     a unidirectional stack without projection as a wavefront (gated_jobs.h)
//   gatedLayersTakes(lstm, K, N, H): boolean    whether gatedLayers would take such a stack
// lstm picks the cell (true: LSTM, G = 4; false: GRU, G = 3); whr (the LSTM's projection, P < H) or P = H.

// Frees every pointer it was given when it goes out of scope.
struct Owned {
  std::vector<void*> p;
  template <class T>
  T* keep(T* q) {
    p.push_back(q);
    return q;
  }
  bool ok() const {
    for (void* q : p)
      if (!q) return false;
    return true;
  }
  ~Owned() {
    for (void* q : p) std::free(q);
  }
};

double* alloc_doubles(size_t n) { return static_cast<double*>(std::calloc(n > 0 ? n : 1, sizeof(double))); }

// The arrays and sizes both gated calls check: shapes of src/kernels/kernel.ts's RecurrenceArgs.
struct GatedShape {
  int64_t L, N, H, P, outStride, outOffset;
  bool lstm, reverse;
  int32_t* lengths;
  size_t nlen;
  int G() const { return lstm ? 4 : 3; }
  size_t outNeed() const { return L * N > 0 ? (size_t)((L * N - 1) * outStride + outOffset + P) : 0; }
  // a message when the sizes are inconsistent, else null
  const char* invalid(bool projection) const {
    if (P < 1 || P > H || (!projection && P != H) || (projection && !lstm)) return "P must be H, or below H with whr";
    if (outOffset + P > outStride) return "outOffset + P exceeds outStride";
    if (lengths && nlen < (size_t)N) return "lengths is shorter than N";
    for (int64_t n = 0; lengths && n < N; n++)
      if (lengths[n] < 0 || lengths[n] > L) return "a length is outside 0..L";
    return nullptr;
  }
};

napi_value GatedRecurrence(napi_env env, napi_callback_info info) {
  size_t argc = 19;
  napi_value a[19];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  const char* usage =
      "gatedRecurrence: expected (Float32Array out, hN, cN|null, pre, whh, h0, c0|null, whr|null, bhh|null, "
      "tape|null, L, N, H, P, outStride, outOffset, lstm, reverse, Int32Array lengths|null)";
  if (argc != 19) return throw_range(env, usage);
  float *out, *hN, *cN, *pre, *whh, *h0, *c0, *whr, *bhh, *tape;
  const float *whhPacked = nullptr, *whrPacked = nullptr;
  size_t nout, nhN, ncN, npre, nh0, nc0, nbhh, ntape;
  GatedShape s;
  if (!get_f32(env, a[0], &out, &nout, false) || !get_f32(env, a[1], &hN, &nhN, false) ||
      !get_f32(env, a[2], &cN, &ncN, true) || !get_f32(env, a[3], &pre, &npre, false) ||
      !get_f32(env, a[5], &h0, &nh0, false) || !get_f32(env, a[6], &c0, &nc0, true) ||
      !get_f32(env, a[8], &bhh, &nbhh, true) || !get_f32(env, a[9], &tape, &ntape, true) ||
      !get_int(env, a[10], &s.L) || !get_int(env, a[11], &s.N) || !get_int(env, a[12], &s.H) ||
      !get_int(env, a[13], &s.P) || !get_int(env, a[14], &s.outStride) || !get_int(env, a[15], &s.outOffset) ||
      napi_get_value_bool(env, a[16], &s.lstm) != napi_ok || napi_get_value_bool(env, a[17], &s.reverse) != napi_ok ||
      !get_i32_array(env, a[18], &s.lengths, &s.nlen) ||
      !get_weight(env, a[4], s.G(), s.G() * s.H, s.P, &whh, &whhPacked, false) ||
      !get_weight(env, a[7], 0, s.P, s.H, &whr, &whrPacked, true)) {
    return throw_range(env, usage);
  }
  const bool projected = whr != nullptr || whrPacked != nullptr;
  if (s.N == 0 || s.H == 0) return nullptr;
  if (const char* why = s.invalid(projected)) return throw_range(env, why);
  const int G = s.G();
  const size_t L = s.L, N = s.N, H = s.H, P = s.P, W = (G + 1) * H;
  if (nout < s.outNeed() || nhN < N * P || (s.lstm && cN && ncN < N * H) || npre < L * N * G * H || nh0 < N * P ||
      (s.lstm && c0 && nc0 < N * H) || (!s.lstm && bhh && nbhh < (size_t)G * H) || (tape && ntape < L * N * W)) {
    return throw_range(env, "gatedRecurrence: an array is shorter than L, N, H, P and the output stride require");
  }
  Owned own;
  float* packHH = whhPacked ? nullptr : own.keep(alloc_floats((size_t)unit_blocks((int)H) * G * NR * P));
  float* packHR = whr ? own.keep(alloc_floats(panel_count((int)P) * NR * H)) : nullptr;
  float* hbuf = own.keep(alloc_floats(2 * N * P));
  float* c = s.lstm ? own.keep(alloc_floats(N * H)) : nullptr;
  float* hh = projected ? own.keep(static_cast<float*>(std::calloc(N * H, sizeof(float)))) : nullptr;
  if (!own.ok()) return throw_range(env, "gatedRecurrence: out of memory");
  if (packHH) pack_gated(packHH, whh, G, (int)H, (int)P);
  if (packHR) pack_panels(packHR, whr, (int)P, (int)H);
  const float* Bp = whhPacked ? whhPacked : packHH;
  const float* Bpr = whrPacked ? whrPacked : packHR;
  if (c) {
    for (size_t i = 0; i < N * H; i++) c[i] = c0 ? c0[i] : 0.0f;
  }
  if (projected) std::memcpy(hbuf, h0, N * P * sizeof(float));
  GatedForward f;
  f.G = G, f.L = (int)L, f.N = (int)N, f.H = (int)H, f.P = (int)P, f.reverse = s.reverse, f.lengths = s.lengths;
  f.out = out + s.outOffset, f.outStride = (size_t)s.outStride, f.pre = pre, f.h0 = h0;
  f.bhh = s.lstm ? nullptr : bhh, f.tape = tape, f.Bp = Bp, f.Bpr = Bpr;
  f.hbuf[0] = hbuf, f.hbuf[1] = hbuf + N * P, f.c = c, f.hh = hh;
  if (!run_gated(f)) return throw_range(env, "gatedRecurrence: out of memory");
  std::memmove(hN, f.last(), N * P * sizeof(float));
  if (s.lstm && cN) std::memcpy(cN, c, N * H * sizeof(float));
  return nullptr;
}

napi_value GatedRecurrenceBackward(napi_env env, napi_callback_info info) {
  size_t argc = 24;
  napi_value a[24];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  const char* usage =
      "gatedRecurrenceBackward: expected (Float32Array dpre, dh0, dc0|null, dwhh, dwhr|null, dbhh|null, dout|null, "
      "dhN|null, dcN|null, out, h0, c0|null, whh, whr|null, tape, L, N, H, P, outStride, outOffset, lstm, reverse, "
      "Int32Array lengths|null)";
  if (argc != 24) return throw_range(env, usage);
  float *dpre, *dh0, *dc0, *dwhh, *dwhr, *dbhh, *dout, *dhN, *dcN, *out, *h0, *c0, *whh, *whr, *tape;
  size_t ndpre, ndh0, ndc0, ndwhh, ndwhr, ndbhh, ndout, ndhN, ndcN, nout, nh0, nc0, nwhh, nwhr, ntape;
  GatedShape s;
  if (!get_f32(env, a[0], &dpre, &ndpre, false) || !get_f32(env, a[1], &dh0, &ndh0, false) ||
      !get_f32(env, a[2], &dc0, &ndc0, true) || !get_f32(env, a[3], &dwhh, &ndwhh, false) ||
      !get_f32(env, a[4], &dwhr, &ndwhr, true) || !get_f32(env, a[5], &dbhh, &ndbhh, true) ||
      !get_f32(env, a[6], &dout, &ndout, true) || !get_f32(env, a[7], &dhN, &ndhN, true) ||
      !get_f32(env, a[8], &dcN, &ndcN, true) || !get_f32(env, a[9], &out, &nout, false) ||
      !get_f32(env, a[10], &h0, &nh0, false) || !get_f32(env, a[11], &c0, &nc0, true) ||
      !get_f32(env, a[12], &whh, &nwhh, false) || !get_f32(env, a[13], &whr, &nwhr, true) ||
      !get_f32(env, a[14], &tape, &ntape, false) || !get_int(env, a[15], &s.L) || !get_int(env, a[16], &s.N) ||
      !get_int(env, a[17], &s.H) || !get_int(env, a[18], &s.P) || !get_int(env, a[19], &s.outStride) ||
      !get_int(env, a[20], &s.outOffset) || napi_get_value_bool(env, a[21], &s.lstm) != napi_ok ||
      napi_get_value_bool(env, a[22], &s.reverse) != napi_ok || !get_i32_array(env, a[23], &s.lengths, &s.nlen)) {
    return throw_range(env, usage);
  }
  if (s.N == 0 || s.H == 0) return nullptr;
  if (const char* why = s.invalid(whr != nullptr)) return throw_range(env, why);
  const int G = s.G();
  const size_t L = s.L, N = s.N, H = s.H, P = s.P, GH = G * H, W = (G + 1) * H, LN = L * N;
  const bool lstm = s.lstm;
  if (nout < s.outNeed() || (dout && ndout < s.outNeed()) || ndpre < LN * GH || ndh0 < N * P ||
      (lstm && dc0 && ndc0 < N * H) || ndwhh < GH * P || (whr && (nwhr < P * H || (dwhr && ndwhr < P * H))) ||
      (!lstm && dbhh && ndbhh < GH) || (dhN && ndhN < N * P) || (lstm && dcN && ndcN < N * H) || nh0 < N * P ||
      (lstm && c0 && nc0 < N * H) || nwhh < GH * P || ntape < LN * W) {
    return throw_range(env,
                       "gatedRecurrenceBackward: an array is shorter than L, N, H, P and the output stride require");
  }
  if (L == 0) {  // no step: the state's gradients pass through
    for (size_t i = 0; dhN && i < N * P; i++) dh0[i] += dhN[i];
    for (size_t i = 0; lstm && dc0 && dcN && i < N * H; i++) dc0[i] += dcN[i];
    return nullptr;
  }
  // The LSTM's gates' gradients are its d pre: they go straight into dpre when it starts at zero (as the stack gives
  // it), else into a buffer added to it at the end. The GRU's (with dn r) are not: they always have their own.
  bool zero = lstm;
  for (size_t i = 0; zero && i < LN * GH; i++) zero = dpre[i] == 0.0f;
  Owned own;
  float* Z = zero ? dpre : own.keep(alloc_floats(LN * GH));
  float* Bp = own.keep(alloc_floats(panel_count((int)P) * NR * GH));
  float* Bpr = whr ? own.keep(alloc_floats(panel_count((int)H) * NR * P)) : nullptr;
  float* dh = own.keep(alloc_floats(N * P));
  double* dc = lstm ? own.keep(alloc_doubles(N * H)) : nullptr;
  double* dhz = lstm ? nullptr : own.keep(alloc_doubles(N * H));
  float* gh = whr ? own.keep(alloc_floats(LN * P)) : nullptr;
  float* hh = whr ? own.keep(alloc_floats(LN * H)) : nullptr;
  float* zeros = own.keep(static_cast<float*>(std::calloc(P, sizeof(float))));
  if (!own.ok()) return throw_range(env, "gatedRecurrenceBackward: out of memory");
  const float* whhc = whh;
  const float* whrc = whr;
  pack_panels_rows(Bp, [&](int k) { return whhc + (size_t)k * P; }, (int)GH, (int)P);
  if (Bpr) pack_panels_rows(Bpr, [&](int k) { return whrc + (size_t)k * H; }, (int)P, (int)H);
  GatedBackward b;
  b.G = G, b.L = (int)L, b.N = (int)N, b.H = (int)H, b.P = (int)P, b.reverse = s.reverse, b.lengths = s.lengths;
  b.stride = (size_t)s.outStride, b.out = out + s.outOffset, b.dout = dout ? dout + s.outOffset : nullptr;
  b.h0 = h0, b.c0 = lstm ? c0 : nullptr, b.tape = tape, b.Z = Z, b.dpre = lstm ? nullptr : dpre;
  b.dh = dh, b.dc = dc, b.dhz = dhz, b.gh = gh, b.hh = hh, b.Bp = Bp, b.Bpr = Bpr;
  b.start(dhN, lstm ? dcN : nullptr);
  if (!run_gated(b)) return throw_range(env, "gatedRecurrenceBackward: out of memory");
  for (size_t i = 0; i < N * P; i++) dh0[i] += dh[i];
  for (size_t i = 0; lstm && dc0 && i < N * H; i++) dc0[i] = (float)((double)dc0[i] + dc[i]);
  const float* o = b.out;
  const float* h0c = h0;
  const float* zc = zeros;
  const float* Zc = Z;
  const size_t stride = b.stride;
  const int Li = (int)L, Ni = (int)N, Pi = (int)P, rev = s.reverse;
  const int32_t* len = s.lengths;
  bool ok = grad_weight(
      dwhh, lstm ? nullptr : dbhh, nullptr, [=](int m) { return Zc + (size_t)m * GH; },
      [=](int m) { return prev_state_row(o, stride, h0c, zc, Li, Ni, Pi, rev, len, m); }, (int)LN, (int)GH, Pi);
  if (ok && whr && dwhr) {
    const float* ghc = gh;
    const float* hhc = hh;
    ok = grad_weight(
        dwhr, nullptr, nullptr, [=](int m) { return ghc + (size_t)m * P; },
        [=](int m) { return hhc + (size_t)m * H; }, (int)LN, Pi, (int)H);
  }
  if (Z != dpre && lstm) {
    for (size_t i = 0; i < LN * GH; i++) dpre[i] += Z[i];
  }
  if (!ok) return throw_range(env, "gatedRecurrenceBackward: out of memory");
  return nullptr;
}

// gatedSplit(lstm, N, H, P): gated_split's answer, [threads, blocks, team], for such a recurrence, forward and backward alike (both have
// max(H's unit blocks, P's panels) parts per substep), for tests to see that their shapes are shared as they say.
napi_value GatedSplit(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  bool lstm = false;
  int64_t N, H, P;
  if (argc != 4 || napi_get_value_bool(env, a[0], &lstm) != napi_ok || !get_int(env, a[1], &N) ||
      !get_int(env, a[2], &H) || !get_int(env, a[3], &P) || P > H) {
    return throw_range(env, "gatedSplit: expected (lstm, N, H, P <= H)");
  }
  const bool proj = P < H;
  const int U = unit_blocks((int)H), Q = proj ? (int)panel_count((int)P) : 0;
  return split_value(env, gated_split(N, lstm ? 4 : 3, H, P, proj, U > Q ? U : Q));
}

// gatedLayersTakes(lstm, K, N, H): gated_layers_take, for the caller to ask before it makes any buffer.
napi_value GatedLayersTakes(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  bool lstm = false;
  int64_t K, N, H;
  if (argc != 4 || napi_get_value_bool(env, a[0], &lstm) != napi_ok || !get_int(env, a[1], &K) ||
      !get_int(env, a[2], &N) || !get_int(env, a[3], &H)) {
    return throw_range(env, "gatedLayersTakes: expected (lstm, K, N, H)");
  }
  napi_value result;
  napi_get_boolean(env, gated_layers_take(lstm ? 4 : 3, K, N, H), &result);
  return result;
}

// gatedLayers(...): true when it ran, false when it declines (gated_layers_take), having written nothing.
napi_value GatedLayers(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value a[17];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  const char* usage =
      "gatedLayers: expected (Float32Array[] outs, hN, cN|null, x, h0, c0|null, Float32Array[] wih, whh, "
      "(Float32Array|null)[] bih, bhh, Float32Array[]|null tapes, L, N, I, H, lstm, Int32Array lengths|null)";
  if (argc != 17) return throw_range(env, usage);
  float *hN, *cN, *x, *h0, *c0;
  size_t nhN, ncN, nx, nh0, nc0, nlen;
  int32_t* lengths;
  int64_t L, N, I, H;
  bool lstm = false;
  uint32_t K = 0;
  bool isArray = false;
  napi_valuetype tapesType;
  if (napi_is_array(env, a[0], &isArray) != napi_ok || !isArray || napi_get_array_length(env, a[0], &K) != napi_ok ||
      K == 0 || K > 4096 || !get_f32(env, a[1], &hN, &nhN, false) || !get_f32(env, a[2], &cN, &ncN, true) ||
      !get_f32(env, a[3], &x, &nx, false) || !get_f32(env, a[4], &h0, &nh0, false) ||
      !get_f32(env, a[5], &c0, &nc0, true) || napi_typeof(env, a[10], &tapesType) != napi_ok ||
      !get_int(env, a[11], &L) || !get_int(env, a[12], &N) || !get_int(env, a[13], &I) || !get_int(env, a[14], &H) ||
      napi_get_value_bool(env, a[15], &lstm) != napi_ok || !get_i32_array(env, a[16], &lengths, &nlen)) {
    return throw_range(env, usage);
  }
  const int G = lstm ? 4 : 3;
  const size_t NH = (size_t)(N * H), LNH = (size_t)L * NH, GH = (size_t)G * H;
  const bool recorded = tapesType != napi_null && tapesType != napi_undefined;
  std::vector<float*> outs(K), wih(K), whh(K), bih(K), bhh(K), tapes(K);
  std::vector<const float*> wihPacked(K), whhPacked(K);
  if (!get_f32_list(env, a[0], K, outs.data(), LNH, LNH, false) ||
      !get_weight_list(env, a[6], K, 0, (int64_t)GH, I, H, wih.data(), wihPacked.data()) ||
      !get_weight_list(env, a[7], K, G, (int64_t)GH, H, H, whh.data(), whhPacked.data()) ||
      !get_f32_list(env, a[8], K, bih.data(), GH, GH, true) || !get_f32_list(env, a[9], K, bhh.data(), GH, GH, true) ||
      (recorded && !get_f32_list(env, a[10], K, tapes.data(), LNH * (G + 1), LNH * (G + 1), false))) {
    return throw_range(env, "gatedLayers: expected arrays of K Float32Arrays as long as L, N, I and H require");
  }
  if (nhN < K * NH || nh0 < K * NH || nx < (size_t)(L * N * I) || (lstm && cN && ncN < K * NH) ||
      (lstm && c0 && nc0 < K * NH) || (lengths && nlen < (size_t)N)) {
    return throw_range(env, "gatedLayers: an array is shorter than L, N, I, H and the layer count require");
  }
  for (int64_t n = 0; lengths && n < N; n++)
    if (lengths[n] < 0 || lengths[n] > L) return throw_range(env, "gatedLayers: a length is outside 0..L");
  napi_value result;
  const bool take = gated_layers_take(G, K, N, H);
  napi_get_boolean(env, take, &result);
  if (!take) return result;
  std::memmove(hN, h0, K * NH * sizeof(float));
  for (size_t i = 0; lstm && cN && i < K * NH; i++) cN[i] = c0 ? c0[i] : 0.0f;
  if (L == 0 || N == 0 || H == 0) return result;
  // chunks of about 16 rows, as layers
  const int CH = N >= 16 ? 1 : (int)(16 / N);
  Owned own;
  std::vector<float*> Bih(K), Bhh(K);
  for (uint32_t k = 0; k < K; k++) {
    // prepared weights are read as they are (the job packs only the arrays)
    Bih[k] = wihPacked[k] ? const_cast<float*>(wihPacked[k])
                          : own.keep(alloc_floats(panel_count((int)GH) * NR * (size_t)(I > H ? I : H)));
    Bhh[k] = whhPacked[k] ? const_cast<float*>(whhPacked[k]) : own.keep(alloc_floats((size_t)unit_blocks((int)H) * G * NR * H));
  }
  // one thread per layer, up to the thread count; each with its own work buffers
  const int nt = threads_for((int)K, pool.threads.load(std::memory_order_relaxed));
  std::vector<float*> work(nt);
  for (int i = 0; i < nt; i++) work[i] = own.keep(alloc_floats(gated_layers_work(CH, (int)N, G, (int)H)));
  std::unique_ptr<Progress[]> progress(new (std::nothrow) Progress[K]);
  if (!own.ok() || !progress) return throw_range(env, "gatedLayers: out of memory");
  GatedLayersJob job;
  GatedLayersPlan& p = job.plan;
  p.x = x, p.outs = outs.data(), p.hN = hN, p.cN = lstm ? cN : nullptr, p.h0 = h0, p.c0 = lstm ? c0 : nullptr;
  p.wih = wih.data(), p.whh = whh.data(), p.bih = bih.data(), p.bhh = bhh.data();
  p.tapes = recorded ? tapes.data() : nullptr, p.Bih = Bih.data(), p.Bhh = Bhh.data();
  p.work = work.data();
  p.L = (int)L, p.N = (int)N, p.I = (int)I, p.H = (int)H, p.K = (int)K, p.CH = CH, p.G = G;
  p.lengths = lengths, p.progress = progress.get();
  run(gated_layers_job, &job, nt);
  return result;
}

void register_gated(napi_env env, napi_value exports) {
  napi_value v;
  napi_create_function(env, "gatedLayers", NAPI_AUTO_LENGTH, GatedLayers, nullptr, &v);
  napi_set_named_property(env, exports, "gatedLayers", v);
  napi_create_function(env, "gatedLayersTakes", NAPI_AUTO_LENGTH, GatedLayersTakes, nullptr, &v);
  napi_set_named_property(env, exports, "gatedLayersTakes", v);
  napi_create_function(env, "gatedSplit", NAPI_AUTO_LENGTH, GatedSplit, nullptr, &v);
  napi_set_named_property(env, exports, "gatedSplit", v);
  napi_create_function(env, "gatedRecurrence", NAPI_AUTO_LENGTH, GatedRecurrence, nullptr, &v);
  napi_set_named_property(env, exports, "gatedRecurrence", v);
  napi_create_function(env, "gatedRecurrenceBackward", NAPI_AUTO_LENGTH, GatedRecurrenceBackward, nullptr, &v);
  napi_set_named_property(env, exports, "gatedRecurrenceBackward", v);
}
