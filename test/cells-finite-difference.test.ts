/**
 * The LSTM and GRU backward against central differences of their forward, in float64, with no PyTorch involved:
 * for every element v of the input, the initial states (h0, and the LSTM's c0) and every parameter (weight_hr
 * included), (loss(v + e) - loss(v - e)) / 2e must match the gradient that backward returns (or accumulates), where
 * loss = sum(output * gradOutput) + sum(h_n * gradHN) + sum(c_n * gradCN) (a cell's: sum(h' gradH) + sum(c' gradC)).
 *
 * The configurations take between them 1-3 layers, one and two directions (the reverse direction's backward walks
 * t = 0 .. L-1), projSize, lengths (padded steps, and the reverse direction starting at each sequence's last valid
 * step), bias on and off, batch-first, unbatched, the initial state, gradHN and gradCN given or not, and dropout (the
 * same masks replayed on every forward). e = 1e-6 leaves a truncation error near e^2 and a rounding error near
 * 1e-16 / e, so agreement to 1e-7 of the gradient's scale is far above both.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Generator, type GRU, type GRUCell, LSTM, LSTMCell, type Tensor } from '../src/index.js';
import {
  cellFor,
  describeGated,
  type GatedCase,
  type GatedCell,
  moduleFor,
  type RandomGatedOptions,
  randomGatedCase,
  randomGatedCellCase,
  runGated,
} from './helpers/cells.js';
import { type Flat, scaledError } from './helpers/compare.js';
import { asTensor } from './helpers/grad.js';

const EPS = 1e-6;
const TOLERANCE = 1e-7;

type Fixed = NonNullable<RandomGatedOptions['fixed']>;
/** Sizes and lengths for the configurations with lengths: every kind of sequence (full, padded, one step). */
const PADDED = { sizes: { L: 4, N: 3 }, lengths: [2, 4, 1] };
const CONFIGS: [GatedCell, Fixed, Omit<RandomGatedOptions, 'cell'>?][] = [
  // one layer, reverse direction, projection, lengths: the reverse pass starts at each sequence's last valid step
  [
    'LSTM',
    {
      numLayers: 1,
      bidirectional: true,
      proj: true,
      bias: true,
      batchFirst: false,
      unbatched: false,
      lengths: true,
      state: true,
      gradHN: true,
      gradCN: true,
    },
    PADDED,
  ],
  [
    'LSTM',
    {
      numLayers: 2,
      bidirectional: true,
      proj: true,
      bias: false,
      batchFirst: true,
      unbatched: false,
      lengths: true,
      state: false,
      gradHN: false,
      gradCN: true,
      masks: true,
    },
    PADDED,
  ],
  [
    'LSTM',
    {
      numLayers: 3,
      bidirectional: false,
      proj: false,
      bias: true,
      batchFirst: false,
      unbatched: true,
      state: true,
      gradHN: true,
      gradCN: false,
      masks: true,
    },
  ],
  [
    'LSTM',
    {
      numLayers: 2,
      bidirectional: false,
      proj: true,
      bias: true,
      batchFirst: false,
      unbatched: false,
      lengths: false,
      state: true,
      gradHN: true,
      gradCN: true,
    },
  ],
  [
    'GRU',
    {
      numLayers: 1,
      bidirectional: true,
      bias: true,
      batchFirst: false,
      unbatched: false,
      lengths: true,
      state: true,
      gradHN: true,
    },
    PADDED,
  ],
  [
    'GRU',
    {
      numLayers: 3,
      bidirectional: true,
      bias: false,
      batchFirst: true,
      unbatched: false,
      lengths: true,
      state: false,
      gradHN: true,
      masks: true,
    },
    PADDED,
  ],
  [
    'GRU',
    {
      numLayers: 2,
      bidirectional: false,
      bias: true,
      batchFirst: false,
      unbatched: true,
      state: true,
      gradHN: false,
    },
  ],
];

function dot(a: Tensor, b: Flat | null | undefined): number {
  if (!b) return 0;
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i] as number) * (b.data[i] as number);
  return s;
}

/** Central differences of `loss` with respect to every element of `v` (perturbed in place and restored). */
function centralDifferences(v: Float64Array | Float32Array, shape: readonly number[], loss: () => number): Flat {
  const data = Array.from(v, (x, i) => {
    v[i] = x + EPS;
    const up = loss();
    v[i] = x - EPS;
    const down = loss();
    v[i] = x;
    return (up - down) / (2 * EPS);
  });
  return { shape, data };
}

