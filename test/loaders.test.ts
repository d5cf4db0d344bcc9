/**
 * The three loaders and moduleFromStateDict, as the package exports them: the cell, sizes and prefix read from a
 * whole model's state dict (a checkpoint's, after readPtStateDict found it), the weights loaded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  GRU,
  gruFromStateDict,
  Linear,
  LSTM,
  lstmFromStateDict,
  moduleFromStateDict,
  RNN,
  readPtStateDict,
  rnnFromStateDict,
  type Tensor,
  writePtObject,
} from '../src/index.js';

/** A whole model's state dict: `prefix` + the module's, and a head beside it. */
function modelStateDict(module: RNN | LSTM | GRU, prefix: string): Record<string, Tensor> {
  const sd: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(module.stateDict())) sd[prefix + k] = t;
  const head = new Linear({ inFeatures: 3, outFeatures: 2, seed: 1 });
  for (const [k, t] of Object.entries(head.stateDict())) sd[`head.${k}`] = t;
  return sd;
}

test('lstmFromStateDict finds an LSTM under its prefix beside a head, with its weights and projection', () => {
  const lstm = new LSTM({ inputSize: 4, hiddenSize: 5, projSize: 3, numLayers: 2, seed: 2 });
  const loaded = lstmFromStateDict(modelStateDict(lstm, 'rnn.'));
  assert.ok(loaded instanceof LSTM);
  assert.equal(loaded.projSize, 3);
  assert.deepEqual(loaded.stateDict(), lstm.stateDict());
});

test('gruFromStateDict takes the prefix it is given', () => {
  const gru = new GRU({ inputSize: 4, hiddenSize: 3, bidirectional: true, seed: 3 });
  const loaded = gruFromStateDict(modelStateDict(gru, 'encoder.gru.'), { prefix: 'encoder.gru' });
  assert.deepEqual(loaded.stateDict(), gru.stateDict());
});

test('moduleFromStateDict returns whichever module the state dict holds', () => {
  for (const m of [
    new RNN({ inputSize: 2, hiddenSize: 3, seed: 0 }),
    new LSTM({ inputSize: 2, hiddenSize: 3, seed: 0 }),
    new GRU({ inputSize: 2, hiddenSize: 3, seed: 0 }),
  ]) {
    const loaded = moduleFromStateDict(modelStateDict(m, 'rnn.'));
    assert.equal(loaded.constructor, m.constructor);
    assert.equal(loaded.training, false);
  }
});

test('the loaders find the state dict inside a checkpoint file through readPtStateDict', () => {
  const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 4 });
  const bytes = writePtObject({ model: modelStateDict(lstm, 'lstm.'), epoch: 3 });
  assert.deepEqual(lstmFromStateDict(readPtStateDict(bytes)).stateDict(), lstm.stateDict());
});

test("rnnFromStateDict on an LSTM's state dict names lstmFromStateDict and moduleFromStateDict", () => {
  const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 0 });
  assert.throws(
    () => rnnFromStateDict(modelStateDict(lstm, 'rnn.')),
    /holds an nn\.LSTM .*not an nn\.RNN; load it with lstmFromStateDict, or moduleFromStateDict/,
  );
});

test("lstmFromStateDict on a GRU's state dict names gruFromStateDict", () => {
  const gru = new GRU({ inputSize: 2, hiddenSize: 3, seed: 0 });
  assert.throws(() => lstmFromStateDict(gru.stateDict()), /not an nn\.LSTM; load it with gruFromStateDict/);
});
