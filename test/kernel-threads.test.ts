/**
 * The native kernel's two threads change where the work runs, never a float: every output element is the same
 * chain of operations whichever thread computes it. So each test runs the recurrence, forward and backward, with
 * one thread and with two and asks for identical bits, on steps big enough to be shared (N H^2 >= 2^19): with
 * 12 rows or more the threads split the batch into blocks of rows that run every step; with fewer they split each
 * step's output columns and meet after it. Lengths, the reverse direction, an output stride and relu included.
 *
 * The addon takes two threads wherever the machine has two cores (std::thread::hardware_concurrency(): the online
 * CPUs, as os.cpus() counts them), whatever STACKED_RNN_THREADS said at load: `threads(2)` sets it. So these tests
 * skip only on a one-core machine, and fail where there are two cores but the addon will not take two threads.
 */
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { describe, test } from 'node:test';
import type { Mode } from '../src/kernels/kernel.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { Generator } from '../src/random.js';
import { uniform } from './helpers/random.js';

interface Shape {
  L: number;
  N: number;
  H: number;
  D: number;
  reverse: boolean;
  mode: Mode;
  lengths: boolean;
  split: string;
}

const SHAPES: Shape[] = [
  { L: 5, N: 32, H: 128, D: 1, reverse: false, mode: 'RNN_TANH', lengths: false, split: '3 row blocks' },
  { L: 4, N: 13, H: 201, D: 2, reverse: true, mode: 'RNN_TANH', lengths: true, split: '2 row blocks' },
  { L: 3, N: 100, H: 80, D: 2, reverse: false, mode: 'RNN_RELU', lengths: true, split: '4 row blocks' },
  { L: 4, N: 4, H: 400, D: 1, reverse: false, mode: 'RNN_TANH', lengths: true, split: 'columns' },
  { L: 3, N: 7, H: 300, D: 2, reverse: true, mode: 'RNN_RELU', lengths: false, split: 'columns' },
];

const addon = nativeAddon;
const cores = cpus().length;
/** Why the tests cannot run two threads here, or false when they must. */
const skip = !addon
  ? 'no native addon'
  : cores < 2
    ? `one core (os.cpus() counts ${cores}): the addon runs one thread`
    : false;

describe('the native recurrence gives the same bits on one thread and on two', { skip }, () => {
  const api = addon as NonNullable<typeof addon>;
  const kernel = createNativeKernel(api, { exactBelow: 0 });

  /** Runs fn with the addon set to n threads, having checked that it took them, and restores the setting. */
  function withThreads<T>(n: number, fn: () => T): T {
    const before = api.threads();
    try {
      assert.equal(api.threads(n), n, `the addon did not take ${n} threads on ${cores} cores`);
      return fn();
    } finally {
      api.threads(before);
    }
  }

  for (const shape of SHAPES) {
    const { L, N, H, D, reverse, mode } = shape;
    const what = `L ${L}, N ${N}, H ${H}${reverse ? ', reverse' : ''}, ${mode}${shape.lengths ? ', lengths' : ''}`;
    test(`forward and backward over ${shape.split} (${what})`, () => {
      const g = new Generator(N * 1000 + H);
      const lengths = shape.lengths ? Int32Array.from({ length: N }, (_, n) => 1 + (n % L)) : null;
      const dir = { L, N, H, outStride: D * H, outOffset: reverse ? H : 0, mode, reverse, lengths };
      const pre = uniform(g, L * N * H);
      const whh = uniform(g, H * H, 1 / Math.sqrt(H));
      const h0 = uniform(g, N * H);
      const dout = uniform(g, L * N * D * H);
      const dhN = uniform(g, N * H);
      const run = () => {
        const out = new Float32Array(L * N * D * H);
        const hN = new Float32Array(N * H);
        kernel.recurrence({ ...dir, out, hN, pre, whh, h0 });
        const grads = {
          dpre: new Float32Array(L * N * H),
          dh0: new Float32Array(N * H),
          dwhh: new Float32Array(H * H),
        };
        kernel.recurrenceBackward({ ...dir, ...grads, dout, dhN, out, h0, whh });
        return { out, hN, ...grads };
      };
      const one = withThreads(1, run);
      const two = withThreads(2, run);
      for (const name of ['out', 'hN', 'dpre', 'dh0', 'dwhh'] as const) {
        const [a, b] = [two[name], one[name]];
        for (let i = 0; i < a.length; i++) {
          if (!Object.is(a[i], b[i])) assert.fail(`${name}[${i}]: two threads ${a[i]}, one thread ${b[i]}`);
        }
      }
    });
  }
});
