/**
 * `Kernel.layers`, the whole unidirectional stack in one call (the native kernel runs it as a wavefront: layer k
 * on one thread following layer k-1 on another, chunk by chunk, on up to K threads). Its promise is exactness: it
 * writes the very floats that `linear` then `recurrence`, layer by layer, write, so everything the per-call
 * kernels are tested for carries over. So each test runs `stackForward` twice with the same kernel, once as is
 * and once with `layers` taken away, and asks for identical bits, on shapes that take the fused single-row path
 * (N = 1, tanh, H = 16..64) and the general one (N > 1, relu, lengths, H not a multiple of 16), with 2 to 4 layers,
 * at 2, 3, 4 and 8 threads.
 *
 * With one thread `layers` declines every stack, and both runs would be layer by layer: so the tests set the
 * thread count (`setThreads`; more threads than cores are allowed, and take turns) and count the stacks the one
 * call ran.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DirectionWeights, Kernel } from '../src/kernels/kernel.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { getThreads, setThreads } from '../src/kernels/threads.js';
import { Generator } from '../src/random.js';
import { type StackDims, type StackTape, stackForward } from '../src/rnn/stack.js';
import { stackBackward } from '../src/rnn/stack-backward.js';
import type { FloatArray } from '../src/tensor.js';
import { assertSameBits } from './helpers/bits.js';
import { countingLayers, oneChunk } from './helpers/kernels.js';
import { int, uniform } from './helpers/random.js';
import { atThreads, THREAD_COUNTS } from './helpers/threads.js';

interface Case {
  dims: StackDims;
  mode: 'RNN_TANH' | 'RNN_RELU';
  lengths: Int32Array | null;
  x: Float32Array;
  h0: Float32Array;
  weights: DirectionWeights[][];
}

function makeCase(
  g: Generator,
  dims: StackDims,
  mode: 'RNN_TANH' | 'RNN_RELU',
  lengths: Int32Array | null,
  bias = true,
) {
  const { L, N, I, H, K } = dims;
  const s = 1 / Math.sqrt(H);
  const weights = Array.from({ length: K }, (_, k) => [
    {
      wih: uniform(g, H * (k === 0 ? I : H), s),
      whh: uniform(g, H * H, s),
      bih: bias ? uniform(g, H, s) : null,
      bhh: bias ? uniform(g, H, s) : null,
    },
  ]);
  return { dims, mode, lengths, x: uniform(g, L * N * I, 1), h0: uniform(g, K * N * H, 1), weights };
}

function forward(kernel: Kernel, c: Case, tape: StackTape | null = null) {
  const { L, N, H, K } = c.dims;
  const output = new Float32Array(L * N * H);
  const hN = new Float32Array(K * N * H);
  stackForward(kernel, output, hN, null, c.x, c.h0, null, c.weights, c.dims, c.mode, c.lengths, null, tape);
  return { output, hN };
}

function describeCase(c: Case): string {
  const { L, N, I, H, K } = c.dims;
  const lengths = c.lengths ? `, lengths [${[...c.lengths]}]` : '';
  return `(L ${L}, N ${N}, I ${I}, H ${H}, K ${K}, ${c.mode}${lengths})`;
}

const addon = nativeAddon;
/** The thread counts the wavefront runs at. */
const COUNTS = THREAD_COUNTS;

