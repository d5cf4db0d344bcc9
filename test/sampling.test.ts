/**
 * argmax, softmax and sample (src/sampling.ts) against torch 1.13: torch.argmax, torch.softmax and
 * torch.multinomial after torch.manual_seed, from test/fixtures/sampling/cases.json (scripts/torch_sampling.py
 * make) and live on fresh random logits (scripts/torch_sampling.py answer).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RnnError } from '../src/errors.js';
import { Generator } from '../src/random.js';
import { argmax, sample, softmax } from '../src/sampling.js';
import { type DType, Tensor, tensor } from '../src/tensor.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

interface Case {
  dtype: DType;
  logits: number[][];
  temperature: number;
  top_k: number | null;
  seed: number;
  draws: number;
  softmax: number[][];
  argmax: number[];
  samples: number[];
}

const SCRIPT = fileURLToPath(new URL('../scripts/torch_sampling.py', import.meta.url));
const fixtures = JSON.parse(readFileSync(new URL('fixtures/sampling/cases.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

function logitsOf(c: Case): Tensor {
  return tensor(c.logits, undefined, c.dtype);
}

/** Our draws for a case: `draws` rounds of one index per row, all from one Generator(seed). */
function ourSamples(c: Case): number[] {
  const g = new Generator(c.seed);
  const t = logitsOf(c);
  const out: number[] = [];
  const options = { temperature: c.temperature, generator: g, ...(c.top_k === null ? {} : { topK: c.top_k }) };
  for (let d = 0; d < c.draws; d++) out.push(...sample(t, options));
  return out;
}

function checkCase(c: Case): void {
  const what = `${c.dtype} (${c.logits.length}, ${c.logits[0]?.length}) T=${c.temperature} k=${c.top_k}`;
  assert.deepEqual(argmax(logitsOf(c)), c.argmax, `argmax ${what}`);
  const probs = softmax(logitsOf(c), { temperature: c.temperature });
  const tol = c.dtype === 'float32' ? 2e-6 : 4e-15; // relative: torch's exp is Sleef's, ours libm's
  c.softmax.flat().forEach((p, i) => {
    assert.ok(Math.abs((probs.data[i] as number) - p) <= tol * p, `softmax ${what} [${i}]`);
  });
  assert.deepEqual(ourSamples(c), c.samples, `samples ${what}`);
}

describe('sampling against torch fixtures', () => {
  for (const c of fixtures.cases) {
    test(`${c.dtype} (${c.logits.length}, ${c.logits[0]?.length}) at temperature ${c.temperature}, top-k ${c.top_k}: torch's argmax, softmax and multinomial draws`, () =>
      checkCase(c));
  }
});

describe('sampling', () => {
  test('argmax of a row is the index of its largest value, the first of ties', () => {
    assert.equal(argmax(new Float32Array([0.1, 2.5, -1, 2.5])), 1);
    assert.equal(argmax([3, 1, 2]), 0);
  });

  test('argmax of an (N, V) tensor gives one index per row', () => {
    assert.deepEqual(
      argmax(
        tensor([
          [1, 0, 0],
          [0, 0, 5],
        ]),
      ),
      [0, 2],
    );
  });

  test('temperature 0 samples the argmax and draws no random number', () => {
    const g = new Generator(5);
    const row = new Float64Array([0.3, 1.2, -0.5]);
    assert.equal(sample(row, { temperature: 0, generator: g }), 1);
    assert.equal(g.nextUint32(), new Generator(5).nextUint32());
  });

  test('top-k 1 always samples the largest logit', () => {
    const g = new Generator(1);
    const row = new Float32Array([0.3, 1.2, 1.1, -0.5]);
    for (let i = 0; i < 50; i++) assert.equal(sample(row, { topK: 1, temperature: 5, generator: g }), 1);
  });

  test('top-k 2 never samples outside the two largest logits', () => {
    const g = new Generator(2);
    const row = new Float32Array([0.3, 1.2, 1.1, -0.5, 0.9]);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(sample(row, { topK: 2, temperature: 10, generator: g }));
    assert.deepEqual([...seen].sort(), [1, 2]);
  });

  test('a seed number draws as a Generator of that seed', () => {
    const row = new Float64Array([0.1, 0.2, 0.3, 0.4, 0.5]);
    assert.equal(sample(row, { generator: 9 }), sample(row, { generator: new Generator(9) }));
  });

  test('softmax at temperature 0 puts all probability on the largest logit', () => {
    assert.deepEqual([...softmax(new Float64Array([1, 3, 2]), { temperature: 0 })], [0, 1, 0]);
  });

  test('softmax keeps the precision of its row', () => {
    assert.ok(softmax(new Float32Array([1, 2])) instanceof Float32Array);
    assert.ok(softmax([1, 2]) instanceof Float64Array);
    assert.equal(softmax(tensor([[1, 2]], undefined, 'float64')).dtype, 'float64');
  });

  test('a negative or non-finite temperature is refused', () => {
    for (const temperature of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => sample([1, 2], { temperature }), RnnError);
    }
  });

  test('a top-k that is not a positive integer is refused', () => {
    for (const topK of [0, 1.5, -2]) assert.throws(() => sample([1, 2], { topK }), /topK must be an integer >= 1/);
  });

  test('nan or +inf logits are refused in torch.multinomial words', () => {
    assert.throws(() => sample([1, Number.NaN]), /logits must be numbers/);
    assert.throws(() => sample([1, Number.POSITIVE_INFINITY]), /probability tensor contains either `inf`, `nan`/);
  });

  test('an empty row or a tensor with no last dimension is refused', () => {
    assert.throws(() => argmax(new Float32Array(0)), /at least one value/);
    assert.throws(() => argmax(new Tensor(new Float32Array(0), [2, 0])), /\(\.\.\., V\) with V >= 1/);
  });
});

describe('sampling against live PyTorch', { skip: torchSkip() }, () => {
  test('fresh random logits give torch.multinomial draws for the same seed', () => {
    assertTorch();
    const seed = Number(process.env.STACKED_RNN_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const g = new Generator(seed);
    const cases = (['float32', 'float64'] as const).flatMap((dtype, i) => {
      const V = 20 + 37 * i;
      const logits = new Float64Array(3 * V);
      g.normal(logits, 0, 2);
      const rows = [0, 1, 2].map((n) => Array.from(logits.subarray(n * V, (n + 1) * V), (x) => Math.fround(x)));
      return [{ dtype, logits: rows, temperature: 0.7, top_k: i === 0 ? null : 12, seed: seed + i, draws: 30 }];
    });
    const r = spawnSync(PYTHON, [SCRIPT, 'answer'], { input: JSON.stringify(cases), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const c of JSON.parse(r.stdout) as Case[]) checkCase(c);
    console.log(`sampling vs live PyTorch (seed ${seed}): ${cases.length} cases`);
  });
});
