/**
 * The products that native/core.h's for_tiles cuts by size: rows whose last two tiles share them (`tile_rows`: 7,
 * 8, 13 and 14 rows run as 4 + 3, 4 + 4, 6 + 4 + 3 and 6 + 4 + 4 rather than with a last tile of 1 or 2 rows), and
 * weights past PF_FLOATS (2^21 floats), whose next panels are prefetched while every tile of a block of rows (of 8
 * tiles or more) reads the one before. Neither may change a float: the fast kernels are held to the reference
 * within test/kernels.test.ts's float32 bounds, and the native kernel to the same bits on 1 and 2 threads and on
 * both of its ISA builds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Kernel, referenceKernel } from '../src/kernels/index.js';
import { createNativeKernel, type NativeAddon, nativeAddon, nativeBuilds } from '../src/kernels/native.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { Generator } from '../src/random.js';
import { uniform } from './helpers/random.js';

const ULP = 2 ** -24;

const kernels: Kernel[] = [];
if (nativeAddon) kernels.push(createNativeKernel(nativeAddon, { name: 'native', exactBelow: 0 }));
if (wasmExports) kernels.push(createWasmKernel(wasmExports, { name: 'wasm', exactBelow: 0 }));

/** |got - want| <= bound(i) everywhere; returns the worst error as a fraction of its bound. */
function within(what: string, got: Float32Array, want: ArrayLike<number>, bound: (i: number) => number): number {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs((got[i] as number) - (want[i] as number));
    const b = bound(i);
    worst = Math.max(worst, err / b);
    if (!(err <= b)) assert.fail(`${what}[${i}] = ${got[i]}, reference ${want[i]}, bound ${b}`);
  }
  return worst;
}

