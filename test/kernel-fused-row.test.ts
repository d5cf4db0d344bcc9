/**
 * Online inference (one sequence, tanh, H = 16, 32, 48 or 64) takes a fused time loop in the fast kernels, its
 * sums kept in registers from the products to the activation. It must give the general path's floats, bit for
 * bit: the same single sequence, run as both rows of a batch of two (which takes the general path), must give the
 * same outputs and final state, in both directions.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Kernel } from '../src/kernels/kernel.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { Generator } from '../src/random.js';
import { uniform } from './helpers/random.js';

const kernels: Kernel[] = [];
if (nativeAddon) kernels.push(createNativeKernel(nativeAddon, { exactBelow: 0 }));
if (wasmExports) kernels.push(createWasmKernel(wasmExports, { exactBelow: 0 }));

/** Each row of a (rows, width) array repeated `times` times in place: (rows, times * width). */
function repeatRows(a: Float32Array, rows: number, width: number, times: number): Float32Array {
  const out = new Float32Array(rows * times * width);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < times; i++) out.set(a.subarray(r * width, (r + 1) * width), (r * times + i) * width);
  }
  return out;
}

for (const kernel of kernels) {
  describe(`kernel '${kernel.name}': the fused single-sequence recurrence`, () => {
    for (const H of [16, 32, 48, 64]) {
      for (const reverse of [false, true]) {
        test(`gives the general path's bits (H ${H}${reverse ? ', reverse' : ''})`, () => {
          const g = new Generator(H * 2 + (reverse ? 1 : 0));
          const L = 37;
          const pre = uniform(g, L * H, 1.5);
          const whh = uniform(g, H * H, 1 / Math.sqrt(H));
          const h0 = uniform(g, H, 1);
          const common = { whh, L, H, mode: 'RNN_TANH' as const, reverse, lengths: null };
          const one = { out: new Float32Array(L * 2 * H), hN: new Float32Array(H) };
          kernel.recurrence({ ...common, ...one, pre, h0, N: 1, outStride: 2 * H, outOffset: reverse ? H : 0 });
          const two = { out: new Float32Array(L * 2 * 2 * H), hN: new Float32Array(2 * H) };
          const pre2 = repeatRows(pre, L, H, 2);
          const h02 = repeatRows(h0, 1, H, 2);
          kernel.recurrence({
            ...common,
            ...two,
            pre: pre2,
            h0: h02,
            N: 2,
            outStride: 2 * H,
            outOffset: reverse ? H : 0,
          });
          for (let t = 0; t < L; t++) {
            for (const n of [0, 1]) {
              for (let j = 0; j < 2 * H; j++) {
                const got = one.out[t * 2 * H + j] as number;
                const want = two.out[(t * 2 + n) * 2 * H + j] as number;
                if (!Object.is(got, want)) assert.fail(`out[${t}, ${j}] = ${got}, general path (row ${n}) ${want}`);
              }
            }
          }
          for (let j = 0; j < H; j++) {
            assert.ok(Object.is(one.hN[j], two.hN[j]) && Object.is(one.hN[j], two.hN[H + j]), `hN[${j}]`);
          }
        });
      }
    }
  });
}
