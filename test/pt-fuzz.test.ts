/**
 * Property tests over mutated .pt files (byte flips, truncations, splices, lies in zip size fields, damaged
 * pickles re-zipped with valid CRCs), and safetensors files: each input either loads or throws RnnError. The
 * properties live in scripts/fuzz-long.ts, which runs them for many more inputs. FUZZ_SEED=<n> replays a run.
 *
 * The mutations start from every fixture file of a format (test/fixtures/pt/*.pt, test/fixtures/safetensors/
 * *.safetensors) plus one file written here; the first test checks that both readers are fuzzed from all of them,
 * so a missing reader or fixture folder fails instead of leaving fewer (or no) tests to pass.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { attempt, inputs, targets } from '../scripts/fuzz-long.js';

const RUNS = 1500;
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const found = await targets();

/** The fixture files of each target's format. */
const FIXTURES: Record<string, [folder: string, ext: string]> = {
  '.pt': ['./fixtures/pt/', '.pt'],
  safetensors: ['./fixtures/safetensors/', '.safetensors'],
};

test('every reader is fuzzed, the file readers each from every fixture file of its format and one written here', () => {
  assert.deepEqual(
    found.map((t) => t.name),
    [...Object.keys(FIXTURES), 'JSON tensors', 'weights to an RNN', 'checkpoints'],
  );
  for (const target of found.filter((t) => t.name in FIXTURES)) {
    const [folder, ext] = FIXTURES[target.name] as [string, string];
    const files = readdirSync(new URL(folder, import.meta.url)).filter((f) => f.endsWith(ext));
    assert.ok(files.length > 0, `no ${ext} fixture files in test/${folder.slice(2)}`);
    assert.equal(
      target.seeds.length,
      files.length + 1,
      `${target.name} seeds: the ${files.length} fixture files and one`,
    );
  }
});

for (const target of found) {
  test(`mutated ${target.name} files either load or throw RnnError (${RUNS} inputs)`, () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(inputs(target), (bytes) => {
        outcomes.add(attempt(target, bytes));
      }),
      seed === undefined ? { numRuns: RUNS } : { numRuns: RUNS, seed },
    );
    assert.ok(outcomes.has('loaded'), `some mutations still load: ${[...outcomes].join(', ')}`);
    assert.ok(outcomes.size > 1, `the mutations reach more than one outcome: ${[...outcomes].join(', ')}`);
  });

  test(`every ${target.name} seed file is itself accepted or refused with RnnError, and some load`, () => {
    const outcomes = target.seeds.map((s) => attempt(target, s));
    assert.ok(outcomes.includes('loaded'), `no seed file loads: ${outcomes.join(', ')}`);
  });
}
