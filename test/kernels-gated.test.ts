/**
 * The LSTM and GRU on every kernel (`kernelNames()`: reference, native, wasm), float32, against the reference
 * kernel: forward and backward of a 2-layer bidirectional LSTM without and with a projection and of a GRU, with
 * lengths (padded steps, the reverse direction starting mid-sequence), given states and gradients of every output,
 * and of the LSTMCell and GRUCell.
 *
 * The sizes are big enough that a fast kernel really runs: every layer buffer (a layer's (L, N, G*H) input
 * projection, its (L, N, D*P) output, the backward's gradients) has at least EXACT_BELOW elements, so the kernel's
 * scratch is float32 and its own products run (smaller buffers would be handed to the reference kernel). A fast
 * kernel that handed everything to the reference would give the reference's bits; the test asserts it does not.
 *
 * Bounds, as the RNN's kernel tests set them (test/kernels.test.ts): a fast float32 kernel carries the state in
 * float32 and sums in float32, so each result is held to an envelope of its per-step rounding against the
 * reference's float64 sums: 16 * sqrt(H * L) * 2^-24 * max(1, max |reference|) for the outputs, the states and the
 * input and state gradients, 16 * sqrt(H * L * N) * 2^-24 * max(1, max |reference|) for parameter gradients (sums
 * over all steps and rows). Padded output steps and the input gradient at padded steps are exactly 0 on every kernel.
 *
 * The fast kernels' float64 kernels (native/f64.h) are held to the same envelopes in float64's rounding unit,
 * 2^-53, against the reference's float64.
 *
 * The reference kernel itself is checked against its own float64 run of the same (float32) values: it computes in
 * float64 and rounds once, so every float32 result is the float64 one rounded, bit for bit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Generator, getKernel, kernelNames } from '../src/index.js';
import { EXACT_BELOW } from '../src/kernels/f32.js';
import {
  type GatedCase,
  type GatedResult,
  nonzeroPadded,
  type RandomGatedOptions,
  randomGatedCase,
  randomGatedCellCase,
  runGated,
} from './helpers/cells.js';
import type { Flat } from './helpers/compare.js';
import { referenceCalls } from './helpers/kernels.js';

const ULP = 2 ** -24;
const [L, N, H, I] = [12, 12, 32, 20];
const P = 24;

interface KernelCase {
  title: string;
  c: GatedCase;
  /** The L and N of the envelope (a cell: one step of N rows). */
  steps: number;
  rows: number;
}

const g = new Generator(424242);
const moduleCase = (cell: 'LSTM' | 'GRU', proj: boolean): GatedCase => {
  const options: RandomGatedOptions = {
    cell,
    dtype: 'float32',
    sizes: { L, N, I, H, P },
    lengths: Array.from({ length: N }, (_, n) => (n === 3 ? L : ([5, 12, 1, 12, 9, 2][n % 6] as number))),
    fixed: {
      numLayers: 2,
      bidirectional: true,
      proj,
      bias: true,
      batchFirst: false,
      unbatched: false,
      lengths: true,
      state: true,
      gradHN: true,
      gradCN: true,
      masks: false,
      dropout: 0,
    },
  };
  return randomGatedCase(g, options);
};
/** A cell case of 64 rows: (N, G*H) pre-activations of at least EXACT_BELOW elements. */
function bigCell(cell: 'LSTM' | 'GRU'): GatedCase {
  for (;;) {
    const c = randomGatedCellCase(g, cell, 'float32');
    if (c.input.shape.length !== 2) continue;
    // redraw at the size wanted, keeping the drawn options (bias, state, which gradients)
    const rows = 64;
    const k = c.config;
    const big = { ...k, inputSize: I, hiddenSize: H };
    const G = cell === 'LSTM' ? 4 : 3;
    const normal = (n: number) => {
      const a = new Float32Array(n);
      g.normal(a, 0, 1);
      return { data: Array.from(a) };
    };
    const uniform = (n: number) => {
      const a = new Float32Array(n);
      g.uniform(a, -1 / Math.sqrt(H), 1 / Math.sqrt(H));
      return Array.from(a);
    };
    const sd: Record<string, Flat> = {
      weight_ih: { shape: [G * H, I], data: uniform(G * H * I) },
      weight_hh: { shape: [G * H, H], data: uniform(G * H * H) },
    };
    if (k.bias) {
      sd.bias_ih = { shape: [G * H], data: uniform(G * H) };
      sd.bias_hh = { shape: [G * H], data: uniform(G * H) };
    }
    const state = () => (c.hx ? { shape: [rows, H], ...normal(rows * H) } : null);
    const grad = (given: unknown) => (given ? { shape: [rows, H], ...normal(rows * H) } : null);
    const result: GatedCase = {
      kind: 'cell',
      config: big,
      stateDict: sd,
      input: { shape: [rows, I], ...normal(rows * I) },
      hx: state(),
      gradH: grad(c.gradH),
    };
    if (cell === 'LSTM') {
      result.cx = state();
      result.gradC = grad(c.gradC);
    }
    return result;
  }
}

