/**
 * The streaming benchmark (`npm run bench -- --stream`): one call per time step (or per L steps), N rows, the
 * state carried between calls, as applications run a recurrent model on audio frames, sensor readings or tokens.
 *
 *   npm run bench -- --stream [--steps 400] [--only RNN-16-64-2,...]
 *
 * For each case PyTorch (bench/stream_torch.py) makes the weights and inputs and times itself; onnxruntime-node
 * runs the graph it exports (x, h0, c0 in; y, h_n, c_n out), and stacked-rnn its `stream().step` (L = 1) or a
 * `forwardStates` per call (L = 10; and the `forward` column: forwardStates per step, the plain API). Every
 * contender at 1 and 2 threads, in its own process; the table gives each one's better, the best peer over ours
 * (above 1: we are faster) and our output's error against PyTorch's last output. Then greedy generation of 200
 * characters by a character model (Embedding(65, 64) -> LSTM(64, 256, 2) -> Linear(256, 65)) loaded from its .pt,
 * with whether our text equals PyTorch's. Writes the table and raw numbers to bench/results/stream-*.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PYTHON = '/usr/bin/python3';

interface Case {
  cell: 'rnn' | 'lstm' | 'gru';
  I: number;
  H: number;
  K: number;
  N: number;
  L: number;
}

/** Issue 21's table (N 1, one step a call), then batches of 4 and 16 at L 1 and 10. */
const CASES: Case[] = [
  ...(['rnn', 'lstm', 'gru'] as const).flatMap((cell) =>
    [
      [16, 64, 2],
      [64, 256, 2],
      [128, 512, 3],
    ].map(([I, H, K]) => ({ cell, I: I as number, H: H as number, K: K as number, N: 1, L: 1 })),
  ),
  ...(['rnn', 'lstm', 'gru'] as const).flatMap((cell) =>
    [
      [4, 1],
      [16, 1],
      [4, 10],
      [16, 10],
    ].map(([N, L]) => ({ cell, I: 64, H: 256, K: 2, N: N as number, L: L as number })),
  ),
];

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

function json(cmd: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(line) as Record<string, unknown>;
}

const name = (c: Case) => `${c.cell.toUpperCase()}-${c.I}-${c.H}-${c.K}${c.N > 1 || c.L > 1 ? ` N${c.N} L${c.L}` : ''}`;
const only = flag('--only', '');
const steps = Number(flag('--steps', '400'));
const hasOrt = (() => {
  try {
    createRequire(join(ROOT, 'bench', 'package.json')).resolve('onnxruntime-node');
    return true;
  } catch {
    return false;
  }
})();

interface Row {
  case: string;
  us: Record<string, number>;
  error: number;
}

const rows: Row[] = [];
for (const c of CASES.filter((c) => !only || only.split(',').includes(name(c).split(' ')[0] as string))) {
  const dir = mkdtempSync(join(tmpdir(), 'stream-bench-'));
  const args = [c.cell, c.I, c.H, c.K, c.N, c.L, steps].map(String);
  const us: Record<string, number> = {};
  let want: number[] = [];
  let error = 0;
  for (const threads of ['1', '2']) {
    const torch = json(PYTHON, ['bench/stream_torch.py', dir, ...args, threads]);
    us.pytorch = Math.min(us.pytorch ?? Infinity, torch.us_per_call as number);
    want = torch.last as number[];
    const who = ['stream', ...(c.L === 1 ? ['forward'] : []), ...(hasOrt ? ['onnxruntime'] : [])];
    for (const w of who) {
      const r = json(process.execPath, ['--import', 'tsx', 'bench/stream-contender.ts', dir, w, ...args, threads]);
      us[w] = Math.min(us[w] ?? Infinity, r.us_per_call as number);
      if (w === 'stream') {
        const got = r.last as number[];
        const scale = Math.max(1, ...want.map(Math.abs));
        error = Math.max(error, ...got.map((g, i) => Math.abs(g - (want[i] as number)) / scale));
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  rows.push({ case: name(c), us, error });
  const peer = Math.min(us.pytorch ?? Infinity, us.onnxruntime ?? Infinity);
  console.log(
    `${name(c).padEnd(22)} PyTorch ${us.pytorch?.toFixed(1)} us  onnxruntime ${us.onnxruntime?.toFixed(1) ?? '-'} us  ` +
      `ours ${us.stream?.toFixed(1)} us${us.forward ? ` (forward() ${us.forward.toFixed(1)})` : ''}  best peer / ours ${(peer / (us.stream as number)).toFixed(2)}  error ${error.toExponential(1)}`,
  );
}

// greedy generation from a character model saved with torch.save
const lm = { V: 65, E: 64, H: 256, K: 2, length: 200 };
const dir = mkdtempSync(join(tmpdir(), 'stream-lm-'));
const lmArgs = [lm.V, lm.E, lm.H, lm.K, lm.length].map(String);
const generation: Record<string, number> = {};
let same = true;
for (const threads of ['1', '2']) {
  const torch = json(PYTHON, ['bench/stream_torch.py', dir, 'lm', ...lmArgs, threads]);
  const ours = json(process.execPath, ['--import', 'tsx', 'bench/stream-contender.ts', dir, 'lm', ...lmArgs, threads]);
  generation[`pytorch_${threads}`] = torch.us_per_char as number;
  generation[`ours_${threads}`] = ours.us_per_char as number;
  same &&= JSON.stringify(torch.ids) === JSON.stringify(ours.ids);
}
rmSync(dir, { recursive: true, force: true });
const ms = (us: number | undefined) => (((us ?? 0) * lm.length) / 1000).toFixed(1);
console.log(
  `generation, 200 characters: PyTorch ${ms(generation.pytorch_1)} ms (1 thread), ${ms(generation.pytorch_2)} ms (2); ` +
    `ours ${ms(generation.ours_1)} ms (1), ${ms(generation.ours_2)} ms (2); PyTorch 1 thread / ours best ` +
    `${((generation.pytorch_1 as number) / Math.min(generation.ours_1 as number, generation.ours_2 as number)).toFixed(2)}x; ` +
    `the same text as PyTorch: ${same}`,
);
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const file = join(ROOT, 'bench', 'results', `stream-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ steps, rows, generation, sameText: same }, null, 2)}\n`);
console.log(`wrote ${file}`);
