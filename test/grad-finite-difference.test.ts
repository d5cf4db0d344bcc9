/**
 * The backward against central differences of the forward, in float64, with no PyTorch involved: for every
 * parameter element and every input element v, (loss(v + e) - loss(v - e)) / 2e must match the gradient that
 * backward returns (or accumulates), where loss = sum(output * gradOutput) + sum(h_n * gradHN).
 *
 * The configurations between them take every option value: 1-4 layers, one and two directions, tanh and relu,
 * bias on and off, batch-first, unbatched, lengths, h0 and gradHN given or not, and dropout (with the same masks
 * replayed on every forward, as the backward reuses the forward's mask). e = 1e-6 leaves a truncation error near
 * e^2 and a rounding error near 1e-16 / e, so agreement to 1e-7 of the gradient's scale is far above both.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Generator, RNNCell, type Tensor } from '../src/index.js';
import { type Flat, scaledError } from './helpers/compare.js';
import {
  asTensor,
  type CellCase,
  describeGradCase,
  type GradCase,
  type RandomCaseOptions,
  randomCellCase,
  randomRnnCase,
  rnnFor,
  runOurs,
} from './helpers/grad.js';

const EPS = 1e-6;
const TOLERANCE = 1e-7;

type Fixed = NonNullable<RandomCaseOptions['fixed']>;
const CONFIGS: Fixed[] = [
  {
    numLayers: 1,
    bidirectional: false,
    nonlinearity: 'tanh',
    bias: true,
    batchFirst: false,
    unbatched: false,
    lengths: true,
    h0: true,
    gradHN: true,
  },
  {
    numLayers: 2,
    bidirectional: true,
    nonlinearity: 'relu',
    bias: false,
    batchFirst: true,
    unbatched: false,
    lengths: false,
    h0: false,
    gradHN: true,
    masks: true,
  },
  {
    numLayers: 3,
    bidirectional: false,
    nonlinearity: 'relu',
    bias: true,
    batchFirst: false,
    unbatched: true,
    h0: true,
    gradHN: false,
    masks: true,
  },
  {
    numLayers: 4,
    bidirectional: true,
    nonlinearity: 'tanh',
    bias: true,
    batchFirst: true,
    unbatched: false,
    lengths: true,
    h0: true,
    gradHN: true,
    masks: true,
  },
  {
    numLayers: 2,
    bidirectional: false,
    nonlinearity: 'tanh',
    bias: false,
    batchFirst: false,
    unbatched: false,
    lengths: true,
    h0: false,
    gradHN: false,
    masks: false,
  },
  {
    numLayers: 1,
    bidirectional: true,
    nonlinearity: 'relu',
    bias: true,
    batchFirst: true,
    unbatched: true,
    h0: true,
    gradHN: true,
  },
  {
    numLayers: 3,
    bidirectional: true,
    nonlinearity: 'tanh',
    bias: false,
    batchFirst: false,
    unbatched: false,
    lengths: true,
    h0: true,
    gradHN: true,
    masks: true,
  },
];

function dot(a: Tensor, b: Flat): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i] as number) * (b.data[i] as number);
  return s;
}

/** Central differences of `loss` with respect to every element of `v` (perturbed in place and restored). */
function centralDifferences(v: Float64Array | Float32Array, loss: () => number): Flat & { data: number[] } {
  const data = Array.from(v, (x, i) => {
    v[i] = x + EPS;
    const up = loss();
    v[i] = x - EPS;
    const down = loss();
    v[i] = x;
    return (up - down) / (2 * EPS);
  });
  return { shape: [], data };
}

/** Every gradient of a case by central differences, named as `runOurs` names them. */
function numericGrads(c: GradCase): Record<string, Flat | null> {
  const grads: Record<string, Flat | null> = {};
  const x = asTensor(c.input, 'float64');
  if (c.kind === 'cell') {
    const cell = new RNNCell({ ...c.config, seed: 0 });
    cell.loadStateDict(Object.fromEntries(Object.entries(c.stateDict).map(([k, v]) => [k, asTensor(v, 'float64')])));
    const hx = c.hx ? asTensor(c.hx, 'float64') : null;
    const loss = () => dot(cell.forward(x, hx), c.gradH);
    grads.input = { ...centralDifferences(x.data, loss), shape: x.shape };
    grads.hx = hx ? { ...centralDifferences(hx.data, loss), shape: hx.shape } : null;
    for (const [name, p] of cell.namedParameters())
      grads[name] = { ...centralDifferences(p.data, loss), shape: p.shape };
    return grads;
  }
  const rnn = rnnFor(c);
  const h0 = c.h0 ? asTensor(c.h0, 'float64') : undefined;
  const options = c.lengths ? { lengths: c.lengths } : {};
  const loss = () => {
    const [out, hN] = rnn.forward(x, h0, options);
    return dot(out, c.gradOutput) + (c.gradHN ? dot(hN, c.gradHN) : 0);
  };
  grads.input = { ...centralDifferences(x.data, loss), shape: x.shape };
  grads.h0 = h0 ? { ...centralDifferences(h0.data, loss), shape: h0.shape } : null;
  for (const [name, p] of rnn.namedParameters()) grads[name] = { ...centralDifferences(p.data, loss), shape: p.shape };
  return grads;
}

let worst = 0;
let checked = 0;

function check(c: GradCase): string {
  const ours = runOurs(c).grads;
  const numeric = numericGrads(c);
  const lines: string[] = [];
  let caseWorst = 0;
  for (const [name, want] of Object.entries(numeric)) {
    const got = ours[name];
    if (want === null || got === null || got === undefined) {
      assert.equal(got, want, `${name}: ours and the numeric gradient must both be null (no h0 given)`);
      continue;
    }
    const e = scaledError(got, want, name);
    checked += want.data.length;
    caseWorst = Math.max(caseWorst, e);
    if (e > TOLERANCE) lines.push(`${name}: ${e.toExponential(3)}`);
  }
  worst = Math.max(worst, caseWorst);
  assert.deepEqual(lines, [], `gradients off from central differences by more than ${TOLERANCE}`);
  return `worst scaled difference from central differences: ${caseWorst.toExponential(3)}`;
}

const g = new Generator(20240607);
const maxSizes = { L: 4, N: 3, I: 3, H: 3 };
/** A case drawn with `fixed` whose input gradient is not all zero (dropout or dead relus can zero it all). */
function draw(fixed: Fixed): GradCase {
  for (;;) {
    const c = randomRnnCase(g, { dtype: 'float64', maxSizes, fixed: { dropout: 0.5, ...fixed } });
    const input = runOurs(c).grads.input;
    if (input && Array.from(input.data).some((v) => v !== 0)) return c;
  }
}

for (const fixed of CONFIGS) {
  const c = draw(fixed);
  test(`central differences agree with the backward of ${describeGradCase(c)}`, (t) => {
    t.diagnostic(check(c));
  });
}

for (let i = 0; i < 2; i++) {
  const c: CellCase = randomCellCase(g, 'float64');
  test(`central differences agree with the backward of ${describeGradCase(c)}`, (t) => {
    t.diagnostic(check(c));
  });
}

after(() => {
  console.log(`finite differences: ${checked} gradient elements, worst scaled difference ${worst.toExponential(3)}`);
});
