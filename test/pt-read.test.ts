/**
 * Reading .pt files written by real torch.save (test/fixtures/pt, from scripts/make_pt_fixtures.py) to exactly
 * the values torch.load saw, and refusing the hostile and legacy ones.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { RnnError } from '../src/errors.js';
import {
  IntTensor,
  type PtTensor,
  readPt,
  readPtObject,
  readPtStateDict,
  writePtStateDict,
} from '../src/io/pt/index.js';
import { Budget } from '../src/io/pt/limits.js';
import { listEntries, readEntry } from '../src/io/pt/zip.js';
import { writeStoredZip } from '../src/io/pt/zip-write.js';
import { Tensor, tensor } from '../src/tensor.js';

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
interface FileEntry {
  kind: 'state_dict' | 'checkpoint' | 'legacy' | 'hostile';
  key?: string;
  tensors?: Record<string, Expected>;
  global?: string;
}
const dir = new URL('./fixtures/pt/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8')) as {
  marker: string;
  files: Record<string, FileEntry>;
};
const load = (name: string): Uint8Array => readFileSync(new URL(name, dir));

const FLOAT32_SOURCES = ['float32', 'float16', 'bfloat16'];

function same(got: number | bigint, want: number | string): boolean {
  if (typeof got === 'bigint' || (typeof want === 'string' && /^-?\d+$/.test(want))) return String(got) === want;
  if (want === 'nan') return Number.isNaN(got);
  if (want === 'inf') return got === Number.POSITIVE_INFINITY;
  if (want === '-inf') return got === Number.NEGATIVE_INFINITY;
  return Object.is(got, want);
}

function assertTensor(name: string, got: PtTensor | undefined, want: Expected): void {
  assert.ok(got !== undefined, `${name} is missing`);
  if (want.dtype.startsWith('int')) {
    assert.ok(got instanceof IntTensor, `${name} should be an IntTensor`);
    assert.equal(got.dtype, want.dtype, name);
  } else {
    assert.ok(got instanceof Tensor, `${name} should be a Tensor`);
    assert.equal(got.dtype, FLOAT32_SOURCES.includes(want.dtype) ? 'float32' : 'float64', name);
  }
  assert.deepEqual(got.shape, want.shape, `${name} shape`);
  assert.equal(got.data.length, want.values.length, `${name} numel`);
  for (let i = 0; i < want.values.length; i++) {
    const g: number | bigint = got.data[i]!;
    if (!same(g, want.values[i]!)) assert.fail(`${name}[${i}]: got ${g}, torch has ${want.values[i]}`);
  }
}

function assertFile(name: string): void {
  const entry = expected.files[name]!;
  const options = entry.key === undefined ? {} : { key: entry.key };
  const sd = readPt(load(name), options);
  assert.deepEqual([...sd.keys()], Object.keys(entry.tensors!), 'names, in torch order');
  for (const [tensorName, want] of Object.entries(entry.tensors!)) assertTensor(tensorName, sd.get(tensorName), want);
}

const readable: Record<string, string> = {
  'rnn.pt': 'a bidirectional two-layer nn.RNN state dict',
  'params.pt': 'a plain dict of nn.Parameters',
  'checkpoint.pt': "the 'model' state dict of a checkpoint with optimizer state and epoch",
  'nested.pt': "a state dict nested two dicts deep under 'run.ema'",
  'prefixed.pt': "a module's state dict with 'rnn.' and 'head.' prefixed keys",
  'half.pt': 'float16 and bfloat16 tensors, exactly converted to float32, and float64 kept as float64',
  'views.pt': 'transposed, sliced, strided and expanded views of shared storages',
  'shared.pt': 'three tensors viewing one storage',
  'int64.pt': 'int64 (beyond 2**53) and int32 tensors, exactly',
  'special.pt': 'a 0-d tensor, an empty tensor, NaN, infinities, -0 and a subnormal',
  'protocol4.pt': 'a state dict pickled with protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)',
  'zip64.pt': 'a state dict repacked with zip64 headers and end records',
  'deflated.pt': "a state dict repacked with deflated entries under the folder 'my model v2'",
};
for (const [name, what] of Object.entries(readable)) {
  test(`reads ${name}, ${what}, to the values torch.load saw`, () => assertFile(name));
}

test('every readable fixture in expected.json is covered by a test', () => {
  const files = Object.entries(expected.files).filter(([, e]) => e.kind === 'state_dict' || e.kind === 'checkpoint');
  assert.deepEqual(files.map(([n]) => n).sort(), Object.keys(readable).sort());
});

test('readPtStateDict returns the float tensors and leaves out integer buffers', () => {
  const sd = readPtStateDict(load('int64.pt'));
  assert.deepEqual(Object.keys(sd), ['w']);
  assert.ok(sd.w instanceof Tensor);
});

test('readPtStateDict of a checkpoint without a key names the keys holding state dicts', () => {
  assert.throws(
    () => readPtStateDict(load('checkpoint.pt')),
    (e: unknown) =>
      e instanceof RnnError &&
      e.code === 'state_dict' &&
      /Keys holding state dicts: 'model'$/.test(e.message) &&
      JSON.stringify(e.data?.candidates) === '["model"]',
  );
});

test('readPtStateDict with key selects the nested state dict, dotted paths included', () => {
  assert.deepEqual(Object.keys(readPtStateDict(load('checkpoint.pt'), { key: 'model' })), [
    'weight_ih_l0',
    'weight_hh_l0',
    'bias_ih_l0',
    'bias_hh_l0',
  ]);
  assert.equal(Object.keys(readPtStateDict(load('nested.pt'), { key: 'run.ema' })).length, 4);
});

test('a key that names nothing, or something that is not a state dict, is refused with the candidates', () => {
  for (const key of ['modle', 'epoch', 'optimizer', 'run']) {
    const file = key === 'run' ? 'nested.pt' : 'checkpoint.pt';
    assert.throws(
      () => readPtStateDict(load(file), { key }),
      (e: unknown) =>
        e instanceof RnnError && e.code === 'state_dict' && /state dicts: '(model|run\.ema)'/.test(e.message),
      key,
    );
  }
});

test('readPtObject returns the whole checkpoint: epoch, optimizer hyperparameters and tensors', () => {
  const obj = readPtObject(load('checkpoint.pt'));
  assert.ok(obj instanceof Map);
  assert.equal(obj.get('epoch'), 3);
  const optimizer = obj.get('optimizer') as Map<string, unknown>;
  const group = (optimizer.get('param_groups') as Map<string, unknown>[])[0]!;
  assert.equal(group.get('lr'), 0.01);
  assert.deepEqual(group.get('betas'), [0.9, 0.999]);
  assert.deepEqual(group.get('params'), [0, 1, 2, 3]);
  const state = optimizer.get('state') as Map<number, Map<string, unknown>>;
  assert.ok(state.get(0)?.get('exp_avg') instanceof Tensor);
});

test('tensors that share a storage in the file are independent copies once read', () => {
  const sd = readPtStateDict(load('shared.pt'));
  const before = sd.a2!.data[2];
  sd.a!.data[2] = 123;
  assert.equal(sd.a2!.data[2], before);
});

test('the legacy (non-zip) format is refused with a re-save hint', () => {
  assert.throws(
    () => readPt(load('legacy.pt')),
    (e: unknown) =>
      e instanceof RnnError &&
      e.code === 'unsupported' &&
      e.message.startsWith('legacy .pt format: re-save with a current PyTorch (torch.save(sd, path))'),
  );
});

const hostile = Object.entries(expected.files).filter(([, e]) => e.kind === 'hostile');
for (const [name, entry] of hostile) {
  test(`${name} is refused for naming ${entry.global}, and nothing runs`, () => {
    rmSync(expected.marker, { force: true });
    for (const read of [readPt, readPtObject, readPtStateDict]) {
      assert.throws(
        () => read(load(name)),
        (e: unknown) =>
          e instanceof RnnError &&
          e.code === 'unsupported' &&
          e.message.includes(`Unsupported global:`) &&
          e.message.includes(` ${entry.global} was not an allowed global`) &&
          e.data?.global === entry.global,
      );
    }
    assert.equal(existsSync(expected.marker), false, 'the marker file must not exist');
  });
}

test('bytes that are not a zip are refused as corrupt', () => {
  assert.throws(
    () => readPt(new TextEncoder().encode('definitely not a torch file')),
    (e: unknown) =>
      e instanceof RnnError && e.code === 'corrupt_file' && e.message.startsWith('not a PyTorch .pt file'),
  );
  assert.throws(
    () => readPt(new Uint8Array(0)),
    (e: unknown) => e instanceof RnnError && e.code === 'corrupt_file',
  );
});

test('a damaged tensor byte fails the CRC check, and loads when the check is turned off', () => {
  const bytes = load('rnn.pt').slice();
  // The first storage's data follows its local header: 30 bytes, the name, the extra field.
  const header = new TextDecoder('latin1').decode(bytes).indexOf('PK\x03\x04\x00\x00\x08\x08', 100);
  const view = new DataView(bytes.buffer);
  const data = header + 30 + view.getUint16(header + 26, true) + view.getUint16(header + 28, true);
  bytes[data]! ^= 0x01;
  assert.throws(
    () => readPt(bytes),
    (e: unknown) => e instanceof RnnError && /CRC-32/.test(e.message),
  );
  assert.ok(readPt(bytes, { verifyCrc: false }).size > 0);
});

test('limits bound memory: a file needing more bytes than maxBytes is refused', () => {
  assert.throws(
    () => readPt(load('special.pt'), { limits: { maxBytes: 1000 } }),
    (e: unknown) =>
      e instanceof RnnError && e.code === 'corrupt_file' && /over the reader's limit of 1000/.test(e.message),
  );
  assert.throws(
    () => readPt(load('rnn.pt'), { limits: { maxDepth: 0 } }),
    (e: unknown) => e instanceof RnnError && e.code === 'invalid_argument',
  );
});

test("a 'byteorder' record of 'big' (torch >= 2.1 on big-endian hosts) is honoured", () => {
  const sd = {
    w: tensor([
      [1.5, -2],
      [3.25, 1e-40],
    ]),
    d: tensor([Math.PI, -0], undefined, 'float64'),
  };
  const bytes = writePtStateDict(sd);
  const budget = new Budget(2 ** 20);
  const members = listEntries(bytes).map((e) => {
    const data = readEntry(bytes, e, budget, true).slice();
    if (e.name.includes('/data/')) {
      const size = e.name.endsWith('/0') ? 4 : 8; // w is float32, d float64
      for (let i = 0; i < data.length; i += size) data.subarray(i, i + size).reverse();
    }
    return { name: e.name, data };
  });
  const big = writeStoredZip([...members, { name: 'archive/byteorder', data: new TextEncoder().encode('big') }]);
  const back = readPtStateDict(big);
  assert.deepEqual(Array.from(back.w!.data), Array.from(sd.w.data));
  assert.ok(Object.is(back.d!.data[1], -0) && back.d!.data[0] === Math.PI);
  const odd = writeStoredZip([...members, { name: 'archive/byteorder', data: new TextEncoder().encode('middle') }]);
  assert.throws(
    () => readPt(odd),
    (e: unknown) => e instanceof RnnError && /unknown byteorder record 'middle'/.test(e.message),
  );
});
