/**
 * Embedding against nn.Embedding run now, on tables and ids drawn fresh each run: sizes on both of normal_'s
 * paths, with and without a padding row (negative too), float32 and float64, ids of rank 0 to 3 with repeats and
 * padding. For each: the weight after `torch.manual_seed(s); nn.Embedding(...)`, the output, and weight.grad
 * after sum(y * grad_output).backward(), all compared bit for bit. All cases go to
 * scripts/make_embedding_fixtures.py live in one run.
 *
 * The seed is printed; STACKED_RNN_SEED=<seed> replays a run. Without torch for /usr/bin/python3 the tests skip
 * and say why, unless STACKED_RNN_REQUIRE_TORCH=1 (CI), where that is a failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Embedding } from '../src/nn/embedding.js';
import { Generator } from '../src/random.js';
import { type DType, type NestedArray, type Tensor, tensor } from '../src/tensor.js';
import type { Flat } from './helpers/compare.js';
import { int, uniform } from './helpers/random.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const SCRIPT = fileURLToPath(new URL('../scripts/make_embedding_fixtures.py', import.meta.url));

interface Case {
  seed: number;
  numEmbeddings: number;
  embeddingDim: number;
  paddingIdx: number | null;
  dtype: DType;
  ids: NestedArray;
  gradOutput: number[];
}

interface TorchResult {
  weight: Flat;
  output: Flat;
  gradWeight: Flat;
}

const seed = process.env.STACKED_RNN_SEED ? Number(process.env.STACKED_RNN_SEED) : Math.floor(Math.random() * 2 ** 31);
console.log(`embedding-live seed: ${seed} (replay with STACKED_RNN_SEED=${seed})`);
const g = new Generator(seed);

function randomCase(): Case {
  const V = int(g, 1, 30);
  const E = int(g, 1, 12);
  const paddingIdx = int(g, 0, 2) === 0 ? null : int(g, -V, V - 1);
  const rank = int(g, 0, 3);
  const shape = Array.from({ length: rank }, () => int(g, 1, 5));
  // ids from a few rows only, so that rows repeat; the padding row among them when there is one
  const rows = Array.from({ length: int(g, 1, 4) }, () => int(g, 0, V - 1));
  if (paddingIdx !== null) rows.push(paddingIdx < 0 ? V + paddingIdx : paddingIdx);
  const build = (d: number): NestedArray =>
    d === rank
      ? (rows[int(g, 0, rows.length - 1)] as number)
      : Array.from({ length: shape[d] as number }, () => build(d + 1));
  const ids = build(0);
  const M = shape.reduce((a, b) => a * b, 1);
  return {
    seed: int(g, 0, 2 ** 31),
    numEmbeddings: V,
    embeddingDim: E,
    paddingIdx,
    dtype: int(g, 0, 1) === 0 ? 'float32' : 'float64',
    ids,
    gradOutput: Array.from(uniform(g, M * E, 2)),
  };
}

const cases = Array.from({ length: 24 }, randomCase);
const skip = torchSkip();

let results: TorchResult[] | undefined;
/** PyTorch's results for every case, from the first test that asks. */
function torchResults(): TorchResult[] {
  if (!results) {
    assertTorch();
    const r = spawnSync(PYTHON, [SCRIPT, 'live'], { input: JSON.stringify(cases), encoding: 'utf8', timeout: 120_000 });
    if (r.error) throw new Error(`${PYTHON} ${SCRIPT} live: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${PYTHON} ${SCRIPT} live failed (status ${r.status}):\n${r.stderr}`);
    results = JSON.parse(r.stdout) as TorchResult[];
  }
  return results;
}

/** max |got - want|, after checking the shapes agree. */
function maxDiff(got: Tensor, want: Flat, what: string): number {
  assert.deepEqual([...got.shape], [...want.shape], `${what}: shape`);
  let d = 0;
  for (let i = 0; i < want.data.length; i++)
    d = Math.max(d, Math.abs((got.data[i] as number) - (want.data[i] as number)));
  return Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
}

let worst = 0;
cases.forEach((c, i) => {
  const shape = tensor(c.ids, undefined, 'float64').shape;
  const table = `Embedding(${c.numEmbeddings}, ${c.embeddingDim}${c.paddingIdx === null ? '' : `, padding_idx=${c.paddingIdx}`}, ${c.dtype})`;
  test(`${table} on ids of shape [${shape.join(', ')}] matches live PyTorch bit for bit: init, lookup and gradient (seed ${seed}, case ${i})`, {
    skip,
  }, (t) => {
    const want = torchResults()[i] as TorchResult;
    const { numEmbeddings, embeddingDim, paddingIdx, dtype } = c;
    const emb = new Embedding({ numEmbeddings, embeddingDim, paddingIdx, dtype, seed: c.seed });
    const diffs = { weight: maxDiff(emb.parameter('weight'), want.weight, 'weight') };
    const y = emb.forward(c.ids, { requiresGrad: true });
    emb.backward(tensor(c.gradOutput, y.shape, c.dtype));
    Object.assign(diffs, {
      output: maxDiff(y, want.output, 'output'),
      gradWeight: maxDiff(emb.grad('weight'), want.gradWeight, 'grad weight'),
    });
    t.diagnostic(JSON.stringify(diffs));
    for (const [name, d] of Object.entries(diffs)) {
      worst = Math.max(worst, d);
      assert.equal(d, 0, `${name}: max difference ${d} (seed ${seed}, case ${i})`);
    }
  });
});

after(() => {
  if (!skip) console.log(`embedding vs live PyTorch (seed ${seed}): ${cases.length} cases, max difference ${worst}`);
});
