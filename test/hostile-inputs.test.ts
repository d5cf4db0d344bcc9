/**
 * Inputs that got through (issue 15): each ends in one clear line with exit status 1, nothing written, or gives
 * PyTorch's result where PyTorch accepts the input. Sizes here are the smallest that show each case; the large
 * ones, with their time and memory bounds, are in scripts/hostile-bounds.ts (run by hand).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { MAX_JSON_BYTES } from '../src/io/json-tensors.js';
import { outputFormat } from '../src/io/load.js';
import { writePtStateDict } from '../src/io/pt/index.js';
import { setEntry } from '../src/io/record.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { RNN } from '../src/rnn/rnn.js';
import { randn, type Tensor, zeros } from '../src/tensor.js';
import { checkpointBytes } from '../src/train/checkpoint.js';
import { defaultConfig, Trainer } from '../src/train/loop.js';
import { cli, saveSafetensors, scratchDir } from './helpers/cli.js';

const tmp = scratchDir('hostile');
after(tmp.cleanup);
const fixtures = new URL('./fixtures/pt/', import.meta.url).pathname;

const rnn = new RNN({ inputSize: 2, hiddenSize: 3, seed: 5 }).eval();
const weights = saveSafetensors(tmp.path('weights.safetensors'), rnn.stateDict());
const input = saveSafetensors(tmp.path('x.safetensors'), { input: randn([4, 3, 2], { generator: 6 }) });
const out = tmp.path('y.safetensors');

/** Runs the command and checks a clean failure: exit 1, one error line (and a hint), nothing new on disk. */
function fails(args: string[], message: RegExp): string {
  const before = readdirSync(tmp.dir).sort();
  const r = cli(...args);
  assert.equal(r.status, 1, `exit status 1, got ${r.status}: ${r.stdout}${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^stacked-rnn: error: /);
  assert.match(lines[0] ?? '', message);
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]?.startsWith('hint: ')), `one line:\n${r.stderr}`);
  assert.ok(r.stderr.length < 1000, `a short message, got ${r.stderr.length} characters`);
  assert.deepEqual(readdirSync(tmp.dir).sort(), before, 'nothing is written');
  return r.stderr;
}

describe("a state dict key named '__proto__'", () => {
  const proto = /Error\(s\) in loading state_dict for RNN: Unexpected key\(s\) in state_dict: "__proto__"\.$/;
  const sd: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(rnn.stateDict())) setEntry(sd, k, t);
  setEntry(sd, '__proto__', zeros([2]));

  test('in a .pt file written by PyTorch is refused as load_state_dict refuses it', () => {
    fails(
      [
        'run',
        '--weights',
        `${fixtures}proto.pt`,
        '--input',
        saveSafetensors(tmp.path('x3.safetensors'), { input: randn([2, 1, 3]) }),
        '--out',
        out,
      ],
      proto,
    );
  });

  test('in a safetensors file is refused as load_state_dict refuses it', () => {
    const path = tmp.path('proto.safetensors');
    writeFileSync(path, writeSafetensors(sd));
    fails(['run', '--weights', path, '--input', input, '--out', out], proto);
  });

  test('in a JSON weights file is refused as load_state_dict refuses it', () => {
    const path = tmp.path('proto.json');
    const entries = Object.entries(sd).map(([k, t]) => `${JSON.stringify(k)}: ${JSON.stringify(t.tolist())}`);
    writeFileSync(path, `{${entries.join(', ')}}`);
    fails(['run', '--weights', path, '--input', input, '--out', out], proto);
  });

  test('under a model prefix in a .pt file is refused too', () => {
    const prefixed: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(sd)) setEntry(prefixed, `rnn.${k}`, t);
    const path = tmp.path('proto-prefixed.pt');
    writeFileSync(path, writePtStateDict(prefixed));
    fails(['inspect', path], proto);
  });
});

describe('a safetensors header built to be expensive', () => {
  const header = (entries: Record<string, unknown>, data = 0): Uint8Array => {
    const json = new TextEncoder().encode(JSON.stringify(entries));
    const bytes = new Uint8Array(8 + json.length + data);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    return bytes;
  };

  test('a 300,000-dimension shape is refused in a short message', () => {
    const path = tmp.path('rank.safetensors');
    writeFileSync(
      path,
      header({ weight_ih_l0: { dtype: 'F32', shape: new Array(300_000).fill(1), data_offsets: [0, 4] } }, 4),
    );
    fails(['inspect', path], /rank\.safetensors: tensor 'weight_ih_l0': shape has more than 64 dimensions$/);
  });

  test('more than 100,000 tensors are refused in a short message', () => {
    const entries: Record<string, unknown> = {};
    for (let i = 0; i < 100_002; i++) entries[`t${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
    const path = tmp.path('many.safetensors');
    writeFileSync(path, header(entries));
    fails(['run', '--weights', weights, '--input', path, '--out', out], /names more than 100000 tensors/);
  });

  test('thousands of unexpected input tensors are named a few at a time', () => {
    const tensors: Record<string, Tensor> = { input: randn([4, 3, 2]) };
    for (let i = 0; i < 5000; i++) tensors[`t${i}`] = zeros([0]);
    const path = saveSafetensors(tmp.path('unexpected.safetensors'), tensors);
    fails(
      ['run', '--weights', weights, '--input', path, '--out', out],
      /unexpected tensor\(s\) in .*: 't0', .* and 4992 more$/,
    );
  });
});

