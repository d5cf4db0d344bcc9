/**
 * nn.LSTM, nn.GRU, nn.LSTMCell and nn.GRUCell around the math: options and PyTorch's error messages, the shapes of
 * (h_n, c_n), dropout in eval and training mode, split()/stack, how they print, their seeded initialisation against
 * torch.manual_seed (test/fixtures/cells/init.json), the functional forward, the tape, and how gradients add up.
 * The numbers themselves are tested against PyTorch in cells-fixtures.test.ts and cells-live.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  GRU,
  GRUCell,
  getKernel,
  gruForward,
  LSTM,
  LSTMCell,
  lstmForward,
  RNN,
  RnnError,
  randn,
  recurrentForward,
  type Tensor,
  tensor,
  zeros,
} from '../src/index.js';
import { layerWork } from '../src/kernels/kernel.js';
import { type Flat, scaledError } from './helpers/compare.js';
import { asTensor, MaskReplay } from './helpers/grad.js';

function throwsRnnError(fn: () => unknown, message: RegExp, code?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RnnError, `expected RnnError, got ${String(err)}`);
    assert.match(err.message, message);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

function maxDiff(a: Flat, b: Flat): number {
  assert.deepEqual([...a.shape], [...b.shape], 'shapes');
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return m;
}

const f64 = 'float64' as const;
/** Rows [from, to) of the first dimension of a (K*D, N, W) state, as a tensor. */
function slice(t: Tensor, from: number, to: number): Tensor {
  const per = t.numel / (t.shape[0] as number);
  return tensor(t.data.slice(from * per, to * per), [to - from, ...t.shape.slice(1)], t.dtype);
}

describe('constructing an LSTM or a GRU', () => {
  test("refuses a bad proj_size in PyTorch's words", () => {
    throwsRnnError(
      () => new LSTM({ inputSize: 3, hiddenSize: 4, projSize: -1 }),
      /^proj_size should be a positive integer or zero to disable projections$/,
      'invalid_argument',
    );
    throwsRnnError(
      () => new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 1.5 }),
      /^proj_size should be a positive integer or zero to disable projections$/,
    );
    throwsRnnError(
      () => new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 4 }),
      /^proj_size has to be smaller than hidden_size$/,
    );
    throwsRnnError(
      () => new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 9 }),
      /^proj_size has to be smaller than hidden_size$/,
    );
  });

  test('refuses proj_size for the GRU and the RNN, even 0, as their __init__ does', () => {
    for (const projSize of [2, 0]) {
      throwsRnnError(
        () => new GRU({ inputSize: 3, hiddenSize: 4, projSize } as never),
        /^proj_size argument is only supported for LSTM, not RNN or GRU$/,
      );
      throwsRnnError(
        () => new RNN({ inputSize: 3, hiddenSize: 4, projSize } as never),
        /^proj_size argument is only supported for LSTM, not RNN or GRU$/,
      );
    }
  });

  test("names and shapes an LSTM's parameters as PyTorch does, weight_hr last, gates stacked 4H", () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, projSize: 2 });
    const shapes = lstm.namedParameters().map(([n, p]) => `${n} ${p.shape.join('x')}`);
    const layer = (k: number, s: string, inF: number) => [
      `weight_ih_l${k}${s} 20x${inF}`,
      `weight_hh_l${k}${s} 20x2`,
      `bias_ih_l${k}${s} 20`,
      `bias_hh_l${k}${s} 20`,
      `weight_hr_l${k}${s} 2x5`,
    ];
    assert.deepEqual(shapes, [
      ...layer(0, '', 3),
      ...layer(0, '_reverse', 3),
      ...layer(1, '', 4),
      ...layer(1, '_reverse', 4),
    ]);
  });

  test("names and shapes a GRU's parameters as PyTorch does, gates stacked 3H", () => {
    const gru = new GRU({ inputSize: 3, hiddenSize: 5, numLayers: 2, bias: false });
    assert.deepEqual(
      gru.namedParameters().map(([n, p]) => `${n} ${p.shape.join('x')}`),
      ['weight_ih_l0 15x3', 'weight_hh_l0 15x5', 'weight_ih_l1 15x5', 'weight_hh_l1 15x5'],
    );
  });
});

describe('seeded initialisation', () => {
  interface InitEntry {
    module: 'LSTM' | 'GRU' | 'LSTMCell' | 'GRUCell';
    seed: number;
    options: Record<string, unknown>;
    repr: string;
    stateDict: Record<string, Flat>;
  }
  const init = JSON.parse(readFileSync(new URL('./fixtures/cells/init.json', import.meta.url), 'utf8')) as {
    modules: InitEntry[];
  };
  const build = (e: InitEntry) => {
    const options = { ...e.options, seed: e.seed } as never;
    if (e.module === 'LSTM') return new LSTM(options);
    if (e.module === 'GRU') return new GRU(options);
    return e.module === 'LSTMCell' ? new LSTMCell(options) : new GRUCell(options);
  };

  for (const e of init.modules) {
    test(`${e.repr} with seed ${e.seed} holds the parameters of torch.manual_seed(${e.seed}) then ${e.module}, bit for bit`, () => {
      const m = build(e);
      assert.deepEqual(
        m.namedParameters().map(([n]) => n),
        Object.keys(e.stateDict),
      );
      for (const [name, p] of m.namedParameters()) {
        const want = e.stateDict[name] as Flat;
        assert.deepEqual([...p.shape], want.shape, name);
        assert.deepEqual(Array.from(p.data), Array.from(want.data), name);
      }
    });
  }

  test('every module and cell prints as PyTorch printed it', () => {
    for (const e of init.modules) assert.equal(String(build(e)), e.repr);
  });
});

