/**
 * The backward against PyTorch autograd run now, on configurations drawn fresh each run: every option at random
 * (layers, directions, nonlinearity, bias, batch-first, unbatched, lengths, h0, gradHN, dropout with given masks
 * or in eval mode, float32 or float64), plus RNNCell cases. All cases go to scripts/torch_grad.py in one run.
 *
 * The seed is printed; STACKED_RNN_SEED=<seed> replays a run. Without torch for /usr/bin/python3 the tests skip
 * and say why, unless STACKED_RNN_REQUIRE_TORCH=1 (CI), where that is a failure.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Generator } from '../src/index.js';
import {
  describeGradCase,
  type GradCase,
  GradSummary,
  judgeGrads,
  randomCellCase,
  randomRnnCase,
  runOurs,
  type TorchResult,
  torchGrads,
} from './helpers/grad.js';
import { assertTorch, torchSkip } from './helpers/torch.js';

const seed = process.env.STACKED_RNN_SEED ? Number(process.env.STACKED_RNN_SEED) : Math.floor(Math.random() * 2 ** 31);
console.log(`grad-live seed: ${seed} (replay with STACKED_RNN_SEED=${seed})`);
const g = new Generator(seed);
const cases: GradCase[] = [
  ...Array.from({ length: 10 }, (_, i) => randomRnnCase(g, i < 3 ? { fixed: { masks: true } } : {})),
  randomCellCase(g, 'float32'),
  randomCellCase(g, 'float64'),
];
const skip = torchSkip();
const summary = new GradSummary();

let results: TorchResult[] | undefined;
/** PyTorch's results for every case, from the first test that asks. */
function torchResults(): TorchResult[] {
  if (!results) {
    assertTorch();
    results = torchGrads(cases);
  }
  return results;
}

cases.forEach((c, i) => {
  const dtype = c.config.dtype;
  test(`the gradients of ${describeGradCase(c)} match live PyTorch (${dtype}, seed ${seed}, case ${i})`, {
    skip,
  }, (t) => {
    const want = torchResults()[i] as TorchResult;
    const verdict = judgeGrads(dtype, runOurs(c).grads, want);
    t.diagnostic(verdict.message);
    summary.add(dtype, verdict);
    assert.ok(verdict.ok, `${verdict.message} (seed ${seed}, case ${i})`);
  });
});

after(() => {
  if (!skip) console.log(`gradients vs live PyTorch (seed ${seed}): ${summary}`);
});
