/**
 * The float64 layer wavefront (native/f64_jobs.h's layers64_job): a unidirectional float64 stack of any cell in
 * one call, layer k on one thread a chunk of steps behind layer k-1 on another. As the float32 wavefront's
 * (test/kernel-layers.test.ts, kernel-gated-layers.test.ts), its promise is exactness: the very floats of the
 * float64 `linear` then `recurrence` layer by layer, outputs, final states, the tapes, and so the gradients of a
 * recorded forward; at 2, 3, 4 and 8 threads, with lengths and without biases.
 */
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { type DirectionWeights, gatesOf, type Kernel, type Mode } from '../src/kernels/kernel.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { Generator } from '../src/random.js';
import { type StackDims, type StackTape, stackForward } from '../src/rnn/stack.js';
import { stackBackward } from '../src/rnn/stack-backward.js';
import { assertSameBits } from './helpers/bits.js';
import { countingLayers, oneChunk } from './helpers/kernels.js';
import { int } from './helpers/random.js';
import { atThreads, THREAD_COUNTS } from './helpers/threads.js';

interface Case {
  dims: StackDims;
  mode: Mode;
  lengths: Int32Array | null;
  x: Float64Array;
  h0: Float64Array;
  c0: Float64Array | null;
  weights: DirectionWeights[][];
}

function uniform64(g: Generator, n: number, scale: number): Float64Array {
  const a = new Float64Array(n);
  g.uniform(a, -scale, scale);
  return a;
}

function makeCase(g: Generator, dims: StackDims, mode: Mode, lengths: Int32Array | null, bias: boolean): Case {
  const { L, N, I, H, K } = dims;
  const G = gatesOf(mode);
  const s = 1 / Math.sqrt(H);
  const weights = Array.from({ length: K }, (_, k) => [
    {
      wih: uniform64(g, G * H * (k === 0 ? I : H), s),
      whh: uniform64(g, G * H * H, s),
      bih: bias ? uniform64(g, G * H, s) : null,
      bhh: bias ? uniform64(g, G * H, s) : null,
    },
  ]);
  const c0 = mode === 'LSTM' ? uniform64(g, K * N * H, 1) : null;
  return { dims, mode, lengths, x: uniform64(g, L * N * I, 1), h0: uniform64(g, K * N * H, 1), c0, weights };
}

function forward(kernel: Kernel, c: Case, tape: StackTape | null = null) {
  const { L, N, H, K } = c.dims;
  const output = new Float64Array(L * N * H);
  const hN = new Float64Array(K * N * H);
  const cN = c.mode === 'LSTM' ? new Float64Array(K * N * H) : null;
  stackForward(kernel, output, hN, cN, c.x, c.h0, c.c0, c.weights, c.dims, c.mode, c.lengths, null, tape);
  return { output, hN, cN };
}

/** Every gradient of a recorded forward and a backward of fixed upstream gradients. */
function gradients(kernel: Kernel, k: Case): Float64Array[] {
  const tape: StackTape = { layerOutputs: [], masks: [], cells: [] };
  forward(kernel, k, tape);
  const { L, N, I, H, K } = k.dims;
  const G = gatesOf(k.mode);
  const dx = new Float64Array(L * N * I);
  const dh0 = new Float64Array(K * N * H);
  const dc0 = k.mode === 'LSTM' ? new Float64Array(K * N * H) : null;
  const dw = k.weights.map((layer) =>
    layer.map((w) => ({
      wih: new Float64Array(w.wih.length),
      whh: new Float64Array(w.whh.length),
      bih: new Float64Array(G * H),
      bhh: new Float64Array(G * H),
    })),
  );
  const r = new Generator(5);
  const [dOut, dhN] = [uniform64(r, L * N * H, 1), uniform64(r, K * N * H, 1)];
  const dcN = k.mode === 'LSTM' ? uniform64(r, K * N * H, 1) : null;
  // biome-ignore format: stackBackward's argument order
  stackBackward(kernel, dx, dh0, dc0, dw, dOut, dhN, dcN, tape, k.x, k.h0, k.c0, k.weights, k.dims, k.mode, k.lengths);
  return [dx, dh0, ...(dc0 ? [dc0] : []), ...dw.flatMap((l) => l.flatMap((w) => [w.wih, w.whh, w.bih, w.bhh]))];
}

const MODES: Mode[] = ['RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU'];
const cores = cpus().length;

describe('the native kernel runs a unidirectional float64 stack in one call', {
  skip: !nativeAddon ? 'no native addon' : cores < 2 ? `one core (os.cpus() counts ${cores})` : false,
}, () => {
  const api = nativeAddon as NonNullable<typeof nativeAddon>;
  const native = createNativeKernel(api, { exactBelow: 0 });
  const { layers: _, ...layerByLayer } = native; // the same kernel without `layers`
  const loaded = api.threads();
  before(() => api.threads(2));
  after(() => api.threads(loaded));

  for (const n of THREAD_COUNTS) {
    test(`at ${n} threads it writes layer by layer's outputs and final states, on 40 stacks of every cell`, () => {
      const g = new Generator(4242);
      const counted = countingLayers(native);
      for (let c = 0; c < 40; c++) {
        const mode = MODES[c % 4] as Mode;
        const N = int(g, 1, 6);
        const dims = { L: oneChunk(N) + int(g, 1, 30), N, I: int(g, 1, 40), H: int(g, 1, 48), K: int(g, 2, 4), D: 1 };
        const lengths = c % 3 === 1 ? Int32Array.from({ length: N }, () => int(g, 1, dims.L)) : null;
        const k = makeCase(g, dims, mode, lengths, c % 5 !== 2);
        const got = atThreads(n, () => forward(counted.kernel, k));
        const want = atThreads(1, () => forward(layerByLayer, k));
        const what = `(${mode}, L ${dims.L}, N ${N}, I ${dims.I}, H ${dims.H}, K ${dims.K}${lengths ? ', lengths' : ''})`;
        assertSameBits(`${what} output`, got.output, want.output, 'layer by layer');
        assertSameBits(`${what} h_n`, got.hN, want.hN, 'layer by layer');
        if (got.cN) assertSameBits(`${what} c_n`, got.cN, want.cN, 'layer by layer');
      }
      assert.equal(counted.ran(), 40, 'stacks the one call ran');
    });
  }

  for (const mode of MODES) {
    test(`a recorded ${mode} forward through it (its tapes) gives the same gradients`, () => {
      const k = makeCase(
        new Generator(11),
        { L: 30, N: 3, I: 10, H: 24, K: 3, D: 1 },
        mode,
        Int32Array.from([30, 17, 4]),
        true,
      );
      const counted = countingLayers(native);
      const [got, want] = [gradients(counted.kernel, k), gradients(layerByLayer, k)];
      assert.equal(counted.ran(), 1, 'the recorded forward ran as one call');
      got.forEach((a, i) => assertSameBits(`gradient ${i}`, a, want[i] as Float64Array, 'layer by layer'));
    });
  }
});
