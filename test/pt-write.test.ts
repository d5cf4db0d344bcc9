/**
 * Writing .pt files: the layout torch.save uses, a lossless round trip through our reader, and (when
 * /usr/bin/python3 has torch) real `torch.load(path, weights_only=True)` seeing exactly the values written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { IntTensor, readPt, writePtStateDict } from '../src/io/pt/index.js';
import { listEntries } from '../src/io/pt/zip.js';
import { Generator } from '../src/random.js';
import { RNN } from '../src/rnn/rnn.js';
import { randn, type Tensor, tensor } from '../src/tensor.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const g = new Generator(5);
const mixed: Record<string, Tensor | IntTensor> = {
  weight: randn([2, 3], { generator: g }),
  'layer.0.bias': randn([4], { generator: g, dtype: 'float64' }),
  scalar: tensor([2.5], []),
  empty: tensor([], [0, 3]),
  special: tensor([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1e-45, 3.4e38]),
  'ключ π': tensor([1, 2, 3], [3, 1], 'float64'),
  steps: new IntTensor(BigInt64Array.from([0n, -1n, 2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n]), [5]),
  counts: new IntTensor(Int32Array.from([7, -8, 2 ** 31 - 1]), [3]),
};
const rnnOptions = { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true } as const;
const rnn = new RNN({ ...rnnOptions, seed: 11 }).stateDict();
const many: Record<string, Tensor> = {};
for (let i = 0; i < 300; i++) many[`block.${i}.weight`] = randn([i % 4, 2], { generator: g });

function sameValues(a: Tensor | IntTensor, b: Tensor | IntTensor): boolean {
  if (a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (!Object.is(a.data[i], b.data[i])) return false;
  return true;
}

test('writePtStateDict lays out entries as torch.save does: data.pkl, data/<i>, version, stored, 64-byte aligned', () => {
  const bytes = writePtStateDict(mixed);
  const entries = listEntries(bytes);
  const keys = Object.keys(mixed).map((_, i) => `archive/data/${i}`);
  assert.deepEqual(
    entries.map((e) => e.name),
    ['archive/data.pkl', ...keys, 'archive/version'],
  );
  const view = new DataView(bytes.buffer);
  for (const e of entries) {
    assert.equal(e.method, 0, `${e.name} is stored`);
    const data =
      e.headerOffset + 30 + view.getUint16(e.headerOffset + 26, true) + view.getUint16(e.headerOffset + 28, true);
    assert.equal(data % 64, 0, `${e.name} data starts on a 64-byte boundary`);
  }
  const version = entries.at(-1)!;
  assert.equal(version.size, 2);
});

test('writePtStateDict gives the same bytes for the same state dict', () => {
  assert.deepEqual(writePtStateDict(rnn), writePtStateDict(rnn));
});

test('a written state dict reads back with every name, dtype, shape and value intact', () => {
  for (const sd of [mixed, rnn, many, {}]) {
    const back = readPt(writePtStateDict(sd));
    assert.deepEqual([...back.keys()], Object.keys(sd));
    for (const [name, t] of Object.entries(sd)) {
      const b = back.get(name)!;
      assert.equal(b.dtype, t.dtype, name);
      assert.deepEqual(b.shape, t.shape, name);
      assert.ok(sameValues(b, t), `${name} values`);
    }
  }
});

test('archiveName sets the folder, which the reader finds whatever it is', () => {
  const bytes = writePtStateDict(rnn, { archiveName: 'my rnn' });
  assert.equal(listEntries(bytes)[0]!.name, 'my rnn/data.pkl');
  assert.equal(readPt(bytes).size, Object.keys(rnn).length);
});

test('writePtStateDict refuses values that are not tensors', () => {
  assert.throws(
    () => writePtStateDict({ w: [1, 2, 3] } as unknown as Record<string, Tensor>),
    (e: unknown) => e instanceof RnnError && e.code === 'invalid_argument' && /'w' is not a Tensor/.test(e.message),
  );
  assert.throws(() => writePtStateDict(rnn, { archiveName: 'a/b' }), RnnError);
});

// ---- real PyTorch ----

const LOAD_SCRIPT = `
import json, math, sys, torch
out = {}
for item in json.load(sys.stdin):
    sd = torch.load(item["path"], weights_only=True)
    tensors = {}
    for name, t in sd.items():
        flat = t.reshape(-1).tolist()
        if t.dtype in (torch.int64, torch.int32):
            values = [str(v) for v in flat]
        else:
            values = ["nan" if math.isnan(v) else "inf" if v == math.inf else "-inf" if v == -math.inf else v for v in flat]
        tensors[name] = {"dtype": str(t.dtype)[6:], "shape": list(t.shape), "values": values}
    entry = {"type": type(sd).__name__, "tensors": tensors}
    if "rnn" in item:
        torch.nn.RNN(**item["rnn"]).load_state_dict(sd, strict=True)
        entry["loaded_into_rnn"] = True
    out[item["name"]] = entry
print(json.dumps(out))
`;

interface TorchSaw {
  type: string;
  tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
  loaded_into_rnn?: boolean;
}

/** Values as the Python side prints them: ints as strings, non-finite floats by name. */
function asTorchJson(t: Tensor | IntTensor): (number | string)[] {
  if (t instanceof IntTensor) return Array.from(t.data as ArrayLike<number | bigint>, String);
  return Array.from(t.data, (v) =>
    Number.isNaN(v) ? 'nan' : v === Number.POSITIVE_INFINITY ? 'inf' : v === Number.NEGATIVE_INFINITY ? '-inf' : v,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'pt-write-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('torch.load(weights_only=True) in PyTorch reads written files to exactly the values written', {
  skip: torchSkip(),
}, () => {
  assertTorch();
  const cases = { mixed, rnn, many, empty: {} };
  const spec = Object.entries(cases).map(([name, sd]) => {
    const path = join(dir, `${name}.pt`);
    writeFileSync(path, writePtStateDict(sd));
    const rnnArgs = { input_size: 3, hidden_size: 5, num_layers: 2, bidirectional: true };
    return name === 'rnn' ? { name, path, rnn: rnnArgs } : { name, path };
  });
  const r = spawnSync(PYTHON, ['-c', LOAD_SCRIPT], { input: JSON.stringify(spec), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
  const saw = JSON.parse(r.stdout) as Record<string, TorchSaw>;
  for (const [caseName, sd] of Object.entries(cases)) {
    const got = saw[caseName]!;
    assert.equal(got.type, 'OrderedDict', caseName);
    assert.deepEqual(Object.keys(got.tensors), Object.keys(sd), caseName);
    for (const [name, t] of Object.entries(sd)) {
      const s = got.tensors[name]!;
      assert.equal(s.dtype, t.dtype, name);
      assert.deepEqual(s.shape, t.shape, name);
      const want = asTorchJson(t);
      assert.equal(s.values.length, want.length, name);
      s.values.forEach((v, i) =>
        assert.ok(Object.is(v, want[i]), `${caseName}.${name}[${i}]: torch ${v}, wrote ${want[i]}`),
      );
    }
  }
  assert.equal(saw.rnn!.loaded_into_rnn, true, 'nn.RNN.load_state_dict(strict=True) accepted it');
});
