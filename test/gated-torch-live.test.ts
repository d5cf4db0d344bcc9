/**
 * The fused LSTM and GRU against real PyTorch: no less accurate than PyTorch's own float32.
 *
 * scripts/torch_gated.py makes each module with torch's initialisation, an input and an output gradient, and runs
 * it in float32 and in float64 on the same numbers (forward, and the backward of sum(output * g)). Our float32
 * module loads the same state dict and runs on the default kernel, the fused native one (the WebAssembly one where
 * the addon is missing; STACKED_RNN_BACKEND=wasm runs it there too), checked to be doing the work: no call may
 * reach the reference kernel. Each result is measured against PyTorch float64 per tensor, scaled as the benchmark
 * scales it (by max(1, max |float64|)), and must be no worse than PyTorch float32's:
 *   - the output's max error (the benchmark's error column), for the unprojected cells;
 *   - the rms error pooled over the forward's results (output, h_n, c_n), and over every gradient (input and
 *     parameters).
 * Pooled, because a single tensor's error can be a coin flip between two equally careful computations: a projected
 * LSTM's output and the recurrent weights' gradients come straight out of float32 products (sums over all steps
 * and rows) on both sides, and measured over 10 seeds they are level with PyTorch's (rms ratios 0.92 to 1.10),
 * while what our float64 epilogues compute is well below it (0.4 to 0.8). Shapes big enough for the fast kernels
 * (every layer buffer of 4096 elements or more): the LSTM with and without proj_size, the GRU, N = 1 (the layer
 * pipeline), two directions, lengths.
 *
 * Needs torch in /usr/bin/python3 (skips with the reason otherwise, fails instead with STACKED_RNN_REQUIRE_TORCH=1).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getKernel } from '../src/kernels/index.js';
import type { RNNBase } from '../src/rnn/base.js';
import { GRU } from '../src/rnn/gru.js';
import { LSTM } from '../src/rnn/lstm.js';
import { Tensor } from '../src/tensor.js';
import { flatError } from './helpers/compare.js';
import { referenceCalls } from './helpers/kernels.js';
import { assertTorch, runTorchCases, torchSkip } from './helpers/torch.js';

const SCRIPT = fileURLToPath(new URL('../scripts/torch_gated.py', import.meta.url));

interface Case {
  cell: 'lstm' | 'gru';
  I: number;
  H: number;
  K: number;
  P: number;
  bidirectional: boolean;
  L: number;
  N: number;
  lengths: number[] | null;
  seed: number;
}

const CASES: Case[] = [
  { cell: 'lstm', I: 16, H: 48, K: 2, P: 0, bidirectional: false, L: 30, N: 8, lengths: null, seed: 1 },
  { cell: 'lstm', I: 12, H: 48, K: 2, P: 20, bidirectional: true, L: 25, N: 10, lengths: null, seed: 2 },
  { cell: 'lstm', I: 32, H: 64, K: 3, P: 0, bidirectional: false, L: 120, N: 1, lengths: null, seed: 3 },
  {
    cell: 'lstm',
    I: 8,
    H: 40,
    K: 2,
    P: 0,
    bidirectional: true,
    L: 20,
    N: 7,
    lengths: [20, 3, 17, 9, 20, 1, 12],
    seed: 4,
  },
  { cell: 'lstm', I: 64, H: 128, K: 1, P: 0, bidirectional: false, L: 60, N: 16, lengths: null, seed: 5 },
  { cell: 'gru', I: 16, H: 64, K: 2, P: 0, bidirectional: true, L: 40, N: 4, lengths: null, seed: 6 },
  { cell: 'gru', I: 32, H: 64, K: 2, P: 0, bidirectional: false, L: 150, N: 1, lengths: null, seed: 7 },
  {
    cell: 'gru',
    I: 10,
    H: 36,
    K: 2,
    P: 0,
    bidirectional: false,
    L: 24,
    N: 9,
    lengths: [24, 5, 13, 24, 2, 8, 19, 1, 22],
    seed: 8,
  },
  { cell: 'gru', I: 64, H: 128, K: 1, P: 0, bidirectional: false, L: 60, N: 16, lengths: null, seed: 9 },
];

function describeCase(c: Case): string {
  const proj = c.P ? `, proj_size ${c.P}` : '';
  const dirs = c.bidirectional ? ', bidirectional' : '';
  const lengths = c.lengths ? ', lengths' : '';
  return `${c.cell.toUpperCase()}(${c.I}, ${c.H}, num_layers=${c.K}${proj}${dirs}) on L ${c.L}, N ${c.N}${lengths}`;
}

function rmsError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let s = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    s += ((got[i] as number) - (want[i] as number)) ** 2;
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return Math.sqrt(s / want.length) / scale;
}

describe('the fused LSTM and GRU are no less accurate than PyTorch float32', { skip: torchSkip() }, () => {
  let dir = '';

  before(() => {
    assertTorch();
    dir = runTorchCases(SCRIPT, 'stacked-rnn-gated-', CASES);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const bytes = (i: number, name: string) => {
    const b = readFileSync(join(dir, String(i), name));
    return b;
  };
  const floats = (i: number, name: string) => {
    const b = bytes(i, name);
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
  };
  const doubles = (i: number, name: string) => {
    const b = bytes(i, name);
    return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8).slice();
  };

  CASES.forEach((c, i) => {
    test(`${describeCase(c)}: the output, states and gradients on the ${getKernel().name} kernel`, (t) => {
      const names = JSON.parse(readFileSync(join(dir, String(i), 'weights.json'), 'utf8')) as [string, number[]][];
      const all = floats(i, 'weights.bin');
      let at = 0;
      const sd = new Map<string, Tensor>();
      for (const [name, shape] of names) {
        const n = shape.reduce((a, b) => a * b, 1);
        sd.set(name, new Tensor(all.slice(at, at + n), shape));
        at += n;
      }
      const options = { inputSize: c.I, hiddenSize: c.H, numLayers: c.K, bidirectional: c.bidirectional };
      const module: RNNBase =
        c.cell === 'lstm' ? new LSTM({ ...options, projSize: c.P, seed: 0 }) : new GRU({ ...options, seed: 0 });
      module.loadStateDict(sd);
      const x = new Tensor(floats(i, 'x.bin'), [c.L, c.N, c.I]);
      const g = new Tensor(floats(i, 'g.bin'), [c.L, c.N, (c.bidirectional ? 2 : 1) * (c.P || c.H)]);
      const forwardOptions = { requiresGrad: true, ...(c.lengths ? { lengths: c.lengths } : {}) };
      let out: Tensor[] = [];
      let grads: Float32Array[] = [];
      const handed = referenceCalls(() => {
        const [output, states] = module.forwardStates(x, null, forwardOptions);
        out = [output, ...states];
        const { input } = module.backwardStates(g);
        grads = [input as Tensor, ...names.map(([name]) => module.grad(name))].map((v) => v.data as Float32Array);
      });
      assert.equal(handed, 0, 'calls that reached the reference kernel');
      // ours and PyTorch float32, each against PyTorch float64
      const results: [string, ArrayLike<number>, Float64Array, Float64Array][] = [
        ['output', out[0]?.data as Float32Array, doubles(i, 'out32.bin'), doubles(i, 'out64.bin')],
        ['h_n', out[1]?.data as Float32Array, doubles(i, 'hn32.bin'), doubles(i, 'hn64.bin')],
      ];
      if (c.cell === 'lstm')
        results.push(['c_n', out[2]?.data as Float32Array, doubles(i, 'cn32.bin'), doubles(i, 'cn64.bin')]);
      const forwardCount = results.length;
      const [g32, g64] = [doubles(i, 'grads32.bin'), doubles(i, 'grads64.bin')];
      let offset = 0;
      ['input', ...names.map(([name]) => name)].forEach((name, k) => {
        const ours = grads[k] as Float32Array;
        const end = offset + ours.length;
        results.push([`d ${name}`, ours, g32.subarray(offset, end), g64.subarray(offset, end)]);
        offset = end;
      });
      assert.equal(offset, g64.length, 'every gradient compared');
      const rows = results.map(([name, ours, f32, f64]) => {
        const [e, torch32] = [flatError(ours, f64), flatError(f32, f64)];
        return `${name} ${e.toExponential(1)} / ${torch32.toExponential(1)} (rms ${(rmsError(ours, f64) / rmsError(f32, f64)).toFixed(2)}x)`;
      });
      t.diagnostic(`max error ours / PyTorch float32 (rms ratio):\n  ${rows.join('\n  ')}`);
      // the benchmark's error column: the output (unprojected: a projected output is a float32 product on both sides)
      const [, output, out32, out64] = results[0] as (typeof results)[0];
      if (!c.P) {
        const [e, torch32] = [flatError(output, out64), flatError(out32, out64)];
        assert.ok(e <= torch32, `output: max error ${e} against PyTorch float32's ${torch32}`);
      }
      // every value of the forward's results, and of the gradients, each tensor scaled as above
      for (const [what, part] of [
        ['the forward', results.slice(0, forwardCount)],
        ['the gradients', results.slice(forwardCount)],
      ] as const) {
        const pooled = (pick: (r: (typeof results)[0]) => ArrayLike<number>) =>
          Math.sqrt(part.reduce((s, r) => s + rmsError(pick(r), r[3]) ** 2, 0) / part.length);
        const [e, torch32] = [pooled((r) => r[1]), pooled((r) => r[2])];
        assert.ok(e <= torch32, `${what}: pooled rms error ${e} against PyTorch float32's ${torch32}`);
      }
    });
  });
});
