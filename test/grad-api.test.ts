/**
 * The backward API around the math: what is recorded and when, how gradients accumulate, what the errors say,
 * and how much memory a recorded forward holds (exact bytes against the (L, N, D*H)-per-layer budget).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getKernel, kernelNames, RNN, RNNCell, RnnError, randn, type Tensor, tensor, zeros } from '../src/index.js';
import { scaledError } from './helpers/compare.js';
import { MaskReplay } from './helpers/grad.js';
import { referenceCalls } from './helpers/kernels.js';

const small = { inputSize: 3, hiddenSize: 4, numLayers: 2, dtype: 'float64' as const, seed: 1 };

function throwsRnnError(fn: () => unknown, code: string, pattern: RegExp): RnnError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof RnnError, `expected an RnnError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, pattern);
  return caught;
}

test('backward without a recorded forward throws an RnnError that names requiresGrad', () => {
  const rnn = new RNN(small);
  throwsRnnError(() => rnn.backward(zeros([5, 2, 4], 'float64')), 'invalid_argument', /requiresGrad: true/);
  const cell = new RNNCell({ inputSize: 2, hiddenSize: 3, seed: 0 });
  throwsRnnError(() => cell.backward(zeros([3])), 'invalid_argument', /RNNCell\.backward\(\) needs a forward/);
});

test('a forward without requiresGrad records nothing and drops an earlier recording', () => {
  const rnn = new RNN(small);
  const x = randn([5, 2, 3], { dtype: 'float64', generator: 2 });
  rnn.forward(x);
  assert.equal(rnn.tapeBytes, 0);
  rnn.forward(x, null, { requiresGrad: true });
  assert.ok(rnn.tapeBytes > 0);
  rnn.forward(x);
  assert.equal(rnn.tapeBytes, 0);
  throwsRnnError(() => rnn.backward(zeros([5, 2, 4], 'float64')), 'invalid_argument', /there is none/);
});

test('a backward consumes its forward, so a second backward throws', () => {
  const rnn = new RNN(small);
  const [out] = rnn.forward(randn([5, 2, 3], { dtype: 'float64', generator: 2 }), null, { requiresGrad: true });
  rnn.backward(out);
  assert.equal(rnn.tapeBytes, 0);
  throwsRnnError(() => rnn.backward(out), 'invalid_argument', /consumes/);
});

test('a gradOutput of the wrong shape throws saying expected versus got, and keeps the recording', () => {
  const rnn = new RNN({ ...small, batchFirst: true });
  rnn.forward(randn([2, 5, 3], { dtype: 'float64', generator: 2 }), null, { requiresGrad: true });
  const e = throwsRnnError(
    () => rnn.backward(zeros([5, 2, 4], 'float64')),
    'shape_mismatch',
    /gradOutput .*expected \[2, 5, 4\], got \[5, 2, 4\]/,
  );
  assert.deepEqual(e.expected, [2, 5, 4]);
  assert.deepEqual(e.got, [5, 2, 4]);
  throwsRnnError(
    () => rnn.backward(zeros([2, 5, 4], 'float64'), zeros([2, 4], 'float64')),
    'shape_mismatch',
    /gradHN .*expected \[2, 2, 4\], got \[2, 4\]/,
  );
  throwsRnnError(() => rnn.backward(zeros([2, 5, 4], 'float32')), 'invalid_argument', /expected float64, got float32/);
  assert.doesNotThrow(() => rnn.backward(zeros([2, 5, 4], 'float64')));
});

test('parameter gradients accumulate across backward calls until zeroGrad, which keeps the same tensors', () => {
  const rnn = new RNN(small);
  const x = randn([5, 2, 3], { dtype: 'float64', generator: 2 });
  const gOut = randn([5, 2, 4], { dtype: 'float64', generator: 3 });
  const once = () => {
    rnn.forward(x, null, { requiresGrad: true });
    rnn.backward(gOut);
  };
  once();
  const first = rnn.namedGrads().map(([name, g]) => [name, g.clone()] as const);
  const held = rnn.grad('weight_hh_l1');
  once();
  for (const [name, g] of first) {
    const twice = Array.from(g.data, (v) => 2 * v);
    assert.ok(scaledError(rnn.grad(name), { shape: g.shape, data: twice }) < 1e-15, `${name} is not twice`);
  }
  rnn.zeroGrad();
  assert.equal(rnn.grad('weight_hh_l1'), held, 'zeroGrad keeps the tensor (set_to_none=False)');
  for (const [, g] of rnn.namedGrads()) assert.ok(g.data.every((v) => v === 0));
});

test('namedGrads lists a gradient shaped like each parameter, in parameter order', () => {
  const rnn = new RNN({ ...small, bidirectional: true });
  const params = rnn.namedParameters();
  const grads = rnn.namedGrads();
  assert.deepEqual(
    grads.map(([n, g]) => [n, g.shape, g.dtype]),
    params.map(([n, p]) => [n, p.shape, p.dtype]),
  );
  throwsRnnError(() => rnn.grad('weight_ih_l7'), 'invalid_argument', /no parameter 'weight_ih_l7'/);
});

test('the h0 gradient is null when h0 was omitted and shaped like h0 when given, unbatched too', () => {
  const rnn = new RNN(small);
  const x = randn([5, 3], { dtype: 'float64', generator: 2 });
  const [out] = rnn.forward(x, null, { requiresGrad: true });
  const a = rnn.backward(out);
  assert.equal(a.h0, null);
  assert.deepEqual(a.input.shape, [5, 3]);
  const h0 = randn([2, 4], { dtype: 'float64', generator: 4 });
  rnn.forward(x, h0, { requiresGrad: true });
  const b = rnn.backward(null, randn([2, 4], { dtype: 'float64', generator: 5 }));
  assert.deepEqual(b.h0?.shape, [2, 4]);
});

test('a null gradOutput means zeros', () => {
  const rnn = new RNN(small);
  const x = randn([5, 2, 3], { dtype: 'float64', generator: 2 });
  const gHN = randn([2, 2, 4], { dtype: 'float64', generator: 3 });
  rnn.forward(x, null, { requiresGrad: true });
  const a = rnn.backward(null, gHN).input;
  rnn.forward(x, null, { requiresGrad: true });
  const b = rnn.backward(zeros([5, 2, 4], 'float64'), gHN).input;
  assert.deepEqual(Array.from(a.data), Array.from(b.data));
});

test('padded steps get exactly zero input gradient, whatever gradOutput holds there', () => {
  const rnn = new RNN({ ...small, bidirectional: true });
  const x = randn([5, 3, 3], { dtype: 'float64', generator: 2 });
  rnn.forward(x, null, { lengths: [5, 2, 3], requiresGrad: true });
  const { input } = rnn.backward(randn([5, 3, 8], { dtype: 'float64', generator: 3 }));
  const lengths = [5, 2, 3];
  for (let t = 0; t < 5; t++) {
    for (let n = 0; n < 3; n++) {
      const row = Array.from(input.data.subarray((t * 3 + n) * 3, (t * 3 + n + 1) * 3));
      if (t >= (lengths[n] as number)) assert.deepEqual(row, [0, 0, 0], `step ${t} of sequence ${n}`);
      else
        assert.ok(
          row.some((v) => v !== 0),
          `step ${t} of sequence ${n} should have a gradient`,
        );
    }
  }
});

/** The kernel's scratch precision: what it keeps a recorded layer output in. */
function tapeElementBytes(dtype: 'float32' | 'float64'): number {
  return getKernel().scratch(dtype === 'float32' ? new Float32Array(0) : new Float64Array(0), 0).BYTES_PER_ELEMENT;
}

