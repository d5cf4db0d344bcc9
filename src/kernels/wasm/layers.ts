/**
 * `Kernel.layers` for the threaded WebAssembly kernel: a unidirectional stack without projection as the layer
 * wavefront of native/jobs.h (RNN) or gated_jobs.h (LSTM, GRU), layer k on one thread a chunk of steps behind
 * layer k-1 on another. Taken on the native kernel's rule (../native.ts): the module decides (two threads or more,
 * two layers or more, steps too small to share), every buffer is float32 and the problem is not tiny; otherwise it
 * declines, having written nothing, and the layers run one by one. The floats are those of the layer-by-layer calls.
 */
import type { FloatArray } from '../../dtype.js';
import type { LayersArgs } from '../kernel.js';
import { Layout, type WasmExports } from './memory.js';

const f32 = (...arrays: (FloatArray | null)[]) => arrays.every((v) => v === null || v instanceof Float32Array);

export function wasmLayers(w: WasmExports, a: LayersArgs, exactBelow: number): boolean {
  const { layers, gated_layers: gatedLayers, layers_takes: takes, gated_layers_takes: gatedTakes } = w;
  if (!layers || !gatedLayers || !takes || !gatedTakes) return false;
  const { hN, x, h0, weights, L, N, I, H, lengths } = a;
  const K = weights.length;
  const gated = a.mode === 'LSTM' || a.mode === 'GRU';
  const lstm = a.mode === 'LSTM' ? 1 : 0;
  if (L * N * H < exactBelow || !(gated ? gatedTakes(lstm, K, N, H) : takes(K, N, H))) return false;
  const [c0, cN] = lstm ? [a.c0 ?? null, a.cN ?? null] : [null, null];
  if (!f32(hN, x, h0, c0, cN) || !weights.every((d) => f32(d.wih, d.whh, d.bih, d.bhh))) return false;
  const outs = weights.map((_, k) => a.layerOutput(k));
  const layerTape = gated ? a.layerTape : null;
  const tapes = layerTape ? weights.map((_, k) => layerTape(k)) : null;
  if (!f32(...outs) || (tapes && !f32(...tapes))) return false;
  const G = a.mode === 'LSTM' ? 4 : a.mode === 'GRU' ? 3 : 1;
  const GH = G * H;
  const [LNH, KNH, tapeLength] = [L * N * H, K * N * H, L * N * (G + 1) * H];
  const m = new Layout(w);
  const pouts = outs.map(() => m.take(4 * LNH));
  const ptapes = tapes ? tapes.map(() => m.take(4 * tapeLength)) : [];
  const [phN, pcN, px, ph0, pc0] = [
    m.take(4 * KNH),
    m.array(cN, KNH),
    m.take(4 * L * N * I),
    m.take(4 * KNH),
    m.array(c0, KNH),
  ];
  const pw = weights.map((d, k) => ({
    wih: m.take(4 * GH * (k === 0 ? I : H)),
    whh: m.take(4 * GH * H),
    bih: m.array(d.bih, GH),
    bhh: m.array(d.bhh, GH),
  }));
  // six tables of K addresses: outs, wih, whh, bih, bhh, tapes
  const tables = m.take(4 * 6 * K);
  const plen = lengths ? m.take(4 * N) : 0;
  m.commit();
  m.put(px, x, L * N * I);
  m.put(ph0, h0, KNH);
  m.put(pc0, c0, KNH);
  weights.forEach((d, k) => {
    const p = pw[k] as (typeof pw)[number];
    m.put(p.wih, d.wih, GH * (k === 0 ? I : H));
    m.put(p.whh, d.whh, GH * H);
    m.put(p.bih, d.bih, GH);
    m.put(p.bhh, d.bhh, GH);
  });
  // a tape's padded rows (sequences shorter than L) must survive the round trip, as in ./wasm.ts
  tapes?.forEach((t, k) => m.put(ptapes[k] as number, t, tapeLength));
  const table = m.i32(tables, 6 * K);
  for (let k = 0; k < K; k++) {
    const p = pw[k] as (typeof pw)[number];
    [pouts[k], p.wih, p.whh, p.bih, p.bhh, ptapes[k] ?? 0].forEach((at, i) => {
      table[i * K + k] = at as number;
    });
  }
  if (lengths) m.i32(plen, N).set(lengths.subarray(0, N));
  const [tOuts, tWih, tWhh, tBih, tBhh, tTapes] = [0, 1, 2, 3, 4, 5].map((i) => tables + 4 * i * K) as number[];
  const ran = gated
    ? // biome-ignore format: the C argument order
      gatedLayers(tOuts as number, phN, pcN, px, ph0, pc0, tWih as number, tWhh as number, tBih as number, tBhh as number, tapes ? (tTapes as number) : 0, L, N, I, H, K, lstm, plen)
    : // biome-ignore format: the C argument order
      layers(tOuts as number, phN, px, ph0, tWih as number, tWhh as number, tBih as number, tBhh as number, L, N, I, H, K, a.mode === 'RNN_RELU' ? 1 : 0, plen);
  if (!ran) throw new RangeError('layers: out of WebAssembly memory');
  outs.forEach((o, k) => m.get(pouts[k] as number, o, LNH));
  tapes?.forEach((t, k) => m.get(ptapes[k] as number, t, tapeLength));
  m.get(phN, hN, KNH);
  m.get(pcN, cN, KNH);
  return true;
}