describe('printing', () => {
  test("an LSTM and a GRU print as PyTorch's repr, options in PyTorch's order", () => {
    assert.equal(
      String(new LSTM({ inputSize: 8, hiddenSize: 16, projSize: 4, numLayers: 2, batchFirst: true })),
      'LSTM(8, 16, proj_size=4, num_layers=2, batch_first=True)',
    );
    assert.equal(
      String(
        new LSTM({
          inputSize: 3,
          hiddenSize: 4,
          dropout: 0.25,
          numLayers: 2,
          bias: false,
          bidirectional: true,
          projSize: 2,
        }),
      ),
      'LSTM(3, 4, proj_size=2, num_layers=2, bias=False, dropout=0.25, bidirectional=True)',
    );
    assert.equal(String(new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 0 })), 'LSTM(3, 4)');
    assert.equal(
      String(new GRU({ inputSize: 8, hiddenSize: 16, numLayers: 2, dropout: 0.5, bidirectional: true, bias: false })),
      'GRU(8, 16, num_layers=2, bias=False, dropout=0.5, bidirectional=True)',
    );
  });

  test('dropout prints as a Python float: 1 as 1.0, tiny values in exponent form', () => {
    assert.equal(
      String(new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 1 })),
      'GRU(3, 4, num_layers=2, dropout=1.0)',
    );
    assert.equal(
      String(new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.00001 })),
      'LSTM(3, 4, num_layers=2, dropout=1e-05)',
    );
    assert.equal(
      String(new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.0001 })),
      'LSTM(3, 4, num_layers=2, dropout=0.0001)',
    );
  });

  test('an RNN prints without its nonlinearity, as nn.RNN does', () => {
    assert.equal(
      String(new RNN({ inputSize: 3, hiddenSize: 4, numLayers: 2, nonlinearity: 'relu' })),
      'RNN(3, 4, num_layers=2)',
    );
  });

  test('the cells print as PyTorch prints them: LSTMCell(3, 6), GRUCell(3, 6, bias=False)', () => {
    assert.equal(String(new LSTMCell({ inputSize: 3, hiddenSize: 6 })), 'LSTMCell(3, 6)');
    assert.equal(String(new GRUCell({ inputSize: 3, hiddenSize: 6, bias: false })), 'GRUCell(3, 6, bias=False)');
  });
});

