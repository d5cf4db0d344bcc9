/**
 * The threaded WebAssembly kernel (native/wasm_threads.cc on worker_threads sharing one memory) changes where the
 * work runs, never a float: at 2, 3 and 4 threads, and at 1, every stack writes the bits of the one-thread
 * WebAssembly kernel (native/wasm.cc), which test/kernels.test.ts holds to the reference. The shapes take each of
 * native/jobs.h's splits: the input projection in blocks of rows, the recurrence's row blocks (many rows) and
 * teams sharing each step's panels (few rows, wide steps), and the layer wavefront (small steps, K >= 2), for the
 * RNN (tanh, relu), the LSTM (with and without proj_size) and the GRU, with lengths and both directions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DirectionWeights, Kernel, Mode } from '../src/kernels/kernel.js';
import { createWasmThreadsKernel, type WasmPool } from '../src/kernels/wasm/pool.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { Generator } from '../src/random.js';
import { type StackDims, type StackTape, stackForward } from '../src/rnn/stack.js';
import { assertSameBits } from './helpers/bits.js';
import { uniform } from './helpers/random.js';

interface Case {
  name: string;
  dims: StackDims;
  mode: Mode;
  lengths: boolean;
  /** the split it is there for */
  takes: 'row blocks' | 'teams' | 'wavefront' | 'one thread';
}

const CASES: Case[] = [
  {
    name: 'C',
    dims: { L: 6, N: 32, I: 128, H: 256, K: 2, D: 1 },
    mode: 'RNN_TANH',
    lengths: false,
    takes: 'row blocks',
  },
  {
    name: 'few rows',
    dims: { L: 5, N: 4, I: 20, H: 400, K: 1, D: 2 },
    mode: 'RNN_RELU',
    lengths: true,
    takes: 'teams',
  },
  { name: 'E', dims: { L: 70, N: 8, I: 64, H: 128, K: 2, D: 1 }, mode: 'RNN_TANH', lengths: true, takes: 'wavefront' },
  { name: 'B', dims: { L: 40, N: 1, I: 32, H: 64, K: 3, D: 1 }, mode: 'RNN_TANH', lengths: false, takes: 'wavefront' },
  {
    name: 'LSTM C',
    dims: { L: 4, N: 32, I: 128, H: 256, K: 2, D: 2 },
    mode: 'LSTM',
    lengths: true,
    takes: 'row blocks',
  },
  {
    name: 'LSTM few rows',
    dims: { L: 3, N: 6, I: 16, H: 512, K: 1, D: 1 },
    mode: 'LSTM',
    lengths: false,
    takes: 'teams',
  },
  {
    name: 'LSTM proj',
    dims: { L: 4, N: 48, I: 24, H: 160, K: 2, D: 1, P: 40 },
    mode: 'LSTM',
    lengths: true,
    takes: 'row blocks',
  },
  { name: 'LSTM E', dims: { L: 50, N: 8, I: 64, H: 128, K: 2, D: 1 }, mode: 'LSTM', lengths: true, takes: 'wavefront' },
  {
    name: 'GRU C',
    dims: { L: 4, N: 32, I: 128, H: 256, K: 2, D: 1 },
    mode: 'GRU',
    lengths: false,
    takes: 'row blocks',
  },
  { name: 'GRU E', dims: { L: 50, N: 8, I: 64, H: 128, K: 3, D: 1 }, mode: 'GRU', lengths: false, takes: 'wavefront' },
  { name: 'GRU B', dims: { L: 30, N: 1, I: 32, H: 64, K: 2, D: 2 }, mode: 'GRU', lengths: true, takes: 'one thread' },
];

const gates = (mode: Mode) => (mode === 'LSTM' ? 4 : mode === 'GRU' ? 3 : 1);

function weightsFor(g: Generator, c: Case): DirectionWeights[][] {
  const { I, H, K, D } = c.dims;
  const P = c.dims.P ?? H;
  const GH = gates(c.mode) * H;
  const s = 1 / Math.sqrt(H);
  return Array.from({ length: K }, (_, k) =>
    Array.from({ length: D }, () => ({
      wih: uniform(g, GH * (k === 0 ? I : D * P), s),
      whh: uniform(g, GH * P, s),
      bih: uniform(g, GH, s),
      bhh: uniform(g, GH, s),
      whr: P < H ? uniform(g, P * H, s) : null,
    })),
  );
}

/** The stack's output, final states and (LSTM, GRU) tapes, run by `kernel`. */
function run(kernel: Kernel, c: Case, seed: number) {
  const g = new Generator(seed);
  const { L, N, I, H, K, D } = c.dims;
  const P = c.dims.P ?? H;
  const gated = c.mode === 'LSTM' || c.mode === 'GRU';
  const lstm = c.mode === 'LSTM';
  const x = uniform(g, L * N * I, 1);
  const h0 = uniform(g, K * D * N * P, 1);
  const c0 = lstm ? uniform(g, K * D * N * H, 1) : null;
  const weights = weightsFor(g, c);
  const lengths = c.lengths
    ? Int32Array.from({ length: N }, (_, n) => (n % 3 === 1 ? Math.max(1, L - 2 * n) : L))
    : null;
  const output = new Float32Array(L * N * D * P);
  const hN = new Float32Array(K * D * N * P);
  const cN = lstm ? new Float32Array(K * D * N * H) : null;
  const tape: StackTape | null = gated ? { layerOutputs: [], masks: [], cells: [] } : null;
  // biome-ignore format: stackForward's argument order
  stackForward(kernel, output, hN, cN, x, h0, c0, weights, c.dims, c.mode, lengths, null, tape);
  const cells = (tape?.cells ?? []).filter((t) => t !== null) as Float32Array[];
  return { output, hN, cN, cells };
}

describe('the threaded WebAssembly kernel writes the floats of the one-thread WebAssembly kernel', {
  skip: wasmExports ? false : 'no WebAssembly SIMD',
}, () => {
  const single = createWasmKernel(wasmExports as NonNullable<typeof wasmExports>, { exactBelow: 0 });
  for (const threads of [1, 2, 3, 4]) {
    describe(`at ${threads} thread${threads > 1 ? 's' : ''}`, () => {
      let kernel: Kernel;
      let pool: WasmPool;
      before(async () => {
        ({ kernel, pool } = createWasmThreadsKernel(threads, { exactBelow: 0 }));
        await pool.ready();
      });
      after(() => pool.close());

      test('every worker asked for is running', () => {
        assert.equal(pool.running(), threads);
      });

      for (const [i, c] of CASES.entries()) {
        const { L, N, I, H, K, D } = c.dims;
        const P = c.dims.P ? `, P ${c.dims.P}` : '';
        test(`${c.name} (${c.mode}, L ${L}, N ${N}, I ${I}, H ${H}${P}, K ${K}, D ${D}${c.lengths ? ', lengths' : ''}: ${c.takes})`, () => {
          const got = run(kernel, c, 100 + i);
          const want = run(single, c, 100 + i);
          assertSameBits('output', got.output, want.output, 'on one thread');
          assertSameBits('h_n', got.hN, want.hN, 'on one thread');
          assertSameBits('c_n', got.cN, want.cN, 'on one thread');
          assert.equal(got.cells.length, want.cells.length);
          got.cells.forEach((t, k) => assertSameBits(`tape ${k}`, t, want.cells[k] ?? null, 'on one thread'));
        });
      }
    });
  }
});