test('a recorded forward holds exactly one (L, N, D*H) buffer per layer, plus K-1 masks with dropout', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    const [L, N, H, K, D] = [5, 2, 4, 3, 2];
    const layer = L * N * D * H * tapeElementBytes(dtype);
    const rnn = new RNN({
      inputSize: 3,
      hiddenSize: H,
      numLayers: K,
      bidirectional: true,
      dropout: 0.5,
      dtype,
      seed: 1,
    });
    const x = randn([L, N, 3], { dtype, generator: 2 });
    rnn.eval().forward(x, null, { requiresGrad: true });
    assert.equal(rnn.tapeBytes, K * layer, `${dtype}, eval mode: ${K} layer outputs`);
    rnn.train().forward(x, null, { requiresGrad: true });
    assert.equal(rnn.tapeBytes, (2 * K - 1) * layer, `${dtype}, training: ${K} layer outputs and ${K - 1} masks`);
    console.log(
      `tape, ${dtype}, K = ${K}, L = ${L}, N = ${N}, D*H = ${D * H}: ${K * layer} bytes in eval, ${(2 * K - 1) * layer} with dropout ` +
        `(kernel '${getKernel().name}' keeps ${tapeElementBytes(dtype)} bytes per value)`,
    );
  }
});

test('a recorded RNNCell step holds one (N, H) buffer, and steps stack up until backward pops them', () => {
  const cell = new RNNCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64', seed: 0 });
  const x = randn([4, 2], { dtype: 'float64', generator: 1 });
  const h1 = cell.forward(x, null, { requiresGrad: true });
  cell.forward(x, h1, { requiresGrad: true });
  assert.equal(cell.tapeBytes, 2 * 4 * 3 * 8);
  cell.backward(zeros([4, 3], 'float64'));
  assert.equal(cell.tapeBytes, 4 * 3 * 8);
});

