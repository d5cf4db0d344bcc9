/**
 * The native kernel's threads change where the work runs, never a float: every output element is the same chain
 * of operations whichever thread computes it and however many there are. So each test runs a kernel call at 2,
 * 3, 4 and 8 threads and asks for the bits of the same call on one thread, for every way the work is split:
 *
 * - the recurrence, forward and backward (tanh and relu, lengths, both directions, an output stride), on steps big
 *   enough to be shared (N H^2 >= 2^19): blocks of rows each run through every step by one thread; one team of
 *   threads sharing each step's output panels (columns) and meeting after it; and blocks with teams of several
 *   (both). The addon says which split it runs (`recurrenceSplit`), and each title names it;
 * - the weight gradients (dW_hh inside recurrenceBackward, dW_ih and the biases in linearBackward), summed chunk
 *   by chunk over the L*N rows, each chunk's transpose, packing and tiles shared out;
 * - the input projection and dx, in blocks of rows.
 *
 * More threads than this machine's cores are allowed (they take turns), so every count runs everywhere; the layer
 * wavefront's counts are in test/kernel-layers.test.ts, the setting itself in test/threads.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Mode } from '../src/kernels/kernel.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { getThreads, setThreads } from '../src/kernels/threads.js';
import { Generator } from '../src/random.js';
import { RNN } from '../src/rnn/rnn.js';
import { Tensor } from '../src/tensor.js';
import { assertSameBits } from './helpers/bits.js';
import { uniform } from './helpers/random.js';
import { atThreads, THREAD_COUNTS } from './helpers/threads.js';

const COUNTS = THREAD_COUNTS;

interface Shape {
  L: number;
  N: number;
  H: number;
  D: number;
  reverse: boolean;
  mode: Mode;
  lengths: boolean;
}

const SHAPES: Shape[] = [
  { L: 5, N: 32, H: 128, D: 1, reverse: false, mode: 'RNN_TANH', lengths: false },
  { L: 4, N: 13, H: 201, D: 2, reverse: true, mode: 'RNN_TANH', lengths: true },
  { L: 3, N: 100, H: 80, D: 2, reverse: false, mode: 'RNN_RELU', lengths: true },
  { L: 4, N: 4, H: 400, D: 1, reverse: false, mode: 'RNN_TANH', lengths: true },
  { L: 3, N: 7, H: 300, D: 2, reverse: true, mode: 'RNN_RELU', lengths: false },
  // L N = 2560 rows: dW_hh sums three chunks of 1024
  { L: 40, N: 64, H: 96, D: 1, reverse: true, mode: 'RNN_TANH', lengths: true },
];

const addon = nativeAddon;

/** The split recurrence runs a step of N rows and H features on at n threads, in words. */
function splitAt(n: number, N: number, H: number): { words: string; kind: string } {
  const [threads, blocks, team] = atThreads(n, () => (addon as NonNullable<typeof addon>).recurrenceSplit(N, H));
  const kind = threads === 1 ? 'one thread' : team === 1 ? 'rows' : blocks === 1 ? 'columns' : 'rows and columns';
  const words =
    threads === 1
      ? 'one thread'
      : team === 1
        ? `${blocks} blocks of rows`
        : blocks === 1
          ? `${team} threads sharing each step's columns`
          : `${blocks} blocks of rows, ${team} threads sharing each step of each`;
  return { words, kind };
}

