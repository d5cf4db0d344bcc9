/**
 * The fused LSTM and GRU recurrences of the native and WebAssembly kernels (native/gated.h, gated_backward.h)
 * against the reference kernel's float64 truth: the reference runs on float64 copies of the same float32 inputs,
 * so what it gives is the exact result of the math of src/kernels/gated.ts, and the fused kernels (float32 products,
 * float64 gate math rounded once) are held to the RNN's float32 rule of test/kernels.test.ts:
 *   forward: |got - truth| <= 16 sqrt(K L) 2^-24 max(1, |truth|) for the outputs, h_N, c_N and the tape, with K the
 *   longest sum of a step (P for the gates, H for a projection);
 *   backward: 16 sqrt(K L) 2^-24 max(1, max |truth|) for d pre, d h0 and d c0, and 16 sqrt(K L N) 2^-24 max(1,
 *   max |truth|) for the weight gradients (sums over all steps and rows).
 * The backward is fed the fused forward's own outputs and tape (the truth gets float64 copies of them), so each
 * direction is measured on its own. Shapes: N = 1, small and large batches, H not a multiple of the SIMD width,
 * lengths, both directions of a bidirectional layer (an output stride and offset), the LSTM with and without
 * proj_size, a missing c0, dout, dhN or dcN, and gradients accumulated into non-zero buffers.
 *
 * Each call must be the fused one: the addon (or the WebAssembly module) is wrapped to count its gated calls and its
 * plain products, and a fused recurrence makes one gated call and no product. The native kernel at 2, 3, 4 and 8
 * threads must give the same bits as on one, on shapes it shares between them by blocks of rows, by columns and by
 * both (which the addon is asked, `gatedSplit`, so a test cannot silently run on one thread).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gatesOf, type Kernel, type Mode, tapeWidth } from '../src/kernels/kernel.js';
import { createNativeKernel, type NativeAddon, nativeAddon } from '../src/kernels/native.js';
import { referenceKernel } from '../src/kernels/reference.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { Generator } from '../src/random.js';
import type { FloatArray } from '../src/tensor.js';
import { referenceCalls } from './helpers/kernels.js';
import { uniform } from './helpers/random.js';
import { atThreads, THREAD_COUNTS } from './helpers/threads.js';

const ULP = 2 ** -24;

interface Shape {
  L: number;
  N: number;
  H: number;
  /** proj_size (LSTM only); omitted: H. */
  P?: number;
  /** 2: a bidirectional layer's output, this direction at offset d*P (d = 1 when reverse). */
  D: 1 | 2;
  reverse: boolean;
  lengths: boolean;
}

// N = 1, small and large N (12 or more rows: the threads' row blocks), H a multiple of 16 and not, lengths,
// reverse in a bidirectional output
const SHAPES: Shape[] = [
  { L: 6, N: 1, H: 16, D: 1, reverse: false, lengths: false },
  { L: 9, N: 1, H: 64, D: 2, reverse: true, lengths: false },
  { L: 5, N: 1, H: 20, D: 1, reverse: false, lengths: false },
  { L: 7, N: 2, H: 33, D: 2, reverse: false, lengths: true },
  { L: 8, N: 3, H: 37, D: 2, reverse: true, lengths: true },
  { L: 4, N: 5, H: 8, D: 1, reverse: true, lengths: false },
  { L: 6, N: 7, H: 48, D: 1, reverse: false, lengths: true },
  { L: 5, N: 13, H: 70, D: 2, reverse: true, lengths: true },
  { L: 4, N: 30, H: 41, D: 1, reverse: false, lengths: false },
  { L: 3, N: 40, H: 96, D: 2, reverse: false, lengths: true },
  { L: 12, N: 4, H: 3, D: 1, reverse: false, lengths: true },
  { L: 1, N: 6, H: 25, D: 2, reverse: true, lengths: false },
];

/** The projected LSTM's shapes: P below H, P and H multiples of 16 or not. */
const PROJECTED: Shape[] = [
  { L: 6, N: 1, H: 32, P: 16, D: 1, reverse: false, lengths: false },
  { L: 7, N: 3, H: 40, P: 13, D: 2, reverse: true, lengths: true },
  { L: 5, N: 14, H: 33, P: 17, D: 2, reverse: false, lengths: true },
  { L: 4, N: 5, H: 70, P: 64, D: 1, reverse: true, lengths: false },
  { L: 3, N: 30, H: 20, P: 1, D: 1, reverse: false, lengths: true },
];

