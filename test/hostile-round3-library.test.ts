/**
 * Issue 25, the library's part: calls that returned silently wrong results or threw a TypeError / RangeError now
 * throw an RnnError in words. Each test names the item of the issue it covers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Embedding,
  GRU,
  gruForward,
  inferArchitecture,
  Linear,
  LSTM,
  LSTMCell,
  lstmForward,
  mistakenForward,
  RNN,
  RnnError,
  randn,
  readJsonTensors,
  recurrentForward,
  rnnFromStateDict,
  selectPrefix,
  type Tensor,
  tensor,
  zeros,
} from '../src/index.js';

/** Throws an RnnError whose message matches `message` (not a TypeError or RangeError). */
function refuses(f: () => unknown, message: RegExp): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof RnnError, `an RnnError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
const gru = new GRU({ inputSize: 2, hiddenSize: 3, seed: 2 });
const rnn = new RNN({ inputSize: 2, hiddenSize: 3, seed: 3 });
const x = randn([4, 1, 2], { generator: 4 });

/** A copy of `t` whose ArrayBuffer has been transferred away, as postMessage(t.data.buffer, [buffer]) leaves it. */
function detached(t: Tensor): Tensor {
  const copy = t.clone();
  structuredClone(copy.data.buffer, { transfer: [copy.data.buffer as ArrayBuffer] });
  return copy;
}

describe('item 6: stack() takes only modules of its own cell', () => {
  test("LSTM.stack([gru]) is refused instead of copying the GRU's weights into the LSTM's", () => {
    refuses(() => LSTM.stack([gru as unknown as LSTM]), /^LSTM\.stack: lstms\[0\] is a GRU, not an LSTM$/);
  });
  test('LSTM.stack([rnn]) and GRU.stack([rnn]) are refused', () => {
    refuses(() => LSTM.stack([rnn as unknown as LSTM]), /lstms\[0\] is an RNN, not an LSTM/);
    refuses(() => GRU.stack([rnn as unknown as GRU]), /grus\[0\] is an RNN, not a GRU/);
  });
  test('RNN.stack([gru]) is refused in words, not with a RangeError', () => {
    refuses(() => RNN.stack([gru as unknown as RNN]), /rnns\[0\] is a GRU, not an RNN/);
  });
  test('a module of the right cell after the first is still checked', () => {
    refuses(() => LSTM.stack([lstm, gru as unknown as LSTM]), /lstms\[1\] is a GRU/);
  });
});

describe('item 7: the functional forwards check the initial states as the modules do', () => {
  const sd = lstm.stateDict();
  test('a c0 of shape [1] is refused instead of giving NaNs', () => {
    refuses(() => lstmForward(x, sd, { h0: zeros([1, 1, 3]), c0: zeros([1]) }), /hx and cx should also be 3-D/);
  });
  test('a c0 of shape [2, 2, 3] is refused', () => {
    refuses(() => lstmForward(x, sd, { h0: zeros([1, 1, 3]), c0: zeros([2, 2, 3]) }), /Expected hidden\[1\] size/);
  });
  test('a float64 h0 for a float32 input is refused', () => {
    refuses(
      () => lstmForward(x, sd, { h0: zeros([1, 1, 3], 'float64'), c0: zeros([1, 1, 3]) }),
      /h0 must have the type torch\.float32, got type torch\.float64/,
    );
  });
  test('an h0 without c0 is refused for an LSTM', () => {
    refuses(() => lstmForward(x, sd, { h0: zeros([1, 1, 3]) }), /h0 and c0 together, got only h0/);
  });
  test('a c0 for a GRU is refused, not ignored', () => {
    refuses(() => gruForward(x, gru.stateDict(), { c0: zeros([1, 1, 3]) }), /c0 is the LSTM's cell state/);
  });
  test('an empty sequence (L = 0) is refused as the module refuses it', () => {
    refuses(() => recurrentForward(zeros([0, 1, 2]), rnn.stateDict()), /Expected sequence length to be larger than 0/);
  });
  test('an h0 that is not a Tensor is refused in words', () => {
    const h0 = [1, 2, 3] as unknown as Tensor;
    refuses(() => lstmForward(x, sd, { h0, c0: zeros([1, 1, 3]) }), /^h0 must be a Tensor, got object$/);
  });
  test('mistakenForward checks its states too', () => {
    refuses(() => mistakenForward(x, rnn.stateDict(), { h0: zeros([2]) }), /hx should also be 3-D/);
  });
  test('weights that are not a state dict are refused', () => {
    refuses(() => recurrentForward(x, null as unknown as Record<string, Tensor>), /weights must be a state dict/);
  });
  test("well-formed states still give the module's numbers", () => {
    const h0 = randn([1, 1, 3], { generator: 7 });
    const c0 = randn([1, 1, 3], { generator: 8 });
    const [out] = lstmForward(x, sd, { h0, c0 });
    const [want] = lstm.forward(x, [h0, c0]);
    for (let i = 0; i < want.numel; i++) assert.ok(Math.abs((out.data[i] as number) - (want.data[i] as number)) < 1e-6);
  });
});

describe('item 8: a tensor whose ArrayBuffer was transferred away', () => {
  test('as the input of a small forward is refused instead of giving NaNs', () => {
    refuses(() => lstm.forward(detached(x)), /input holds 0 elements where its shape \[4, 1, 2\] needs 8.*detached/);
  });
  test("as the input of a large forward is refused instead of the addon's RangeError", () => {
    refuses(() => lstm.forward(detached(randn([200, 64, 2]))), /input holds 0 elements.*detached/);
  });
  test('as an initial state is refused', () => {
    refuses(() => lstm.forward(x, [detached(zeros([1, 1, 3])), zeros([1, 1, 3])]), /h0 holds 0 elements/);
  });
  test("as a cell's, a Linear's or a functional forward's input is refused", () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 3 });
    refuses(() => cell.forward(detached(randn([5, 2]))), /input holds 0 elements/);
    const linear = new Linear({ inFeatures: 2, outFeatures: 3 });
    refuses(() => linear.forward(detached(randn([5, 2]))), /input holds 0 elements/);
    refuses(() => recurrentForward(detached(x), rnn.stateDict()), /input holds 0 elements/);
  });
});

describe('item 18: wrong arguments give an RnnError, not a TypeError', () => {
  test('rnnFromStateDict(null), (undefined) and ({ weight_ih_l0: null })', () => {
    refuses(() => rnnFromStateDict(null as unknown as Record<string, Tensor>), /sd must be a state dict.*got null/);
    refuses(() => rnnFromStateDict(undefined as unknown as Record<string, Tensor>), /got undefined/);
    refuses(
      () => rnnFromStateDict({ weight_ih_l0: null } as unknown as Record<string, Tensor>),
      /the entry 'weight_ih_l0' must be a Tensor, got null/,
    );
  });
  test('inferArchitecture(null) and selectPrefix(null)', () => {
    refuses(() => inferArchitecture(null as unknown as Map<string, number[]>), /takes a Map/);
    refuses(() => selectPrefix(null as unknown as Record<string, Tensor>), /selectPrefix: the state dict must be/);
  });
  test('lstm.loadStateDict(null) and LSTM.stack(null)', () => {
    refuses(() => lstm.loadStateDict(null as unknown as Record<string, Tensor>), /loadStateDict: the state dict must/);
    refuses(() => LSTM.stack(null as unknown as LSTM[]), /LSTM\.stack: lstms must be an array/);
  });
  test('forward(x, null, { lengths: null })', () => {
    refuses(
      () => rnn.forward(x, null, { lengths: null as unknown as number[] }),
      /lengths must be an array or Tensor of N integers, got null/,
    );
  });
  test('LSTMCell.forward(x, oneTensor)', () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 3 });
    refuses(
      () => cell.forward(randn([1, 2]), zeros([1, 3]) as unknown as [Tensor, Tensor]),
      /LSTMCell expects its state as a pair \[hx, cx\]/,
    );
  });
});

describe('item 19: nested arrays', () => {
  let deep: unknown = [1];
  for (let i = 0; i < 20_000; i++) deep = [deep];
  test('tensor() of values 20,000 arrays deep is refused in words, not a stack overflow', () => {
    refuses(() => tensor(deep as number[]), /more than 64 nested dimensions/);
  });
  test('Embedding ids 20,000 arrays deep are refused in words', () => {
    const emb = new Embedding({ numEmbeddings: 5, embeddingDim: 2 });
    refuses(() => emb.forward(deep as number[]), /more than 64 nested dimensions/);
  });
  test('ids with a hole name the hole', () => {
    const emb = new Embedding({ numEmbeddings: 5, embeddingDim: 2 });
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    refuses(() => emb.forward([1, , 2] as unknown as number[]), /at \[1\], got a hole/);
  });
  test('tensor() of flat values with a hole and a shape names the hole', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    refuses(() => tensor([1, , 2] as unknown as number[], [3]), /at \[1\], got a hole/);
  });
  test('64 dimensions are still taken', () => {
    let ok: unknown = [1];
    for (let i = 0; i < 63; i++) ok = [ok];
    assert.equal(tensor(ok as number[]).ndim, 64);
  });
});

describe('past item 8: detached buffers elsewhere', () => {
  test("a detached gradOutput is refused by an LSTM's, a Linear's and an Embedding's backward instead of giving NaNs", () => {
    const [y] = lstm.forward(x, null, { requiresGrad: true });
    refuses(() => lstm.backward(detached(y)), /gradOutput holds 0 elements.*detached/);
    const linear = new Linear({ inFeatures: 2, outFeatures: 3 });
    const out = linear.forward(randn([2, 2]), { requiresGrad: true });
    refuses(() => linear.backward(detached(out)), /gradOutput holds 0 elements/);
    const emb = new Embedding({ numEmbeddings: 4, embeddingDim: 2 });
    const e = emb.forward([1, 2], { requiresGrad: true });
    refuses(() => emb.backward(detached(e)), /gradOutput holds 0 elements/);
  });
  test("a module whose parameter's buffer was transferred away refuses to run instead of the kernel's RangeError", () => {
    const linear = new Linear({ inFeatures: 2, outFeatures: 3 });
    const w = linear.parameter('weight');
    structuredClone(w.data.buffer, { transfer: [w.data.buffer as ArrayBuffer] });
    refuses(() => linear.forward(randn([2, 2])), /the parameter 'weight' holds 0 elements/);
    const rnn2 = new RNN({ inputSize: 2, hiddenSize: 3 });
    const hh = rnn2.parameter('weight_hh_l0');
    structuredClone(hh.data.buffer, { transfer: [hh.data.buffer as ArrayBuffer] });
    refuses(() => rnn2.forward(x), /the parameter 'weight_hh_l0' holds 0 elements/);
  });
  test('loadStateDict of a detached tensor is refused instead of copying nothing', () => {
    const target = new RNN({ inputSize: 2, hiddenSize: 3, seed: 9 });
    const sd = rnn.stateDict();
    sd.weight_ih_l0 = detached(sd.weight_ih_l0 as Tensor);
    refuses(() => target.loadStateDict(sd), /the state dict's 'weight_ih_l0' holds 0 elements/);
  });
});

describe('past the list: every reader bounds its output with a limit the caller sets', () => {
  test('readJsonTensors takes options.maxBytes (default 16 MiB), refusing longer text before parsing', () => {
    const text = '{"x": [1, 2, 3]}';
    assert.deepEqual(readJsonTensors(text).get('x')?.values, [1, 2, 3]);
    refuses(() => readJsonTensors(text, { maxBytes: 10 }), /JSON tensor file of 16 bytes: JSON tensors are limited to/);
    assert.deepEqual(readJsonTensors(text, { maxBytes: 16 }).get('x')?.shape, [3]);
  });
});
