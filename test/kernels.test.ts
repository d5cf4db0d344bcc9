/**
 * Every registered kernel against the reference kernel, call by call, on random shapes: odd sizes, H not a
 * multiple of the SIMD width, variable lengths, the reverse direction, an output stride and offset (the second
 * half of a bidirectional layer), tanh and relu, float32 and float64.
 *
 * A float64 call that a kernel hands to the reference must give exactly its results; one that it runs itself
 * (the native and WebAssembly kernels' float64 kernels, native/f64.h, from FAST_MIN_WORK multiply-adds on, and on every call with
 * `exactBelow: 0`) is held to the float32 bounds below with 2^-53 for 2^-24: its sums are float64 FMA chains, its
 * activations its own. float32 fast kernels sum in float32, so they are held to float32 error bounds against the
 * reference's float64 sums:
 *   linear: |y - exact| <= (C + 2) * 2^-24 * (sum_k |x_k w_k| + |b1| + |b2|), the textbook bound for a float32
 *   dot product (any summation order) plus two bias roundings;
 *   recurrence: max |h - reference| <= 2^-24 * 16 * sqrt(H) * sqrt(L), a loose envelope of the per-step rounding
 *   (about 10x what the runs below see; each run prints its worst error in units of 2^-24).
 * Every float32 call must be the kernel's own (none may reach the reference kernel), and so must every float64 call
 * of a kernel run with `exactBelow: 0` that has float64 kernels: test/helpers/kernels.ts counts the calls that
 * reach it. The registered kernels hand a float32 layer
 * of fewer than `exactBelow` elements to the reference through `scratch` (a float64 buffer), which is tested on its
 * own; the native and WebAssembly kernels are also run with `exactBelow: 0`, as a stack of any size would run them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getKernel, type Kernel, kernelNames, type Mode, referenceKernel } from '../src/kernels/index.js';
import { createNativeKernel, EXACT_BELOW, nativeAddon, nativeUnavailable } from '../src/kernels/native.js';
import { createWasmThreadsKernel, relaxedSimd } from '../src/kernels/wasm/pool.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { Generator } from '../src/random.js';
import type { FloatArray } from '../src/tensor.js';
import { referenceCalls } from './helpers/kernels.js';
import { int } from './helpers/random.js';

const ULP = 2 ** -24;

/** Each fast kernel, and the fewest elements of a float32 layer buffer it computes itself. */
/** float64: whether its every float64 call must be its own (else it may hand any to the reference). */
const kernels: { kernel: Kernel; exactBelow: number; float64?: boolean }[] = kernelNames()
  .filter((n) => n !== 'reference')
  .map((n) => ({ kernel: getKernel(n), exactBelow: EXACT_BELOW }));
if (nativeAddon) {
  kernels.push({
    kernel: createNativeKernel(nativeAddon, { name: 'native (every call)', exactBelow: 0 }),
    exactBelow: 0,
    float64: true,
  });
}
if (wasmExports) {
  kernels.push({
    kernel: createWasmKernel(wasmExports, { name: 'wasm (every call)', exactBelow: 0 }),
    exactBelow: 0,
    float64: true,
  });
  // the threaded build (its workers come up during the run: calls before that run on this thread alone), and its
  // relaxed-SIMD build where the engine has it (Chromium; Node.js 20 with --experimental-wasm-relaxed-simd)
  const threads = (name: string, relaxed: boolean) =>
    createWasmThreadsKernel(2, { name: `${name} (every call)`, exactBelow: 0, relaxed }).kernel;
  kernels.push({ kernel: threads('wasm-threads', false), exactBelow: 0, float64: true });
  if (relaxedSimd()) kernels.push({ kernel: threads('wasm-threads relaxed', true), exactBelow: 0, float64: true });
}

/**
 * Runs a kernel call and asserts who did it: the kernel itself for float32 (and for float64 when `own64`). Returns
 * whether the reference kernel did (its results must then be the reference's exactly).
 */
function runs(dtype: 'float32' | 'float64', what: string, call: () => void, own64 = false): boolean {
  const handed = referenceCalls(call);
  if (dtype === 'float32') assert.equal(handed, 0, `${what}: a float32 call was handed to the reference kernel`);
  if (dtype === 'float64' && own64) assert.equal(handed, 0, `${what}: a float64 call was handed to the reference`);
  return handed > 0;
}

