import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RNN, RNNCell, RnnError, randn, rnnForward, type Tensor, tensor, zeros } from '../src/index.js';

function maxDiff(a: Tensor, b: Tensor): number {
  let m = 0;
  for (let i = 0; i < a.numel; i++) m = Math.max(m, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return m;
}
const maxAbs = (t: Tensor) => maxDiff(t, zeros(t.shape, t.dtype));

function throwsRnnError(fn: () => unknown, message: RegExp, code?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RnnError, `expected RnnError, got ${String(err)}`);
    assert.match(err.message, message);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

describe('constructing an RNN', () => {
  test('names and shapes its parameters exactly as PyTorch does', () => {
    const rnn = new RNN({ inputSize: 2, hiddenSize: 3, numLayers: 2, bidirectional: true });
    const shapes = Object.fromEntries(rnn.namedParameters().map(([n, p]) => [n, p.shape.join('x')]));
    assert.deepEqual(Object.keys(shapes), [
      'weight_ih_l0',
      'weight_hh_l0',
      'bias_ih_l0',
      'bias_hh_l0',
      'weight_ih_l0_reverse',
      'weight_hh_l0_reverse',
      'bias_ih_l0_reverse',
      'bias_hh_l0_reverse',
      'weight_ih_l1',
      'weight_hh_l1',
      'bias_ih_l1',
      'bias_hh_l1',
      'weight_ih_l1_reverse',
      'weight_hh_l1_reverse',
      'bias_ih_l1_reverse',
      'bias_hh_l1_reverse',
    ]);
    assert.equal(shapes.weight_ih_l0, '3x2');
    assert.equal(shapes.weight_ih_l1, '3x6', 'layer 1 reads both directions of layer 0: D*H = 6 features');
  });

  test('has no bias parameters with bias: false', () => {
    const rnn = new RNN({ inputSize: 2, hiddenSize: 3, bias: false });
    assert.deepEqual(
      rnn.namedParameters().map(([n]) => n),
      ['weight_ih_l0', 'weight_hh_l0'],
    );
  });

  test('initialises every parameter within U(-1/sqrt(H), 1/sqrt(H))', () => {
    // H = 100: bound 0.1; with >= 100 draws per tensor, max |w| < 0.09 has probability below 0.9^100 = 3e-5.
    const rnn = new RNN({ inputSize: 5, hiddenSize: 100, numLayers: 3, seed: 1 });
    for (const [name, p] of rnn.namedParameters()) {
      const max = maxAbs(p);
      assert.ok(max <= 0.1 && max > 0.09, `${name}: max |w| = ${max}`);
    }
  });

  test('is reproducible for a seed, and another seed gives other weights', () => {
    const weights = (seed: number) =>
      new RNN({ inputSize: 2, hiddenSize: 3, seed }).namedParameters().map(([n, p]) => [n, Array.from(p.data)]);
    assert.deepEqual(weights(42), weights(42));
    assert.notDeepEqual(weights(43), weights(42));
  });

  test("rejects bad options in PyTorch's words", () => {
    throwsRnnError(
      () => new RNN({ inputSize: 2, hiddenSize: 3, nonlinearity: 'sigmoid' as 'tanh' }),
      /^Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'.$/,
    );
    throwsRnnError(
      () => new RNN({ inputSize: 2, hiddenSize: 3, dropout: 1.5 }),
      /dropout should be a number in range \[0, 1\]/,
    );
    throwsRnnError(
      () => new RNN({ inputSize: 2, hiddenSize: 3, dropout: -0.1 }),
      /dropout should be a number in range \[0, 1\]/,
    );
    throwsRnnError(() => new RNN({ inputSize: 2, hiddenSize: 0 }), /hidden_size must be greater than zero/);
    throwsRnnError(() => new RNN({ inputSize: 2, hiddenSize: 2.5 }), /hidden_size should be of type int/);
    throwsRnnError(() => new RNN({ inputSize: -1, hiddenSize: 3 }), /input_size must be greater than zero/);
    throwsRnnError(
      () => new RNN({ inputSize: 2, hiddenSize: 3, numLayers: 0 }),
      /num_layers must be greater than zero/,
    );
    throwsRnnError(() => new RNN({ inputSize: 2, hiddenSize: 3, dtype: 'float16' as 'float32' }), /Unknown dtype/);
  });

  test('refuses sizes whose parameters would not fit in memory, before allocating anything', () => {
    throwsRnnError(
      () => new RNN({ inputSize: 2, hiddenSize: 1e6 }),
      /RNN would have 1000004000000 parameters \(3.6 TiB\); the limit is 4 GiB/,
    );
    throwsRnnError(() => new RNN({ inputSize: 1e12, hiddenSize: 2 }), /the limit is 4 GiB/);
    throwsRnnError(() => zeros([1e6, 1e6]), /cannot allocate a float32 tensor of 1000000000000 elements/);
  });
});

describe('RNN.forward', () => {
  const rnn = new RNN({ inputSize: 2, hiddenSize: 5, numLayers: 2, seed: 3 }).eval();
  const x = randn([4, 3, 2], { generator: 5 });

  test("rejects inputs in PyTorch's words", () => {
    throwsRnnError(
      () => rnn.forward(randn([1, 4, 3, 2])),
      /^RNN: Expected input to be 2D or 3D, got 4D tensor instead$/,
      'shape_mismatch',
    );
    throwsRnnError(
      () => rnn.forward(randn([4, 3, 7])),
      /^input.size\(-1\) must be equal to input_size. Expected 2, got 7$/,
    );
    throwsRnnError(() => rnn.forward(x, randn([2, 2, 5])), /^Expected hidden size \(2, 3, 5\), got \[2, 2, 5\]$/);
    throwsRnnError(
      () => rnn.forward(x, randn([2, 5])),
      /^For batched 3-D input, hx should also be 3-D but got 2-D tensor$/,
    );
    throwsRnnError(
      () => rnn.forward(randn([4, 2]), randn([2, 1, 5])),
      /^For unbatched 2-D input, hx should also be 2-D but got 3-D tensor$/,
    );
    throwsRnnError(() => rnn.forward(randn([0, 3, 2])), /^Expected sequence length to be larger than 0 in RNN$/);
    throwsRnnError(
      () => rnn.forward(x.to('float64')),
      /input must have the type torch.float32, got type torch.float64/,
    );
    throwsRnnError(
      () => rnn.forward(x, null, { lengths: [4, 2] }),
      /Expected `len\(lengths\)` to be equal to batch_size, but got 2 \(batch_size=3\)/,
    );
    throwsRnnError(
      () => rnn.forward(x, null, { lengths: [4, 0, 1] }),
      /Length of all samples has to be greater than 0/,
    );
    throwsRnnError(
      () => rnn.forward(x, null, { lengths: [4, 5, 1] }),
      /lengths\[1\] = 5 is larger than the sequence length 4/,
    );
    throwsRnnError(() => rnn.forward(x, null, { lengths: [4, 1.5, 1] }), /lengths must be integers/);
  });

  test('reports the expected and received values as fields, not only in the message', () => {
    try {
      rnn.forward(randn([4, 3, 7]));
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof RnnError);
      assert.equal(err.expected, 2);
      assert.equal(err.got, 7);
    }
  });

  test('gives an unbatched input the batched result with the batch dimension removed', () => {
    const [batched, hB] = rnn.forward(randn([4, 1, 2], { generator: 9 }));
    const [single, hS] = rnn.forward(randn([4, 2], { generator: 9 }));
    assert.deepEqual(single.shape, [4, 5]);
    assert.deepEqual(hS.shape, [2, 5]);
    assert.deepEqual(Array.from(single.data), Array.from(batched.data));
    assert.deepEqual(Array.from(hS.data), Array.from(hB.data));
  });

  test('gives batch_first the same numbers, transposed', () => {
    const bf = new RNN({ ...rnn.options, batchFirst: true }).eval();
    bf.loadStateDict(rnn.stateDict());
    const xt = tensor(x.tolist() as number[][][]).data; // (L, N, I)
    const xbf = new Float32Array(xt.length);
    for (let t = 0; t < 4; t++)
      for (let n = 0; n < 3; n++)
        for (let i = 0; i < 2; i++) xbf[(n * 4 + t) * 2 + i] = xt[(t * 3 + n) * 2 + i] as number;
    const [o1, h1] = rnn.forward(x);
    const [o2, h2] = bf.forward(tensor(xbf, [3, 4, 2]));
    assert.deepEqual(o2.shape, [3, 4, 5]);
    for (let t = 0; t < 4; t++)
      for (let n = 0; n < 3; n++) for (let j = 0; j < 5; j++) assert.equal(o2.item(n, t, j), o1.item(t, n, j));
    assert.deepEqual(Array.from(h2.data), Array.from(h1.data), 'h_n is (K*D, N, H) either way');
  });

  test("with lengths, pads with zeros and returns each sequence's state at its last valid step", () => {
    const [out, hN] = rnn.forward(x, null, { lengths: [4, 2, 1] });
    for (let j = 0; j < 5; j++) {
      assert.equal(out.item(2, 1, j), 0);
      assert.equal(out.item(3, 1, j), 0);
      assert.equal(hN.item(1, 1, j), out.item(1, 1, j), 'last layer state of sequence 1 is its output at t = 1');
    }
    const [short] = rnn.forward(tensor(Array.from(x.data.subarray(0, 2 * 3 * 2)), [2, 3, 2]));
    for (let j = 0; j < 5; j++) assert.equal(out.item(1, 1, j), short.item(1, 1, j));
  });
});

