/**
 * The WebAssembly kernels copy `out` into their memory only when the call shares it with the other direction
 * (outStride > P): a call of one direction writes every element itself (0 at inactive steps), over whatever the
 * memory held from the call before, and the other direction's half of a shared `out` comes back unchanged.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Mode, RecurrenceArgs } from '../src/kernels/kernel.js';
import { tapeWidth } from '../src/kernels/kernel.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { Generator } from '../src/random.js';
import { uniform } from './helpers/random.js';

const [L, N, H] = [5, 3, 8];

function args(mode: Mode, D: number, offset: number, lengths: Int32Array | null, seed: number): RecurrenceArgs {
  const g = new Generator(seed);
  const G = mode === 'LSTM' ? 4 : mode === 'GRU' ? 3 : 1;
  const f32 = (n: number) => uniform(g, n, 0.5);
  return {
    L,
    N,
    H,
    outStride: D * H,
    outOffset: offset,
    mode,
    reverse: offset > 0,
    lengths,
    out: f32(L * N * D * H),
    hN: new Float32Array(N * H),
    pre: f32(L * N * G * H),
    whh: f32(G * H * H),
    h0: f32(N * H),
    ...(mode === 'LSTM' ? { c0: f32(N * H), cN: new Float32Array(N * H) } : {}),
    ...(mode === 'GRU' ? { bhh: f32(G * H) } : {}),
    tape: mode === 'RNN_TANH' ? null : new Float32Array(L * N * tapeWidth(mode, H)),
  };
}

describe('the WebAssembly kernel round trip of out', { skip: wasmExports ? false : 'no WebAssembly SIMD' }, () => {
  const kernel = createWasmKernel(wasmExports!, { exactBelow: 0 });
  for (const mode of ['RNN_TANH', 'LSTM', 'GRU'] as Mode[]) {
    test(`${mode}: one direction writes all of out, 0 at inactive steps, over the last call's memory`, () => {
      kernel.recurrence(args(mode, 1, 0, null, 1)); // leaves its output in the module's memory
      const lengths = Int32Array.from([L, 2, 1]);
      const a = args(mode, 1, 0, lengths, 2);
      a.out.fill(Number.NaN);
      kernel.recurrence(a);
      for (let t = 0; t < L; t++) {
        for (let n = 0; n < N; n++) {
          for (let j = 0; j < H; j++) {
            const v = a.out[(t * N + n) * H + j] as number;
            if (t >= (lengths[n] as number)) assert.equal(v, 0, `out[${t}, ${n}, ${j}]`);
            else assert.ok(Number.isFinite(v) && v !== 0, `out[${t}, ${n}, ${j}] = ${v}`);
          }
        }
      }
    });

    test(`${mode}: the other direction's half of a shared out comes back unchanged`, () => {
      const a = args(mode, 2, H, null, 3);
      const before = a.out.slice();
      kernel.recurrence(a);
      for (let i = 0; i < L * N; i++) {
        for (let j = 0; j < H; j++) assert.equal(a.out[i * 2 * H + j], before[i * 2 * H + j], `row ${i}, ${j}`);
      }
    });
  }
});
