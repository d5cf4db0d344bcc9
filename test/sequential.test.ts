/**
 * Sequential's own behaviour: names, state passing, backward chaining, refusals. Its numbers against PyTorch are
 * in test/char-model.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Embedding, GRU, Linear, LSTM, RNN, randn, Sequential } from '../src/index.js';

const lm = () =>
  new Sequential({
    emb: new Embedding({ numEmbeddings: 5, embeddingDim: 3, seed: 0, dtype: 'float64' }),
    rnn: new GRU({ inputSize: 3, hiddenSize: 4, seed: 1, dtype: 'float64' }),
    head: new Linear({ inFeatures: 4, outFeatures: 5, seed: 2, dtype: 'float64' }),
  });

describe('Sequential', () => {
  test('an array of children is named 0, 1, ... as nn.Sequential names them', () => {
    const m = new Sequential([
      new RNN({ inputSize: 2, hiddenSize: 3, seed: 0 }),
      new Linear({ inFeatures: 3, outFeatures: 1 }),
    ]);
    assert.deepEqual(
      m.namedParameters().map(([n]) => n),
      ['0.weight_ih_l0', '0.weight_hh_l0', '0.bias_ih_l0', '0.bias_hh_l0', '1.weight', '1.bias'],
    );
  });

  test('a nested Sequential gives dotted names two deep, and its state under its dotted name', () => {
    const m = new Sequential({
      encoder: new Sequential({ rnn: new LSTM({ inputSize: 2, hiddenSize: 3, seed: 0 }) }),
      head: new Linear({ inFeatures: 3, outFeatures: 1 }),
    });
    assert.ok(Object.keys(m.stateDict()).includes('encoder.rnn.weight_hh_l0'));
    const [, state] = m.forward(randn([4, 1, 2], { generator: 0 }));
    assert.deepEqual(Object.keys(state), ['encoder.rnn']);
    assert.equal(state['encoder.rnn']?.length, 2);
  });

  test('the returned state fed back continues the sequence exactly as one longer forward', () => {
    const m = lm();
    const ids = [[1], [2], [3], [4]];
    const [whole] = m.forward(ids);
    const [, state] = m.forward(ids.slice(0, 2));
    const [rest] = m.forward(ids.slice(2), state);
    assert.deepEqual(Array.from(rest.data), Array.from(whole.data.subarray(2 * 5)));
  });

  test('backward returns the initial state gradient of a recurrent child given a state', () => {
    const m = lm();
    const h0 = randn([1, 2, 4], { generator: 3, dtype: 'float64' });
    const [out] = m.forward(
      [
        [1, 2],
        [3, 4],
      ],
      { rnn: [h0] },
      { requiresGrad: true },
    );
    const g = m.backward(out.clone());
    assert.equal(g.input, null); // ids have no gradient
    assert.deepEqual(g.states.rnn?.[0]?.shape, [1, 2, 4]);
  });

  test('backward accumulates into every child until zeroGrad', () => {
    const m = lm();
    const [out] = m.forward([[1, 2]], null, { requiresGrad: true });
    m.backward(out.clone());
    const once = Array.from(m.grad('emb.weight').data);
    assert.ok(once.some((x) => x !== 0));
    m.zeroGrad();
    assert.ok(m.namedGrads().every(([, t]) => t.data.every((x) => x === 0)));
  });

  test('parameters() pairs each parameter with its live gradient, in namedParameters order', () => {
    const m = lm();
    const params = m.parameters();
    assert.equal(params.length, m.namedParameters().length);
    assert.equal(params[0]?.grad, m.grad('emb.weight'));
    assert.equal(params[0]?.value, m.parameter('emb.weight'));
  });

  test("train() and eval() set every child's mode", () => {
    const m = lm();
    m.eval();
    assert.ok([...m.children.values()].every((c) => !c.training));
    m.train();
    assert.ok(m.training);
  });

  test("loadStateDict reports missing and misshapen entries by their dotted names, in torch's words", () => {
    const m = lm();
    const sd = m.stateDict();
    delete sd['head.bias'];
    sd['rnn.weight_hh_l0'] = randn([2, 2]);
    assert.throws(
      () => m.loadStateDict(sd),
      /Missing key\(s\) in state_dict: "head\.bias"[\s\S]*size mismatch for rnn\.weight_hh_l0/,
    );
    assert.equal(m.loadStateDict({}, { strict: false }).missingKeys.length, 7);
  });

  test('repr is PyTorch’s', () => {
    assert.equal(
      lm().toString(),
      'Sequential(\n  (emb): Embedding(5, 3)\n  (rnn): GRU(3, 4)\n  (head): Linear(in_features=4, out_features=5, bias=True)\n)',
    );
  });

  test('a dotted child name, an empty list and a non-module child are refused', () => {
    assert.throws(() => new Sequential({ 'a.b': new Linear({ inFeatures: 1, outFeatures: 1 }) }), /can't contain "\."/);
    assert.throws(() => new Sequential([]), /at least one child/);
    assert.throws(() => new Sequential({ f: (() => 0) as never }), /must be an Embedding, Linear, RNN, LSTM, GRU/);
  });

  test('ids reaching a child that is not an Embedding are refused, naming it', () => {
    const m = new Sequential({ head: new Linear({ inFeatures: 2, outFeatures: 1 }) });
    assert.throws(() => m.forward([[1, 2]]), /child 'head' takes a float Tensor/);
  });
});
