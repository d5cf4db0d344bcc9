/**
 * The float32 accuracy sweep (`npm run accuracy`): our float32 forward and PyTorch's float32 forward, each against
 * PyTorch float64 on the same float32 numbers, over the committed fixtures' modules and inputs and a seeded draw of
 * random cases (all three cells, proj_size, lengths, both directions, L up to 2048, saturated inputs). The error of
 * each result is the parity tests' measure (max |got - float64| / max(1, max |float64|)) on the output, h_n and c_n
 * together (their worst). Prints one table per cell and kernel class (the fast kernel's cases: every layer buffer
 * of EXACT_BELOW elements or more; smaller ones go to the float64 reference kernel) and exits 1 when a cell misses
 * issue 26's bar: median ours <= median PyTorch float32, and no case worse than 1.5x PyTorch float32's.
 *
 *   npm run accuracy [-- --cases 240] [--seed 26] [--backend native|wasm] [--addon FILE.node] [--json FILE]
 *
 * --addon runs another build of the native addon instead (say, one built from an earlier commit), to compare.
 *
 * Needs torch in /usr/bin/python3 (or STACKED_RNN_PYTHON); runs scripts/torch_accuracy.py once for all cases.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GRU, LSTM, RNN, type RNNBase, Tensor } from '../src/index.js';
import { EXACT_BELOW } from '../src/kernels/f32.js';
import { getKernel, registerKernel } from '../src/kernels/index.js';
import { createNativeKernel, type NativeAddon } from '../src/kernels/native.js';
import { Generator } from '../src/random.js';

const PYTHON = process.env.STACKED_RNN_PYTHON || '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./torch_accuracy.py', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../test/fixtures/', import.meta.url));

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] as string) : fallback;
};

type CellName = 'rnn_tanh' | 'rnn_relu' | 'lstm' | 'gru';
interface Case {
  cell: CellName;
  I: number;
  H: number;
  K: number;
  P: number;
  bias: boolean;
  bidirectional: boolean;
  L: number;
  N: number;
  lengths: number[] | null;
  /** where it came from: a fixture's file, or the draw's index */
  source: string;
  /** the input's scale: 1 for N(0, 1), larger to saturate the gates */
  scale: number;
  /** the fixture's weights and input (float32), or null: drawn from the case's seed */
  weights?: [string, number[], number[]][];
  x?: number[];
  seed: number;
}

/** The committed fixtures' modules (forward RNN fixtures, LSTM and GRU module fixtures), float32 or not. */
function fixtureCases(): Case[] {
  const cases: Case[] = [];
  const read = (dir: string) =>
    readdirSync(join(FIXTURES, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => [`${dir}/${f}`, JSON.parse(readFileSync(join(FIXTURES, dir, f), 'utf8'))] as const);
  for (const [source, f] of [...read('forward'), ...read('cells')]) {
    if (!f.config || f.kind === 'cell') continue; // init.json (no case), LSTMCell and GRUCell (one step)
    const k = f.config;
    const cell: CellName =
      k.cell === 'LSTM' ? 'lstm' : k.cell === 'GRU' ? 'gru' : k.nonlinearity === 'relu' ? 'rnn_relu' : 'rnn_tanh';
    const sd = f.stateDict as Record<string, { shape: number[]; data: number[] }>;
    // the sweep's input is (L, N, I): an unbatched input is N = 1, a batch-first one is transposed
    const shape = f.input.shape as number[];
    const data = f.input.data as number[];
    let [L, N, I] = shape.length === 2 ? [shape[0], 1, shape[1]] : (shape as [number, number, number]);
    let x = data;
    if (k.batchFirst && shape.length === 3) {
      [N, L] = [L, N];
      x = new Array(data.length);
      for (let t = 0; t < (L as number); t++)
        for (let n = 0; n < (N as number); n++)
          for (let i = 0; i < (I as number); i++)
            x[(t * (N as number) + n) * (I as number) + i] = data[
              (n * (L as number) + t) * (I as number) + i
            ] as number;
    }
    cases.push({
      cell,
      I: I as number,
      H: k.hiddenSize,
      K: k.numLayers,
      P: k.projSize ?? 0,
      bias: k.bias !== false,
      bidirectional: !!k.bidirectional,
      L: L as number,
      N: N as number,
      lengths: Array.isArray(f.lengths) ? f.lengths : null,
      source,
      scale: 1,
      weights: Object.entries(sd).map(([n, t]) => [n, t.shape, t.data]),
      x,
      seed: 0,
    });
  }
  return cases;
}

/** A seeded draw: sizes log-uniform, the total work kept small enough for the 2048-step cases. */
function randomCases(count: number, seed: number): Case[] {
  const g = new Generator(seed);
  const u = () => {
    const a = new Float64Array(1);
    g.uniform(a, 0, 1);
    return a[0] as number;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(u() * xs.length)] as T;
  const cells: CellName[] = ['lstm', 'gru', 'rnn_tanh', 'lstm', 'gru', 'rnn_relu'];
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const cell = cells[i % cells.length] as CellName;
    const H = pick([16, 24, 32, 40, 64, 96, 128, 200, 256]);
    const L = Math.max(1, Math.round(2 ** (u() * 11))); // 1 .. 2048
    const budget = 2 ** 22; // L * N * H per layer
    const N = Math.max(1, Math.min(pick([1, 2, 3, 5, 8, 16, 32]), Math.floor(budget / (L * H))));
    const K = pick([1, 1, 2, 2, 3]);
    const P = cell === 'lstm' && u() < 0.3 ? Math.max(1, Math.floor(H * pick([0.25, 0.5, 0.75]))) : 0;
    const lengths =
      u() < 0.3 && N > 1 ? Array.from({ length: N }, (_, n) => (n === 0 ? L : 1 + Math.floor(u() * L))) : null;
    // a quarter saturated: inputs of scale 8 to 40 drive most gates to 0 or 1, and tanh to +-1
    const scale = u() < 0.25 ? pick([8, 16, 40]) : 1;
    cases.push({
      cell,
      I: pick([8, 16, 32, 64, 128]),
      H,
      K,
      P,
      bias: true,
      bidirectional: u() < 0.4,
      L,
      N,
      lengths,
      source: `random ${i}`,
      scale,
      seed: seed * 1000 + i,
    });
  }
  return cases;
}