describe('LSTM.forward', () => {
  const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 1 }).eval();
  const x = randn([5, 2, 3], { generator: 2 });

  test("rejects states of the wrong rank in PyTorch's words, naming both", () => {
    throwsRnnError(
      () => lstm.forward(x, [randn([2, 4]), randn([2, 2, 4])]),
      /^For batched 3-D input, hx and cx should also be 3-D but got \(2-D, 3-D\) tensors$/,
      'shape_mismatch',
    );
    throwsRnnError(
      () => lstm.forward(x, [randn([2, 2, 4]), randn([2, 4])]),
      /^For batched 3-D input, hx and cx should also be 3-D but got \(3-D, 2-D\) tensors$/,
    );
    throwsRnnError(
      () => lstm.forward(randn([5, 3]), [randn([2, 1, 4]), randn([2, 4])]),
      /^For unbatched 2-D input, hx and cx should also be 2-D but got \(3-D, 2-D\) tensors$/,
    );
  });

  test("rejects states of the wrong size in PyTorch's words: hidden[0] is h0, hidden[1] is c0", () => {
    throwsRnnError(
      () => lstm.forward(x, [randn([2, 3, 4]), randn([2, 2, 4])]),
      /^Expected hidden\[0\] size \(2, 2, 4\), got \[2, 3, 4\]$/,
    );
    throwsRnnError(
      () => lstm.forward(x, [randn([2, 2, 4]), randn([2, 2, 5])]),
      /^Expected hidden\[1\] size \(2, 2, 4\), got \[2, 2, 5\]$/,
    );
    const projected = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, projSize: 2 });
    throwsRnnError(
      () => projected.forward(x, [randn([2, 2, 4]), randn([2, 2, 4])]),
      /^Expected hidden\[0\] size \(2, 2, 2\), got \[2, 2, 4\]$/,
    );
    throwsRnnError(
      () => projected.forward(x, [randn([2, 2, 2]), randn([2, 2, 2])]),
      /^Expected hidden\[1\] size \(2, 2, 4\), got \[2, 2, 2\]$/,
    );
  });

  test('rejects a state that is not the pair [h0, c0], and an input of the wrong rank', () => {
    throwsRnnError(() => lstm.forward(x, [randn([2, 2, 4])] as never), /LSTM expects its state as a pair \[h0, c0\]/);
    throwsRnnError(() => lstm.forward(randn([1, 5, 2, 3])), /^LSTM: Expected input to be 2D or 3D, got 4D instead$/);
  });

  test('gives (h_n, c_n) of (K*D, N, P) and (K*D, N, H), the output (L, N, D*P), batched or not, with a projection', () => {
    const m = new LSTM({ inputSize: 3, hiddenSize: 5, numLayers: 3, bidirectional: true, projSize: 2, seed: 3 });
    const [out, [hN, cN]] = m.forward(randn([4, 2, 3]));
    assert.deepEqual(
      [out.shape, hN.shape, cN.shape],
      [
        [4, 2, 4],
        [6, 2, 2],
        [6, 2, 5],
      ],
    );
    const [u, [uh, uc]] = m.forward(randn([4, 3]));
    assert.deepEqual(
      [u.shape, uh.shape, uc.shape],
      [
        [4, 4],
        [6, 2],
        [6, 5],
      ],
    );
    const bf = new LSTM({ ...m.options, batchFirst: true });
    const [b, [bh, bc]] = bf.forward(randn([2, 4, 3]));
    assert.deepEqual(
      [b.shape, bh.shape, bc.shape],
      [
        [2, 4, 4],
        [6, 2, 2],
        [6, 2, 5],
      ],
      'states are not batch-first',
    );
    const plain = new LSTM({ inputSize: 3, hiddenSize: 5, seed: 3 });
    const [p, [ph, pc]] = plain.forward(randn([4, 2, 3]));
    assert.deepEqual(
      [p.shape, ph.shape, pc.shape],
      [
        [4, 2, 5],
        [1, 2, 5],
        [1, 2, 5],
      ],
    );
  });

  test("with lengths, pads with zeros and returns each sequence's (h, c) at its last valid step", () => {
    const m = new LSTM({ inputSize: 3, hiddenSize: 4, dtype: f64, seed: 4 }).eval();
    const xs = randn([5, 3, 3], { generator: 5, dtype: f64 });
    const [out, [hN, cN]] = m.forward(xs, null, { lengths: [5, 2, 1] });
    for (let j = 0; j < 4; j++) {
      for (let t = 2; t < 5; t++) assert.equal(out.item(t, 1, j), 0);
      assert.equal(hN.item(0, 1, j), out.item(1, 1, j), 'h_n of sequence 1 is its output at t = 1');
    }
    // the second sequence alone, two steps long, ends in the same (h, c)
    const alone = tensor(
      Array.from({ length: 2 }, (_, t) => Array.from(xs.data.slice((t * 3 + 1) * 3, (t * 3 + 2) * 3))).flat(),
      [2, 1, 3],
      f64,
    );
    const [, [h1, c1]] = m.forward(alone);
    for (let j = 0; j < 4; j++) {
      assert.equal(hN.item(0, 1, j), h1.item(0, 0, j));
      assert.equal(cN.item(0, 1, j), c1.item(0, 0, j));
    }
  });
});

describe('GRU.forward', () => {
  test("rejects an h0 of the wrong size in PyTorch's words, and an input of the wrong rank", () => {
    const gru = new GRU({ inputSize: 3, hiddenSize: 4 });
    throwsRnnError(
      () => gru.forward(randn([5, 2, 3]), randn([1, 3, 4])),
      /^Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]$/,
    );
    throwsRnnError(
      () => gru.forward(randn([5, 2, 3]), randn([1, 4])),
      /^For batched 3-D input, hx should also be 3-D but got 2-D tensor$/,
    );
    throwsRnnError(() => gru.forward(randn([1, 5, 3, 2])), /^GRU: Expected input to be 2D or 3D, got 4D instead$/);
  });

  test('gives h_n of (K*D, N, H) and the output (L, N, D*H), unbatched (K*D, H) and (L, D*H)', () => {
    const gru = new GRU({ inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true });
    const [out, hN] = gru.forward(randn([4, 2, 3]));
    assert.deepEqual(
      [out.shape, hN.shape],
      [
        [4, 2, 10],
        [4, 2, 5],
      ],
    );
    const [u, uh] = gru.forward(randn([4, 3]));
    assert.deepEqual(
      [u.shape, uh.shape],
      [
        [4, 10],
        [4, 5],
      ],
    );
  });
});

