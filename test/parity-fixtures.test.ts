/**
 * The forward pass against committed PyTorch results: test/fixtures/forward/*.json, written by
 * scripts/make_fixtures.py (a pairwise covering set of every RNN option, float32 and float64).
 *
 * float64 must match PyTorch float64 to 1e-12 of the output's scale. float32 is measured against PyTorch's
 * float64 result for the same float32 weights and inputs, and must be no worse than PyTorch float32 itself.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { RNN, type Tensor, tensor } from '../src/index.js';
import { describeCase, type Flat, judge, nonzeroPadding, type RnnConfig, Summary } from './helpers/compare.js';

interface Fixture {
  config: RnnConfig;
  case: { L: number; N: number; unbatched: boolean };
  stateDict: Record<string, Flat>;
  input: Flat;
  h0: Flat | null;
  lengths: number[] | null;
  output: Flat;
  h_n: Flat;
  output64?: Flat;
  h_n64?: Flat;
}

const dir = new URL('./fixtures/forward/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const summary = new Summary();

test('the forward fixtures are present', () => {
  assert.ok(
    files.length >= 12,
    `expected the fixtures of scripts/make_fixtures.py in ${dir.pathname}, got ${files.length} files`,
  );
});

for (const file of files) {
  const f = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Fixture;
  const c = f.config;
  const title = `${describeCase({ ...c, ...f.case, h0: f.h0 !== null, lengths: f.lengths })} matches PyTorch (${c.dtype}, ${file.replace('.json', '')})`;

  test(title, (t) => {
    const asTensor = (x: Flat): Tensor => tensor(Array.from(x.data), x.shape, c.dtype);
    const rnn = new RNN({ ...c });
    const sd: Record<string, Tensor> = {};
    for (const [name, p] of Object.entries(f.stateDict)) sd[name] = asTensor(p);
    rnn.loadStateDict(sd);
    rnn.eval();

    const options = f.lengths ? { lengths: f.lengths } : {};
    const [output, hN] = rnn.forward(asTensor(f.input), f.h0 ? asTensor(f.h0) : undefined, options);
    assert.equal(output.dtype, c.dtype, 'output dtype');
    assert.equal(hN.dtype, c.dtype, 'h_n dtype');

    if (f.lengths) {
      const bad = nonzeroPadding(output, f.lengths, c.batchFirst);
      assert.deepEqual(bad, [], 'padded positions of the output must be exactly 0');
    }

    const ours = { output, hN };
    const torch = { output: f.output, hN: f.h_n };
    const ref64 = f.output64 && f.h_n64 ? { output: f.output64, hN: f.h_n64 } : undefined;
    const verdict = judge(c.dtype, ours, torch, ref64);
    t.diagnostic(verdict.message);
    summary.add(c.dtype, verdict);
    assert.ok(verdict.ok, verdict.message);
  });
}

after(() => {
  console.log(`parity with PyTorch fixtures: ${summary}`);
});
