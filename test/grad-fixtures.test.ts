/**
 * The backward pass against committed PyTorch autograd results: test/fixtures/grad/*.json, written by
 * scripts/make_grad_fixtures.py (a pairwise covering set of every RNN option, dropout through given masks, and a
 * few RNNCell cases, in float32 and float64).
 *
 * float64 gradients must match PyTorch float64 to 1e-10 of their scale. float32 gradients are measured against
 * PyTorch's float64 gradients for the same values, and must be no worse than PyTorch float32's.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { forwardError, scaledError } from './helpers/compare.js';
import { describeGradCase, type GradCase, GradSummary, judgeGrads, runOurs, type TorchResult } from './helpers/grad.js';

const dir = new URL('./fixtures/grad/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const summary = new GradSummary();

test('the gradient fixtures are present', () => {
  assert.ok(
    files.length >= 20,
    `expected scripts/make_grad_fixtures.py's fixtures in ${dir.pathname}, got ${files.length}`,
  );
});

for (const file of files) {
  const fixture = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as GradCase & { expected: TorchResult };
  const dtype = fixture.config.dtype;
  test(`the gradients of ${describeGradCase(fixture)} match PyTorch (${dtype}, ${file.replace('.json', '')})`, (t) => {
    const ours = runOurs(fixture);
    const want = fixture.expected;
    // the forward under the same masks must be PyTorch's too, or the gradients compare different functions
    const forward =
      ours.output && ours.hN && want.output && want.h_n
        ? forwardError({ output: ours.output, hN: ours.hN }, { output: want.output, hN: want.h_n })
        : scaledError(ours.h as NonNullable<typeof ours.h>, want.h as NonNullable<typeof want.h>, 'h');
    assert.ok(forward <= (dtype === 'float64' ? 1e-12 : 1e-5), `forward differs from PyTorch's by ${forward}`);
    const verdict = judgeGrads(dtype, ours.grads, want);
    t.diagnostic(verdict.message);
    summary.add(dtype, verdict);
    assert.ok(verdict.ok, verdict.message);
  });
}

after(() => {
  console.log(`gradients vs PyTorch fixtures: ${summary}`);
});