describe('dropout', () => {
  const x = randn([6, 4, 3], { generator: 2 });

  test('is off in eval mode: the output equals the dropout-free network', () => {
    const a = new RNN({ inputSize: 3, hiddenSize: 8, numLayers: 3, dropout: 0.5, seed: 1 }).eval();
    const b = new RNN({ inputSize: 3, hiddenSize: 8, numLayers: 3, seed: 1 }).eval();
    assert.deepEqual(Array.from(a.forward(x)[0].data), Array.from(b.forward(x)[0].data));
  });

  test('changes the output in training mode, and only between layers (a 1-layer RNN is unaffected)', () => {
    const deep = new RNN({ inputSize: 3, hiddenSize: 8, numLayers: 2, dropout: 0.5, seed: 1 });
    const clean = new RNN({ inputSize: 3, hiddenSize: 8, numLayers: 2, seed: 1 });
    assert.ok(maxDiff(deep.forward(x)[0], clean.forward(x)[0]) > 1e-3);
    const shallow = new RNN({ inputSize: 3, hiddenSize: 8, numLayers: 1, dropout: 0.5, seed: 1 });
    const shallowClean = new RNN({ inputSize: 3, hiddenSize: 8, numLayers: 1, seed: 1 });
    assert.deepEqual(Array.from(shallow.forward(x)[0].data), Array.from(shallowClean.forward(x)[0].data));
  });

  test('with p = 1 cuts layer 1 off from layer 0: its output no longer depends on the input', () => {
    const rnn = new RNN({ inputSize: 3, hiddenSize: 8, numLayers: 2, dropout: 1, seed: 1 });
    const [a] = rnn.forward(x);
    const [b] = rnn.forward(randn([6, 4, 3], { generator: 99 }));
    assert.equal(maxDiff(a, b), 0);
  });

  test('scales kept elements by 1/(1-p), keeping the mean: a linear-readout network agrees on average', () => {
    // With relu and positive weights in layer 1, E[output] under dropout equals the clean output's first step.
    const p = 0.3;
    const rnn = new RNN({
      inputSize: 3,
      hiddenSize: 4,
      numLayers: 2,
      dropout: p,
      nonlinearity: 'relu',
      bias: false,
      seed: 4,
      dtype: 'float64',
    });
    rnn.parameter('weight_ih_l1').data.fill(0.25);
    rnn.parameter('weight_ih_l0').data.fill(0.2);
    const x1 = tensor([[[1, 2, 3]]], undefined, 'float64'); // one step: no recurrence, output = relu(W1 drop(relu(W0 x)))
    const clean = new RNN({ ...rnn.options, dropout: 0, seed: 0 }).eval();
    clean.loadStateDict(rnn.stateDict());
    const expected = clean.forward(x1)[0].item(0, 0, 0);
    let sum = 0;
    const trials = 4000;
    for (let i = 0; i < trials; i++) sum += rnn.forward(x1)[0].item(0, 0, 0);
    assert.ok(Math.abs(sum / trials - expected) < 0.03 * expected, `mean ${sum / trials} vs ${expected}`);
  });
});

