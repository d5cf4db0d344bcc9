/**
 * `Kernel.layers` for the LSTM and GRU: the native kernel runs a unidirectional stack without projection as a
 * wavefront (native/gated_jobs.h: layer k on one core a chunk of steps behind layer k-1 on the other), as it does
 * the RNN's (test/kernel-layers.test.ts). Its promise is the same exactness: the very floats that `linear` then the
 * fused `recurrence` write layer by layer, the tapes a recorded forward keeps included. So each test runs
 * `stackForward` with the native kernel and with the same kernel without `layers`, and asks for identical bits.
 *
 * With one thread `layers` declines every stack: the tests set the addon to two threads (which it takes wherever
 * there are two cores) and count the stacks the one call ran, skipping only on a one-core machine.
 */
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { type DirectionWeights, gatesOf, type Kernel, tapeWidth } from '../src/kernels/kernel.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { Generator } from '../src/random.js';
import { type StackDims, type StackTape, stackForward } from '../src/rnn/stack.js';
import { stackBackward } from '../src/rnn/stack-backward.js';
import { assertSameBits } from './helpers/bits.js';
import { countingLayers, oneChunk } from './helpers/kernels.js';
import { int, uniform } from './helpers/random.js';

type Gated = 'LSTM' | 'GRU';

interface Case {
  dims: StackDims;
  mode: Gated;
  lengths: Int32Array | null;
  x: Float32Array;
  h0: Float32Array;
  c0: Float32Array | null;
  weights: DirectionWeights[][];
}

function makeCase(g: Generator, dims: StackDims, mode: Gated, lengths: Int32Array | null, bias = true, c0 = true) {
  const { L, N, I, H, K } = dims;
  const G = gatesOf(mode);
  const s = 1 / Math.sqrt(H);
  const weights = Array.from({ length: K }, (_, k) => [
    {
      wih: uniform(g, G * H * (k === 0 ? I : H), s),
      whh: uniform(g, G * H * H, s),
      bih: bias ? uniform(g, G * H, s) : null,
      bhh: bias ? uniform(g, G * H, s) : null,
    },
  ]);
  const x = uniform(g, L * N * I, 1);
  const h0 = uniform(g, K * N * H, 1);
  return { dims, mode, lengths, x, h0, c0: mode === 'LSTM' && c0 ? uniform(g, K * N * H, 1) : null, weights };
}

function forward(kernel: Kernel, c: Case, tape: StackTape | null = null) {
  const { L, N, H, K } = c.dims;
  const output = new Float32Array(L * N * H);
  const hN = new Float32Array(K * N * H);
  const cN = c.mode === 'LSTM' ? new Float32Array(K * N * H) : null;
  stackForward(kernel, output, hN, cN, c.x, c.h0, c.c0, c.weights, c.dims, c.mode, c.lengths, null, tape);
  return { output, hN, cN };
}

function describeCase(c: Case): string {
  const { L, N, I, H, K } = c.dims;
  const lengths = c.lengths ? `, lengths [${[...c.lengths]}]` : '';
  return `(${c.mode}, L ${L}, N ${N}, I ${I}, H ${H}, K ${K}${lengths}${c.c0 ? ', c0' : ''})`;
}

const addon = nativeAddon;
const cores = cpus().length;
const needsTwoThreads = cores >= 2 ? false : `one core (os.cpus() counts ${cores}): with one thread layers declines`;

