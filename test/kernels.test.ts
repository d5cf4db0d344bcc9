/**
 * Every registered kernel against the reference kernel, call by call, on random shapes: odd sizes, H not a
 * multiple of the SIMD width, variable lengths, the reverse direction, an output stride and offset (the second
 * half of a bidirectional layer), tanh and relu, float32 and float64.
 *
 * float64 must be exactly the reference's (fast kernels hand float64 to it). float32 fast kernels sum in float32,
 * so they are held to float32 error bounds against the reference's float64 sums:
 *   linear: |y - exact| <= (C + 2) * 2^-24 * (sum_k |x_k w_k| + |b1| + |b2|), the textbook bound for a float32
 *   dot product (any summation order) plus two bias roundings;
 *   recurrence: max |h - reference| <= 2^-24 * 16 * sqrt(H) * sqrt(L), a loose envelope of the per-step rounding
 *   (about 10x what the runs below see; each run prints its worst error in units of 2^-24).
 * The native and WebAssembly kernels are also run with `exactBelow: 0`, so their float32 paths are exercised on
 * the small shapes here instead of being handed to the reference.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getKernel, type Kernel, kernelNames, type Nonlinearity, referenceKernel } from '../src/kernels/index.js';
import { createNativeKernel, nativeAddon, nativeUnavailable } from '../src/kernels/native.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { Generator } from '../src/random.js';
import type { FloatArray } from '../src/tensor.js';

const ULP = 2 ** -24;

const kernels: Kernel[] = kernelNames()
  .filter((n) => n !== 'reference')
  .map((n) => getKernel(n));
if (nativeAddon) kernels.push(createNativeKernel(nativeAddon, { name: 'native (every call)', exactBelow: 0 }));
if (wasmExports) kernels.push(createWasmKernel(wasmExports, { name: 'wasm (every call)', exactBelow: 0 }));

function array(dtype: 'float32' | 'float64', n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

function random(g: Generator, dtype: 'float32' | 'float64', n: number, scale = 1): FloatArray {
  const a = array(dtype, n);
  g.uniform(a, -scale, scale);
  return a;
}

function int(g: Generator, lo: number, hi: number): number {
  return lo + Math.floor(g.nextDouble() * (hi - lo + 1));
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

for (const kernel of kernels) {
  describe(`kernel '${kernel.name}' against the reference`, () => {
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
          const got = kernel.scratch(x, M * O).length === M * O ? kernel.scratch(x, M * O) : array(dtype, M * O);
          kernel.linear(got, x, w, b1, b2, M, C, O);
          for (let m = 0; m < M; m++) {
            for (let o = 0; o < O; o++) {
              const i = m * O + o;
              if (dtype === 'float64' && !(got instanceof Float32Array)) {
                assert.equal(got[i], want[i], `(M ${M}, C ${C}, O ${O}) y[${m}, ${o}]`);
                continue;
              }
              let mag = Math.abs(b1?.[o] ?? 0) + Math.abs(b2?.[o] ?? 0);
              for (let k = 0; k < C; k++) mag += Math.abs((x[m * C + k] as number) * (w[o * C + k] as number));
              const err = Math.abs((got[i] as number) - (want[i] as number));
              worst = Math.max(worst, err / (mag * ULP));
              assert.ok(err <= (C + 2) * ULP * mag, `(M ${M}, C ${C}, O ${O}) y[${m}, ${o}] off by ${err}`);
            }
          }
        }
        t.diagnostic(`worst error ${worst.toFixed(2)} * 2^-24 * sum |x w|`);
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
          const nonlinearity: Nonlinearity = c % 2 === 0 ? 'tanh' : 'relu';
          const lengths = c % 3 === 0 ? null : Int32Array.from({ length: N }, () => int(g, 1, L));
          const pre = random(g, dtype, L * N * H);
          const whh = random(g, dtype, H * H, 1 / Math.sqrt(H));
          const h0 = random(g, dtype, N * H);
          const args = { pre, whh, h0, L, N, H, outStride: D * H, outOffset: d * H, nonlinearity, reverse, lengths };
          const want = { out: array(dtype, L * N * D * H), hN: array(dtype, N * H) };
          const got = { out: array(dtype, L * N * D * H), hN: array(dtype, N * H) };
          referenceKernel.recurrence({ ...args, ...want } as const);
          kernel.recurrence({ ...args, ...got } as const);
          const what = `(L ${L}, N ${N}, H ${H}, ${nonlinearity}, ${reverse ? 'reverse, ' : ''}lengths ${lengths ? `[${[...lengths]}]` : 'none'})`;
          for (const [name, a, b] of [
            ['out', got.out, want.out],
            ['hN', got.hN, want.hN],
          ] as const) {
            for (let i = 0; i < a.length; i++) {
              const x = a[i] as number;
              const y = b[i] as number;
              if (dtype === 'float64' || y === 0) {
                // float64, padded steps and the other direction's half of the rows are exact
                assert.equal(x, y, `${what} ${name}[${i}]`);
                continue;
              }
              const err = Math.abs(x - y);
              worst = Math.max(worst, err / ULP);
              assert.ok(err <= ULP * 16 * Math.sqrt(H * L), `${what} ${name}[${i}] = ${x}, reference ${y}`);
            }
          }
        }
        t.diagnostic(`worst error ${worst.toFixed(2)} * 2^-24`);
      });
    }
  });
}
