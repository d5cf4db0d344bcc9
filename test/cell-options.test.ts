/** Cell options PyTorch's cells do not take are refused, not ignored. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GRUCell, LSTMCell, RNNCell, RnnError } from '../src/index.js';

test("LSTMCell({ projSize }) is refused in PyTorch's words, pointing at LSTM({ projSize })", () => {
  assert.throws(
    () => new LSTMCell({ inputSize: 3, hiddenSize: 4, projSize: 2 } as never),
    (e: unknown) =>
      e instanceof RnnError &&
      /LSTMCell.__init__\(\) got an unexpected keyword argument 'proj_size'/.test(e.message) &&
      /LSTM\(\{ \.\.\., projSize \}\)/.test(e.hint ?? ''),
  );
});

test('RNNCell and GRUCell refuse projSize too', () => {
  assert.throws(
    () => new RNNCell({ inputSize: 3, hiddenSize: 4, projSize: 2 } as never),
    /RNNCell.__init__\(\) got an unexpected keyword argument 'proj_size'/,
  );
  assert.throws(
    () => new GRUCell({ inputSize: 3, hiddenSize: 4, projSize: 2 } as never),
    /GRUCell.__init__\(\) got an unexpected/,
  );
});

test('projSize undefined is no projSize', () => {
  assert.equal(new LSTMCell({ inputSize: 3, hiddenSize: 4, projSize: undefined } as never).hiddenSize, 4);
});
