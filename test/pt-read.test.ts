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
  readPtSelection,
  readPtStateDict,
  writePtStateDict,
} from '../src/io/pt/index.js';
import { Budget } from '../src/io/pt/limits.js';
import { listEntries, readEntry } from '../src/io/pt/zip.js';
import { writeStoredZip } from '../src/io/pt/zip-write.js';
import { rnnFromStateDict, selectPrefix } from '../src/io/state-dict.js';
import { Tensor, tensor } from '../src/tensor.js';

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
interface FileEntry {
  kind: 'state_dict' | 'checkpoint' | 'legacy' | 'hostile' | 'tensor';
  key?: string;
  tensors?: Record<string, Expected>;
  global?: string;
  /** How a reader finds the state dict without a key: the only one, or the one at a common key. */
  auto?: 'only' | 'common';
  /** Where the RNN is in the state dict. */
  prefix?: string;
  /** The RNNs a reader must choose between. */
  prefixes?: string[];
  /** The state dicts a reader must choose between. */
  keys?: string[];
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
  'torch2.pt': 'a state dict repacked with the records PyTorch 2.x adds (byteorder, .format_version, ...)',
  'compiled.pt': "a torch.compile'd RNN's state dict, every key under '_orig_mod.'",
  'proto.pt': "a state dict with a key named '__proto__'",
  'lightning.pt': "a Lightning checkpoint: 'state_dict' with 'model.rnn.' keys, callbacks, loops, optimizer states",
  'ddp.pt': "a checkpoint of a DistributedDataParallel model: 'model_state_dict' with 'module.' keys",
  'ema.pt': "a checkpoint with two state dicts, 'model' and 'ema'",
  'two-rnns.pt': "a model's state dict with two RNNs, 'encoder.' and 'decoder.'",
  'two-models.pt': "a checkpoint with two state dicts at keys no checkpoint convention names, with key 'generator'",
  'linear-checkpoint.pt': "a checkpoint whose one state dict, at 'model', holds no RNN",
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

for (const [name, entry] of Object.entries(expected.files).filter(([, e]) => e.auto !== undefined)) {
  test(`${name} needs no key: its state dict is at '${entry.key}', ${entry.auto === 'only' ? 'the only one in the file' : 'a common key among several'}`, () => {
    const got = readPtSelection(load(name));
    assert.equal(got.key, entry.key);
    assert.equal(got.chosen, entry.auto);
    assert.deepEqual([...got.tensors.keys()], Object.keys(entry.tensors!));
  });
}

test('a checkpoint with one state dict and optimizer state loads without a key, and says which key it took', () => {
  const got = readPtSelection(load('checkpoint.pt'));
  assert.equal(got.key, 'model');
  assert.equal(got.chosen, 'only');
  assert.deepEqual(got.candidates, ['model']);
  assert.deepEqual(Object.keys(readPtStateDict(load('checkpoint.pt'))), [
    'weight_ih_l0',
    'weight_hh_l0',
    'bias_ih_l0',
    'bias_hh_l0',
  ]);
});

test('a file that is the state dict itself reports no key', () => {
  const got = readPtSelection(load('rnn.pt'));
  assert.equal(got.key, undefined);
  assert.equal(got.chosen, 'file');
});

test('several state dicts at no common key are an error that lists them and asks for a key', () => {
  assert.throws(
    () => readPtStateDict(load('two-models.pt')),
    (e: unknown) =>
      e instanceof RnnError &&
      e.code === 'state_dict' &&
      e.message ===
        "the file holds 2 state dicts, under the keys 'generator', 'discriminator'; choose one by its key" &&
      e.data?.option === 'key' &&
      JSON.stringify(e.data?.candidates) === '["generator","discriminator"]',
  );
});

test('library messages about the key speak of no command-line flag', () => {
  for (const [name, key] of [
    ['two-models.pt', undefined],
    ['checkpoint.pt', 'modle'],
  ] as const) {
    try {
      readPtStateDict(load(name), key === undefined ? {} : { key });
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(e instanceof RnnError);
      assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, /--key|options\.key/);
    }
  }
});

test('a file holding one tensor (torch.save(tensor)) is refused in plain words, without internal names', () => {
  assert.throws(
    () => readPt(load('tensor.pt')),
    (e: unknown) =>
      e instanceof RnnError &&
      e.message === 'the file holds a single tensor (torch.save(tensor)), not named tensors' &&
      !/TensorRef/.test(`${e.message} ${e.hint}`),
  );
});

test('a key naming a tensor says it holds a tensor, in plain words', () => {
  assert.throws(
    () => readPt(load('rnn.pt'), { key: 'weight_ih_l0' }),
    (e: unknown) => e instanceof RnnError && e.message.startsWith("'weight_ih_l0' holds a tensor, not a state dict"),
  );
});

test("a key named '__proto__' stays an entry of the state dict", () => {
  const sd = readPtStateDict(load('proto.pt'));
  assert.ok(Object.hasOwn(sd, '__proto__'));
  assert.equal(Object.getPrototypeOf(sd), Object.prototype);
  assert.ok(Object.keys(sd).includes('__proto__'));
});

test("rnnFromStateDict finds the RNN in a whole model's state dict, as the command does", () => {
  for (const name of ['prefixed.pt', 'lightning.pt', 'ddp.pt', 'compiled.pt', 'ema.pt']) {
    const entry = expected.files[name]!;
    const sd = readPtStateDict(load(name));
    assert.equal(selectPrefix(sd).prefix, entry.prefix ?? '', name);
    const rnn = rnnFromStateDict(sd);
    const weight = entry.tensors![`${entry.prefix ?? ''}weight_ih_l0`]!;
    assert.deepEqual([rnn.hiddenSize, rnn.inputSize], weight.shape, name);
  }
});

test('rnnFromStateDict lists the RNNs of a model with several, names the prefix option, and takes { prefix }', () => {
  const sd = readPtStateDict(load('two-rnns.pt'));
  assert.throws(
    () => rnnFromStateDict(sd),
    (e: unknown) =>
      e instanceof RnnError &&
      e.message ===
        "several RNNs in this state dict, under the prefixes 'encoder.', 'decoder.'; choose one by its prefix" &&
      e.hint === "e.g. { prefix: 'encoder.' }" &&
      e.data?.option === 'prefix',
  );
  assert.equal(rnnFromStateDict(sd, { prefix: 'decoder.' }).inputSize, 4);
  assert.equal(rnnFromStateDict(sd, { prefix: 'encoder' }).inputSize, 3);
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
