/**
 * nn.LSTM, nn.GRU, nn.LSTMCell and nn.GRUCell against committed PyTorch results: test/fixtures/cells/*.json,
 * written by scripts/make_cell_fixtures.py (a pairwise covering set of each module's options, projSize and dropout
 * through given masks included, and cell cases, in float32 and float64). Each case is run once, forward (recorded)
 * then backward, and judged twice:
 *
 *   forward: output, h_n (and c_n; a cell's h' and c'). float64 within 1e-12 of PyTorch float64 relative to scale;
 *   float32 no further from PyTorch's float64 forward of the same values than PyTorch float32 is. Padded output
 *   steps exactly 0.
 *   backward: the gradients of the input, the initial states and every parameter (weight_hr included). float64
 *   within 1e-10 of PyTorch float64; float32 no worse against PyTorch float64 than PyTorch float32. Padded input
 *   steps get exactly 0.
 *
 * The summary prints the worst errors per module kind.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import type { Tensor } from '../src/index.js';
import {
  describeGated,
  type GatedCase,
  type GatedResult,
  type GatedTorchResult,
  judgeOutputs,
  kindOf,
  nonzeroPadded,
  runGated,
} from './helpers/cells.js';
import { Summary } from './helpers/compare.js';
import { GradSummary, judgeGrads } from './helpers/grad.js';

const dir = new URL('./fixtures/cells/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => /^(lstm|gru)-/.test(f) && f.endsWith('.json'))
  .sort();
const forwards = new Map<string, Summary>();
const backwards = new Map<string, GradSummary>();

test('the LSTM and GRU fixtures are present, for all four modules', () => {
  const kinds = new Set(files.map((f) => f.replace(/-\d+\.json$/, '')));
  assert.deepEqual([...kinds].sort(), ['gru', 'gru-cell', 'lstm', 'lstm-cell']);
  assert.ok(
    files.length >= 50,
    `expected scripts/make_cell_fixtures.py's fixtures in ${dir.pathname}, got ${files.length}`,
  );
});

for (const file of files) {
  const fixture = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as GatedCase & { expected: GatedTorchResult };
  const dtype = fixture.config.dtype;
  const kind = kindOf(fixture);
  const name = file.replace('.json', '');
  let ours: GatedResult | undefined;
  const run = () => {
    ours ??= runGated(fixture);
    return ours;
  };

  test(`${describeGated(fixture)} gives PyTorch's forward (${dtype}, ${name})`, (t) => {
    const { outputs } = run();
    for (const [key, value] of Object.entries(outputs)) assert.equal(value.dtype, dtype, key);
    if (fixture.kind === 'rnn' && fixture.lengths) {
      const bad = nonzeroPadded(outputs.output as Tensor, fixture.lengths, fixture.config.batchFirst);
      assert.deepEqual(bad, [], 'padded positions of the output must be exactly 0');
    }
    const verdict = judgeOutputs(dtype, outputs, fixture.expected);
    t.diagnostic(verdict.message);
    if (!forwards.has(kind)) forwards.set(kind, new Summary());
    forwards.get(kind)?.add(dtype, verdict);
    assert.ok(verdict.ok, verdict.message);
  });

  test(`the gradients of ${describeGated(fixture)} match PyTorch (${dtype}, ${name})`, (t) => {
    const { grads } = run();
    if (fixture.kind === 'rnn' && fixture.lengths) {
      const input = grads.input as NonNullable<typeof grads.input>;
      if (input.shape.length === 3) {
        assert.deepEqual(nonzeroPadded(input, fixture.lengths, fixture.config.batchFirst), [], 'padded input steps');
      }
    }
    const verdict = judgeGrads(dtype, grads, fixture.expected);
    t.diagnostic(verdict.message);
    if (!backwards.has(kind)) backwards.set(kind, new GradSummary());
    backwards.get(kind)?.add(dtype, verdict);
    assert.ok(verdict.ok, verdict.message);
  });
}

after(() => {
  for (const [kind, s] of forwards) console.log(`${kind} forward vs PyTorch fixtures: ${s}`);
  for (const [kind, s] of backwards) console.log(`${kind} gradients vs PyTorch fixtures: ${s}`);
});
