/**
 * The float64 kernels' threads (native/f64_jobs.h) change where the work runs, never a float, as the float32
 * kernels' (test/kernel-threads.test.ts): a float64 RNN, LSTM and GRU, 2 layers, bidirectional, with lengths,
 * forward and backward, big enough that every split runs (the input projection and dx in blocks of rows, the
 * recurrence's steps in blocks of rows, the weight gradients in blocks of output rows), give at 2, 3, 4 and 8
 * threads the bits of one thread; and a step of one row with large weights (the input projection split by output
 * panels) likewise.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GRU, LSTM, RNN, type RNNBase, randn, type Tensor } from '../src/index.js';
import { nativeAddon } from '../src/kernels/native.js';
import { assertSameBits } from './helpers/bits.js';
import { atThreads, THREAD_COUNTS } from './helpers/threads.js';

const [L, N, I, H] = [9, 32, 40, 128];
const lengths = Array.from({ length: N }, (_, n) => [9, 4, 9, 1, 7][n % 5] as number);

const MODULES: [string, () => RNNBase][] = [
  [
    'RNN (tanh)',
    () =>
      new RNN({
        inputSize: I,
        hiddenSize: H,
        numLayers: 2,
        bidirectional: true,
        dtype: 'float64',
        seed: 1,
        backend: 'native',
      }),
  ],
  [
    'LSTM',
    () =>
      new LSTM({
        inputSize: I,
        hiddenSize: H,
        numLayers: 2,
        bidirectional: true,
        dtype: 'float64',
        seed: 2,
        backend: 'native',
      }),
  ],
  [
    'GRU',
    () =>
      new GRU({
        inputSize: I,
        hiddenSize: H,
        numLayers: 2,
        bidirectional: true,
        dtype: 'float64',
        seed: 3,
        backend: 'native',
      }),
  ],
];

/** Every output and gradient of a forward and backward, flat. */
function run(make: () => RNNBase): ArrayLike<number>[] {
  const m = make();
  const x = randn([L, N, I], { dtype: 'float64', generator: 7 });
  const [out, states] = m.forwardStates(x, null, { requiresGrad: true, lengths });
  const dOut = randn(out.shape, { dtype: 'float64', generator: 8 });
  const g = (m as unknown as { backward(d: Tensor): Record<string, Tensor | null | undefined> }).backward(dOut);
  return [
    out.data,
    ...states.map((s) => s.data),
    ...Object.values(g).map((t) => (t ? t.data : [])),
    ...m.namedGrads().map(([, t]) => t.data),
  ];
}

describe('the float64 kernels give the bits of one thread at any thread count', {
  skip: nativeAddon ? false : 'no native addon',
}, () => {
  test('the steps are big enough to share: N H^2 >= 2^19', () => {
    assert.ok(N * H * H >= 2 ** 19);
  });
  for (const [name, make] of MODULES) {
    test(`a float64 ${name}, forward and backward, at ${THREAD_COUNTS.join(', ')} threads`, () => {
      const one = atThreads(1, () => run(make));
      for (const n of THREAD_COUNTS) {
        const got = atThreads(n, () => run(make));
        one.forEach((want, i) => assertSameBits(`${n} threads, array ${i}`, got[i] ?? null, want));
      }
    });
  }
  test('a step of one row with large weights (its input projection split by output panels) at 2 to 8 threads', () => {
    const make = () =>
      new GRU({ inputSize: 512, hiddenSize: 256, numLayers: 1, dtype: 'float64', seed: 4, backend: 'native' });
    const step = () => {
      const m = make();
      const s = m.stream();
      const x = randn([512], { dtype: 'float64', generator: 9 });
      return [s.step(x).data.slice(), s.step(x).data.slice()];
    };
    const one = atThreads(1, step);
    for (const n of THREAD_COUNTS) {
      const got = atThreads(n, step);
      one.forEach((want, i) => assertSameBits(`${n} threads, step ${i}`, got[i] ?? null, want));
    }
  });
});