describe('the three views of a stacked RNN', () => {
  for (const bidirectional of [false, true]) {
    test(`split() into single layers and chaining them gives exactly the K-layer output${bidirectional ? ' (bidirectional)' : ''}`, () => {
      const rnn = new RNN({
        inputSize: 3,
        hiddenSize: 4,
        numLayers: 3,
        bidirectional,
        seed: 8,
        dtype: 'float64',
      }).eval();
      const x = randn([5, 2, 3], { generator: 1, dtype: 'float64' });
      const D = bidirectional ? 2 : 1;
      const h0 = randn([3 * D, 2, 4], { generator: 2, dtype: 'float64' });
      const [out, hN] = rnn.forward(x, h0);
      let seq = x;
      const states: number[] = [];
      rnn.split().forEach((single, k) => {
        const [o, h] = single
          .eval()
          .forward(seq, tensor(h0.data.slice(k * D * 8, (k + 1) * D * 8), [D, 2, 4], 'float64'));
        seq = o;
        states.push(...h.data);
      });
      assert.equal(maxDiff(seq, out), 0);
      assert.deepEqual(states, Array.from(hN.data));
    });
  }

  test('RNN.stack() joins split networks back into the same one', () => {
    const rnn = new RNN({ inputSize: 3, hiddenSize: 4, numLayers: 3, bidirectional: true, seed: 8 });
    assert.deepEqual(RNN.stack(rnn.split()).stateDict(), rnn.stateDict());
  });

  test('RNN.stack() refuses networks that do not chain, saying which', () => {
    const a = new RNN({ inputSize: 3, hiddenSize: 4 });
    throwsRnnError(() => RNN.stack([a, new RNN({ inputSize: 5, hiddenSize: 4 })]), /rnns\[1\].inputSize must be 4/);
    throwsRnnError(
      () => RNN.stack([a, new RNN({ inputSize: 4, hiddenSize: 4, nonlinearity: 'relu' })]),
      /rnns\[1\].nonlinearity is relu/,
    );
  });

  // The functional forward sums (x W_ih^T + b_ih) + (h W_hh^T + b_hh) as the formula reads; the kernel folds both
  // biases into the input projection first. Same math, different rounding order: a few ulps apart in float64.
  test("the functional forward gives the module's numbers, to rounding, in every layout", () => {
    for (const [batchFirst, bidirectional, nonlinearity] of [
      [false, false, 'tanh'],
      [true, true, 'relu'],
      [false, true, 'tanh'],
    ] as const) {
      const rnn = new RNN({
        inputSize: 3,
        hiddenSize: 4,
        numLayers: 2,
        batchFirst,
        bidirectional,
        nonlinearity,
        seed: 1,
        dtype: 'float64',
      }).eval();
      const x = randn(batchFirst ? [2, 5, 3] : [5, 2, 3], { generator: 3, dtype: 'float64' }); // L = 5, N = 2
      const [out, hN] = rnn.forward(x, null, { lengths: [5, 2] });
      const [fOut, fHN] = rnnForward(x, rnn.stateDict(), { batchFirst, nonlinearity, lengths: [5, 2] });
      assert.ok(maxDiff(out, fOut) < 1e-15, `output differs by ${maxDiff(out, fOut)}`);
      assert.ok(maxDiff(hN, fHN) < 1e-15, `h_n differs by ${maxDiff(hN, fHN)}`);
    }
  });
});