interface Cell {
  name: string;
  mode: Mode;
  shapes: Shape[];
}

const CELLS: Cell[] = [
  { name: 'LSTM', mode: 'LSTM', shapes: SHAPES },
  { name: 'LSTM with proj_size', mode: 'LSTM', shapes: PROJECTED },
  { name: 'GRU', mode: 'GRU', shapes: SHAPES },
];

/** Calls into a kernel's fused entry points and into its plain products, counted by a wrapper. */
interface Counts {
  gated: number;
  gatedBackward: number;
  products: number;
}

/** The addon with its gated calls and products counted. */
function countedNative(addon: NativeAddon): [NativeAddon, Counts] {
  const counts: Counts = { gated: 0, gatedBackward: 0, products: 0 };
  const wrapped: NativeAddon = {
    ...addon,
    gatedRecurrence: (...args) => {
      counts.gated++;
      return addon.gatedRecurrence(...args);
    },
    gatedRecurrenceBackward: (...args) => {
      counts.gatedBackward++;
      return addon.gatedRecurrenceBackward(...args);
    },
    linear: (...args) => {
      counts.products++;
      return addon.linear(...args);
    },
    linearBackward: (...args) => {
      counts.products++;
      return addon.linearBackward(...args);
    },
  };
  return [wrapped, counts];
}

type WasmModule = NonNullable<typeof wasmExports>;

/** The WebAssembly module's exports with its gated calls and products counted. */
function countedWasm(w: WasmModule): [WasmModule, Counts] {
  const counts: Counts = { gated: 0, gatedBackward: 0, products: 0 };
  const wrapped: WasmModule = {
    ...w,
    gated_recurrence: (...args) => {
      counts.gated++;
      return w.gated_recurrence(...args);
    },
    gated_recurrence_backward: (...args) => {
      counts.gatedBackward++;
      return w.gated_recurrence_backward(...args);
    },
    linear: (...args) => {
      counts.products++;
      return w.linear(...args);
    },
    linear_backward: (...args) => {
      counts.products++;
      return w.linear_backward(...args);
    },
  };
  return [wrapped, counts];
}

const fast: { name: string; kernel: Kernel; counts: Counts }[] = [];
if (nativeAddon) {
  const [addon, counts] = countedNative(nativeAddon);
  fast.push({ name: 'native', kernel: createNativeKernel(addon, { exactBelow: 0 }), counts });
}
if (wasmExports) {
  const [w, counts] = countedWasm(wasmExports);
  fast.push({ name: 'wasm', kernel: createWasmKernel(w, { exactBelow: 0 }), counts });
}

const f64 = (a: Float32Array | null) => (a === null ? null : Float64Array.from(a));

/** Everything one case needs, made from a seeded generator: inputs, then gradients flowing back. */
function makeCase(g: Generator, mode: Mode, s: Shape, variant: number) {
  const { L, N, H, D } = s;
  const P = s.P ?? H;
  const G = gatesOf(mode);
  const lstm = mode === 'LSTM';
  const lengths = s.lengths ? Int32Array.from({ length: N }, (_, n) => 1 + ((n * 5 + variant) % L)) : null;
  return {
    G,
    P,
    W: tapeWidth(mode, H),
    lengths,
    shape: { L, N, H, P, outStride: D * P, outOffset: s.reverse && D === 2 ? P : 0, mode, reverse: s.reverse, lengths },
    pre: uniform(g, L * N * G * H, 2),
    whh: uniform(g, G * H * P, 1 / Math.sqrt(P)),
    h0: uniform(g, N * P),
    c0: lstm && variant % 4 !== 1 ? uniform(g, N * H, 2) : null, // null: zeros
    whr: s.P !== undefined ? uniform(g, P * H, 1 / Math.sqrt(H)) : null,
    bhh: !lstm && variant % 4 !== 2 ? uniform(g, G * H, 0.5) : null, // null: a GRU without bias
    dout: variant % 4 === 3 ? null : uniform(g, L * N * D * P),
    dhN: variant % 4 === 1 ? null : uniform(g, N * P),
    dcN: lstm && variant % 4 !== 2 ? uniform(g, N * H) : null,
    // d pre starts at zero (as the stack gives it) or not; the others accumulate into random values
    dpre: variant % 3 === 2 ? uniform(g, L * N * G * H) : new Float32Array(L * N * G * H),
    dh0: uniform(g, N * P),
    dc0: lstm ? uniform(g, N * H) : null,
    dwhh: uniform(g, G * H * P),
    dwhr: s.P !== undefined ? uniform(g, P * H) : null,
    dbhh: !lstm && variant % 4 !== 2 ? uniform(g, G * H) : null,
  };
}