const CASES: KernelCase[] = [
  { title: 'a 2-layer bidirectional LSTM with lengths', c: moduleCase('LSTM', false), steps: L, rows: N },
  {
    title: `a 2-layer bidirectional LSTM with proj_size ${P} and lengths`,
    c: moduleCase('LSTM', true),
    steps: L,
    rows: N,
  },
  { title: 'a 2-layer bidirectional GRU with lengths', c: moduleCase('GRU', false), steps: L, rows: N },
  { title: 'an LSTMCell step of 64 rows', c: bigCell('LSTM'), steps: 1, rows: 64 },
  { title: 'a GRUCell step of 64 rows', c: bigCell('GRU'), steps: 1, rows: 64 },
];

test('the kernel cases are big enough for the fast kernels: every layer buffer has EXACT_BELOW elements or more', () => {
  for (const { c, title } of CASES) {
    const G = c.config.cell === 'LSTM' ? 4 : 3;
    if (c.kind === 'cell') {
      assert.ok((c.input.shape[0] as number) * G * H >= EXACT_BELOW, title);
      continue;
    }
    const width = c.config.projSize || H;
    assert.ok(L * N * 2 * width >= EXACT_BELOW, `${title}: a layer's output`);
    assert.ok(L * N * G * H >= EXACT_BELOW, `${title}: a layer's input projection`);
  }
});

/** The float64 version of a float32 case: the same (float32) values, computed in float64. */
function as64(c: GatedCase): GatedCase {
  return { ...c, config: { ...c.config, dtype: 'float64' } } as GatedCase;
}

function scale(t: Flat): number {
  let s = 1;
  for (let i = 0; i < t.data.length; i++) s = Math.max(s, Math.abs(t.data[i] as number));
  return s;
}

/**
 * Each output and gradient of `got` within its envelope of `want`'s, in rounding units `unit` (2^-24 for float32,
 * 2^-53 for float64); returns the worst error in those units.
 */
function within(got: GatedResult, want: GatedResult, k: KernelCase, unit = ULP): number {
  let worst = 0;
  const check = (what: string, a: Flat, b: Flat, terms: number) => {
    const s = scale(b);
    const bound = 16 * Math.sqrt(terms) * unit * s;
    let err = 0;
    for (let i = 0; i < b.data.length; i++) {
      const e = Math.abs((a.data[i] as number) - (b.data[i] as number));
      assert.ok(e <= bound, `${what}[${i}] = ${a.data[i]}, reference ${b.data[i]}, bound ${bound}`);
      err = Math.max(err, e);
    }
    worst = Math.max(worst, err / (unit * s));
  };
  const hl = H * k.steps;
  for (const [name, b] of Object.entries(want.outputs)) check(name, got.outputs[name] as Flat, b, hl);
  for (const [name, b] of Object.entries(want.grads)) {
    if (b === null) {
      assert.equal(got.grads[name], null, name);
      continue;
    }
    const state = name === 'input' || /^(h0|c0|hx|cx)$/.test(name);
    check(`grad of ${name}`, got.grads[name] as Flat, b, state ? hl : hl * k.rows);
  }
  return worst;
}

function identical(a: GatedResult, b: GatedResult): boolean {
  const same = (x: Flat, y: Flat) => Array.from(x.data).every((v, i) => v === y.data[i]);
  return (
    Object.entries(a.outputs).every(([n, t]) => same(t, b.outputs[n] as Flat)) &&
    Object.entries(a.grads).every(([n, t]) => t === null || same(t, b.grads[n] as Flat))
  );
}

