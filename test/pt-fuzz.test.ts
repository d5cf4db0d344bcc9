/**
 * Property tests over mutated .pt files (byte flips, truncations, splices, lies in zip size fields, damaged
 * pickles re-zipped with valid CRCs), and safetensors files when that reader exists: each input either loads
 * or throws RnnError. The properties live in scripts/fuzz-long.ts, which runs them for many more inputs.
 * FUZZ_SEED=<n> replays a run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { attempt, inputs, targets } from '../scripts/fuzz-long.js';

const RUNS = 1500;
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

for (const target of await targets()) {
  test(`mutated ${target.name} files either load or throw RnnError (${RUNS} inputs)`, () => {
    assert.ok(target.seeds.length > 0, 'there are seed files to mutate');
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(inputs(target), (bytes) => {
        outcomes.add(attempt(target, bytes));
      }),
      seed === undefined ? { numRuns: RUNS } : { numRuns: RUNS, seed },
    );
    assert.ok(outcomes.size > 1, `the mutations reach more than one outcome: ${[...outcomes].join(', ')}`);
  });
}

test('every seed file is itself accepted or refused with RnnError', async () => {
  for (const target of await targets()) for (const s of target.seeds) attempt(target, s);
});
