/**
 * SGD, Adam and clipGradNorm against torch.optim and torch.nn.utils.clip_grad_norm_ 1.13:
 * test/fixtures/train/{optim,clip}.json, written by scripts/make_train_fixtures.py. Trajectories are compared
 * after every step: float64 within 1e-12 of the parameters' scale, float32 within a few float32 roundings.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Linear } from '../src/nn/linear.js';
import { type DType, type Tensor, tensor } from '../src/tensor.js';
import { clipGradNorm } from '../src/train/clip.js';
import { mseLoss, mseLossBackward } from '../src/train/losses.js';
import { Adam, type AdamOptions, type Param, parametersOf, SGD, type SGDOptions } from '../src/train/optim.js';
import { FLOAT64_TOLERANCE, type Flat, scaledError } from './helpers/compare.js';

type Options = (SGDOptions & { optimizer?: never }) | AdamOptions;
interface FixedCase {
  optimizer: 'sgd' | 'adam';
  options: Options;
  dtype: DType;
  initial: Flat[];
  steps: { grads: (Flat | null)[]; params: Flat[] }[];
}
interface RegressionCase {
  optimizer: 'sgd' | 'adam';
  options: Options;
  initial: { weight: Flat; bias: Flat };
  input: Flat;
  target: Flat;
  steps: { loss: number; weight: Flat; bias: Flat }[];
}
interface ClipCase {
  maxNorm: number;
  normType: number | 'inf';
  grads: (Flat | null)[];
  totalNorm: number;
  clipped: (Flat | null)[];
}

const read = <T>(name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/train/${name}`, import.meta.url), 'utf8')) as T;
const optim = read<{ fixed: FixedCase[]; regression: RegressionCase[] }>('optim.json');
const clip = read<{ cases: ClipCase[] }>('clip.json').cases;
const make = (f: Flat, dtype: DType = 'float64') => tensor(Array.from(f.data), f.shape, dtype);
/**
 * float32: PyTorch fuses some multiply-adds (one rounding where we round twice), so a step may differ by a rounding;
 * two float32 ulps of the scale (measured: 4e-8 worst over 6 Adam steps).
 */
const tolerance = (dtype: DType) => (dtype === 'float64' ? FLOAT64_TOLERANCE : 2 * 2 ** -23);

function optimizer(kind: 'sgd' | 'adam', params: Param[], options: Options) {
  return kind === 'sgd' ? new SGD(params, options as SGDOptions) : new Adam(params, options as AdamOptions);
}

const describeOptions = (o: Options) =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${Array.isArray(v) ? `[${v.join(', ')}]` : v}`)
    .join(', ');

test('test/fixtures/train/{optim,clip}.json have cases for both optimizers and for clipping', () => {
  for (const kind of ['sgd', 'adam']) {
    assert.ok(
      optim.fixed.some((c) => c.optimizer === kind) && optim.regression.some((c) => c.optimizer === kind),
      kind,
    );
  }
  assert.ok(clip.length > 0, 'clip cases');
});

describe('SGD and Adam on fixed gradients', () => {
  for (const c of optim.fixed) {
    const name = c.optimizer === 'sgd' ? 'SGD' : 'Adam';
    test(`${name} (${describeOptions(c.options)}) follows torch.optim for ${c.steps.length} steps in ${c.dtype}, skipping a parameter without a gradient`, () => {
      const values = c.initial.map((f) => make(f, c.dtype));
      const grads: (Tensor | null)[] = values.map(() => null);
      const params: Param[] = values.map((value, i) => ({
        value,
        get grad() {
          return grads[i] ?? null;
        },
      }));
      const opt = optimizer(c.optimizer, params, c.options);
      c.steps.forEach((s, step) => {
        s.grads.forEach((g, i) => {
          grads[i] = g === null ? null : make(g, c.dtype);
        });
        opt.step();
        values.forEach((v, i) => {
          const err = scaledError(v, s.params[i] as Flat, `step ${step + 1}, params[${i}]`);
          assert.ok(err <= tolerance(c.dtype), `step ${step + 1}, params[${i}]: error ${err}`);
        });
      });
    });
  }
});

describe('SGD and Adam on a Linear regression', () => {
  for (const c of optim.regression) {
    const name = c.optimizer === 'sgd' ? 'SGD' : 'Adam';
    test(`${name} (${describeOptions(c.options)}) trains Linear(3, 2) on an MSE loss along torch's trajectory`, () => {
      const lin = new Linear({ inFeatures: 3, outFeatures: 2, dtype: 'float64', seed: 0 });
      lin.loadStateDict({ weight: make(c.initial.weight), bias: make(c.initial.bias) });
      const x = make(c.input);
      const y = make(c.target);
      const opt = optimizer(c.optimizer, parametersOf(lin), c.options);
      c.steps.forEach((s, step) => {
        lin.zeroGrad();
        const out = lin.forward(x, { requiresGrad: true });
        const loss = mseLoss(out, y);
        lin.backward(mseLossBackward(out, y));
        opt.step();
        assert.ok(Math.abs(loss - s.loss) <= FLOAT64_TOLERANCE * Math.max(1, s.loss), `step ${step + 1} loss`);
        assert.ok(scaledError(lin.parameter('weight'), s.weight) <= FLOAT64_TOLERANCE, `step ${step + 1} weight`);
        assert.ok(scaledError(lin.parameter('bias'), s.bias) <= FLOAT64_TOLERANCE, `step ${step + 1} bias`);
      });
    });
  }
});