const reference = new Map<KernelCase, GatedResult>();
const referenceOf = (k: KernelCase): GatedResult => {
  if (!reference.has(k)) reference.set(k, runGated(k.c, 'reference'));
  return reference.get(k) as GatedResult;
};

describe("the reference kernel's float32 LSTM and GRU", () => {
  for (const k of CASES) {
    test(`${k.title}: every output and gradient is the float64 result rounded once, bit for bit`, () => {
      const got = referenceOf(k);
      const want = runGated(as64(k.c), 'reference');
      const mismatches: string[] = [];
      const compare = (name: string, a: Flat | null, b: Flat | null) => {
        if (a === null || b === null) return assert.equal(a, b, name);
        for (let i = 0; i < b.data.length; i++) {
          if (a.data[i] !== Math.fround(b.data[i] as number)) mismatches.push(`${name}[${i}]`);
        }
      };
      for (const [n, t] of Object.entries(want.outputs)) compare(n, got.outputs[n] as Flat, t);
      for (const [n, t] of Object.entries(want.grads)) compare(`grad of ${n}`, got.grads[n] ?? null, t);
      assert.deepEqual(mismatches.slice(0, 10), [], `${mismatches.length} values are not the float64 ones rounded`);
    });
  }
});

for (const name of kernelNames().filter((n) => n !== 'reference')) {
  describe(`kernel '${name}': float32 LSTM and GRU against the reference kernel`, () => {
    for (const k of CASES) {
      test(`${k.title}: forward and backward within the float32 envelope, padded steps exactly 0`, (t) => {
        const want = referenceOf(k);
        const got = runGated(k.c, name);
        if (k.c.kind === 'rnn' && k.c.lengths) {
          const { lengths } = k.c;
          assert.deepEqual(nonzeroPadded(got.outputs.output as Flat, lengths, false), [], 'padded output steps');
          assert.deepEqual(nonzeroPadded(got.grads.input as Flat, lengths, false), [], 'padded input gradient');
        }
        assert.ok(
          !identical(got, want),
          `kernel '${name}' gave the reference's bits: its own float32 path did not run`,
        );
        const worst = within(got, want, k);
        t.diagnostic(`worst error ${worst.toFixed(2)} * 2^-24 * max(1, max |reference|)`);
      });
    }
  });
}

/** The kernels with float64 kernels of their own (native/f64.h): every fast one. */
const float64Kernels = kernelNames().filter((n) => n !== 'reference');

for (const name of float64Kernels) {
  describe(`kernel '${name}': float64 LSTM and GRU against the reference kernel`, () => {
    for (const k of CASES) {
      test(`${k.title}: forward and backward within the float64 envelope, padded steps exactly 0`, (t) => {
        const c = as64(k.c);
        const want = runGated(c, 'reference');
        let got = want;
        // every call is the kernel's own (the one-thread WebAssembly build, without fused multiply-adds, sums as the
        // reference does, so its products may even give the reference's bits), and the recurrence is the fused one:
        // a product per layer, not per step as ../src/kernels/gated.ts's steps (a projected LSTM's) make
        const kernel = getKernel(name);
        const linear = kernel.linear;
        let products = 0;
        kernel.linear = (...args) => {
          products++;
          linear(...args);
        };
        try {
          const handed = referenceCalls(() => {
            got = runGated(c, name);
          });
          assert.equal(handed, 0, `kernel '${name}' handed float64 calls to the reference kernel`);
        } finally {
          kernel.linear = linear;
        }
        // (the WebAssembly float64 build runs a projected LSTM as ../src/kernels/gated.ts's steps; native fuses it)
        const fused = c.kind === 'rnn' && (!c.config.projSize || name === 'native');
        if (fused) assert.ok(products < L, `${products} products: not fused`);
        if (c.kind === 'rnn' && c.lengths) {
          assert.deepEqual(nonzeroPadded(got.outputs.output as Flat, c.lengths, false), [], 'padded output steps');
          assert.deepEqual(nonzeroPadded(got.grads.input as Flat, c.lengths, false), [], 'padded input gradient');
        }
        const worst = within(got, want, k, 2 ** -53);
        t.diagnostic(`worst error ${worst.toFixed(2)} * 2^-53 * max(1, max |reference|)`);
      });
    }
  });
}
