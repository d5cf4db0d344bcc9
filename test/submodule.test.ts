/** submoduleStateDict: a submodule's entries of a whole model's state dict, prefix removed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { submoduleStateDict } from '../src/nn/submodule.js';
import { type Tensor, tensor } from '../src/tensor.js';

const t = (v: number) => tensor([v]);
const model = {
  'emb.weight': t(1),
  'embedding.weight': t(2),
  'encoder.rnn.weight_ih_l0': t(3),
  'encoder.rnn.bias_ih_l0': t(4),
  'head.weight': t(5),
};
const values = (sd: Record<string, Tensor>) => Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, v.data[0]]));

test('keeps the entries under name. with the prefix removed, and no sibling that merely starts the same', () => {
  assert.deepEqual(values(submoduleStateDict(model, 'emb')), { weight: 1 });
});

test('takes a dotted name, or one ending in a dot, and keeps the rest of deeper names', () => {
  assert.deepEqual(values(submoduleStateDict(model, 'encoder.rnn.')), { weight_ih_l0: 3, bias_ih_l0: 4 });
  assert.deepEqual(values(submoduleStateDict(model, 'encoder')), { 'rnn.weight_ih_l0': 3, 'rnn.bias_ih_l0': 4 });
});

test('takes a Map as it takes a record', () => {
  assert.deepEqual(values(submoduleStateDict(new Map(Object.entries(model)), 'head')), { weight: 5 });
});

test("keeps a name such as '__proto__' as a plain entry", () => {
  const sd = submoduleStateDict(new Map([['m.__proto__', t(7)]]), 'm');
  assert.deepEqual(Object.keys(sd), ['__proto__']);
  assert.equal(Object.getPrototypeOf(sd), Object.prototype);
});

test('refuses an empty name', () => {
  assert.throws(() => submoduleStateDict(model, ''), /must be a submodule's name/);
});