type Case = ReturnType<typeof makeCase>;

/** The fused forward of a case: out (L, N, D*P), hN, cN and the tape. */
function forward(kernel: Kernel, c: Case) {
  const { L, N, H, P, outStride } = c.shape;
  const r = {
    out: new Float32Array(L * N * outStride),
    hN: new Float32Array(N * P),
    cN: c.c0 || c.shape.mode === 'LSTM' ? new Float32Array(N * H) : null,
    tape: new Float32Array(L * N * c.W),
  };
  kernel.recurrence({ ...c.shape, ...r, pre: c.pre, whh: c.whh, h0: c.h0, c0: c.c0, whr: c.whr, bhh: c.bhh });
  return r;
}

/** The reference's float64 forward of the same inputs. */
function truthForward(c: Case) {
  const { L, N, H, P, outStride } = c.shape;
  const r = {
    out: new Float64Array(L * N * outStride),
    hN: new Float64Array(N * P),
    cN: new Float64Array(N * H),
    tape: new Float64Array(L * N * c.W),
  };
  const inputs = { pre: f64(c.pre) as Float64Array, whh: f64(c.whh) as Float64Array, h0: f64(c.h0) as Float64Array };
  referenceKernel.recurrence({ ...c.shape, ...r, ...inputs, c0: f64(c.c0), whr: f64(c.whr), bhh: f64(c.bhh) });
  return r;
}

type Fwd = ReturnType<typeof forward>;

/** The backward of a case, from the forward `fwd` (float32: the kernel's; float64: the truth's copy of it). */
function backward(kernel: Kernel, c: Case, fwd: Fwd, dtype: 'float32' | 'float64') {
  const cast = dtype === 'float32' ? (a: Float32Array | null) => a?.slice() ?? null : f64;
  const grads = {
    dpre: cast(c.dpre) as FloatArray,
    dh0: cast(c.dh0) as FloatArray,
    dc0: cast(c.dc0),
    dwhh: cast(c.dwhh) as FloatArray,
    dwhr: cast(c.dwhr),
    dbhh: cast(c.dbhh),
  };
  kernel.recurrenceBackward({
    ...c.shape,
    ...grads,
    dout: cast(c.dout),
    dhN: cast(c.dhN),
    dcN: cast(c.dcN),
    out: cast(fwd.out) as FloatArray,
    h0: cast(c.h0) as FloatArray,
    c0: cast(c.c0),
    whh: cast(c.whh) as FloatArray,
    whr: cast(c.whr),
    bhh: cast(c.bhh),
    tape: cast(fwd.tape),
  });
  return grads;
}

/** Asserts |got - want| <= bound(i) everywhere and returns the worst error as a fraction of the bound. */
function within(what: string, got: FloatArray, want: FloatArray, bound: (i: number) => number): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs((got[i] as number) - (want[i] as number));
    const b = bound(i);
    if (!(err <= b)) assert.fail(`${what}[${i}] = ${got[i]}, truth ${want[i]}, bound ${b}`);
    worst = Math.max(worst, err / b);
  }
  return worst;
}

function scale(a: FloatArray): number {
  let s = 1;
  for (const v of a) s = Math.max(s, Math.abs(v));
  return s;
}

function describeShape(s: Shape): string {
  const P = s.P === undefined ? '' : `, P ${s.P}`;
  return `L ${s.L}, N ${s.N}, H ${s.H}${P}${s.reverse ? ', reverse' : ''}${s.D === 2 ? ' (D 2)' : ''}${s.lengths ? ', lengths' : ''}`;
}