describe('loadStateDict', () => {
  const rnn = new RNN({ inputSize: 2, hiddenSize: 5, numLayers: 2 });

  test("reports missing, unexpected and misshapen keys together, as PyTorch's load_state_dict does", () => {
    const { bias_hh_l1: _, ...sd } = rnn.stateDict();
    throwsRnnError(
      () => rnn.loadStateDict({ ...sd, weight_ih_l0: randn([5, 7]), foo: randn([1]) }),
      /Error\(s\) in loading state_dict for RNN:\n\tMissing key\(s\) in state_dict: "bias_hh_l1". \n\tUnexpected key\(s\) in state_dict: "foo". \n\tsize mismatch for weight_ih_l0: copying a param with shape torch.Size\(\[5, 7\]\) from checkpoint, the shape in current model is torch.Size\(\[5, 2\]\)./,
      'state_dict',
    );
  });

  test('with strict: false, returns the missing and unexpected keys and loads the rest', () => {
    const { bias_hh_l1: _, ...sd } = new RNN({ inputSize: 2, hiddenSize: 5, numLayers: 2, seed: 9 }).stateDict();
    const result = rnn.loadStateDict({ ...sd, foo: randn([1]) }, { strict: false });
    assert.deepEqual(result, { missingKeys: ['bias_hh_l1'], unexpectedKeys: ['foo'] });
    assert.deepEqual(rnn.parameter('weight_ih_l0').data, sd.weight_ih_l0?.data);
  });

  test('converts float64 weights into a float32 model', () => {
    const sd64 = Object.fromEntries(Object.entries(rnn.stateDict()).map(([k, v]) => [k, v.to('float64')]));
    rnn.loadStateDict(sd64);
    assert.equal(rnn.parameter('weight_hh_l0').dtype, 'float32');
  });
});

