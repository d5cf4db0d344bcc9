/**
 * RNN.forward keeps small internal buffers (the input projection, the layer outputs below the last, the zero h0)
 * from one call to the next: these tests check that no result and no recording ever shares them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RNN, randn, type Tensor } from '../src/index.js';

const config = { inputSize: 4, hiddenSize: 5, numLayers: 3, bidirectional: true, seed: 0 };

const copy = (t: Tensor) => Array.from(t.data);

test('a later forward leaves the results of an earlier one unchanged', () => {
  const rnn = new RNN(config);
  const [out, hN] = rnn.forward(randn([6, 2, 4], { generator: 1 }));
  const [outCopy, hNCopy] = [copy(out), copy(hN)];
  rnn.forward(randn([6, 2, 4], { generator: 2 }), randn([6, 2, 5], { generator: 3 }));
  assert.deepEqual(copy(out), outCopy);
  assert.deepEqual(copy(hN), hNCopy);
});

test('forwards of different sizes on one module equal those of fresh modules', () => {
  const rnn = new RNN(config);
  for (const [L, N] of [
    [6, 2],
    [3, 7],
    [6, 2],
    [1, 1],
  ] as const) {
    const x = randn([L, N, 4], { generator: L * 10 + N });
    const [out, hN] = rnn.forward(x);
    const [want, wantHN] = new RNN(config).forward(x);
    assert.deepEqual(copy(out), copy(want), `output for L=${L}, N=${N}`);
    assert.deepEqual(copy(hN), copy(wantHN), `h_n for L=${L}, N=${N}`);
  }
});

test('a recorded forward after plain forwards gives the same gradients as on a fresh module', () => {
  const x = randn([6, 2, 4], { generator: 1 });
  const gradOut = randn([6, 2, 10], { generator: 2 });
  const gradients = (rnn: RNN) => {
    rnn.forward(x, null, { requiresGrad: true });
    const g = rnn.backward(gradOut);
    return [copy(g.input), ...rnn.namedGrads().map(([, t]) => copy(t))];
  };
  const want = gradients(new RNN(config));
  const reused = new RNN(config);
  reused.forward(randn([6, 2, 4], { generator: 3 })); // fills the workspace
  reused.forward(x, null, { requiresGrad: true }); // records, then is dropped by the next plain forward
  reused.forward(randn([6, 2, 4], { generator: 4 }));
  assert.deepEqual(gradients(reused), want);
});