function moduleFor(c: Case, backend: string | undefined): RNNBase {
  const options = {
    inputSize: c.I,
    hiddenSize: c.H,
    numLayers: c.K,
    bias: c.bias,
    bidirectional: c.bidirectional,
    seed: c.seed,
    ...(backend === undefined ? {} : { backend }),
  };
  if (c.cell === 'lstm') return new LSTM({ ...options, projSize: c.P });
  if (c.cell === 'gru') return new GRU(options);
  return new RNN({ ...options, nonlinearity: c.cell === 'rnn_relu' ? 'relu' : 'tanh' });
}

function floatsOf(x: ArrayLike<number>): Float32Array {
  return Float32Array.from(x as number[]);
}

/** max|got - want| / max(1, max|want|); NaN or infinity: infinite. */
function flatError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((got[i] as number) - (want[i] as number));
    if (!Number.isFinite(d)) return Number.POSITIVE_INFINITY;
    diff = Math.max(diff, d);
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return diff / scale;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

interface Row {
  c: Case;
  fast: boolean;
  ours: number;
  torch: number;
}

function main() {
  const count = Number(flag('--cases', '240'));
  const seed = Number(flag('--seed', '26'));
  let backend = args.includes('--backend') ? flag('--backend', '') : undefined;
  if (args.includes('--addon')) {
    const addon = createRequire(import.meta.url)(resolve(flag('--addon', ''))) as NativeAddon;
    backend = `native@${flag('--addon', '')}`;
    registerKernel(createNativeKernel(addon, { name: backend }));
  }
  const kernel = getKernel(backend).name;
  const cases = [...fixtureCases(), ...randomCases(count, seed)];
  const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-accuracy-'));
  try {
    // ours first (float32), writing the weights and input torch will use
    const ours: Float32Array[][] = [];
    cases.forEach((c, i) => {
      const d = join(dir, String(i));
      mkdirSync(d);
      const m = moduleFor(c, backend);
      if (c.weights) {
        m.loadStateDict(new Map(c.weights.map(([n, shape, data]) => [n, new Tensor(floatsOf(data), shape)])));
      }
      const sd = Object.entries(m.stateDict());
      writeFileSync(join(d, 'weights.json'), JSON.stringify(sd.map(([n, t]) => [n, t.shape])));
      writeFileSync(join(d, 'weights.bin'), Buffer.concat(sd.map(([, t]) => Buffer.from(floatsOf(t.data).buffer))));
      let x: Float32Array;
      if (c.x) {
        x = floatsOf(c.x);
      } else {
        x = new Float32Array(c.L * c.N * c.I);
        new Generator(c.seed + 7).normal(x, 0, c.scale);
      }
      writeFileSync(join(d, 'x.bin'), Buffer.from(x.buffer));
      const [out, states] = m.forwardStates(
        new Tensor(x, [c.L, c.N, c.I]),
        null,
        c.lengths ? { lengths: c.lengths } : {},
      );
      ours.push([out, ...states].map((t) => floatsOf(t.data)));
    });
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases.map(({ weights: _w, x: _x, ...c }) => c)));
    const r = spawnSync(PYTHON, [SCRIPT, dir], { encoding: 'utf8', timeout: 3_600_000, maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${SCRIPT} failed (status ${r.status}):\n${r.stderr}`);
    const doubles = (i: number, name: string) => {
      const b = readFileSync(join(dir, String(i), name));
      return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
    };
    const rows: Row[] = cases.map((c, i) => {
      const names = c.cell === 'lstm' ? ['out', 'hn', 'cn'] : ['out', 'hn'];
      let e = 0;
      let t = 0;
      names.forEach((n, k) => {
        const want = doubles(i, `${n}64.bin`);
        e = Math.max(e, flatError(ours[i]?.[k] as Float32Array, want));
        t = Math.max(t, flatError(doubles(i, `${n}32.bin`), want));
      });
      const G = c.cell === 'lstm' ? 4 : c.cell === 'gru' ? 3 : 1;
      return { c, fast: c.L * c.N * G * c.H >= EXACT_BELOW, ours: e, torch: t };
    });
    if (args.includes('--json'))
      writeFileSync(
        flag('--json', ''),
        JSON.stringify(rows.map(({ c: { weights: _w, x: _x, ...c }, ...r }) => ({ ...c, ...r }))),
      );
    report(rows, kernel, count, seed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(rows: Row[], kernel: string, count: number, seed: number) {
  const e = (v: number) => v.toExponential(1);
  console.log(
    `Float32 forward error against PyTorch float64 (max |got - f64| / max(1, max |f64|) over output, h_n, c_n), ` +
      `kernel '${kernel}', ${rows.length} cases (${rows.length - count} fixtures, ${count} drawn, seed ${seed}):\n`,
  );
  console.log(
    '| cell | cases | median ours | median PyTorch f32 | worst ours | worst PyTorch f32 | median ours/PyTorch | worst ours/PyTorch | bar |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  let failed = false;
  for (const cell of ['lstm', 'gru', 'rnn_tanh', 'rnn_relu'] as const) {
    for (const fast of [true, false]) {
      const rs = rows.filter((r) => r.c.cell === cell && r.fast === fast);
      if (rs.length === 0) continue;
      const ratios = rs.map((r) => (r.torch > 0 ? r.ours / r.torch : r.ours > 0 ? Number.POSITIVE_INFINITY : 1));
      const [mo, mt] = [median(rs.map((r) => r.ours)), median(rs.map((r) => r.torch))];
      const worstRatio = Math.max(...ratios);
      const ok = mo <= mt && worstRatio <= 1.5;
      failed ||= !ok;
      const where = fast ? 'fast kernel' : 'reference kernel';
      console.log(
        `| ${cell} (${where}) | ${rs.length} | ${e(mo)} | ${e(mt)} | ${e(Math.max(...rs.map((r) => r.ours)))} | ` +
          `${e(Math.max(...rs.map((r) => r.torch)))} | ${median(ratios).toFixed(2)} | ${worstRatio.toFixed(2)} | ${ok ? 'met' : 'MISSED'} |`,
      );
    }
  }
  const worst = [...rows]
    .sort((a, b) => b.ours / Math.max(b.torch, 1e-30) - a.ours / Math.max(a.torch, 1e-30))
    .slice(0, 5);
  console.log('\nWorst cases (ours / PyTorch float32):');
  for (const r of worst) {
    const c = r.c;
    console.log(
      `  ${(r.ours / r.torch).toFixed(2)}x  ${c.source}: ${c.cell} I ${c.I} H ${c.H} K ${c.K}${c.P ? ` P ${c.P}` : ''}` +
        `${c.bidirectional ? ' bidirectional' : ''} L ${c.L} N ${c.N}${c.lengths ? ' lengths' : ''} scale ${c.scale}: ` +
        `${e(r.ours)} against ${e(r.torch)}`,
    );
  }
  if (failed) {
    console.log('\nA cell missed the bar (median ours <= median PyTorch float32, worst case <= 1.5x).');
    process.exitCode = 1;
  }
}

main();