for (const { name: kernelName, kernel, counts } of fast) {
  describe(`the fused ${kernelName} LSTM and GRU against the reference's float64`, () => {
    for (const cell of CELLS) {
      test(`the ${kernelName} ${cell.name} forward is within the float32 bound on ${cell.shapes.length} shapes, in one fused call each`, (t) => {
        const g = new Generator(cell.shapes.length * 31 + cell.name.length);
        let worst = 0;
        cell.shapes.forEach((s, v) => {
          const c = makeCase(g, cell.mode, s, v);
          const what = `${cell.name} (${describeShape(s)})`;
          const before = { ...counts };
          let got: Fwd | null = null;
          assert.equal(
            referenceCalls(() => {
              got = forward(kernel, c);
            }),
            0,
            `${what}: handed to the reference`,
          );
          assert.equal(counts.gated - before.gated, 1, `${what}: one fused call`);
          assert.equal(counts.products - before.products, 0, `${what}: no separate product`);
          const r = got as unknown as Fwd;
          const want = truthForward(c);
          const K = Math.max(c.P, s.P === undefined ? 0 : s.H);
          const bound = (w: FloatArray) => (i: number) =>
            16 * Math.sqrt(K * s.L) * ULP * Math.max(1, Math.abs(w[i] as number));
          worst = Math.max(worst, within(`${what} out`, r.out, want.out, bound(want.out)));
          worst = Math.max(worst, within(`${what} hN`, r.hN, want.hN, bound(want.hN)));
          if (r.cN) worst = Math.max(worst, within(`${what} cN`, r.cN, want.cN, bound(want.cN)));
          worst = Math.max(worst, within(`${what} tape`, r.tape, want.tape, bound(want.tape)));
          // padded steps, and the other direction's half of each row, hold exactly 0
          for (let i = 0; i < want.out.length; i++) {
            if (want.out[i] === 0) assert.equal(r.out[i], 0, `${what} out[${i}] where the truth is 0`);
          }
        });
        t.diagnostic(`worst error ${worst.toFixed(3)} of the bound`);
      });

      test(`the ${kernelName} ${cell.name} backward accumulates within the float32 bound on ${cell.shapes.length} shapes, in one fused call each`, (t) => {
        const g = new Generator(cell.shapes.length * 37 + cell.name.length);
        let worst = 0;
        cell.shapes.forEach((s, v) => {
          const c = makeCase(g, cell.mode, s, v);
          const what = `${cell.name} (${describeShape(s)}, variant ${v % 4})`;
          const fwd = forward(kernel, c);
          const before = { ...counts };
          let got: ReturnType<typeof backward> | null = null;
          assert.equal(
            referenceCalls(() => {
              got = backward(kernel, c, fwd, 'float32');
            }),
            0,
            `${what}: handed to the reference`,
          );
          assert.equal(counts.gatedBackward - before.gatedBackward, 1, `${what}: one fused call`);
          assert.equal(counts.products - before.products, 0, `${what}: no separate product`);
          const r = got as unknown as ReturnType<typeof backward>;
          const want = backward(referenceKernel, c, fwd, 'float64');
          const K = Math.max(c.P * c.G, s.P === undefined ? 0 : s.H);
          const steps = 16 * Math.sqrt(K * s.L) * ULP;
          const sums = 16 * Math.sqrt(K * s.L * s.N) * ULP;
          for (const [name, a, b, bound] of [
            ['dpre', r.dpre, want.dpre, steps],
            ['dh0', r.dh0, want.dh0, steps],
            ['dc0', r.dc0, want.dc0, steps],
            ['dwhh', r.dwhh, want.dwhh, sums],
            ['dwhr', r.dwhr, want.dwhr, sums],
            ['dbhh', r.dbhh, want.dbhh, sums],
          ] as const) {
            if (!a || !b) continue;
            const limit = bound * scale(b);
            worst = Math.max(
              worst,
              within(`${what} ${name}`, a, b, () => limit),
            );
          }
          // padded steps get exactly nothing
          for (let step = 0; step < s.L && c.lengths; step++) {
            for (let n = 0; n < s.N; n++) {
              if (step < (c.lengths[n] as number)) continue;
              for (let j = 0; j < c.G * s.H; j++) {
                const i = (step * s.N + n) * c.G * s.H + j;
                assert.equal(r.dpre[i], c.dpre[i], `${what} dpre[${i}] at a padded step`);
              }
            }
          }
        });
        t.diagnostic(`worst error ${worst.toFixed(3)} of the bound`);
      });
    }
  });
}

