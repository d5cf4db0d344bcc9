import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { Generator } from '../src/random.js';
import type { FloatArray } from '../src/tensor.js';

// Golden values from real PyTorch: scripts/make_random_fixtures.py writes test/fixtures/random.json.
type DTypeName = 'float32' | 'float64';
interface Call {
  op: 'randn' | 'rand' | 'uniform' | 'normal' | 'bernoulli';
  dtype: DTypeName;
  n: number;
  low?: number;
  high?: number;
  mean?: number;
  std?: number;
  p?: number;
  values: string;
}
interface Case {
  name: string;
  seed: number;
  calls: Call[];
}
interface RnnInit {
  seed: number;
  dtype: DTypeName;
  input_size: number;
  hidden_size: number;
  num_layers: number;
  bidirectional: boolean;
  params: { name: string; shape: number[]; values: string }[];
}
interface Fixture {
  cases: Case[];
  rnn: RnnInit[];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/random.json', import.meta.url), 'utf8')) as Fixture;
const checked = new Map<string, number>(); // each torch call once, however many tests replay it

function decode(base64: string, dtype: DTypeName): FloatArray {
  const bytes = Buffer.from(base64, 'base64');
  const copy = new Uint8Array(bytes); // own, aligned buffer
  return dtype === 'float32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer);
}

/** Asserts equal bit patterns, naming the first differing element. */
function assertSameBits(ours: FloatArray, torch: FloatArray, what: string, key = what): void {
  assert.equal(ours.length, torch.length, `${what}: length`);
  const a = new Uint8Array(ours.buffer, ours.byteOffset, ours.byteLength);
  const b = new Uint8Array(torch.buffer, torch.byteOffset, torch.byteLength);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      const k = Math.floor(i / ours.BYTES_PER_ELEMENT);
      assert.fail(`${what}: element ${k} is ${ours[k]}, torch has ${torch[k]}`);
    }
  }
  checked.set(key, ours.length);
}

function run(g: Generator, call: Call): FloatArray {
  const out = call.dtype === 'float32' ? new Float32Array(call.n) : new Float64Array(call.n);
  if (call.op === 'randn') g.normal(out, 0, 1);
  else if (call.op === 'rand') g.uniform(out, 0, 1);
  else if (call.op === 'uniform') g.uniform(out, call.low as number, call.high as number);
  else if (call.op === 'normal') g.normal(out, call.mean as number, call.std as number);
  else g.bernoulliMask(out, call.p as number, 1);
  return out;
}

function replay(c: Case): void {
  const g = new Generator(c.seed);
  c.calls.forEach((call, i) => {
    const what = `seed ${c.seed}, call ${i} ${call.op}(${call.n}) ${call.dtype}`;
    assertSameBits(run(g, call), decode(call.values, call.dtype), what, `${c.name}/${what}`);
  });
}

function casesWhere(pick: (c: Case) => boolean): Case[] {
  const picked = fixture.cases.filter(pick);
  assert.ok(picked.length > 0, 'the fixture has such cases');
  return picked;
}

test('uniform fills float32 and float64 arrays exactly as torch.rand and Tensor.uniform_ do', () => {
  for (const c of casesWhere((c) => /^(rand|uniform) sizes/.test(c.name))) replay(c);
});

test('normal matches torch.randn and Tensor.normal_ below 16 elements, where pairs are cached across calls', () => {
  // Sizes ascend in these sequences, so the calls below 16 come first and dropping the rest changes none of them.
  const small = (c: Case): Case => ({ ...c, calls: c.calls.filter((call) => call.n < 16) });
  for (const c of casesWhere((c) => /^(randn|normal) sizes|^fresh/.test(c.name))) replay(small(c));
});

for (const dtype of ['float32', 'float64'] as const) {
  test(`normal matches torch.randn and Tensor.normal_ at 16 elements and more in ${dtype}, with the redrawn tail`, () => {
    for (const c of casesWhere((c) => /^(randn|normal) sizes|^fresh/.test(c.name) && c.name.endsWith(dtype))) replay(c);
  });
}

test('state carries across calls of every kind and dtype like the global generator', () => {
  for (const c of casesWhere((c) => c.name === 'interleaved')) replay(c);
});

test('seeds outside 0..2^32-1 keep their low 32 bits, as torch.manual_seed does', () => {
  for (const c of casesWhere((c) => c.name.startsWith('seed '))) replay(c);
  const first = (seed: number | bigint): number => new Generator(seed).nextUint32();
  assert.equal(first(-1), first(2 ** 32 - 1));
  assert.equal(first(2n ** 64n - 1n), first(2 ** 32 - 1));
});

test('uniform over nn.RNN parameters in registration order reproduces torch.manual_seed then nn.RNN', () => {
  for (const init of fixture.rnn) {
    const g = new Generator(init.seed);
    const stdv = 1 / Math.sqrt(init.hidden_size); // reset_parameters: init.uniform_(w, -stdv, stdv) for each
    const suffixes = init.bidirectional ? ['', '_reverse'] : [''];
    const names: string[] = [];
    for (let layer = 0; layer < init.num_layers; layer++) {
      for (const suffix of suffixes) {
        for (const kind of ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']) names.push(`${kind}_l${layer}${suffix}`);
      }
    }
    assert.deepEqual(
      names,
      init.params.map((p) => p.name),
    );
    for (const p of init.params) {
      const torch = decode(p.values, init.dtype);
      const ours = init.dtype === 'float32' ? new Float32Array(torch.length) : new Float64Array(torch.length);
      g.uniform(ours, -stdv, stdv);
      assertSameBits(ours, torch, `${init.dtype} RNN ${p.name}`);
    }
  }
  assert.ok(fixture.rnn.some((r) => r.dtype === 'float32' && r.num_layers === 2 && r.bidirectional));
});

test('bernoulliMask keeps exactly where torch.bernoulli_(1 - p) does, dropout’s mask on torch without MKL', () => {
  for (const c of casesWhere((c) => c.name.startsWith('bernoulli '))) replay(c);
});

test('bernoulliMask writes scale where it keeps and 0 where it drops', () => {
  const mask = new Float32Array(500);
  const scaled = new Float32Array(500);
  new Generator(5).bernoulliMask(mask, 0.3, 1);
  new Generator(5).bernoulliMask(scaled, 0.3, 1 / 0.7);
  assert.ok(mask.every((m, i) => scaled[i] === m * Math.fround(1 / 0.7)));
  assert.ok(mask.includes(0) && mask.includes(1));
});

test('invalid arguments throw RnnError with torch’s wording', () => {
  const g = new Generator(0);
  assert.throws(() => g.uniform(new Float32Array(2), 1, 0), { name: 'RnnError', message: /found from=1 > to=0/ });
  assert.throws(() => g.uniform(new Float32Array(2), -1e39, 0), /from is out of bounds for float/);
  assert.throws(() => g.normal(new Float64Array(2), 0, -1), /normal expects std >= 0.0, but found std -1/);
  assert.throws(() => g.bernoulliMask(new Float64Array(2), 1.5, 1), RnnError);
  assert.throws(() => new Generator(0.5), RnnError);
  assert.throws(() => new Generator(2 ** 64), RnnError);
});

after(() => {
  const values = [...checked.values()].reduce((a, b) => a + b, 0);
  console.log(`random: ${checked.size} torch calls, ${values} values compared bit for bit`);
});
