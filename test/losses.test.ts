/**
 * MSE and cross-entropy against PyTorch: test/fixtures/train/losses.json, written by scripts/make_train_fixtures.py
 * (F.mse_loss and F.cross_entropy in float64, the loss and its gradient for reductions mean and sum).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { tensor } from '../src/tensor.js';
import {
  crossEntropyLoss,
  crossEntropyLossBackward,
  crossEntropyLossWithGrad,
  mseLoss,
  mseLossBackward,
  type Reduction,
} from '../src/train/losses.js';
import { FLOAT64_TOLERANCE, type Flat, scaledError } from './helpers/compare.js';

interface LossCase {
  reduction: Reduction;
  gradLoss: number;
  input: Flat;
  loss: number;
  grad: Flat;
}
interface Fixture {
  mse: (LossCase & { target: Flat })[];
  crossEntropy: (LossCase & { target: number[] })[];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/train/losses.json', import.meta.url), 'utf8')) as Fixture;
const t64 = (f: Flat) => tensor(Float64Array.from(f.data), f.shape, 'float64');
const lossError = (got: number, want: number) => Math.abs(got - want) / Math.max(1, Math.abs(want));

test('test/fixtures/train/losses.json has cases for both losses', () => {
  assert.ok(fixture.mse.length > 0 && fixture.crossEntropy.length > 0, 'run scripts/make_train_fixtures.py');
});

describe('mseLoss', () => {
  for (const c of fixture.mse) {
    const what = `${c.reduction} over shape [${c.input.shape.join(', ')}]`;
    test(`matches F.mse_loss and its gradient (${what}, upstream gradient ${c.gradLoss})`, () => {
      const input = t64(c.input);
      const target = t64(c.target);
      assert.ok(lossError(mseLoss(input, target, c.reduction), c.loss) <= FLOAT64_TOLERANCE);
      const grad = mseLossBackward(input, target, c.reduction, c.gradLoss);
      assert.ok(scaledError(grad, c.grad) <= FLOAT64_TOLERANCE);
    });
  }

  test('rejects a target of another shape, naming both', () => {
    assert.throws(
      () => mseLoss(tensor([1, 2, 3]), tensor([1, 2])),
      /target size \[2\] must be the same as input size \[3\]/,
    );
  });

  test('rejects an unknown reduction', () => {
    assert.throws(
      () => mseLoss(tensor([1]), tensor([1]), 'avg' as Reduction),
      /avg is not a valid value for reduction/,
    );
  });
});

describe('crossEntropyLoss', () => {
  for (const c of fixture.crossEntropy) {
    const ignored = c.target.filter((t) => t === -100).length;
    const what = `${c.reduction}, ${c.input.shape.join(' x ')} logits${ignored ? `, ${ignored} ignored rows` : ''}`;
    test(`matches F.cross_entropy and its gradient (${what}, upstream gradient ${c.gradLoss})`, () => {
      const logits = t64(c.input);
      const options = { reduction: c.reduction };
      assert.ok(lossError(crossEntropyLoss(logits, c.target, options), c.loss) <= FLOAT64_TOLERANCE);
      const grad = crossEntropyLossBackward(logits, c.target, options, c.gradLoss);
      assert.ok(scaledError(grad, c.grad) <= FLOAT64_TOLERANCE);
    });

    test(`crossEntropyLossWithGrad gives both in one pass, the two calls' numbers bit for bit (${what})`, () => {
      const logits = t64(c.input);
      const options = { reduction: c.reduction };
      const both = crossEntropyLossWithGrad(logits, c.target, options, c.gradLoss);
      assert.equal(both.loss, crossEntropyLoss(logits, c.target, options));
      assert.deepEqual(both.grad.data, crossEntropyLossBackward(logits, c.target, options, c.gradLoss).data);
      assert.ok(lossError(both.loss, c.loss) <= FLOAT64_TOLERANCE);
      assert.ok(scaledError(both.grad, c.grad) <= FLOAT64_TOLERANCE);
    });
  }

  test('stays finite for logits in the thousands', () => {
    const logits = tensor([1000, -1000, 999, 0], [2, 2], 'float64');
    const loss = crossEntropyLoss(logits, [0, 1]);
    assert.ok(Number.isFinite(loss));
    assert.ok(Math.abs(loss - (Math.log1p(Math.exp(-999)) + (999 + Math.log1p(Math.exp(-999)))) / 2) < 1e-12);
  });

  test('rejects a target outside 0..C-1', () => {
    assert.throws(() => crossEntropyLoss(tensor([0, 0, 0], [1, 3]), [3]), /Target 3 is out of bounds/);
  });

  test('rejects logits that are not (M, C), with a hint to flatten', () => {
    assert.throws(
      () => crossEntropyLoss(tensor([0, 0, 0, 0], [1, 2, 2]), [0]),
      (e: Error & { hint?: string }) =>
        /expected logits of shape \(M, C\), got 3-D/.test(e.message) && /flatten/.test(e.hint ?? ''),
    );
  });
});