describe('the cells', () => {
  test("LSTMCell rejects states in PyTorch's words: hidden0 is hx, hidden1 is cx", () => {
    const cell = new LSTMCell({ inputSize: 3, hiddenSize: 4 });
    throwsRnnError(
      () => cell.forward(randn([2, 3]), [randn([3, 4]), randn([2, 4])]),
      /^Input batch size 2 doesn't match hidden0 batch size 3$/,
    );
    // PyTorch 1.13's lstm_cell checks cx as "hidden0" too; later releases say hidden1, as this does
    throwsRnnError(
      () => cell.forward(randn([2, 3]), [randn([2, 4]), randn([3, 4])]),
      /^Input batch size 2 doesn't match hidden1 batch size 3$/,
    );
    throwsRnnError(
      () => cell.forward(randn([2, 3]), [randn([2, 5]), randn([2, 4])]),
      /^hidden0 has inconsistent hidden_size: got 5, expected 4$/,
    );
    throwsRnnError(
      () => cell.forward(randn([2, 3]), [randn([2, 4]), randn([2, 5])]),
      /^hidden1 has inconsistent hidden_size: got 5, expected 4$/,
    );
    throwsRnnError(() => cell.forward(randn([2, 5])), /^input has inconsistent input_size: got 5 expected 3$/);
    throwsRnnError(
      () => cell.forward(randn([2, 3, 1])),
      /^LSTMCell: Expected input to be 1-D or 2-D but received 3-D tensor$/,
    );
  });

  test("GRUCell rejects inputs and hx in PyTorch's words", () => {
    const cell = new GRUCell({ inputSize: 3, hiddenSize: 4 });
    throwsRnnError(
      () => cell.forward(randn([2, 3]), randn([3, 4])),
      /^Input batch size 2 doesn't match hidden0 batch size 3$/,
    );
    throwsRnnError(
      () => cell.forward(randn([3]), randn([5])),
      /^hidden0 has inconsistent hidden_size: got 5, expected 4$/,
    );
    throwsRnnError(
      () => cell.forward(randn([2, 3, 1])),
      /^GRUCell: Expected input to be 1-D or 2-D but received 3-D tensor$/,
    );
  });

  test('an LSTMCell step equals a one-layer LSTM over one time step, (h, c) both, batched and unbatched', () => {
    const cell = new LSTMCell({ inputSize: 3, hiddenSize: 4, seed: 1, dtype: f64 });
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, dtype: f64 });
    lstm.loadStateDict(Object.fromEntries(cell.namedParameters().map(([n, p]) => [`${n}_l0`, p])));
    const x = randn([2, 3], { generator: 1, dtype: f64 });
    const h = randn([2, 4], { generator: 2, dtype: f64 });
    const c = randn([2, 4], { generator: 3, dtype: f64 });
    const [h1, c1] = cell.forward(x, [h, c]);
    const [, [hN, cN]] = lstm.forward(tensor(x.data, [1, 2, 3], f64), [
      tensor(h.data, [1, 2, 4], f64),
      tensor(c.data, [1, 2, 4], f64),
    ]);
    assert.deepEqual(Array.from(h1.data), Array.from(hN.data));
    assert.deepEqual(Array.from(c1.data), Array.from(cN.data));
    const [hu, cu] = cell.forward(tensor(x.data.slice(0, 3), [3], f64));
    assert.deepEqual([hu.shape, cu.shape], [[4], [4]]);
  });

  test('a GRUCell step equals a one-layer GRU over one time step', () => {
    const cell = new GRUCell({ inputSize: 3, hiddenSize: 4, seed: 1, dtype: f64 });
    const gru = new GRU({ inputSize: 3, hiddenSize: 4, dtype: f64 });
    gru.loadStateDict(Object.fromEntries(cell.namedParameters().map(([n, p]) => [`${n}_l0`, p])));
    const x = randn([2, 3], { generator: 1, dtype: f64 });
    const h = randn([2, 4], { generator: 2, dtype: f64 });
    const [, hN] = gru.forward(tensor(x.data, [1, 2, 3], f64), tensor(h.data, [1, 2, 4], f64));
    assert.deepEqual(Array.from(cell.forward(x, h).data), Array.from(hN.data));
  });
});

describe('dropout', () => {
  const x = randn([6, 4, 3], { generator: 2 });
  for (const Module of [LSTM, GRU]) {
    test(`is off in eval mode: a ${Module.name} with dropout gives the dropout-free network's output`, () => {
      const a = new Module({ inputSize: 3, hiddenSize: 8, numLayers: 3, dropout: 0.5, seed: 1 }).eval();
      const b = new Module({ inputSize: 3, hiddenSize: 8, numLayers: 3, seed: 1 }).eval();
      assert.deepEqual(Array.from(a.forward(x)[0].data), Array.from(b.forward(x)[0].data));
    });

    test(`changes a ${Module.name}'s output in training mode, only between layers (one layer is unaffected)`, () => {
      const deep = new Module({ inputSize: 3, hiddenSize: 8, numLayers: 2, dropout: 0.5, seed: 1 });
      const clean = new Module({ inputSize: 3, hiddenSize: 8, numLayers: 2, seed: 1 });
      assert.ok(maxDiff(deep.forward(x)[0], clean.forward(x)[0]) > 1e-3);
      const shallow = new Module({ inputSize: 3, hiddenSize: 8, dropout: 0.5, seed: 1 });
      const shallowClean = new Module({ inputSize: 3, hiddenSize: 8, seed: 1 });
      assert.deepEqual(Array.from(shallow.forward(x)[0].data), Array.from(shallowClean.forward(x)[0].data));
    });
  }

  test('in training mode multiplies each lower layer output of (L, N, D*P) by its mask, as the chained layers would', () => {
    // a 2-layer projected bidirectional LSTM with a given mask = layer 0, the output times the mask, then layer 1
    const [L, N, P] = [4, 2, 2];
    const mask = Array.from({ length: L * N * 2 * P }, (_, i) => (i % 3 === 0 ? 0 : 2));
    const m = new LSTM({
      inputSize: 3,
      hiddenSize: 4,
      projSize: P,
      numLayers: 2,
      bidirectional: true,
      dropout: 0.5,
      dtype: f64,
      seed: new MaskReplay([mask]),
    });
    const xs = randn([L, N, 3], { generator: 7, dtype: f64 });
    const [out] = m.forward(xs);
    const [l0, l1] = m.split();
    const [o0] = (l0 as LSTM).forward(xs);
    const dropped = tensor(
      Array.from(o0.data, (v, i) => v * (mask[i] as number)),
      o0.shape,
      f64,
    );
    assert.deepEqual(Array.from((l1 as LSTM).forward(dropped)[0].data), Array.from(out.data));
  });
});