describe('the native kernel runs a unidirectional LSTM or GRU stack in one call', {
  skip: addon ? false : 'no native addon',
}, () => {
  const api = addon as NonNullable<typeof addon>;
  const native = createNativeKernel(api, { exactBelow: 0 });
  const { layers: _, ...layerByLayer } = native; // the same kernel without `layers`
  const loaded = api.threads();

  before(() => {
    if (cores >= 2) assert.equal(api.threads(2), 2, `the addon did not take 2 threads on ${cores} cores`);
  });
  after(() => {
    api.threads(loaded);
  });

  test('it writes the same outputs, final states and tapes as layer by layer, on 40 LSTM and GRU stacks', {
    skip: needsTwoThreads,
  }, () => {
    const g = new Generator(2026);
    const counted = countingLayers(native);
    for (let c = 0; c < 40; c++) {
      const mode: Gated = c % 2 === 0 ? 'LSTM' : 'GRU';
      const N = c % 4 < 2 ? 1 : int(g, 2, 9);
      const dims = {
        L: oneChunk(N) + int(g, 1, 40),
        N,
        I: int(g, 1, 40),
        H: c % 3 === 0 ? 16 * int(g, 1, 4) : int(g, 1, 70),
        K: int(g, 2, 4),
        D: 1,
      };
      const lengths = c % 5 === 1 ? Int32Array.from({ length: N }, () => int(g, 1, dims.L)) : null;
      const k = makeCase(g, dims, mode, lengths, c % 7 !== 3, c % 3 !== 2);
      const tapes = [0, 1].map((): StackTape => ({ layerOutputs: [], masks: [], cells: [] }));
      const got = forward(counted.kernel, k, c % 2 === 0 ? (tapes[0] as StackTape) : null);
      const want = forward(layerByLayer, k, c % 2 === 0 ? (tapes[1] as StackTape) : null);
      const what = describeCase(k);
      assertSameBits(`${what} output`, got.output, want.output, 'layer by layer');
      assertSameBits(`${what} h_n`, got.hN, want.hN, 'layer by layer');
      assertSameBits(`${what} c_n`, got.cN, want.cN, 'layer by layer');
      if (c % 2 === 0) {
        const [a, b] = tapes as [StackTape, StackTape];
        assert.equal(a.cells.length, dims.K, `${what}: a tape per layer`);
        a.cells.forEach((cell, i) => {
          assert.equal(cell?.length, dims.L * N * tapeWidth(mode, dims.H), `${what} tape ${i}`);
          assertSameBits(`${what} tape ${i}`, cell ?? null, b.cells[i] ?? null, 'layer by layer');
        });
        a.layerOutputs.forEach((o, i) =>
          assertSameBits(`${what} kept output ${i}`, o, b.layerOutputs[i] ?? null, 'layer by layer'),
        );
      }
    }
    assert.equal(counted.ran(), 40, 'stacks the one call ran');
  });

  for (const mode of ['LSTM', 'GRU'] as const) {
    test(`it gives the same ${mode} bits call after call (the two threads hand over chunks without a race)`, {
      skip: needsTwoThreads,
    }, () => {
      const k = makeCase(new Generator(7), { L: 100, N: 1, I: 32, H: 64, K: 3, D: 1 }, mode, null);
      const want = forward(layerByLayer, k);
      const counted = countingLayers(native);
      for (let i = 0; i < 200; i++) {
        const got = forward(counted.kernel, k);
        assertSameBits(`call ${i} output`, got.output, want.output, 'layer by layer');
        assertSameBits(`call ${i} h_n`, got.hN, want.hN, 'layer by layer');
        assertSameBits(`call ${i} c_n`, got.cN, want.cN, 'layer by layer');
      }
      assert.equal(counted.ran(), 200, 'calls the one call ran');
    });

    test(`a recorded ${mode} forward through it gives the same gradients`, { skip: needsTwoThreads }, () => {
      const g = new Generator(11);
      const k = makeCase(g, { L: 30, N: 3, I: 10, H: 24, K: 3, D: 1 }, mode, Int32Array.from([30, 17, 4]));
      const grads = (kernel: Kernel) => {
        const tape: StackTape = { layerOutputs: [], masks: [], cells: [] };
        forward(kernel, k, tape);
        const { L, N, I, H, K } = k.dims;
        const G = gatesOf(mode);
        const dx = new Float32Array(L * N * I);
        const dh0 = new Float32Array(K * N * H);
        const dc0 = mode === 'LSTM' ? new Float32Array(K * N * H) : null;
        const dw = k.weights.map((layer) =>
          layer.map((w) => ({
            wih: new Float32Array(w.wih.length),
            whh: new Float32Array(w.whh.length),
            bih: new Float32Array(G * H),
            bhh: new Float32Array(G * H),
          })),
        );
        const r = new Generator(5);
        const [dOut, dhN] = [uniform(r, L * N * H, 1), uniform(r, K * N * H, 1)];
        const dcN = mode === 'LSTM' ? uniform(r, K * N * H, 1) : null;
        // biome-ignore format: stackBackward's argument order
        stackBackward(kernel, dx, dh0, dc0, dw, dOut, dhN, dcN, tape, k.x, k.h0, k.c0, k.weights, k.dims, mode, k.lengths);
        const params = dw.flatMap((l) => l.flatMap((w) => [w.wih, w.whh, w.bih, w.bhh]));
        return [dx, dh0, ...(dc0 ? [dc0] : []), ...params] as Float32Array[];
      };
      const counted = countingLayers(native);
      const [got, want] = [grads(counted.kernel), grads(layerByLayer)];
      assert.equal(counted.ran(), 1, 'the recorded forward ran as one call');
      got.forEach((a, i) => assertSameBits(`gradient ${i}`, a, want[i] as Float32Array, 'layer by layer'));
    });
  }

  /** `layers` on a case with fresh buffers, counting the layer outputs and tapes it asked for. */
  function callLayers(kernel: Kernel, k: Case) {
    const { L, N, H, K } = k.dims;
    let asked = 0;
    const layerOutput = () => {
      asked++;
      return new Float32Array(L * N * H);
    };
    const layerTape = () => {
      asked++;
      return new Float32Array(L * N * tapeWidth(k.mode, H));
    };
    const weights = k.weights.map((l) => l[0] as DirectionWeights);
    const [hN, cN] = [new Float32Array(K * N * H), new Float32Array(K * N * H)];
    const { x, h0, c0, mode, lengths } = k;
    // biome-ignore format: one call
    const ran = kernel.layers?.({ ...k.dims, layerOutput, layerTape, hN, cN, x, h0, c0, weights, mode, lengths });
    return { ran, asked, untouched: hN.every((v) => v === 0) && cN.every((v) => v === 0) };
  }

  test('it declines steps the recurrence shares between the cores, before asking for any buffer', {
    skip: needsTwoThreads,
  }, () => {
    const g = new Generator(3);
    // N G H^2 = 2^19 with 12 rows or more: the recurrence splits the batch
    for (const [mode, N, H] of [
      ['LSTM', 32, 64],
      ['GRU', 12, 128],
    ] as const) {
      const k = makeCase(g, { L: 2, N, I: 8, H, K: 2, D: 1 }, mode, null);
      assert.deepEqual(callLayers(native, k), { ran: false, asked: 0, untouched: true }, describeCase(k));
      const below = makeCase(g, { L: 2, N: N - 1, I: 8, H, K: 2, D: 1 }, mode, null);
      assert.deepEqual(callLayers(native, below), { ran: true, asked: 4, untouched: false }, describeCase(below));
    }
  });

  test('with one thread it declines, and the layers run one by one', () => {
    const k = makeCase(new Generator(4), { L: 20, N: 1, I: 8, H: 32, K: 2, D: 1 }, 'LSTM', null);
    const before = api.threads();
    try {
      assert.equal(api.threads(1), 1);
      assert.deepEqual(callLayers(native, k), { ran: false, asked: 0, untouched: true });
      assertSameBits('output', forward(native, k).output, forward(layerByLayer, k).output, 'layer by layer');
    } finally {
      api.threads(before);
    }
    assert.equal(callLayers(native, k).ran, cores >= 2, 'with two threads it takes the same stack');
  });

  test('a projected LSTM, two directions or dropout keep the stack layer by layer', { skip: needsTwoThreads }, () => {
    const g = new Generator(9);
    const [L, N, I, H, P] = [20, 2, 4, 16, 8];
    /** Runs a two-layer stack of `mode` and says whether `layers` ran it. */
    const ran = (mode: Gated, D: number, P: number, dropout: number) => {
      const G = gatesOf(mode);
      const weights = Array.from({ length: 2 }, (_, k) =>
        Array.from({ length: D }, () => ({
          wih: uniform(g, G * H * (k === 0 ? I : D * P), 0.3),
          whh: uniform(g, G * H * P, 0.3),
          bih: uniform(g, G * H, 0.3),
          bhh: uniform(g, G * H, 0.3),
          whr: P < H ? uniform(g, P * H, 0.3) : null,
        })),
      );
      const counted = countingLayers(native);
      const lstm = mode === 'LSTM';
      const [output, hN] = [new Float32Array(L * N * D * P), new Float32Array(2 * D * N * P)];
      const [cN, c0] = lstm ? [new Float32Array(2 * D * N * H), uniform(g, 2 * D * N * H)] : [null, null];
      const drop = dropout > 0 ? { p: dropout, generator: new Generator(1) } : null;
      const dims = { L, N, I, H, K: 2, D, P };
      // biome-ignore format: one call
      stackForward(counted.kernel, output, hN, cN, uniform(g, L * N * I), uniform(g, 2 * D * N * P), c0, weights, dims, mode, null, drop, null);
      return counted.ran();
    };
    assert.equal(ran('LSTM', 1, H, 0), 1, 'the plain stack is one call');
    assert.equal(ran('LSTM', 1, P, 0), 0, 'a projected LSTM');
    assert.equal(ran('GRU', 2, H, 0), 0, 'a bidirectional GRU');
    assert.equal(ran('GRU', 1, H, 0.5), 0, 'a GRU with dropout');
  });
});
