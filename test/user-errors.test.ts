/**
 * Errors users met (issue 11, item 4): each ends in one line that says what is wrong in the user's terms, exit
 * status 1, and nothing written. The command runs as built (dist/, from `npm test`'s pretest).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { RNN } from '../src/rnn/rnn.js';
import { randn, tensor } from '../src/tensor.js';
import { cli, saveSafetensors, scratchDir } from './helpers/cli.js';

const tmp = scratchDir('user-errors');
after(tmp.cleanup);
const fixtures = new URL('./fixtures/pt/', import.meta.url).pathname;

const rnn = new RNN({ inputSize: 2, hiddenSize: 3, seed: 2 }).eval();
const weights = saveSafetensors(tmp.path('weights.safetensors'), rnn.stateDict());
const input = saveSafetensors(tmp.path('x.safetensors'), { input: randn([4, 3, 2], { generator: 3 }) });

/** Runs the command and checks a clean failure: exit 1, one error line (and a hint), no stack, nothing new. */
function fails(args: string[], message: RegExp): string {
  const before = readdirSync(tmp.dir).sort();
  const r = cli(...args);
  assert.equal(r.status, 1, `exit status 1, got ${r.status}: ${r.stdout}${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^stacked-rnn: error: /);
  assert.match(lines[0] ?? '', message);
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]?.startsWith('hint: ')), `one line:\n${r.stderr}`);
  assert.deepEqual(readdirSync(tmp.dir).sort(), before, 'nothing is written');
  return r.stderr;
}

describe('a file that is neither .pt nor safetensors', () => {
  const cases: [string, Uint8Array | string, RegExp][] = [
    ['random.bin', Uint8Array.from({ length: 100 }, (_, i) => (i * 97 + 13) & 255), /it starts with 0d 6e cf 30/],
    ['script.sh', '#!/bin/sh\necho hello\n', /it starts with "#!\/bin\/sh\\necho h"/],
    ['notes.txt', 'RNN weights, version 1\n0.5 0.25\n', /it starts with "RNN weights, ver"/],
    ['empty.pt', '', /the file is empty/],
  ];
  for (const [name, content, what] of cases) {
    test(`${name} is refused in one line naming both formats, as weights and as input`, () => {
      const path = tmp.path(name);
      writeFileSync(path, content);
      const both = /neither a PyTorch \.pt file nor a safetensors file \(nor JSON\): /;
      const out = tmp.path('never.safetensors');
      for (const args of [
        ['run', '--weights', path, '--input', input, '--out', out],
        ['run', '--weights', weights, '--input', path, '--out', out],
        ['inspect', path],
      ]) {
        const stderr = fails(args, new RegExp(`${name}: ${both.source}${what.source}`));
        assert.doesNotMatch(stderr, /header claims/);
      }
    });
  }
});

test('torch.save(tensor) as the input file says it holds one tensor, not named tensors, without internal names', () => {
  const stderr = fails(
    ['run', '--weights', weights, '--input', `${fixtures}tensor.pt`, '--out', tmp.path('never.safetensors')],
    /tensor\.pt: the file holds a single tensor \(torch\.save\(tensor\)\), not named tensors$/,
  );
  assert.match(stderr, /\nhint: save a dict of named tensors, e\.g\. torch\.save\(\{'input': x\}, path\)\n$/);
  assert.doesNotMatch(stderr, /TensorRef/);
});

test('an output extension that names no format is refused before any work, and nothing is written', () => {
  fails(
    ['run', '--weights', weights, '--input', input, '--out', tmp.path('o.csv')],
    /cannot tell the output format from '.*o\.csv': name it \.safetensors, \.pt or \.json$/,
  );
  // Before any work: the weights are not even read.
  fails(
    ['run', '--weights', tmp.path('missing.pt'), '--input', input, '--out', tmp.path('o.csv')],
    /cannot tell the output format/,
  );
  fails(['convert', weights, tmp.path('w.npz')], /cannot tell the output format/);
  assert.equal(existsSync(tmp.path('o.csv')), false);
});

test('run --help lists .pt for --weights, --input and --out', () => {
  const help = cli('run', '--help').stdout.replace(/\s+/g, ' ');
  assert.match(help, /--weights <file> .*\(\.pt, \.safetensors or \.json\)/);
  assert.match(help, /--input <file> .*\(\.pt, \.safetensors or \.json\) --out/);
  assert.match(help, /--out <file> .*\.safetensors, \.pt or \.json/);
});

test('inspect names the tensors that belong to other modules', () => {
  const r = cli('inspect', `${fixtures}prefixed.pt`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /\n {2}2 other tensor\(s\) in the state dict belong to other modules: 'head\.weight', 'head\.bias'$/m,
  );
});

test('a misspelt option gets "did you mean", before the required options are checked', () => {
  fails(
    ['run', '--weigths', weights, '--input', input, '--out', tmp.path('y.safetensors')],
    /^stacked-rnn: error: unknown option '--weigths'; did you mean --weights\?$/,
  );
  fails(['inspect', weights, '--prefx', 'rnn'], /unknown option '--prefx'; did you mean --prefix\?$/);
});

test("a required option left out is still reported, in commander's words", () => {
  fails(
    ['run', '--weights', weights, '--input', input],
    /^stacked-rnn: error: required option '--out <file>' not specified$/,
  );
});

describe('lengths with an empty batch', () => {
  test("the library refuses them in pack_padded_sequence's words", () => {
    assert.throws(
      () => rnn.forward(randn([4, 0, 2]), undefined, { lengths: [] }),
      (e: unknown) => e instanceof RnnError && e.message === 'Cannot pack empty tensors.',
    );
  });

  test('the command refuses them in one line', () => {
    const empty = saveSafetensors(tmp.path('empty-batch.safetensors'), {
      input: tensor([], [4, 0, 2]),
      lengths: { dtype: 'I64', shape: [0], data: [] },
    });
    fails(
      ['run', '--weights', weights, '--input', empty, '--out', tmp.path('y.safetensors')],
      /Cannot pack empty tensors\.$/,
    );
  });
});

test('train --key without --init says what --key is for', () => {
  fails(
    ['train', '--key', 'model', '--steps', '1', '--out', tmp.path('never')],
    /--key chooses the state dict of the --init file: give --init too$/,
  );
});

test('an input file with several state dicts says how to save an input, not to use --key', () => {
  const stderr = fails(
    ['run', '--weights', weights, '--input', `${fixtures}two-models.pt`, '--out', tmp.path('y.safetensors')],
    /two-models\.pt: the file holds 2 state dicts, under the keys 'generator', 'discriminator'; choose one by its key$/,
  );
  assert.match(
    stderr,
    /\nhint: save the input's tensors at the top level of the file: torch\.save\(\{'input': x, 'lengths': l\}, path\)\n$/,
  );
});

test('a weights file over the 1 GiB file limit is refused as too large, before it is read', () => {
  const path = tmp.path('huge.safetensors');
  writeFileSync(path, '');
  truncateSync(path, 2 ** 30 + 1); // sparse: no disk used
  fails(['inspect', path], /File too large: .*huge\.safetensors is 1073741825 bytes, the limit is 1073741824$/);
});

test('a checkpoint whose one state dict holds no RNN says which state dict it looked in', () => {
  fails(
    ['inspect', `${fixtures}linear-checkpoint.pt`],
    /no key ends in 'weight_ih_l0' among 1 keys \('fc\.weight'\) \(in the checkpoint's state dict at key 'model'\)$/,
  );
});