/** The largest |v|, at least 1. */
function scale(a: ArrayLike<number>): number {
  let m = 1;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

/** y = x w^T + b, its recurrence (tanh) and their backward on one kernel: what each wrote. */
function layer(k: Kernel, g: Generator, L: number, N: number, C: number, H: number) {
  const x = uniform(g, L * N * C);
  const wih = uniform(g, H * C, 1 / Math.sqrt(C));
  const whh = uniform(g, H * H, 1 / Math.sqrt(H));
  const b = uniform(g, H);
  const h0 = uniform(g, N * H);
  const dout = uniform(g, L * N * H);
  const pre = new Float32Array(L * N * H);
  k.linear(pre, x, wih, b, null, L * N, C, H);
  const shape = { L, N, H, outStride: H, outOffset: 0, mode: 'RNN_TANH', reverse: false, lengths: null } as const;
  const out = new Float32Array(L * N * H);
  k.recurrence({ ...shape, out, hN: new Float32Array(N * H), pre, whh, h0 });
  const dpre = new Float32Array(L * N * H);
  const dh0 = new Float32Array(N * H);
  const dwhh = new Float32Array(H * H);
  k.recurrenceBackward({ ...shape, dpre, dh0, dwhh, dout, dhN: null, out, h0, whh });
  const dx = new Float32Array(L * N * C);
  const dwih = new Float32Array(H * C);
  k.linearBackward(dx, dwih, null, null, dpre, x, wih, L * N, C, H);
  return { x, wih, b, whh, h0, dout, pre, out, dpre, dh0, dwhh, dx, dwih };
}

/**
 * One layer on `k` against the reference: the input projection within the textbook bound of a float32 dot
 * product, each step's product (forward and backward) from the same inputs as the kernel's within 16 sqrt(K)
 * 2^-24 max(1, max |reference|), and the products of the backward (dx, dW_ih, dW_hh) likewise over their K.
 */
function checkLayer(k: Kernel, seed: number, L: number, N: number, C: number, H: number): number {
  const r = layer(k, new Generator(seed), L, N, C, H);
  const what = `${k.name} (L ${L}, N ${N}, C ${C}, H ${H})`;
  const M = L * N;
  let worst = 0;
  const pre = new Float64Array(M * H);
  referenceKernel.linear(pre, r.x, r.wih, r.b, null, M, C, H);
  worst = within(`${what} pre`, r.pre, pre, (i) => {
    const [m, o] = [Math.floor(i / H), i % H];
    let mag = Math.abs(r.b[o] as number);
    for (let c = 0; c < C; c++) mag += Math.abs((r.x[m * C + c] as number) * (r.wih[o * C + c] as number));
    return (C + 2) * ULP * mag;
  });
  // the reference from the kernel's own pre and outputs, so that only each call's own rounding is compared
  const shape = { L, N, H, outStride: H, outOffset: 0, mode: 'RNN_TANH', reverse: false, lengths: null } as const;
  const out = new Float32Array(M * H);
  referenceKernel.recurrence({ ...shape, out, hN: new Float32Array(N * H), pre: r.pre, whh: r.whh, h0: r.h0 });
  const envelope = (K: number, ref: ArrayLike<number>) => {
    const b = 16 * Math.sqrt(K) * ULP * scale(ref);
    return () => b;
  };
  worst = Math.max(worst, within(`${what} out`, r.out, out, envelope(H * L, out)));
  const dpre = new Float32Array(M * H);
  const dh0 = new Float32Array(N * H);
  const dwhh = new Float32Array(H * H);
  referenceKernel.recurrenceBackward({
    ...shape,
    dpre,
    dh0,
    dwhh,
    dout: r.dout,
    dhN: null,
    out: r.out,
    h0: r.h0,
    whh: r.whh,
  });
  worst = Math.max(worst, within(`${what} dpre`, r.dpre, dpre, envelope(H * L, dpre)));
  worst = Math.max(worst, within(`${what} dh0`, r.dh0, dh0, envelope(H * L, dh0)));
  worst = Math.max(worst, within(`${what} dwhh`, r.dwhh, dwhh, envelope(H * L * N, dwhh)));
  const dx = new Float32Array(M * C);
  const dwih = new Float32Array(H * C);
  referenceKernel.linearBackward(dx, dwih, null, null, r.dpre, r.x, r.wih, M, C, H);
  worst = Math.max(worst, within(`${what} dx`, r.dx, dx, envelope(H, dx)));
  worst = Math.max(worst, within(`${what} dW_ih`, r.dwih, dwih, envelope(M, dwih)));
  return worst;
}

for (const k of kernels) {
  describe(`kernel '${k.name}' where for_tiles cuts the products by size`, () => {
    test('7, 8, 13 and 14 rows, whose last two tiles share them, give the reference results', (t) => {
      let worst = 0;
      for (const N of [7, 8, 13, 14]) worst = Math.max(worst, checkLayer(k, 100 + N, 1, N, 70, 70));
      for (const N of [7, 8, 13, 14]) worst = Math.max(worst, checkLayer(k, 200 + N, 3, N, 33, 45));
      t.diagnostic(`worst error ${worst.toFixed(3)} of the bound`);
    });

    test('weights past 2^21 floats, whose next panels are prefetched, give the reference results', (t) => {
      // W_ih and W_hh are 1536 x 1536: 2.4 M floats each, forward and backward; 48 rows make a block of 8 tiles
      t.diagnostic(`worst error ${checkLayer(k, 7, 2, 24, 1536, 1536).toFixed(3)} of the bound`);
    });
  });
}

const { avx2, avx512 } = nativeBuilds;
describe('the native kernel where for_tiles cuts the products by size', { skip: !avx2 && 'no native addon' }, () => {
  /** Every build at 1 and 2 threads: the same bits as the first. */
  function sameEverywhere(L: number, N: number, C: number, H: number) {
    const builds = [avx2, avx512].filter((a): a is NativeAddon => a !== null);
    let first: ReturnType<typeof layer> | null = null;
    for (const addon of builds) {
      for (const n of [1, 2]) {
        const before = addon.threads();
        addon.threads(n);
        try {
          const r = layer(createNativeKernel(addon, { exactBelow: 0 }), new Generator(11), L, N, C, H);
          first ??= r;
          for (const name of ['pre', 'out', 'dpre', 'dh0', 'dwhh', 'dx', 'dwih'] as const) {
            const a: Float32Array = r[name];
            const b: Float32Array = first[name];
            for (let i = 0; i < a.length; i++) {
              if (!Object.is(a[i], b[i]))
                assert.fail(`${addon.isa} on ${n} threads: ${name}[${i}] ${a[i]}, not ${b[i]}`);
            }
          }
        } finally {
          addon.threads(before);
        }
      }
    }
  }

  test('gives the same bits on 1 and 2 threads and on the AVX-512 and AVX2 builds', () => {
    sameEverywhere(3, 14, 70, 45);
    sameEverywhere(2, 25, 1536, 1536);
  });
});