describe('split() and stack', () => {
  for (const [bidirectional, projSize] of [
    [false, 0],
    [true, 0],
    [true, 2],
  ] as const) {
    test(`an LSTM${bidirectional ? ', bidirectional' : ''}${projSize ? ', projected' : ''}, split into layers and chained with their slices of (h0, c0), gives the stacked output and (h_n, c_n) exactly`, () => {
      const D = bidirectional ? 2 : 1;
      const lstm = new LSTM({
        inputSize: 3,
        hiddenSize: 4,
        numLayers: 3,
        bidirectional,
        projSize,
        dtype: f64,
        seed: 8,
      });
      const P = projSize || 4;
      const x = randn([5, 2, 3], { generator: 1, dtype: f64 });
      const h0 = randn([3 * D, 2, P], { generator: 2, dtype: f64 });
      const c0 = randn([3 * D, 2, 4], { generator: 3, dtype: f64 });
      const [out, [hN, cN]] = lstm.forward(x, [h0, c0], { lengths: [5, 3] });
      let seq = x;
      const hs: number[] = [];
      const cs: number[] = [];
      lstm.split().forEach((single, k) => {
        assert.equal(single.numLayers, 1);
        const [o, [h, c]] = single.forward(seq, [slice(h0, k * D, (k + 1) * D), slice(c0, k * D, (k + 1) * D)], {
          lengths: [5, 3],
        });
        seq = o;
        hs.push(...h.data);
        cs.push(...c.data);
      });
      assert.deepEqual(Array.from(seq.data), Array.from(out.data));
      assert.deepEqual(hs, Array.from(hN.data));
      assert.deepEqual(cs, Array.from(cN.data));
    });
  }

  test('a GRU, split into layers and chained, gives the stacked output and h_n exactly', () => {
    const gru = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 3, bidirectional: true, dtype: f64, seed: 8 });
    const x = randn([5, 2, 3], { generator: 1, dtype: f64 });
    const h0 = randn([6, 2, 4], { generator: 2, dtype: f64 });
    const [out, hN] = gru.forward(x, h0);
    let seq = x;
    const hs: number[] = [];
    gru.split().forEach((single, k) => {
      const [o, h] = single.forward(seq, slice(h0, 2 * k, 2 * k + 2));
      seq = o;
      hs.push(...h.data);
    });
    assert.deepEqual(Array.from(seq.data), Array.from(out.data));
    assert.deepEqual(hs, Array.from(hN.data));
  });

  test('LSTM.stack and GRU.stack join split networks back into the same one', () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 3, bidirectional: true, projSize: 3, seed: 8 });
    const again = LSTM.stack(lstm.split());
    assert.equal(String(again), String(lstm));
    assert.deepEqual(again.stateDict(), lstm.stateDict());
    const gru = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 3, bias: false, seed: 8 });
    assert.deepEqual(GRU.stack(gru.split()).stateDict(), gru.stateDict());
    assert.equal(LSTM.stack(lstm.split(), { dropout: 0.5 }).dropout, 0.5);
  });

  test('LSTM.stack refuses modules that do not chain, saying which', () => {
    const a = new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 2 });
    throwsRnnError(
      () => LSTM.stack([a, new LSTM({ inputSize: 2, hiddenSize: 4 })]),
      /^LSTM.stack: lstms\[1\].projSize is 0, expected 2 like lstms\[0\]$/,
    );
    throwsRnnError(
      () => LSTM.stack([a, new LSTM({ inputSize: 4, hiddenSize: 4, projSize: 2 })]),
      /lstms\[1\].inputSize must be 2 \(D\*P of the module before it\), got 4/,
      'shape_mismatch',
    );
    throwsRnnError(
      () => LSTM.stack([a, new GRU({ inputSize: 2, hiddenSize: 4 }) as never]),
      /lstms\[1\] is a GRU, not an LSTM/,
    );
    throwsRnnError(
      () => GRU.stack([new GRU({ inputSize: 2, hiddenSize: 4 }), a as never]),
      /grus\[1\] is an LSTM, not a GRU/,
    );
  });
});