describe('the native kernel runs a unidirectional stack in one call', {
  skip: addon ? false : 'no native addon',
}, () => {
  const api = addon as NonNullable<typeof addon>;
  const native = createNativeKernel(api, { exactBelow: 0 });
  const { layers: _, ...layerByLayer } = native; // the same kernel without `layers`
  const loaded = getThreads();

  before(() => {
    setThreads(2);
    assert.equal(api.threads(), 2, 'the addon has the thread count set');
  });
  after(() => {
    setThreads(loaded);
  });

  for (const n of COUNTS) {
    test(`at ${n} threads it writes the same outputs and final states as linear then recurrence layer by layer, on 60 stacks`, () => {
      const g = new Generator(2024);
      const counted = countingLayers(native);
      for (let c = 0; c < 60; c++) {
        const fused = c % 2 === 0; // N = 1, tanh, H a multiple of 16 up to 64: the single-row path
        const N = fused ? 1 : int(g, 1, 6);
        const H = fused ? 16 * int(g, 1, 4) : int(g, 1, 70);
        const dims = { L: oneChunk(N) + int(g, 1, 45), N, I: int(g, 1, 50), H, K: int(g, 2, 4), D: 1 };
        const mode = fused || c % 3 !== 1 ? 'RNN_TANH' : 'RNN_RELU';
        const lengths = !fused && c % 5 === 1 ? Int32Array.from({ length: N }, () => int(g, 1, dims.L)) : null;
        const k = makeCase(g, dims, mode, lengths, c % 7 !== 3);
        const got = atThreads(n, () => forward(counted.kernel, k));
        const want = atThreads(1, () => forward(layerByLayer, k));
        assertSameBits(`${describeCase(k)} output`, got.output, want.output, 'layer by layer');
        assertSameBits(`${describeCase(k)} h_n`, got.hN, want.hN, 'layer by layer');
      }
      assert.equal(counted.ran(), 60, 'stacks the one call ran');
    });
  }

  for (const n of [2, 8]) {
    test(`at ${n} threads it gives the same bits call after call (the threads hand over chunks without a race)`, () => {
      const g = new Generator(7);
      const k = makeCase(g, { L: 100, N: 1, I: 32, H: 64, K: 4, D: 1 }, 'RNN_TANH', null);
      const want = forward(layerByLayer, k);
      const counted = countingLayers(native);
      atThreads(n, () => {
        for (let i = 0; i < 300; i++) {
          const got = forward(counted.kernel, k);
          assertSameBits(`call ${i} output`, got.output, want.output, 'layer by layer');
          assertSameBits(`call ${i} h_n`, got.hN, want.hN, 'layer by layer');
        }
      });
      assert.equal(counted.ran(), 300, 'calls the one call ran');
    });
  }

  test('a recorded forward through it gives the same gradients at 2, 3, 4 and 8 threads', () => {
    const g = new Generator(11);
    const k = makeCase(g, { L: 30, N: 3, I: 10, H: 24, K: 3, D: 1 }, 'RNN_TANH', Int32Array.from([30, 17, 4]));
    const grads = (kernel: Kernel) => {
      const tape: StackTape = { layerOutputs: [], masks: [], cells: [] };
      forward(kernel, k, tape);
      const { L, N, I, H, K } = k.dims;
      const dx = new Float32Array(L * N * I);
      const dh0 = new Float32Array(K * N * H);
      const dw = k.weights.map((layer) =>
        layer.map((w) => ({
          wih: new Float32Array(w.wih.length),
          whh: new Float32Array(w.whh.length),
          bih: new Float32Array(H),
          bhh: new Float32Array(H),
        })),
      );
      const dOut = uniform(new Generator(5), L * N * H, 1);
      stackBackward(
        kernel,
        dx,
        dh0,
        null,
        dw,
        dOut,
        null,
        null,
        tape,
        k.x,
        k.h0,
        null,
        k.weights,
        k.dims,
        k.mode,
        k.lengths,
      );
      return [dx, dh0, ...dw.flatMap((l) => l.flatMap((w) => [w.wih, w.whh, w.bih, w.bhh]))] as Float32Array[];
    };
    const want = atThreads(1, () => grads(layerByLayer));
    for (const n of COUNTS) {
      const counted = countingLayers(native);
      const got = atThreads(n, () => grads(counted.kernel));
      assert.equal(counted.ran(), 1, `at ${n} threads the recorded forward ran as one call`);
      got.forEach(
        (a, i) => assertSameBits(`${n} threads: gradient ${i}`, a, want[i] as Float32Array),
        'layer by layer',
      );
    }
  });

  /** `layers` on a case with the given output buffers, counting how many of them it asked for. */
  function callLayers(kernel: Kernel, k: Case, outs: FloatArray[], hN: Float32Array) {
    let asked = 0;
    const weights = k.weights.map((l) => l[0] as DirectionWeights);
    const layerOutput = (i: number) => {
      asked++;
      return outs[i] as FloatArray;
    };
    const { x, h0, mode, lengths } = k;
    const ran = kernel.layers?.({ ...k.dims, layerOutput, hN, x, h0, weights, mode, lengths });
    return { ran, asked };
  }

  /** Zeroed output buffers for each of a case's layers, and its final states. */
  function buffers(k: Case, Out: Float32ArrayConstructor | Float64ArrayConstructor = Float32Array) {
    const { L, N, H, K } = k.dims;
    return { outs: Array.from({ length: K }, () => new Out(L * N * H)), hN: new Float32Array(K * N * H) };
  }

  test('it declines a step big enough to be shared between the cores, before asking for any buffer', () => {
    const g = new Generator(3);
    const k = makeCase(g, { L: 2, N: 32, I: 8, H: 128, K: 2, D: 1 }, 'RNN_TANH', null); // N H^2 = 2^19
    const { outs, hN } = buffers(k);
    assert.deepEqual(callLayers(native, k, outs, hN), { ran: false, asked: 0 });
    assert.ok(outs.every((o) => o.every((v) => v === 0)) && hN.every((v) => v === 0));
    const below = makeCase(g, { L: 2, N: 31, I: 8, H: 128, K: 2, D: 1 }, 'RNN_TANH', null); // one row fewer
    const b = buffers(below);
    assert.deepEqual(callLayers(native, below, b.outs, b.hN), { ran: true, asked: 2 }, 'a step one row smaller');
  });

  test('with one thread it declines, and the layers run one by one', () => {
    const k = makeCase(new Generator(4), { L: 20, N: 1, I: 8, H: 32, K: 2, D: 1 }, 'RNN_TANH', null);
    atThreads(1, () => {
      assert.equal(api.threads(), 1);
      const { outs, hN } = buffers(k);
      assert.deepEqual(callLayers(native, k, outs, hN), { ran: false, asked: 0 });
      assertSameBits('output', forward(native, k).output, forward(layerByLayer, k).output, 'layer by layer');
    });
    const { outs, hN } = buffers(k);
    assert.equal(callLayers(native, k, outs, hN).ran, true, 'with two threads it takes the same stack');
  });

  test('it declines small problems (the reference kernel rounds those once) without asking for buffers', () => {
    const k = makeCase(new Generator(6), { L: 12, N: 3, I: 2, H: 3, K: 2, D: 1 }, 'RNN_TANH', null);
    const defaults = createNativeKernel(api);
    const small = buffers(k);
    assert.deepEqual(callLayers(defaults, k, small.outs, small.hN), { ran: false, asked: 0 });
    const { outs, hN } = buffers(k);
    assert.deepEqual(callLayers(native, k, outs, hN), { ran: true, asked: 2 }, 'with exactBelow 0 it takes it');
  });

  test('it takes only float32 buffers, and leaves the rest to the layer-by-layer path', () => {
    const k = makeCase(new Generator(5), { L: 40, N: 1, I: 2, H: 16, K: 2, D: 1 }, 'RNN_TANH', null);
    const mixed = buffers(k);
    mixed.outs[0] = new Float64Array(40 * 16);
    assert.equal(callLayers(native, k, mixed.outs, mixed.hN).ran, false);
    const { outs, hN } = buffers(k);
    assert.equal(callLayers(native, k, outs, hN).ran, true, 'the same stack in float32 buffers');
  });
});