/** The rounding unit of a dtype: the float32 bounds' 2^-24, or 2^-53. */
const unit = (dtype: 'float32' | 'float64') => (dtype === 'float32' ? ULP : 2 ** -53);

function array(dtype: 'float32' | 'float64', n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

function random(g: Generator, dtype: 'float32' | 'float64', n: number, scale = 1): FloatArray {
  const a = array(dtype, n);
  g.uniform(a, -scale, scale);
  return a;
}

test('the reference kernel is registered, and STACKED_RNN_BACKEND names select kernels', () => {
  assert.ok(kernelNames().includes('reference'));
  assert.equal(getKernel('reference'), referenceKernel);
  assert.throws(() => getKernel('no-such-kernel'), /Unknown backend 'no-such-kernel'/);
});

test('the native kernel is registered when its addon loads, or says why not', () => {
  if (nativeAddon) assert.ok(kernelNames().includes('native'));
  else assert.equal(typeof nativeUnavailable, 'string');
});

test('the WebAssembly kernel is registered in Node.js, which has WebAssembly SIMD', () => {
  assert.ok(kernelNames().includes('wasm'));
});

for (const { kernel, exactBelow, float64 } of kernels) {
  describe(`kernel '${kernel.name}' against the reference`, () => {
    const rule =
      exactBelow > 0
        ? `hands a float32 layer of fewer than ${exactBelow} elements to the reference, and runs one of ${exactBelow} itself`
        : 'runs a float32 layer of any size itself, an empty one included';
    test(rule, () => {
      const [M, C] = [exactBelow, 3];
      const x = new Float32Array(M * C);
      const w = new Float32Array(C);
      for (const [length, own] of [
        [exactBelow - 1, false],
        [exactBelow, true],
      ] as const) {
        if (length < 0) continue;
        const y = kernel.scratch(x, length);
        assert.equal(y.length, length);
        assert.equal(y instanceof Float32Array, own, `a buffer of ${length} elements is float${own ? 32 : 64}`);
        const handed = referenceCalls(() => kernel.linear(y, x, w, null, null, length, C, 1));
        assert.equal(handed, own ? 0 : 1, `linear into the buffer of ${length} elements`);
      }
      assert.ok(kernel.scratch(new Float64Array(1), 2 * exactBelow + 1) instanceof Float64Array, 'float64 stays');
    });

    for (const dtype of ['float32', 'float64'] as const) {
      test(`linear gives the reference's ${dtype} results on 30 random shapes`, (t) => {
        const g = new Generator(1234);
        let worst = 0;
        for (let c = 0; c < 30; c++) {
          const M = int(g, 1, 40);
          const C = int(g, 1, 70);
          const O = int(g, 1, 70);
          const x = random(g, dtype, M * C);
          const w = random(g, dtype, O * C);
          const b1 = c % 3 === 0 ? null : random(g, dtype, O);
          const b2 = c % 3 === 0 ? null : random(g, dtype, O);
          const want = new Float64Array(M * O);
          referenceKernel.linear(want, x, w, b1, b2, M, C, O);
          const got = array(dtype, M * O);
          const exact = runs(
            dtype,
            `(M ${M}, C ${C}, O ${O})`,
            () => kernel.linear(got, x, w, b1, b2, M, C, O),
            float64,
          );
          for (let m = 0; m < M; m++) {
            for (let o = 0; o < O; o++) {
              const i = m * O + o;
              if (exact) {
                assert.equal(got[i], want[i], `(M ${M}, C ${C}, O ${O}) y[${m}, ${o}]`);
                continue;
              }
              let mag = Math.abs(b1?.[o] ?? 0) + Math.abs(b2?.[o] ?? 0);
              for (let k = 0; k < C; k++) mag += Math.abs((x[m * C + k] as number) * (w[o * C + k] as number));
              const err = Math.abs((got[i] as number) - (want[i] as number));
              worst = Math.max(worst, err / (mag * unit(dtype)));
              assert.ok(err <= (C + 2) * unit(dtype) * mag, `(M ${M}, C ${C}, O ${O}) y[${m}, ${o}] off by ${err}`);
            }
          }
        }
        t.diagnostic(`worst error ${worst.toFixed(2)} * ${dtype === 'float32' ? '2^-24' : '2^-53'} * sum |x w|`);
      });

      test(`recurrence gives the reference's ${dtype} results on 40 random cases`, (t) => {
        const g = new Generator(5678);
        let worst = 0;
        for (let c = 0; c < 40; c++) {
          const L = int(g, 1, 12);
          const N = int(g, 1, 9);
          const H = int(g, 1, 45);
          const D = int(g, 1, 2);
          const d = int(g, 0, D - 1);
          const reverse = d === 1;
          const mode: Mode = c % 2 === 0 ? 'RNN_TANH' : 'RNN_RELU';
          const lengths = c % 3 === 0 ? null : Int32Array.from({ length: N }, () => int(g, 1, L));
          const pre = random(g, dtype, L * N * H);
          const whh = random(g, dtype, H * H, 1 / Math.sqrt(H));
          const h0 = random(g, dtype, N * H);
          const args = { pre, whh, h0, L, N, H, outStride: D * H, outOffset: d * H, mode, reverse, lengths };
          const want = { out: array(dtype, L * N * D * H), hN: array(dtype, N * H) };
          const got = { out: array(dtype, L * N * D * H), hN: array(dtype, N * H) };
          referenceKernel.recurrence({ ...args, ...want } as const);
          const what = `(L ${L}, N ${N}, H ${H}, ${mode}, ${reverse ? 'reverse, ' : ''}lengths ${lengths ? `[${[...lengths]}]` : 'none'})`;
          const exact = runs(dtype, what, () => kernel.recurrence({ ...args, ...got } as const), float64);
          for (const [name, a, b] of [
            ['out', got.out, want.out],
            ['hN', got.hN, want.hN],
          ] as const) {
            for (let i = 0; i < a.length; i++) {
              const x = a[i] as number;
              const y = b[i] as number;
              if (exact || y === 0) {
                // the reference's own float64, padded steps and the other direction's half of the rows are exact
                assert.equal(x, y, `${what} ${name}[${i}]`);
                continue;
              }
              const err = Math.abs(x - y);
              worst = Math.max(worst, err / unit(dtype));
              assert.ok(err <= unit(dtype) * 16 * Math.sqrt(H * L), `${what} ${name}[${i}] = ${x}, reference ${y}`);
            }
          }
        }
        t.diagnostic(`worst error ${worst.toFixed(2)} * ${dtype === 'float32' ? '2^-24' : '2^-53'}`);
      });
    }
  });
}

/** A copy of `a` (null stays null), so a kernel and the reference can accumulate into equal starting buffers. */
function copy<T extends FloatArray | null>(a: T): T {
  return (a === null ? null : a.slice()) as T;
}

/**
 * Checks a result against the reference's: exactly when `exact` (the reference computed it), else within
 * `bound(i)`, a float32 bound, scaled to float64's rounding unit for float64. Returns the worst error in units of
 * the bound.
 */
function close(what: string, got: FloatArray, want: FloatArray, bound: (i: number) => number, exact: boolean): number {
  let worst = 0;
  const scale = want instanceof Float64Array ? 2 ** -29 : 1;
  for (let i = 0; i < want.length; i++) {
    const x = got[i] as number;
    const y = want[i] as number;
    if (exact) {
      assert.equal(x, y, `${what}[${i}]`);
      continue;
    }
    const err = Math.abs(x - y);
    const b = bound(i) * scale;
    worst = Math.max(worst, b > 0 ? err / b : err > 0 ? Number.POSITIVE_INFINITY : 0);
    assert.ok(err <= b, `${what}[${i}] = ${x}, reference ${y}, bound ${b}`);
  }
  return worst;
}

/*
 * Backward bounds against the reference's float64 sums (both start from the same buffers and accumulate):
 *   linearBackward: each entry is a float32 dot product plus the starting value, so the textbook bound
 *   (terms + 2) * 2^-24 * (sum |terms| + |start|), as for linear;
 *   recurrenceBackward: the gradient carried back is rounded to float32 every step, so it gets an envelope like
 *   the forward's: 16 * sqrt(H * L) * 2^-24 * max(1, max |reference|) for dpre and dh0, and for dwhh, a sum over up
 *   to L*N steps and rows, 16 * sqrt(H * L * N) * 2^-24 * max(1, max |reference|).
 */
for (const { kernel, float64 } of kernels) {
  describe(`kernel '${kernel.name}' backward against the reference`, () => {
    for (const dtype of ['float32', 'float64'] as const) {
      test(`linearBackward accumulates the reference's ${dtype} gradients on 30 random shapes`, (t) => {
        const g = new Generator(4321);
        let worst = 0;
        for (let c = 0; c < 30; c++) {
          // a few long ones, so the weight gradient's sum runs over several chunks of rows
          const M = c % 7 === 6 ? int(g, 1000, 2300) : int(g, 1, 40);
          const C = int(g, 1, 70);
          const O = int(g, 1, 70);
          const dy = random(g, dtype, M * O);
          const x = random(g, dtype, M * C);
          const w = random(g, dtype, O * C);
          const dx = c % 5 === 4 ? null : random(g, dtype, M * C); // non-zero: the result is added to it
          const dw = random(g, dtype, O * C);
          const db1 = c % 3 === 0 ? null : random(g, dtype, O);
          const db2 = c % 3 === 1 ? null : random(g, dtype, O);
          const want = { dx: copy(dx), dw: copy(dw), db1: copy(db1), db2: copy(db2) };
          const got = { dx: copy(dx), dw: copy(dw), db1: copy(db1), db2: copy(db2) };
          referenceKernel.linearBackward(want.dx, want.dw, want.db1, want.db2, dy, x, w, M, C, O);
          const what = `(M ${M}, C ${C}, O ${O})`;
          // biome-ignore format: one call
          const exact = runs(dtype, what, () => kernel.linearBackward(got.dx, got.dw, got.db1, got.db2, dy, x, w, M, C, O), float64);
          if (dx && got.dx && want.dx) {
            worst = Math.max(
              worst,
              close(
                `${what} dx`,
                got.dx,
                want.dx,
                (i) => {
                  const [m, k] = [Math.floor(i / C), i % C];
                  let mag = Math.abs(dx[i] as number);
                  for (let o = 0; o < O; o++) mag += Math.abs((dy[m * O + o] as number) * (w[o * C + k] as number));
                  return (O + 2) * ULP * mag;
                },
                exact,
              ),
            );
          }
          worst = Math.max(
            worst,
            close(
              `${what} dw`,
              got.dw,
              want.dw,
              (i) => {
                const [o, k] = [Math.floor(i / C), i % C];
                let mag = Math.abs(dw[i] as number);
                for (let m = 0; m < M; m++) mag += Math.abs((dy[m * O + o] as number) * (x[m * C + k] as number));
                return (M + 2) * ULP * mag;
              },
              exact,
            ),
          );
          for (const [name, start, a, b] of [
            ['db1', db1, got.db1, want.db1],
            ['db2', db2, got.db2, want.db2],
          ] as const) {
            if (!start || !a || !b) continue;
            close(
              `${what} ${name}`,
              a,
              b,
              (o) => {
                let mag = Math.abs(start[o] as number);
                for (let m = 0; m < M; m++) mag += Math.abs(dy[m * O + o] as number);
                return (M + 2) * ULP * mag;
              },
              exact,
            );
          }
        }
        t.diagnostic(`worst error ${worst.toFixed(3)} of the bound`);
      });

      test(`recurrenceBackward accumulates the reference's ${dtype} gradients on 40 random cases`, (t) => {
        const g = new Generator(8765);
        let worst = 0;
        for (let c = 0; c < 40; c++) {
          // a few long ones, so the sum of dwhh over all steps and rows runs over several chunks of rows
          const long = c % 10 === 9;
          const L = long ? int(g, 30, 50) : int(g, 1, 12);
          const N = long ? int(g, 25, 40) : int(g, 1, 9);
          const H = int(g, 1, 45);
          const D = int(g, 1, 2);
          const d = int(g, 0, D - 1);
          const reverse = d === 1;
          const mode: Mode = c % 2 === 0 ? 'RNN_TANH' : 'RNN_RELU';
          const lengths = c % 3 === 0 ? null : Int32Array.from({ length: N }, () => int(g, 1, L));
          const whh = random(g, dtype, H * H, 1 / Math.sqrt(H));
          const h0 = random(g, dtype, N * H);
          // the forward's outputs, from the reference (the backward reads f'(pre) off them)
          const out = random(g, dtype, L * N * D * H); // the other direction's half stays random
          const fwd = { pre: random(g, dtype, L * N * H), whh, h0, L, N, H, outStride: D * H, outOffset: d * H };
          referenceKernel.recurrence({ ...fwd, out, hN: array(dtype, N * H), mode, reverse, lengths });
          const dout = c % 4 === 3 ? null : random(g, dtype, L * N * D * H);
          const dhN = c % 4 === 1 ? null : random(g, dtype, N * H);
          // dpre starts at zero (as the stack gives it) or not; dh0 and dwhh never do
          const dpre = c % 5 === 2 ? random(g, dtype, L * N * H) : array(dtype, L * N * H);
          const dh0 = random(g, dtype, N * H);
          const dwhh = random(g, dtype, H * H);
          const args = {
            dout,
            dhN,
            out,
            h0,
            whh,
            L,
            N,
            H,
            outStride: D * H,
            outOffset: d * H,
            mode,
            reverse,
            lengths,
          };
          const want = { dpre: copy(dpre), dh0: copy(dh0), dwhh: copy(dwhh) };
          const got = { dpre: copy(dpre), dh0: copy(dh0), dwhh: copy(dwhh) };
          referenceKernel.recurrenceBackward({ ...args, ...want });
          const what = `(L ${L}, N ${N}, H ${H}, ${mode}, ${reverse ? 'reverse, ' : ''}lengths ${lengths ? `[${[...lengths]}]` : 'none'}${dout ? '' : ', no dout'}${dhN ? '' : ', no dhN'})`;
          const exact = runs(dtype, what, () => kernel.recurrenceBackward({ ...args, ...got }), float64);
          const scale = (a: FloatArray) => {
            let s = 1;
            for (const v of a) s = Math.max(s, Math.abs(v));
            return s;
          };
          for (const [name, a, b, terms] of [
            ['dpre', got.dpre, want.dpre, H * L],
            ['dh0', got.dh0, want.dh0, H * L],
            ['dwhh', got.dwhh, want.dwhh, H * L * N],
          ] as const) {
            const bound = 16 * Math.sqrt(terms) * ULP * scale(b);
            worst = Math.max(worst, close(`${what} ${name}`, a, b, () => bound, exact) * 16 * Math.sqrt(terms));
          }
          // padded steps get exactly nothing
          for (let s = 0; s < L && lengths; s++) {
            for (let n = 0; n < N; n++) {
              if (s < (lengths[n] as number)) continue;
              for (let j = 0; j < H; j++) {
                const i = (s * N + n) * H + j;
                assert.equal(got.dpre[i], dpre[i], `${what} dpre[${i}] at a padded step`);
              }
            }
          }
        }
        t.diagnostic(`worst error ${worst.toFixed(2)} * 2^-24 * max(1, max |reference|)`);
      });
    }

    test('recurrenceBackward takes float64 h0, dhN and dh0 beside float32 buffers (small scratch)', () => {
      const g = new Generator(99);
      const [L, N, H] = [7, 3, 20];
      const whh = random(g, 'float32', H * H, 1 / Math.sqrt(H));
      const out = new Float32Array(L * N * H);
      const h0 = new Float64Array(N * H); // zeros, as the stack passes for an omitted h0
      referenceKernel.recurrence({
        out,
        hN: new Float32Array(N * H),
        pre: random(g, 'float32', L * N * H),
        whh,
        h0: new Float32Array(N * H),
        L,
        N,
        H,
        outStride: H,
        outOffset: 0,
        mode: 'RNN_TANH',
        reverse: false,
        lengths: null,
      });
      const dhN = Float64Array.from(random(g, 'float32', N * H));
      const args = { dout: random(g, 'float32', L * N * H), dhN, out, h0, whh, L, N, H, outStride: H, outOffset: 0 };
      const run = (k: Kernel) => {
        const r = {
          dpre: new Float32Array(L * N * H),
          dh0: new Float64Array(N * H).fill(1),
          dwhh: new Float32Array(H * H),
        };
        k.recurrenceBackward({ ...args, ...r, mode: 'RNN_TANH', reverse: false, lengths: null });
        return r;
      };
      const ran: ReturnType<typeof run>[] = [];
      assert.equal(
        referenceCalls(() => ran.push(run(kernel))),
        0,
        'the float64 buffers sent it to the reference',
      );
      const [got, want] = [ran[0] as ReturnType<typeof run>, run(referenceKernel)];
      for (const [name, a, b] of [
        ['dpre', got.dpre, want.dpre],
        ['dh0', got.dh0, want.dh0],
        ['dwhh', got.dwhh, want.dwhh],
      ] as const) {
        for (let i = 0; i < a.length; i++) {
          const scale = Math.max(1, Math.abs(b[i] as number));
          assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= 1e-5 * scale, `${name}[${i}]`);
        }
      }
    });
  });
}