/**
 * Shapes the native kernel shares between its threads (native/gated_jobs.h's gated_split): by blocks of rows (a
 * step of at least 2^19 multiply-adds, a block at least one tile of rows), by the parts of each step (each member
 * of a team keeping 2^19 multiply-adds a step), or both; past 2^23 floats of W_hh (native/jobs.h's TEAM_WEIGHTS),
 * by a team of every thread even where the rows would make a block for each. `split` is how two threads share it.
 */
const SHARED: (Shape & { mode: Mode; split: 'rows' | 'columns' })[] = [
  { mode: 'LSTM', L: 5, N: 32, H: 64, D: 1, reverse: false, lengths: true, split: 'rows' },
  { mode: 'LSTM', L: 4, N: 4, H: 380, D: 2, reverse: true, lengths: true, split: 'columns' },
  { mode: 'LSTM', L: 3, N: 16, H: 380, D: 1, reverse: false, lengths: true, split: 'rows' },
  { mode: 'LSTM', L: 4, N: 40, H: 64, P: 48, D: 2, reverse: false, lengths: true, split: 'rows' },
  { mode: 'LSTM', L: 3, N: 4, H: 360, P: 300, D: 1, reverse: true, lengths: false, split: 'columns' },
  { mode: 'GRU', L: 5, N: 50, H: 60, D: 2, reverse: true, lengths: true, split: 'rows' },
  { mode: 'GRU', L: 3, N: 3, H: 500, D: 1, reverse: false, lengths: true, split: 'columns' },
  // W_hh of 4 x 1536 x 1536 floats (36 MB) and 12 rows, two blocks' worth
  { mode: 'LSTM', L: 2, N: 12, H: 1536, D: 1, reverse: false, lengths: true, split: 'columns' },
];

describe('the fused native LSTM and GRU give the bits of one thread at 2, 3, 4 and 8 threads', {
  skip: nativeAddon ? false : 'no native addon',
}, () => {
  const addon = nativeAddon as NativeAddon;
  const kernel = createNativeKernel(addon, { exactBelow: 0 });

  /** How the addon shares such a step at n threads, in words. */
  function splitAt(n: number, s: Shape & { mode: Mode }, P: number): string {
    const [threads, blocks, team] = atThreads(n, () => addon.gatedSplit(s.mode === 'LSTM', s.N, s.H, P));
    if (threads === 1) return 'one thread';
    if (team === 1) return `${blocks} blocks of rows`;
    if (blocks === 1) return `${team} threads sharing each step's columns`;
    return `${blocks} blocks of rows, ${team} threads sharing each step of each`;
  }

  for (const s of SHARED) {
    const name = s.mode === 'LSTM' && s.P !== undefined ? 'LSTM with proj_size' : s.mode;
    const c = makeCase(new Generator(s.N * 1000 + s.H), s.mode, s, 0);
    const run = () => {
      const fwd = forward(kernel, c);
      return { ...fwd, ...backward(kernel, c, fwd, 'float32') };
    };
    test(`two threads share the ${name} step ${describeShape(s)} by ${s.split}, one thread alone`, () => {
      const two = splitAt(2, s, c.P);
      assert.match(two, s.split === 'rows' ? /blocks of rows$/ : /sharing each step's columns$/, 'two threads');
      assert.equal(splitAt(1, s, c.P), 'one thread');
    });
    const one = atThreads(1, run);
    for (const n of THREAD_COUNTS) {
      test(`the ${name} forward and backward at ${n} threads over ${splitAt(n, s, c.P)} (${describeShape(s)})`, () => {
        const got = atThreads(n, run);
        for (const key of Object.keys(one) as (keyof typeof one)[]) {
          const [a, b] = [got[key], one[key]];
          if (!a || !b) continue;
          for (let i = 0; i < a.length; i++) {
            if (!Object.is(a[i], b[i])) assert.fail(`${key}[${i}]: ${n} threads ${a[i]}, one thread ${b[i]}`);
          }
        }
      });
    }
  }
});