describe('optimizer options', () => {
  const param: Param = { value: tensor([1, 2]), grad: null };

  test("rejects Nesterov without momentum in PyTorch's words", () => {
    assert.throws(
      () => new SGD([param], { lr: 0.1, nesterov: true }),
      /Nesterov momentum requires a momentum and zero dampening/,
    );
  });

  test('rejects a negative learning rate', () => {
    assert.throws(() => new Adam([param], { lr: -1 }), /Invalid learning rate: -1/);
  });

  test('rejects a beta outside [0, 1)', () => {
    assert.throws(() => new Adam([param], { betas: [0.9, 1] }), /Invalid beta parameter at index 1: 1/);
  });

  test('rejects an empty parameter list', () => {
    assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
  });

  test('rejects a gradient with a different number of elements than its parameter', () => {
    const opt = new SGD([{ value: tensor([1, 2]), grad: tensor([1, 2, 3]) }], { lr: 0.1 });
    assert.throws(() => opt.step(), /gradient has 3 elements, the parameter 2/);
  });
});

describe('clipGradNorm', () => {
  for (const c of clip) {
    const p = c.normType === 'inf' ? Number.POSITIVE_INFINITY : c.normType;
    const missing = c.grads.indexOf(null);
    test(`matches clip_grad_norm_ (max norm ${c.maxNorm}, norm type ${c.normType}${missing >= 0 ? `, params[${missing}] without a gradient` : ''})`, () => {
      const params: Param[] = c.grads.map((g) => ({ value: tensor([0]), grad: g === null ? null : make(g) }));
      const total = clipGradNorm(params, c.maxNorm, { normType: p });
      assert.ok(
        Math.abs(total - c.totalNorm) <= FLOAT64_TOLERANCE * Math.max(1, c.totalNorm),
        `total ${total} vs ${c.totalNorm}`,
      );
      params.forEach((q, i) => {
        const want = c.clipped[i];
        if (want === null || want === undefined) assert.equal(q.grad, null);
        else assert.ok(scaledError(q.grad as Tensor, want) <= FLOAT64_TOLERANCE, `grads[${i}]`);
      });
    });
  }

  test('returns 0 and changes nothing when no parameter has a gradient', () => {
    assert.equal(clipGradNorm([{ value: tensor([1]), grad: null }], 1), 0);
  });

  test('throws on a non-finite norm when asked to', () => {
    const params: Param[] = [{ value: tensor([0]), grad: tensor([Number.NaN]) }];
    assert.throws(() => clipGradNorm(params, 1, { errorIfNonfinite: true }), /non-finite/);
  });
});
