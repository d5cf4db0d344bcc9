/**
 * Finding an RNN in a state dict (src/io/state-dict.ts): names are data, and messages stay short whatever a file
 * names. Finding the prefix in real PyTorch files is tested in pt-read.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { setEntry } from '../src/io/record.js';
import { architectureOf, rnnFromStateDict, selectPrefix } from '../src/io/state-dict.js';
import { RNN } from '../src/rnn/rnn.js';
import { type Tensor, zeros } from '../src/tensor.js';

const rnn = new RNN({ inputSize: 2, hiddenSize: 3, seed: 1 });

/** The RNN's state dict with `extra` entries defined as data (so '__proto__' is a key, not a prototype). */
function withEntries(prefix: string, extra: [string, Tensor][]): Record<string, Tensor> {
  const sd: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(rnn.stateDict())) setEntry(sd, `${prefix}${k}`, t);
  for (const [k, t] of extra) setEntry(sd, k, t);
  return sd;
}

test("a key named '__proto__' is refused in load_state_dict's words", () => {
  assert.throws(
    () => rnnFromStateDict(withEntries('', [['__proto__', zeros([1])]])),
    (e: unknown) =>
      e instanceof RnnError &&
      e.code === 'state_dict' &&
      e.message === 'Error(s) in loading state_dict for RNN: Unexpected key(s) in state_dict: "__proto__".',
  );
});

test("selectPrefix keeps a '__proto__' entry under the prefix as data, and the RNN refuses it", () => {
  const { sd } = selectPrefix(withEntries('rnn.', [['rnn.__proto__', zeros([1])]]));
  assert.ok(Object.hasOwn(sd, '__proto__'));
  assert.throws(() => architectureOf(sd), /Unexpected key\(s\) in state_dict: "__proto__"\./);
});

test('a hundred thousand stray keys are listed a few at a time', () => {
  const extra: [string, Tensor][] = Array.from({ length: 100_000 }, (_, i) => [`extra_${i}`, zeros([1])]);
  assert.throws(
    () => architectureOf(withEntries('', extra)),
    (e: unknown) =>
      e instanceof RnnError &&
      e.message.length < 300 &&
      e.message.endsWith('"extra_6", "extra_7", ... and 99992 more.'),
  );
});

test('thousands of layers missing their weights are listed a few at a time', () => {
  const extra: [string, Tensor][] = Array.from({ length: 5000 }, (_, i) => [`weight_ih_l${i + 1}`, zeros([3, 3])]);
  assert.throws(
    () => architectureOf(withEntries('', extra)),
    (e: unknown) =>
      e instanceof RnnError &&
      e.message.length < 400 &&
      /^inconsistent RNN state dict \(5001 layer\(s\), input 2, hidden 3\): missing weight_hh_l1, bias_ih_l1, bias_hh_l1, weight_hh_l2, \.\.\. and 14996 more$/.test(
        e.message,
      ),
  );
});

test('prefixes are listed a few at a time', () => {
  const sd: Record<string, Tensor> = {};
  for (let i = 0; i < 1000; i++) setEntry(sd, `m${i}.weight_ih_l0`, zeros([3, 2]));
  assert.throws(
    () => selectPrefix(sd),
    (e: unknown) =>
      e instanceof RnnError &&
      e.message.length < 200 &&
      /\.\.\. and 992 more; choose one by its prefix$/.test(e.message),
  );
});

test('loadStateDict names twenty unexpected keys of a hundred thousand, then how many more', () => {
  const extra: [string, Tensor][] = Array.from({ length: 100_000 }, (_, i) => [`x${i}`, zeros([1])]);
  assert.throws(
    () => rnn.loadStateDict(withEntries('', extra)),
    (e: unknown) =>
      e instanceof RnnError &&
      e.message.length < 400 &&
      e.message.endsWith('"x18", "x19", ... and 99980 more. ') &&
      (e.data?.unexpectedKeys as string[] | undefined)?.length === 100_000,
  );
});
