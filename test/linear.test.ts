/**
 * Linear against nn.Linear: test/fixtures/train/linear.json, written by scripts/make_train_fixtures.py (float64
 * forward, then sum(y * grad_output).backward() for the input, weight and bias gradients).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Linear } from '../src/nn/linear.js';
import { type Tensor, tensor } from '../src/tensor.js';
import { FLOAT64_TOLERANCE, type Flat, scaledError } from './helpers/compare.js';

interface Case {
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
  weight: Flat;
  biasValue: Flat | null;
  input: Flat;
  output: Flat;
  gradOutput: Flat;
  gradInput: Flat;
  gradWeight: Flat;
  gradBias: Flat | null;
}

const cases = (
  JSON.parse(readFileSync(new URL('./fixtures/train/linear.json', import.meta.url), 'utf8')) as { cases: Case[] }
).cases;
const t64 = (f: Flat) => tensor(Array.from(f.data), f.shape, 'float64');

function load(c: Case): Linear {
  const lin = new Linear({
    inFeatures: c.inFeatures,
    outFeatures: c.outFeatures,
    bias: c.bias,
    dtype: 'float64',
    seed: 0,
  });
  const sd: Record<string, Tensor> = { weight: t64(c.weight) };
  if (c.biasValue) sd.bias = t64(c.biasValue);
  lin.loadStateDict(sd);
  return lin;
}

describe('Linear', () => {
  test('has nn.Linear cases to compare against in test/fixtures/train/linear.json', () => {
    assert.ok(cases.length > 0, 'no cases: run scripts/make_train_fixtures.py');
  });

  for (const c of cases) {
    const what = `Linear(${c.inFeatures}, ${c.outFeatures}${c.bias ? '' : ', bias=False'}) on input [${c.input.shape.join(', ')}]`;
    test(`${what} matches nn.Linear forward and backward`, () => {
      const lin = load(c);
      const y = lin.forward(t64(c.input), { requiresGrad: true });
      const errors = { output: scaledError(y, c.output, 'output') };
      const dx = lin.backward(t64(c.gradOutput));
      Object.assign(errors, {
        input: scaledError(dx, c.gradInput, 'grad input'),
        weight: scaledError(lin.grad('weight'), c.gradWeight, 'grad weight'),
        ...(c.gradBias ? { bias: scaledError(lin.grad('bias'), c.gradBias, 'grad bias') } : {}),
      });
      for (const [name, err] of Object.entries(errors)) assert.ok(err <= FLOAT64_TOLERANCE, `${name}: ${err}`);
    });
  }

  test('accumulates parameter gradients over backward passes until zeroGrad', () => {
    const c = cases[0] as Case;
    const lin = load(c);
    for (let i = 0; i < 2; i++) {
      lin.forward(t64(c.input), { requiresGrad: true });
      lin.backward(t64(c.gradOutput));
    }
    const twice = { shape: c.gradWeight.shape, data: Array.from(c.gradWeight.data, (v) => 2 * v) };
    assert.ok(scaledError(lin.grad('weight'), twice) <= FLOAT64_TOLERANCE);
    lin.zeroGrad();
    assert.ok(lin.grad('weight').data.every((v) => v === 0));
  });

  test('has parameters weight (O, I) and bias (O) initialised within 1/sqrt(I)', () => {
    const lin = new Linear({ inFeatures: 16, outFeatures: 3, seed: 1 });
    assert.deepEqual(
      lin.namedParameters().map(([n, p]) => [n, [...p.shape]]),
      [
        ['weight', [3, 16]],
        ['bias', [3]],
      ],
    );
    for (const [, p] of lin.namedParameters()) assert.ok(p.data.every((v) => Math.abs(v) <= 0.25));
  });

  test("rejects an input whose last dimension is not in_features, in PyTorch's words", () => {
    const lin = new Linear({ inFeatures: 3, outFeatures: 2, seed: 0 });
    assert.throws(
      () => lin.forward(tensor([1, 2, 3, 4], [2, 2])),
      /mat1 and mat2 shapes cannot be multiplied \(2x2 and 3x2\)/,
    );
  });

  test('rejects a backward without a recorded forward', () => {
    const lin = new Linear({ inFeatures: 2, outFeatures: 2, seed: 0 });
    lin.forward(tensor([1, 2]));
    assert.throws(() => lin.backward(tensor([1, 1])), /requiresGrad: true/);
  });

  test('rejects a gradient of the wrong shape', () => {
    const lin = new Linear({ inFeatures: 2, outFeatures: 2, seed: 0 });
    lin.forward(tensor([1, 2]), { requiresGrad: true });
    assert.throws(() => lin.backward(tensor([1, 1, 1])), /expected \[2\], got \[3\]/);
  });
});
