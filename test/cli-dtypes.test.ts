/**
 * What the CLI says and keeps of a file's dtypes: `inspect` names float16 and bfloat16 files as such (they are
 * read as float32), and `convert` .pt -> .json -> .pt keeps float32 tensors float32.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { RNN, readPtSelection, writePtStateDict, writeSafetensors } from '../src/index.js';
import type { RawTensor } from '../src/io/safetensors.js';
import { cli, scratchDir } from './helpers/cli.js';

const scratch = scratchDir('dtypes');
after(() => scratch.cleanup());

/** An RNN state dict with every tensor stored as `dtype` (F16 or BF16; the bits of 0.5 in each). */
function halfRnn(dtype: 'F16' | 'BF16'): Record<string, RawTensor> {
  const half = dtype === 'F16' ? 0x3800 : 0x3f00;
  const rnn = new RNN({ inputSize: 2, hiddenSize: 3, seed: 0 });
  return Object.fromEntries(
    rnn
      .namedParameters()
      .map(([k, t]) => [k, { dtype, shape: [...t.shape], data: new Uint16Array(t.numel).fill(half) }]),
  );
}

for (const [dtype, name] of [
  ['F16', 'float16'],
  ['BF16', 'bfloat16'],
] as const) {
  test(`inspect says ${name} for a ${name} safetensors file`, () => {
    const file = scratch.path(`${name}.safetensors`);
    writeFileSync(file, writeSafetensors(halfRnn(dtype)));
    const r = cli('inspect', file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`parameters in 4 tensors \\(${name}\\)`));
  });
}

test('inspect says float32 for a float32 file', () => {
  const file = scratch.path('f32.pt');
  writeFileSync(file, writePtStateDict(new RNN({ inputSize: 2, hiddenSize: 3, seed: 0 }).stateDict()));
  assert.match(cli('inspect', file).stdout, /parameters in 4 tensors \(float32\)/);
});

test('convert .pt -> .json -> .pt keeps float32 tensors float32 and their values', () => {
  const sd = new RNN({ inputSize: 2, hiddenSize: 3, seed: 0 }).stateDict();
  const pt = scratch.path('a.pt');
  writeFileSync(pt, writePtStateDict(sd));
  assert.equal(cli('convert', pt, scratch.path('a.json')).status, 0);
  assert.equal(cli('convert', scratch.path('a.json'), scratch.path('b.pt')).status, 0);
  const back = readPtSelection(readFileSync(scratch.path('b.pt')));
  assert.deepEqual(new Set(back.fileDtypes.values()), new Set(['float32']));
  for (const [k, t] of Object.entries(sd)) assert.deepEqual(back.tensors.get(k)?.data, t.data);
});

test('convert .json -> .pt keeps float64 values that no float32 holds as float64', () => {
  const json = scratch.path('d.json');
  writeFileSync(json, JSON.stringify({ x: [0.1, 1 / 3] }));
  assert.equal(cli('convert', json, scratch.path('d.pt')).status, 0);
  const back = readPtSelection(readFileSync(scratch.path('d.pt')));
  assert.equal(back.fileDtypes.get('x'), 'float64');
  assert.deepEqual(Array.from((back.tensors.get('x')?.data ?? []) as ArrayLike<number>), [0.1, 1 / 3]);
});
