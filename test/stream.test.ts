/**
 * Streaming (`module.stream()`): one step per call with the state carried gives what one forward over the whole
 * sequence gives, for every cell (RNN tanh and relu, LSTM with and without proj_size, GRU), batched and unbatched,
 * float32 on the default kernel and float64; its state, reset, output buffer and refusals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GRU, LSTM, RNN, type RNNBase, randn, type Tensor } from '../src/index.js';
import { flatError } from './helpers/compare.js';

type Make = (dtype: 'float32' | 'float64') => RNNBase;

const CASES: [string, Make][] = [
  ['RNN tanh', (dtype) => new RNN({ inputSize: 12, hiddenSize: 48, numLayers: 3, seed: 1, dtype })],
  [
    'RNN relu',
    (dtype) => new RNN({ inputSize: 12, hiddenSize: 48, numLayers: 2, nonlinearity: 'relu', seed: 2, dtype }),
  ],
  ['LSTM', (dtype) => new LSTM({ inputSize: 12, hiddenSize: 40, numLayers: 2, seed: 3, dtype })],
  [
    'LSTM proj_size',
    (dtype) => new LSTM({ inputSize: 12, hiddenSize: 40, numLayers: 2, projSize: 24, seed: 4, dtype }),
  ],
  ['GRU', (dtype) => new GRU({ inputSize: 12, hiddenSize: 40, numLayers: 3, seed: 5, dtype })],
];

const [L, N] = [9, 3];

/** x (L, N, I) as its L steps (N, I), or (L, I) as steps (I). */
function steps(x: Tensor, batched: boolean): Tensor[] {
  const I = x.shape.at(-1) as number;
  const rows = batched ? N : 1;
  return Array.from({ length: L }, (_, t) => {
    const data = x.data.slice(t * rows * I, (t + 1) * rows * I);
    return new (x.constructor as typeof Tensor)(data, batched ? [rows, I] : [I]);
  });
}

function assertClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const e = flatError(got, want);
  assert.ok(e <= tol, `${what}: relative error ${e} > ${tol}`);
}

describe('a stream of single steps gives what one forward over the sequence gives', () => {
  for (const [name, make] of CASES) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const batched of [true, false]) {
        test(`${name}, ${dtype}, ${batched ? 'batched' : 'unbatched'}`, () => {
          const m = make(dtype).eval();
          const x = randn(batched ? [L, N, m.inputSize] : [L, m.inputSize], { generator: 7, dtype });
          const [output, states] = m.forwardStates(x);
          const s = m.stream(batched ? { batch: N } : {});
          const tol = dtype === 'float64' ? 1e-12 : 2e-6;
          const width = output.shape.at(-1) as number;
          steps(x, batched).forEach((xt, t) => {
            const y = s.step(xt);
            assert.deepEqual(y.shape, batched ? [N, width] : [width]);
            const rows = batched ? N : 1;
            assertClose(`out[${t}]`, y.data, output.data.subarray(t * rows * width, (t + 1) * rows * width), tol);
          });
          s.state.forEach((st, i) => {
            assert.deepEqual(st.shape, (states[i] as Tensor).shape);
            assertClose(`state ${i}`, st.data, (states[i] as Tensor).data, tol);
          });
        });
      }
    }
  }
});

describe('a stream', () => {
  test('writes each step into the output buffer it is given, and returns the same Tensor over it', () => {
    const m = new LSTM({ inputSize: 6, hiddenSize: 20, numLayers: 2, seed: 0 }).eval();
    const s = m.stream({ batch: 2 });
    const out = new Float32Array(2 * 20);
    const x = randn([2, 6], { generator: 1 });
    const y1 = s.step(x, { out });
    const first = out.slice();
    const y2 = s.step(x, { out });
    assert.equal(y1, y2);
    assert.equal(y1.data, out);
    assert.notDeepEqual(out, first, 'the second step moved the state on');
  });

  test('continues from the states of a forward when reset to them', () => {
    const m = new GRU({ inputSize: 5, hiddenSize: 32, numLayers: 2, seed: 3 }).eval();
    const x = randn([6, 2, 5], { generator: 4 });
    const [whole] = m.forward(x);
    const [, h3] = m.forward(new (x.constructor as typeof Tensor)(x.data.slice(0, 3 * 2 * 5), [3, 2, 5]));
    const s = m.stream({ batch: 2 });
    s.reset([h3]);
    for (let t = 3; t < 6; t++) {
      const y = s.step(new (x.constructor as typeof Tensor)(x.data.slice(t * 10, (t + 1) * 10), [2, 5]));
      assertClose(`out[${t}]`, y.data, whole.data.subarray(t * 64, (t + 1) * 64), 2e-6);
    }
  });

  test('starts again from zeros on reset()', () => {
    const m = new RNN({ inputSize: 4, hiddenSize: 16, seed: 0 }).eval();
    const s = m.stream();
    const x = randn([4], { generator: 2 });
    const first = s.step(x).data.slice();
    s.step(x);
    s.reset();
    assert.deepEqual(s.step(x).data, first);
    assert.ok(s.state[0]?.data.some((v) => v !== 0));
  });

  test('refuses a bidirectional module, whose reverse direction starts at the end', () => {
    const m = new LSTM({ inputSize: 4, hiddenSize: 8, bidirectional: true });
    assert.throws(() => m.stream(), {
      name: 'RnnError',
      code: 'unsupported',
      message: /bidirectional LSTM cannot stream/,
    });
  });

  test('refuses to step a module in training mode with dropout between layers', () => {
    const m = new GRU({ inputSize: 4, hiddenSize: 8, numLayers: 2, dropout: 0.5 });
    const s = m.stream();
    assert.throws(() => s.step(randn([4])), { name: 'RnnError', hint: /eval\(\)/ });
    m.eval();
    assert.deepEqual(s.step(randn([4])).shape, [8]);
  });

  test('says which shape a step takes when x_t has another', () => {
    const s = new RNN({ inputSize: 4, hiddenSize: 8 }).stream({ batch: 2 });
    assert.throws(() => s.step(randn([3, 4])), {
      name: 'RnnError',
      code: 'shape_mismatch',
      message: "a RNN stream's step takes x_t of shape [2, 4], got [3, 4]",
    });
    assert.throws(() => s.step(new Float32Array(7)), { name: 'RnnError', code: 'shape_mismatch' });
  });

  test("refuses an input of another dtype in PyTorch's words", () => {
    const s = new RNN({ inputSize: 4, hiddenSize: 8 }).stream();
    assert.throws(() => s.step(new Float64Array(4)), {
      name: 'RnnError',
      message: 'input must have the type torch.float32, got type torch.float64',
    });
  });

  test('refuses a batch that is not a positive integer', () => {
    const m = new RNN({ inputSize: 4, hiddenSize: 8 });
    for (const batch of [0, 1.5, -1, Number.NaN]) {
      assert.throws(() => m.stream({ batch }), { name: 'RnnError', code: 'invalid_argument' });
    }
  });
});