describe('the functional forward', () => {
  // recurrentForward sums (x W_ih^T + b_ih) + (h W_hh^T + b_hh) as the formulas read; the kernels fold b_hh (but the
  // GRU's) into the input projection first: the same math in another rounding order, a few ulps apart in float64
  for (const [batchFirst, bidirectional, projSize] of [
    [false, false, 0],
    [true, true, 3],
    [false, true, 0],
  ] as const) {
    test(`gives the LSTM's numbers to rounding, c_n included (${batchFirst ? 'batch-first, ' : ''}${bidirectional ? 'bidirectional, ' : ''}proj_size ${projSize}, lengths)`, () => {
      const m = new LSTM({
        inputSize: 3,
        hiddenSize: 4,
        numLayers: 2,
        batchFirst,
        bidirectional,
        projSize,
        dtype: f64,
        seed: 1,
      }).eval();
      const D = bidirectional ? 2 : 1;
      const x = randn(batchFirst ? [2, 5, 3] : [5, 2, 3], { generator: 3, dtype: f64 });
      const h0 = randn([2 * D, 2, projSize || 4], { generator: 4, dtype: f64 });
      const c0 = randn([2 * D, 2, 4], { generator: 5, dtype: f64 });
      const [out, [hN, cN]] = m.forward(x, [h0, c0], { lengths: [5, 2] });
      const r = recurrentForward(x, m.stateDict(), { batchFirst, h0, c0, lengths: [5, 2] });
      assert.equal(r.cell, 'LSTM');
      const [fOut, [fH, fC]] = lstmForward(x, m.stateDict(), { batchFirst, h0, c0, lengths: [5, 2] });
      for (const [a, b, what] of [
        [out, r.output, 'output'],
        [hN, r.hN, 'h_n'],
        [cN, r.cN as Tensor, 'c_n'],
        [out, fOut, 'lstmForward output'],
        [hN, fH, 'lstmForward h_n'],
        [cN, fC, 'lstmForward c_n'],
      ] as const) {
        assert.ok(scaledError(a, b) < 1e-15, `${what} differs by ${scaledError(a, b)}`);
      }
    });
  }

  test("gives the GRU's numbers to rounding, and refuses another cell's state dict", () => {
    const m = new GRU({
      inputSize: 3,
      hiddenSize: 4,
      numLayers: 2,
      bidirectional: true,
      batchFirst: true,
      dtype: f64,
      seed: 2,
    }).eval();
    const x = randn([2, 5, 3], { generator: 3, dtype: f64 });
    const h0 = randn([4, 2, 4], { generator: 4, dtype: f64 });
    const [out, hN] = m.forward(x, h0, { lengths: [3, 5] });
    const [fOut, fH] = gruForward(x, m.stateDict(), { batchFirst: true, h0, lengths: [3, 5] });
    assert.ok(scaledError(out, fOut) < 1e-15 && scaledError(hN, fH) < 1e-15);
    throwsRnnError(
      () => gruForward(x, new LSTM({ inputSize: 3, hiddenSize: 4 }).stateDict()),
      /holds an nn.LSTM, not an nn.GRU/,
    );
  });
});

describe('the tape', () => {
  /** Bytes per element of the kernel's buffers for a stack of this work (a float32 model's small ones are float64). */
  const bytesPer = (dtype: 'float32' | 'float64', work: number) =>
    getKernel().scratch(dtype === 'float32' ? new Float32Array(0) : new Float64Array(0), 0, work).BYTES_PER_ELEMENT;

  test("an LSTM's recorded forward holds each layer's output and each direction's gates and c (5H), plus masks with dropout", () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const [L, N, H, P, K, D] = [5, 2, 4, 3, 3, 2];
      const b = bytesPer(dtype, layerWork(L, N, 3, H, P, D, 'LSTM'));
      const m = new LSTM({
        inputSize: 3,
        hiddenSize: H,
        projSize: P,
        numLayers: K,
        bidirectional: true,
        dropout: 0.5,
        dtype,
        seed: 1,
      });
      const x = randn([L, N, 3], { dtype, generator: 2 });
      const outputs = K * L * N * D * P * b;
      const gates = K * D * L * N * 5 * H * b;
      m.eval().forward(x, null, { requiresGrad: true });
      assert.equal(m.tapeBytes, outputs + gates, `${dtype}, eval mode`);
      m.train().forward(x, null, { requiresGrad: true });
      assert.equal(m.tapeBytes, outputs + gates + (K - 1) * L * N * D * P * b, `${dtype}, training: K-1 masks`);
      m.backward(null, [null, null]);
      assert.equal(m.tapeBytes, 0, 'a backward consumes the tape');
    }
  });

  test("a GRU's recorded forward holds each layer's output and each direction's gates and h W_hn + b_hn (4H)", () => {
    const [L, N, H, K] = [5, 2, 4, 2];
    const m = new GRU({ inputSize: 3, hiddenSize: H, numLayers: K, dtype: f64, seed: 1 });
    m.forward(randn([L, N, 3], { dtype: f64, generator: 2 }), null, { requiresGrad: true });
    assert.equal(m.tapeBytes, (K * L * N * H + K * L * N * 4 * H) * 8);
    m.forward(randn([L, N, 3], { dtype: f64, generator: 2 }));
    assert.equal(m.tapeBytes, 0, 'a forward without requiresGrad drops the recording');
  });

  test('a recorded LSTMCell step holds h and its gates and c (6H per row), a GRUCell step 5H, until backward pops it', () => {
    const lc = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: f64, seed: 0 });
    const x = randn([4, 2], { dtype: f64, generator: 1 });
    const [h1, c1] = lc.forward(x, null, { requiresGrad: true });
    lc.forward(x, [h1, c1], { requiresGrad: true });
    assert.equal(lc.tapeBytes, 2 * 4 * 6 * 3 * 8);
    lc.backward([zeros([4, 3], f64), null]);
    assert.equal(lc.tapeBytes, 4 * 6 * 3 * 8);
    const gc = new GRUCell({ inputSize: 2, hiddenSize: 3, dtype: f64, seed: 0 });
    gc.forward(x, null, { requiresGrad: true });
    assert.equal(gc.tapeBytes, 4 * 5 * 3 * 8);
  });
});

