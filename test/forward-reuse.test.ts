/**
 * RNN.forward keeps its internal buffers (the input projection, the layer outputs below the last, the zero h0)
 * from one call to the next, when they are small or total at most WORKSPACE_HELD_MAX elements: these tests check
 * that no result and no recording ever shares them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GRU, LSTM, RNN, randn, type Tensor } from '../src/index.js';
import { WORKSPACE_MAX } from '../src/rnn/stack.js';

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

// Above WORKSPACE_MAX elements of output, a forward keeps its buffers while they total at most WORKSPACE_HELD_MAX:
// a batch of 32 through a bidirectional LSTM with lengths (its recurrence split by rows; padded steps must be
// zeros in a reused layer buffer too), and a long GRU sequence of 4 rows (a kernel's `layers`, when it has one,
// with a buffer per layer).
const LARGE = [
  {
    name: 'a bidirectional LSTM with lengths',
    Module: LSTM,
    config: { inputSize: 16, hiddenSize: 96, numLayers: 3, bidirectional: true, seed: 0 },
    L: 64,
    N: 32,
    lengths: true,
  },
  {
    name: 'a GRU',
    Module: GRU,
    config: { inputSize: 8, hiddenSize: 128, numLayers: 3, seed: 0 },
    L: 1024,
    N: 4,
    lengths: false,
  },
] as const;

for (const { name, Module, config: large, L, N, lengths } of LARGE) {
  const input = (seed: number, n: number = N) => randn([L, n, large.inputSize], { generator: seed });
  // each forward's lengths differ, so a reused buffer's padded rows held another forward's numbers
  const options = (seed: number, n: number) =>
    lengths
      ? { lengths: Array.from({ length: n }, (_, i) => (i === 0 ? L : 1 + ((i * 7 + seed * 13) % L))) }
      : undefined;

  test(`${name} above the small size keeps an earlier forward's results unchanged by a later one`, () => {
    assert.ok(L * N * large.hiddenSize * (lengths ? 2 : 1) > WORKSPACE_MAX);
    const rnn = new Module(large);
    const out = rnn.forwardStates(input(1), null, options(1, N))[0];
    const want = copy(out);
    rnn.forwardStates(input(2), null, options(2, N));
    assert.deepEqual(copy(out), want);
  });

  test(`${name} above the small size gives a fresh module's outputs forward after forward, sizes changing`, () => {
    const rnn = new Module(large);
    for (const [seed, n] of [
      [1, N],
      [2, N],
      [3, N - 1],
      [4, N],
    ] as const) {
      const [out, states] = rnn.forwardStates(input(seed, n), null, options(seed, n));
      const [want, wantStates] = new Module(large).forwardStates(input(seed, n), null, options(seed, n));
      assert.deepEqual(copy(out), copy(want), `output of forward ${seed}`);
      states.forEach((s, i) =>
        assert.deepEqual(copy(s), copy(wantStates[i] as Tensor), `state ${i} of forward ${seed}`),
      );
    }
  });
}