describe('the native kernel gives the bits of one thread at 2, 3, 4 and 8 threads', {
  skip: addon ? false : 'no native addon',
}, () => {
  const api = addon as NonNullable<typeof addon>;
  const kernel = createNativeKernel(api, { exactBelow: 0 });
  const loaded = getThreads();
  after(() => setThreads(loaded));

  for (const shape of SHAPES) {
    const { L, N, H, D, reverse, mode } = shape;
    const direction =
      D === 2 ? `, the ${reverse ? 'reverse' : 'forward'} direction of two` : reverse ? ', reverse' : '';
    const what = `L ${L}, N ${N}, H ${H}${direction}, ${mode}${shape.lengths ? ', lengths' : ''}`;
    const g = new Generator(N * 1000 + H);
    const lengths = shape.lengths ? Int32Array.from({ length: N }, (_, n) => 1 + (n % L)) : null;
    const dir = { L, N, H, outStride: D * H, outOffset: reverse && D === 2 ? H : 0, mode, reverse, lengths };
    const pre = uniform(g, L * N * H);
    const whh = uniform(g, H * H, 1 / Math.sqrt(H));
    const h0 = uniform(g, N * H);
    const dout = uniform(g, L * N * D * H);
    const dhN = uniform(g, N * H);
    const run = () => {
      const out = new Float32Array(L * N * D * H);
      const hN = new Float32Array(N * H);
      kernel.recurrence({ ...dir, out, hN, pre, whh, h0 });
      const grads = { dpre: new Float32Array(L * N * H), dh0: new Float32Array(N * H), dwhh: new Float32Array(H * H) };
      kernel.recurrenceBackward({ ...dir, ...grads, dout, dhN, out, h0, whh });
      return { out, hN, ...grads };
    };
    const one = atThreads(1, run);
    for (const n of COUNTS) {
      test(`recurrence forward and backward at ${n} threads over ${splitAt(n, N, H).words} (${what})`, () => {
        const got = atThreads(n, run);
        for (const name of ['out', 'hN', 'dpre', 'dh0', 'dwhh'] as const) {
          assertSameBits(`${n} threads: ${name}`, got[name], one[name]);
        }
      });
    }
  }

  test('the shapes run every split: blocks of rows, shared columns, and both, each at several thread counts', () => {
    const seen = new Map<string, number[]>();
    for (const { N, H } of SHAPES) {
      for (const n of COUNTS) {
        const { kind } = splitAt(n, N, H);
        seen.set(kind, [...(seen.get(kind) ?? []), n]);
      }
    }
    for (const kind of ['rows', 'columns', 'rows and columns']) {
      assert.ok((seen.get(kind)?.length ?? 0) >= 2, `'${kind}' at ${seen.get(kind) ?? 'no'} thread counts`);
    }
  });

  test('steps shared by 8 threads give the same bits call after call (no step starts before the one before it is done)', () => {
    // columns: every step's panels shared by 8 threads; both: 2 blocks of rows, 4 threads sharing each
    for (const [N, H] of [
      [4, 400],
      [13, 201],
    ] as const) {
      const L = 20;
      const g = new Generator(N + H);
      const dir = { L, N, H, outStride: H, outOffset: 0, mode: 'RNN_TANH' as const, reverse: false, lengths: null };
      const pre = uniform(g, L * N * H);
      const whh = uniform(g, H * H, 1 / Math.sqrt(H));
      const h0 = uniform(g, N * H);
      const run = () => {
        const out = new Float32Array(L * N * H);
        kernel.recurrence({ ...dir, out, hN: new Float32Array(N * H), pre, whh, h0 });
        return out;
      };
      const want = atThreads(1, run);
      assert.notEqual(splitAt(8, N, H).kind, 'rows', `N ${N}, H ${H} shares its steps at 8 threads`);
      atThreads(8, () => {
        for (let i = 0; i < 200; i++) assertSameBits(`N ${N}, H ${H}, call ${i}: out`, run(), want);
      });
    }
  });

  test('a step too small to share runs on one thread whatever the count', () => {
    for (const n of COUNTS)
      assert.deepEqual(
        atThreads(n, () => api.recurrenceSplit(8, 128)),
        [1, 1, 1],
      );
  });

  for (const [M, C, O, bias] of [
    [2500, 70, 90, true],
    [3000, 300, 200, true],
    [1500, 512, 16, false],
    // one block of rows with large weights: split by blocks of output panels (jobs.h split_by_panels), as a step
    // of a stream is; O not a multiple of the panels, so the last block is partial
    [1, 512, 1536, true],
    [40, 256, 1100, false],
  ] as const) {
    test(`linear and linearBackward (${M} rows in chunks of 1024, C ${C}, O ${O}${bias ? ', biases' : ''}) at 2 to 8 threads`, () => {
      const g = new Generator(M + C + O);
      const x = uniform(g, M * C);
      const w = uniform(g, O * C, 1 / Math.sqrt(C));
      const b1 = bias ? uniform(g, O) : null;
      const b2 = bias ? uniform(g, O) : null;
      const dy = uniform(g, M * O);
      const start = uniform(g, O * C); // the gradients accumulate into what is there
      const run = () => {
        const y = new Float32Array(M * O);
        kernel.linear(y, x, w, b1, b2, M, C, O);
        const dx = uniform(new Generator(1), M * C);
        const dw = start.slice();
        const db1 = bias ? new Float32Array(O).fill(0.5) : null;
        const db2 = bias ? new Float32Array(O) : null;
        kernel.linearBackward(dx, dw, db1, db2, dy, x, w, M, C, O);
        return { y, dx, dw, db1: db1 ?? [], db2: db2 ?? [] };
      };
      const one = atThreads(1, run);
      for (const n of COUNTS) {
        const got = atThreads(n, run);
        for (const name of ['y', 'dx', 'dw', 'db1', 'db2'] as const) {
          assertSameBits(`${n} threads: ${name}`, got[name], one[name]);
        }
      }
    });
  }

  test('a whole RNN (2 layers, bidirectional, relu) trains to the same bits at 1 and 8 threads', () => {
    const [L, N, I, H] = [30, 24, 40, 160];
    const step = () => {
      const rnn = new RNN({
        inputSize: I,
        hiddenSize: H,
        numLayers: 2,
        bidirectional: true,
        nonlinearity: 'relu',
        seed: 3,
      });
      const x = new Tensor(uniform(new Generator(4), L * N * I), [L, N, I]);
      const [output, hN] = rnn.forward(x, null, { requiresGrad: true });
      const dOut = new Tensor(uniform(new Generator(5), output.data.length), output.shape);
      const { input, h0 } = rnn.backward(dOut, null);
      return [output.data, hN.data, input.data, h0?.data ?? [], ...rnn.namedGrads().map(([, grad]) => grad.data)];
    };
    const one = atThreads(1, step);
    const eight = atThreads(8, step);
    one.forEach((want, i) => assertSameBits(`array ${i}`, eight[i] as ArrayLike<number>, want));
  });
});
