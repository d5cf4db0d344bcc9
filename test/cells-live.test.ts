/**
 * nn.LSTM, nn.GRU, nn.LSTMCell and nn.GRUCell against PyTorch run now, on cases drawn fresh each run through the
 * library: every option at random (layers, directions, projSize, bias, batch-first, unbatched, lengths, the initial
 * state, gradHN and gradCN, dropout with given masks or in eval mode, float32 or float64). All cases go to
 * scripts/torch_grad.py in one run, which returns per case torch's initialisation from the case's seed, the forward
 * and the gradients. Each case checks:
 *
 *   init: our module built with `seed` holds torch.manual_seed(seed)'s parameters bit for bit;
 *   forward: as test/cells-fixtures.test.ts judges it (float64 1e-12, float32 no worse than PyTorch float32);
 *   backward: the gradients of the input, the states and every parameter (float64 1e-10, float32 no worse).
 *
 * The seed is printed; STACKED_RNN_SEED=<seed> replays a run. Without torch for /usr/bin/python3 the tests skip
 * and say why, unless STACKED_RNN_REQUIRE_TORCH=1 (CI), where that is a failure.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Generator } from '../src/index.js';
import {
  cellFor,
  describeGated,
  type GatedCase,
  type GatedTorchResult,
  judgeOutputs,
  kindOf,
  moduleFor,
  nonzeroPadded,
  randomGatedCase,
  randomGatedCellCase,
  runGated,
} from './helpers/cells.js';
import { Summary } from './helpers/compare.js';
import { GradSummary, judgeGrads, torchGrads } from './helpers/grad.js';
import { assertTorch, torchSkip } from './helpers/torch.js';

const seed = process.env.STACKED_RNN_SEED ? Number(process.env.STACKED_RNN_SEED) : Math.floor(Math.random() * 2 ** 31);
console.log(`cells-live seed: ${seed} (replay with STACKED_RNN_SEED=${seed})`);
const g = new Generator(seed);
const cases: GatedCase[] = [
  // the LSTM with and without a projection in turn, the first of each cell with dropout masks
  ...Array.from({ length: 8 }, (_, i) =>
    randomGatedCase(g, { cell: 'LSTM', seeded: true, fixed: { proj: i % 2 === 0, ...(i < 2 ? { masks: true } : {}) } }),
  ),
  ...Array.from({ length: 6 }, (_, i) =>
    randomGatedCase(g, { cell: 'GRU', seeded: true, fixed: i === 0 ? { masks: true } : {} }),
  ),
  randomGatedCellCase(g, 'LSTM', 'float32', { seeded: true }),
  randomGatedCellCase(g, 'LSTM', 'float64', { seeded: true }),
  randomGatedCellCase(g, 'GRU', 'float32', { seeded: true }),
  randomGatedCellCase(g, 'GRU', 'float64', { seeded: true }),
];
const skip = torchSkip();
const forwards = new Map<string, Summary>();
const backwards = new Map<string, GradSummary>();

let results: GatedTorchResult[] | undefined;
/** PyTorch's results for every case, from the first test that asks. */
function torchResults(): GatedTorchResult[] {
  if (!results) {
    assertTorch();
    results = torchGrads<GatedCase, GatedTorchResult>(cases);
  }
  return results;
}

cases.forEach((c, i) => {
  const dtype = c.config.dtype;
  const kind = kindOf(c);
  const what = `${describeGated(c)} (${dtype}, seed ${seed}, case ${i})`;
  const replay = `(replay with STACKED_RNN_SEED=${seed}, case ${i})`;

  test(`${what} is initialised from its seed as torch.manual_seed then the module, and gives PyTorch's forward`, {
    skip,
  }, (t) => {
    const want = torchResults()[i] as GatedTorchResult;
    // the case's weights are our init from c.seed: torch's from the same seed must be the same bits
    const init = want.init as NonNullable<GatedTorchResult['init']>;
    assert.deepEqual(Object.keys(c.stateDict), Object.keys(init), `parameter names and order ${replay}`);
    for (const [name, p] of Object.entries(c.stateDict)) {
      assert.deepEqual(p.shape, init[name]?.shape, `${name} shape`);
      assert.deepEqual(Array.from(p.data), Array.from(init[name]?.data ?? []), `${name} after manual_seed ${replay}`);
    }
    // and a module built from the seed holds them (not only the case's copy)
    const fresh = c.kind === 'cell' ? cellFor(c) : moduleFor(c);
    assert.ok(fresh.namedParameters().every(([n, p]) => p.data.every((v, j) => v === init[n]?.data[j])));

    const ours = runGated(c);
    if (c.kind === 'rnn' && c.lengths) {
      const out = ours.outputs.output as NonNullable<(typeof ours.outputs)['output']>;
      assert.deepEqual(nonzeroPadded(out, c.lengths, c.config.batchFirst), [], 'padded output steps must be 0');
    }
    const verdict = judgeOutputs(dtype, ours.outputs, want);
    t.diagnostic(verdict.message);
    if (!forwards.has(kind)) forwards.set(kind, new Summary());
    forwards.get(kind)?.add(dtype, verdict);
    assert.ok(verdict.ok, `${verdict.message} ${replay}`);
  });

  test(`the gradients of ${what} match live PyTorch`, { skip }, (t) => {
    const want = torchResults()[i] as GatedTorchResult;
    const verdict = judgeGrads(dtype, runGated(c).grads, want);
    t.diagnostic(verdict.message);
    if (!backwards.has(kind)) backwards.set(kind, new GradSummary());
    backwards.get(kind)?.add(dtype, verdict);
    assert.ok(verdict.ok, `${verdict.message} ${replay}`);
  });
});

after(() => {
  if (skip) return;
  for (const [kind, s] of forwards) console.log(`${kind} forward vs live PyTorch (seed ${seed}): ${s}`);
  for (const [kind, s] of backwards) console.log(`${kind} gradients vs live PyTorch (seed ${seed}): ${s}`);
});