test('backpropagating through a loop of RNNCell steps gives the one-layer RNN backward', () => {
  const [L, N, I, H] = [4, 2, 3, 5];
  const rnn = new RNN({ inputSize: I, hiddenSize: H, nonlinearity: 'relu', dtype: 'float64', seed: 3 });
  const cell = new RNNCell({ inputSize: I, hiddenSize: H, nonlinearity: 'relu', dtype: 'float64', seed: 0 });
  cell.loadStateDict(Object.fromEntries(rnn.namedParameters().map(([n, p]) => [n.replace('_l0', ''), p])));
  const x = randn([L, N, I], { dtype: 'float64', generator: 1 });
  const h0 = randn([1, N, H], { dtype: 'float64', generator: 2 });
  const gOut = randn([L, N, H], { dtype: 'float64', generator: 3 });
  const gHN = randn([1, N, H], { dtype: 'float64', generator: 4 });
  rnn.forward(x, h0, { requiresGrad: true });
  const want = rnn.backward(gOut, gHN);

  const step = (t: number, data: Float64Array | Float32Array) => tensor(data.slice(t * N * H, (t + 1) * N * H), [N, H]);
  let h: Tensor = tensor(h0.data, [N, H], 'float64');
  for (let t = 0; t < L; t++)
    h = cell.forward(tensor(x.data.slice(t * N * I, (t + 1) * N * I), [N, I], 'float64'), h, { requiresGrad: true });
  let carried = step(0, gHN.data); // d loss / d h_t, from the steps after t
  const dx: number[][] = [];
  for (let t = L - 1; t >= 0; t--) {
    const gradH = tensor(
      Array.from(carried.data, (v, i) => v + (step(t, gOut.data).data[i] as number)),
      [N, H],
      'float64',
    );
    const g = cell.backward(gradH);
    dx[t] = Array.from(g.input.data);
    carried = g.hx as Tensor;
  }
  assert.ok(scaledError({ shape: [L, N, I], data: dx.flat() }, want.input) < 1e-14, 'input');
  assert.ok(scaledError({ shape: [1, N, H], data: carried.data }, want.h0 as Tensor) < 1e-14, 'h0');
  for (const [name, g] of cell.namedGrads()) {
    assert.ok(scaledError(g, rnn.grad(`${name}_l0`)) < 1e-14, name);
  }
});

test('dropout reuses the forward mask: an all-zero mask passes no gradient to the layers below', () => {
  const [L, N, H] = [3, 2, 4];
  const seed = new MaskReplay([new Array(L * N * H).fill(0)]);
  const rnn = new RNN({ inputSize: 2, hiddenSize: H, numLayers: 2, dropout: 0.5, dtype: 'float64', seed });
  rnn.forward(randn([L, N, 2], { dtype: 'float64', generator: 1 }), null, { requiresGrad: true });
  const { input } = rnn.backward(randn([L, N, H], { dtype: 'float64', generator: 2 }));
  assert.ok(
    input.data.every((v) => v === 0),
    'no gradient reaches the input',
  );
  for (const name of ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'weight_ih_l1']) {
    assert.ok(
      rnn.grad(name).data.every((v) => v === 0),
      `${name} gets no gradient`,
    );
  }
  assert.ok(
    rnn.grad('bias_ih_l1').data.some((v) => v !== 0),
    'the top layer still learns its bias',
  );
});

test('recording a forward for backward does not change its numbers', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    const rnn = new RNN({ inputSize: 3, hiddenSize: 4, numLayers: 3, bidirectional: true, dtype, seed: 5 });
    const x = randn([6, 3, 3], { dtype, generator: 6 });
    const h0 = randn([6, 3, 4], { dtype, generator: 7 });
    const plain = rnn.forward(x, h0, { lengths: [6, 2, 4] });
    const recorded = rnn.forward(x, h0, { lengths: [6, 2, 4], requiresGrad: true });
    assert.deepEqual(Array.from(recorded[0].data), Array.from(plain[0].data), `${dtype} output`);
    assert.deepEqual(Array.from(recorded[1].data), Array.from(plain[1].data), `${dtype} h_n`);
  }
});

test('backward with { inputGrad: false } skips the input gradient and gives the same parameter and h0 gradients', () => {
  // big enough (L N H = 4096) that the fast kernels run every call themselves rather than hand it to the reference
  const [L, N, I, H, K] = [16, 8, 5, 32, 3];
  for (const backend of kernelNames()) {
    const make = () => new RNN({ inputSize: I, hiddenSize: H, numLayers: K, bidirectional: true, seed: 4, backend });
    const x = randn([L, N, I], { generator: 1 });
    const h0 = randn([2 * K, N, H], { generator: 2 });
    const gOut = randn([L, N, 2 * H], { generator: 3 });
    const full = make();
    full.forward(x, h0, { requiresGrad: true });
    const all = full.backward(gOut);
    const lean = make();
    const handed = referenceCalls(() => {
      lean.forward(x, h0, { requiresGrad: true });
      const some = lean.backward(gOut, null, { inputGrad: false });
      assert.equal(some.input, null);
      assert.deepEqual(Array.from(some.h0?.data ?? []), Array.from(all.h0?.data ?? []), backend);
    });
    if (backend !== 'reference') assert.equal(handed, 0, `${backend}: calls handed to the reference kernel`);
    for (const [name, g] of full.namedGrads()) {
      assert.deepEqual(Array.from(lean.grad(name).data), Array.from(g.data), `${backend}: ${name}`);
    }
  }
});