describe('RNNCell', () => {
  test('one step equals a one-layer RNN over one time step with the same weights', () => {
    const cell = new RNNCell({ inputSize: 3, hiddenSize: 4, seed: 1, dtype: 'float64' });
    const rnn = new RNN({ inputSize: 3, hiddenSize: 4, dtype: 'float64' }).eval();
    rnn.loadStateDict(Object.fromEntries(cell.namedParameters().map(([n, p]) => [`${n}_l0`, p])));
    const x = randn([2, 3], { generator: 1, dtype: 'float64' });
    const h = randn([2, 4], { generator: 2, dtype: 'float64' });
    const [, hN] = rnn.forward(tensor(x.data, [1, 2, 3], 'float64'), tensor(h.data, [1, 2, 4], 'float64'));
    assert.deepEqual(Array.from(cell.forward(x, h).data), Array.from(hN.data));
  });

  test("rejects inputs in PyTorch's words", () => {
    const cell = new RNNCell({ inputSize: 2, hiddenSize: 5 });
    throwsRnnError(() => cell.forward(randn([3, 7])), /^input has inconsistent input_size: got 7 expected 2$/);
    throwsRnnError(
      () => cell.forward(randn([3, 2]), randn([2, 5])),
      /^Input batch size 3 doesn't match hidden0 batch size 2$/,
    );
    throwsRnnError(
      () => cell.forward(randn([3, 2, 1])),
      /^RNNCell: Expected input to be 1-D or 2-D but received 3-D tensor$/,
    );
    throwsRnnError(
      () => cell.forward(randn([2]), randn([3])),
      /^hidden0 has inconsistent hidden_size: got 3, expected 5$/,
    );
  });
});