describe('a JSON input too large to parse cheaply', () => {
  test('is refused by its size, before it is read, pointing to safetensors', () => {
    const path = tmp.path('big.json');
    writeFileSync(path, `{"input": [0${' '.repeat(MAX_JSON_BYTES)}]}`);
    const stderr = fails(
      ['run', '--weights', weights, '--input', path, '--out', out],
      /big\.json: JSON tensor file of 16777230 bytes: JSON tensors are limited to 16 MiB, since parsing JSON takes some 30 times the file size in memory$/,
    );
    assert.match(stderr, /\nhint: save big tensors as safetensors or \.pt/);
  });

  test('a JSON file just under the limit still loads', () => {
    const path = tmp.path('fits.json');
    const head = `{"input": ${JSON.stringify(randn([3, 2], { generator: 9 }).tolist())}`;
    writeFileSync(path, `${head}${' '.repeat(MAX_JSON_BYTES - head.length - 1)}}`);
    assert.equal(readFileSync(path).length, MAX_JSON_BYTES);
    const r = cli('run', '--weights', weights, '--input', path, '--out', tmp.path('fits-out.json'));
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('an output that is not a regular file', { skip: process.platform === 'win32' }, () => {
  test('a FIFO is refused before any work and stays a FIFO', () => {
    const fifo = tmp.path('pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    fails(
      ['run', '--weights', weights, '--input', input, '--out', fifo],
      /cannot write .*pipe\.safetensors: it is a named pipe \(FIFO\), not a regular file$/,
    );
    assert.ok(lstatSync(fifo).isFIFO());
  });

  // Outputs here are links and pipes in the scratch folder, never system paths: were a check broken, the rename
  // would replace what the output names (as root, /dev/stdout itself).
  test('an output named like /dev/stdout (no extension) is refused for its name, a link to a pipe for what it is', () => {
    const fifo = tmp.path('reader');
    execFileSync('mkfifo', [fifo]);
    const stdout = tmp.path('stdout');
    symlinkSync(fifo, stdout);
    fails(
      ['run', '--weights', weights, '--input', input, '--out', stdout],
      /cannot tell the output format from '.*stdout'/,
    );
    const link = tmp.path('stdout.safetensors');
    symlinkSync(fifo, link);
    fails(
      ['run', '--weights', weights, '--input', input, '--out', link],
      /stdout\.safetensors: it is a named pipe \(FIFO\), not a regular file$/,
    );
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is kept');
    assert.ok(lstatSync(fifo).isFIFO(), 'the pipe is kept');
  });

  test("outputFormat refuses '/dev/stdout' by its name, before the file system is asked", () => {
    assert.throws(() => outputFormat('/dev/stdout'), /cannot tell the output format from '\/dev\/stdout'/);
  });
});

test('sample refuses checkpoint metadata claiming 100000000 layers, before building anything', () => {
  const trainer = new Trainer({ ...defaultConfig('chars'), hidden: 4, steps: 1 });
  const { tensors, metadata } = readSafetensors(checkpointBytes(trainer.model));
  const path = tmp.path('layers.safetensors');
  writeFileSync(path, writeSafetensors(Object.fromEntries(tensors), { ...metadata, num_layers: '100000000' }));
  fails(['sample', '--checkpoint', path], /'num_layers' is 100000000 but the tensors hold 2$/);
  assert.ok(readFileSync(path).length > 0);
});