describe('gradients', () => {
  test('an LSTM adds its parameter gradients across two backwards, weight_hr included, until zeroGrad', () => {
    const m = new LSTM({
      inputSize: 3,
      hiddenSize: 4,
      projSize: 2,
      numLayers: 2,
      bidirectional: true,
      dtype: f64,
      seed: 1,
    });
    const x = randn([5, 2, 3], { dtype: f64, generator: 2 });
    const state: [Tensor, Tensor] = [
      randn([4, 2, 2], { dtype: f64, generator: 3 }),
      randn([4, 2, 4], { dtype: f64, generator: 4 }),
    ];
    const gOut = randn([5, 2, 4], { dtype: f64, generator: 5 });
    const gC = randn([4, 2, 4], { dtype: f64, generator: 6 });
    const once = () => {
      m.forward(x, state, { requiresGrad: true });
      return m.backward(gOut, [null, gC]);
    };
    const first = once();
    const grads = m.namedGrads().map(([name, g]) => [name, g.clone()] as const);
    assert.ok(grads.some(([n, g]) => n.startsWith('weight_hr') && g.data.some((v) => v !== 0)));
    const second = once();
    for (const [name, g] of grads) {
      const twice = { shape: g.shape, data: Array.from(g.data, (v) => 2 * v) };
      assert.ok(scaledError(m.grad(name), twice) < 1e-15, `${name} is not twice the first`);
    }
    // the input and state gradients are returned, not accumulated
    assert.deepEqual(Array.from(second.input?.data ?? []), Array.from(first.input?.data ?? []));
    assert.deepEqual(Array.from(second.c0?.data ?? []), Array.from(first.c0?.data ?? []));
    m.zeroGrad();
    for (const [, g] of m.namedGrads()) assert.ok(g.data.every((v) => v === 0));
  });

  test('a GRU adds its gradients across two backwards (bias_hh, inside the reset gate, too)', () => {
    const m = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, dtype: f64, seed: 1 });
    const x = randn([5, 2, 3], { dtype: f64, generator: 2 });
    const gOut = randn([5, 2, 4], { dtype: f64, generator: 5 });
    m.forward(x, null, { requiresGrad: true });
    m.backward(gOut);
    const once = m.grad('bias_hh_l0').clone();
    m.forward(x, null, { requiresGrad: true });
    m.backward(gOut, null, { inputGrad: false });
    assert.ok(
      scaledError(m.grad('bias_hh_l0'), { shape: once.shape, data: Array.from(once.data, (v) => 2 * v) }) < 1e-15,
    );
  });

  test('the state gradients are null without a given state, and each names its own shape when wrong', () => {
    const m = new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 2, dtype: f64, seed: 1 });
    const x = randn([5, 3], { dtype: f64, generator: 2 });
    m.forward(x, null, { requiresGrad: true });
    throwsRnnError(
      () => m.backward(null, [null, zeros([1, 2], f64)]),
      /gradCN .*expected \[1, 4\], got \[1, 2\]/,
      'shape_mismatch',
    );
    throwsRnnError(() => m.backward(null, [zeros([1, 4], f64), null]), /gradHN .*expected \[1, 2\], got \[1, 4\]/);
    const g = m.backward(zeros([5, 2], f64), [zeros([1, 2], f64), zeros([1, 4], f64)]);
    assert.equal(g.h0, null);
    assert.equal(g.c0, null);
    assert.deepEqual(g.input?.shape, [5, 3]);
    throwsRnnError(() => m.backward(null), /LSTM\.backward\(\) needs a forward/);
  });

  test('backpropagating through a loop of LSTMCell steps gives the one-layer LSTM backward', () => {
    const [L, N, I, H] = [4, 2, 3, 5];
    const lstm = new LSTM({ inputSize: I, hiddenSize: H, dtype: f64, seed: 3 });
    const cell = new LSTMCell({ inputSize: I, hiddenSize: H, dtype: f64, seed: 0 });
    cell.loadStateDict(Object.fromEntries(lstm.namedParameters().map(([n, p]) => [n.replace('_l0', ''), p])));
    const x = randn([L, N, I], { dtype: f64, generator: 1 });
    const h0 = randn([1, N, H], { dtype: f64, generator: 2 });
    const c0 = randn([1, N, H], { dtype: f64, generator: 3 });
    const gOut = randn([L, N, H], { dtype: f64, generator: 4 });
    const gHN = randn([1, N, H], { dtype: f64, generator: 5 });
    const gCN = randn([1, N, H], { dtype: f64, generator: 6 });
    lstm.forward(x, [h0, c0], { requiresGrad: true });
    const want = lstm.backward(gOut, [gHN, gCN]);

    const rows = (data: Float64Array | Float32Array, t: number, width: number) =>
      tensor(data.slice(t * N * width, (t + 1) * N * width), [N, width], f64);
    let state: [Tensor, Tensor] = [rows(h0.data, 0, H), rows(c0.data, 0, H)];
    for (let t = 0; t < L; t++) state = cell.forward(rows(x.data, t, I), state, { requiresGrad: true });
    let dh = rows(gHN.data, 0, H);
    let dc = rows(gCN.data, 0, H);
    const dx: number[][] = [];
    for (let t = L - 1; t >= 0; t--) {
      const gradH = tensor(
        Array.from(dh.data, (v, i) => v + (rows(gOut.data, t, H).data[i] as number)),
        [N, H],
        f64,
      );
      const g = cell.backward([gradH, dc]);
      dx[t] = Array.from(g.input.data);
      dh = g.hx as Tensor;
      dc = g.cx as Tensor;
    }
    assert.ok(scaledError({ shape: [L, N, I], data: dx.flat() }, want.input as Tensor) < 1e-14, 'input');
    assert.ok(scaledError({ shape: [1, N, H], data: dh.data }, want.h0 as Tensor) < 1e-14, 'h0');
    assert.ok(scaledError({ shape: [1, N, H], data: dc.data }, want.c0 as Tensor) < 1e-14, 'c0');
    for (const [name, g] of cell.namedGrads()) assert.ok(scaledError(g, lstm.grad(`${name}_l0`)) < 1e-14, name);
  });

  test("an LSTMCell's backward of (null, gradC) and (gradH, null) add up to that of both", () => {
    const cell = new LSTMCell({ inputSize: 3, hiddenSize: 4, dtype: f64, seed: 5 });
    const x = randn([2, 3], { dtype: f64, generator: 1 });
    const state: [Tensor, Tensor] = [
      randn([2, 4], { dtype: f64, generator: 2 }),
      randn([2, 4], { dtype: f64, generator: 3 }),
    ];
    const gH = randn([2, 4], { dtype: f64, generator: 4 });
    const gC = randn([2, 4], { dtype: f64, generator: 5 });
    const run = (grads: [Tensor | null, Tensor | null]) => {
      cell.forward(x, state, { requiresGrad: true });
      return cell.backward(grads);
    };
    const both = run([gH, gC]);
    const [a, b] = [run([gH, null]), run([null, gC])];
    for (const k of ['input', 'hx', 'cx'] as const) {
      const sum = {
        shape: both[k]?.shape ?? [],
        data: Array.from(a[k]?.data ?? [], (v, i) => v + ((b[k]?.data[i] ?? 0) as number)),
      };
      assert.ok(scaledError(both[k] as Tensor, sum) < 1e-15, k);
    }
  });

  test('a float32 LSTM gradient through the case helpers keeps float32 tensors', () => {
    const m = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
    m.forward(asTensor({ shape: [2, 2], data: [1, 2, 3, 4] }, 'float32'), null, { requiresGrad: true });
    const g = m.backward(randn([2, 3]));
    assert.equal(g.input?.dtype, 'float32');
    assert.equal(m.grad('weight_hh_l0').dtype, 'float32');
  });
});

test('forwardStates refuses a state list of the wrong length: an LSTM takes [h0, c0], a GRU [h0]', () => {
  const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 0 });
  const gru = new GRU({ inputSize: 2, hiddenSize: 3, seed: 0 });
  const x = zeros([4, 1, 2]);
  const h = zeros([1, 1, 3]);
  assert.throws(() => lstm.forwardStates(x, [h]), /LSTM takes its initial state as \[h0, c0\], got 1 tensor\(s\)/);
  assert.throws(() => gru.forwardStates(x, [h, h]), /GRU takes its initial state as \[h0\], got 2 tensor\(s\)/);
});

test('a typo in num_layers is refused at once by its tensor count, before anything is listed or allocated', () => {
  for (const make of [
    () => new RNN({ inputSize: 1, hiddenSize: 1, numLayers: 1e8 }),
    () => new LSTM({ inputSize: 1, hiddenSize: 2, numLayers: 1e8, projSize: 1 }),
  ]) {
    assert.throws(make, /num_layers=100000000 would have \d+ parameter tensors; the limit is 100000/);
  }
});
