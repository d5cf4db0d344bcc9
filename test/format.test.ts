import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type DType, tensor } from '../src/index.js';

interface Case {
  name: string;
  shape: number[];
  dtype: DType;
  values: (number | string)[];
  str: string;
}

const fromJson = (v: number | string): number =>
  typeof v === 'number'
    ? v
    : ({ nan: Number.NaN, inf: Number.POSITIVE_INFINITY, '-inf': Number.NEGATIVE_INFINITY }[v] ?? Number.NaN);

const cases = JSON.parse(readFileSync(new URL('./fixtures/format.json', import.meta.url), 'utf8')) as Case[];

test('test/fixtures/format.json has tensors printed by PyTorch', () => {
  assert.ok(cases.length > 0, 'no cases: run scripts/make_format_fixtures.py');
});

for (const c of cases) {
  test(`a tensor prints exactly as PyTorch prints it: ${c.name}`, () => {
    assert.equal(String(tensor(c.values.map(fromJson), c.shape, c.dtype)), c.str);
  });
}