/** Every gradient of a case by central differences, named as `runGated` names them. */
function numericGrads(c: GatedCase): Record<string, Flat | null> {
  const grads: Record<string, Flat | null> = {};
  const x = asTensor(c.input, 'float64');
  const opt = (f: Flat | null | undefined) => (f ? asTensor(f, 'float64') : null);
  let loss: () => number;
  let module: LSTM | GRU | LSTMCell | GRUCell;
  const states: [string, Tensor | null][] = [];
  if (c.kind === 'cell') {
    const [hx, cx] = [opt(c.hx), opt(c.cx)];
    const cell = cellFor(c);
    module = cell;
    if (cell instanceof LSTMCell) {
      loss = () => {
        const [h, cc] = cell.forward(x, hx ? [hx, cx as Tensor] : null);
        return dot(h, c.gradH) + dot(cc, c.gradC);
      };
      states.push(['hx', hx], ['cx', cx]);
    } else {
      loss = () => dot((cell as GRUCell).forward(x, hx), c.gradH);
      states.push(['hx', hx]);
    }
  } else {
    const [h0, c0] = [opt(c.h0), opt(c.c0)];
    const rnn = moduleFor(c);
    module = rnn;
    const options = c.lengths ? { lengths: c.lengths } : {};
    if (rnn instanceof LSTM) {
      loss = () => {
        const [out, [hN, cN]] = rnn.forward(x, h0 ? [h0, c0 as Tensor] : null, options);
        return dot(out, c.gradOutput) + dot(hN, c.gradHN) + dot(cN, c.gradCN);
      };
      states.push(['h0', h0], ['c0', c0]);
    } else {
      loss = () => {
        const [out, hN] = (rnn as GRU).forward(x, h0, options);
        return dot(out, c.gradOutput) + dot(hN, c.gradHN);
      };
      states.push(['h0', h0]);
    }
  }
  grads.input = centralDifferences(x.data, x.shape, loss);
  for (const [name, s] of states) grads[name] = s ? centralDifferences(s.data, s.shape, loss) : null;
  for (const [name, p] of module.namedParameters()) grads[name] = centralDifferences(p.data, p.shape, loss);
  return grads;
}

let worst = 0;
let checked = 0;

function check(c: GatedCase): string {
  const ours = runGated(c).grads;
  const numeric = numericGrads(c);
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(numeric).sort(), 'the same gradients on both sides');
  const lines: string[] = [];
  let caseWorst = 0;
  for (const [name, want] of Object.entries(numeric)) {
    const got = ours[name];
    if (want === null || got === null || got === undefined) {
      assert.equal(got, want, `${name}: ours and the numeric gradient must both be null (no state given)`);
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

const g = new Generator(20240715);
const maxSizes = { L: 4, N: 3, I: 3, H: 3 };
/** A case drawn with `fixed` whose input gradient is not all zero (dropout can cut it off). */
function draw(cell: GatedCell, fixed: Fixed, more: Omit<RandomGatedOptions, 'cell'> = {}): GatedCase {
  for (;;) {
    // at least 3 steps and 2 sequences, so that a state is carried and rows differ
    const sizes = { L: 3, N: 2, ...more.sizes };
    const c = randomGatedCase(g, {
      cell,
      dtype: 'float64',
      maxSizes,
      ...more,
      sizes,
      fixed: { dropout: 0.5, ...fixed },
    });
    const input = runGated(c).grads.input;
    if (input && Array.from(input.data).some((v) => v !== 0)) return c;
  }
}

for (const [cell, fixed, more] of CONFIGS) {
  const c = draw(cell, fixed, more);
  test(`central differences agree with the backward of ${describeGated(c)}`, (t) => {
    t.diagnostic(check(c));
  });
}

for (const cell of ['LSTM', 'LSTM', 'GRU', 'GRU'] as const) {
  const c = randomGatedCellCase(g, cell, 'float64');
  test(`central differences agree with the backward of ${describeGated(c)}`, (t) => {
    t.diagnostic(check(c));
  });
}

after(() => {
  console.log(
    `LSTM/GRU finite differences: ${checked} gradient elements, worst scaled difference ${worst.toExponential(3)}`,
  );
});
