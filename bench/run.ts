/**
 * The benchmark: stacked-rnn against PyTorch, onnxruntime-node and tfjs-wasm (each when installed) on the issue's
 * configurations, in one run, on the same weights and input, each contender in its own process.
 *
 *   npm run bench -- --browser [--configs BCE] [--cells rnn,lstm,gru]    in Chromium, against onnxruntime-web
 *   npm run bench -- --stream [--steps 400] [--only LSTM-64-256-2]     one step per call, and text generation
 *   npm run bench -- --train-lm [--seconds 5]    a character model's whole training step, phase by phase (train-lm.ts)
 *   npm run bench -- --optim [--reps 30]    Adam and clipGradNorm over 1 M parameters on each kernel (optim.ts)
 *   npm run bench [-- --cell rnn|lstm|gru] [--configs ABCDE] [--train CD] [--sweep] [--scaling] [--kernels native,wasm] [--threads 1,2,4]
 *   npm run bench -- --dtype float64 [--cell rnn|lstm|gru] [--configs CD] [--train CD]    the model in float64
 *   node --import tsx bench/run.ts ...    the same without installing the peers first
 *
 * --cell picks the network: nn.RNN (tanh, the default), nn.LSTM or nn.GRU, the same cell on every contender.
 * --train names the configurations whose training step is timed too (default C and D; X for none).
 * --threads runs every configuration at each thread count given, on both sides: stacked-rnn's `setThreads`,
 * PyTorch's torch.set_num_threads and onnxruntime's intra-op threads (without it: stacked-rnn's default, every
 * logical CPU; PyTorch 1 thread, its best setting on 2 cores; onnxruntime the faster of 1 and 2). --kernels takes
 * `native@PATH` too: the native kernel over another build of the addon (bench/contender.ts), so that two builds
 * are compared in one run.
 *
 * PyTorch (/usr/bin/python3, bench/torch_peer.py) makes the weights and input and times itself in its best
 * setting. The JavaScript peers are bench/package.json's dependencies, kept out of the root install:
 * `npm run bench` installs them into bench/node_modules on first use (bench/install.mjs), and each runs when it
 * resolves from there: onnxruntime-node (the graph PyTorch exports: ONNX RNN, LSTM or GRU ops), and tfjs
 * (@tensorflow/tfjs with @tensorflow/tfjs-backend-wasm, bench/tfjs-peer.ts; the RNN only). `npm run lint --prefix bench` type-checks this directory against them. Prints one table of
 * median times, ratios (PyTorch time / ours: above 1 means we are faster), output error against PyTorch float64
 * and peak memory, and writes it with the raw numbers to bench/results/. With --scaling, also times a one-layer
 * network around configuration C while L, N or H doubles, and draws docs/performance-scaling.svg.
 *
 * --sweep times the forward at every size of bench/sweep.ts (issue 17: H from 64 to 2048, a wide input, a long
 * sequence, a large batch, a deep stack; the LSTM and GRU at H 1024 and 2048) against PyTorch at its best of 1 and
 * 2 threads, with each of --kernels' GFLOP/s; without --configs it runs only the sweep. --sizes H2048,LSTM-H1024
 * runs only the sizes named.
 *
 * --dtype float64 times the configurations (and --train's training steps) with the model in float64: stacked-rnn's
 * module made with `dtype: 'float64'` on PyTorch's weights and input widened exactly, at its default threads, with
 * --kernels' first kernel only unless --kernels is given; PyTorch's `.double()` at the faster of 1 and 2 threads
 * (torch.set_num_threads), for the forward and the training step each. The training step is then forward +
 * backward of output.sum() + an Adam step (lr 1e-3) on both sides. Error: our float64 output against PyTorch
 * float64's. onnxruntime and tfjs are left out (the graph exported here and tfjs's kernels are float32). A call
 * slower than the 3 s time budget is timed once; our training step is skipped when the forward took over 30 s
 * (bench/contender.ts). Writes bench/results/latest-float64.md (latest-float64-lstm.md, -gru.md); the float32
 * run is unchanged.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { handoffNs } from './handoff.js';
import { type Series, scalingSvg } from './plot.js';
import { SWEEP, type SweepRow, sweepFlops, sweepTable } from './sweep.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PYTHON = '/usr/bin/python3';

/** The issue's configurations: sequence L, batch N, input I, hidden H, layers K (bias, one direction). */
const CONFIGS: Record<string, { L: number; N: number; I: number; H: number; K: number; title: string }> = {
  A: { L: 3, N: 3, I: 2, H: 3, K: 2, title: 'seed' },
  B: { L: 100, N: 1, I: 32, H: 64, K: 2, title: 'online' },
  C: { L: 256, N: 32, I: 128, H: 256, K: 3, title: 'medium' },
  D: { L: 128, N: 128, I: 512, H: 512, K: 4, title: 'large' },
  E: { L: 2048, N: 8, I: 64, H: 128, K: 2, title: 'long' },
};

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  // the usage is this file's opening comment
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const comment = source.slice(source.indexOf('/**') + 3, source.indexOf('*/'));
  console.log(
    comment
      .split('\n')
      .map((line) => line.replace(/^ \* ?/, ''))
      .join('\n')
      .trim(),
  );
  process.exit(0);
}

if (process.argv.includes('--train-lm')) {
  await import('./train-lm.js'); // the character model's whole training step against PyTorch, phase by phase
  process.exit(0);
}

if (process.argv.includes('--optim')) {
  await import('./optim.js'); // Adam and clipGradNorm on each kernel, and the WebAssembly path's copies alone
  process.exit(0);
}

if (process.argv.includes('--browser')) {
  await import('./browser.js'); // the browser benchmark: its own configurations and table (--stream: per step)
  process.exit(0);
}

if (process.argv.includes('--stream')) {
  await import('./stream.js'); // the streaming benchmark: one step per call, and text generation
  process.exit(0);
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const cell = flag('--cell', 'rnn');
const dtype = flag('--dtype', 'float32');
if (dtype !== 'float32' && dtype !== 'float64') throw new Error(`unknown dtype '${dtype}': choose float32 or float64`);
const float64 = dtype === 'float64';
if (!['rnn', 'lstm', 'gru'].includes(cell)) throw new Error(`unknown cell '${cell}': choose rnn, lstm or gru`);
const sizeSweep = process.argv.includes('--sweep');
const configs = flag('--configs', sizeSweep ? '' : 'ABCDE')
  .split('')
  .filter((c) => c !== '');
const trainOn = new Set(flag('--train', 'CD').split(''));
// float64: one kernel unless named (today's float64 runs on the reference kernel, minutes a call on D)
const kernels = flag('--kernels', float64 ? 'native' : 'native,wasm').split(',');
const sweep = process.argv.includes('--scaling');
if (float64 && (sweep || sizeSweep)) throw new Error('--dtype float64 times --configs only, not --sweep or --scaling');
const threadCounts: (number | undefined)[] = flag('--threads', '')
  .split(',')
  .filter((t) => t !== '')
  .map((t) => {
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--threads takes thread counts (integers >= 1), got '${t}'`);
    return n;
  });
if (threadCounts.length === 0) threadCounts.push(undefined);

function json(cmd: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${(r.stderr ?? '').slice(-2000)}`);
  }
  return JSON.parse(line) as Record<string, unknown>;
}

/** Whether a peer resolves from bench/node_modules (bench/package.json), where the contenders load it from. */
function resolves(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** The JavaScript peers run in their own processes by bench/contender.ts (PyTorch always runs: it makes the data). */
type PeerName = 'ort' | 'tfjs';
const PEERS: { key: PeerName; label: string; contender: string }[] = [
  { key: 'ort', label: 'onnxruntime', contender: 'onnxruntime' },
  { key: 'tfjs', label: 'tfjs-wasm', contender: 'tfjs' },
];

interface Row {
  config: string;
  dims: string;
  /** The thread count given with --threads, if any. */
  threads?: number;
  torch: Record<string, unknown>;
  ours: Record<string, Record<string, unknown>>;
  peers: Partial<Record<PeerName, Record<string, unknown>>>;
  /** The core-to-core round trip (bench/handoff.ts) in ns, before and after the configuration's runs. */
  handoffNs?: [number, number];
}

function runConfig(
  name: string,
  dims: { L: number; N: number; I: number; H: number; K: number },
  peers: readonly PeerName[],
  threads?: number,
): Omit<Row, 'config' | 'dims'> {
  const { L, N, I, H, K } = dims;
  const dir = mkdtempSync(join(tmpdir(), `stacked-rnn-bench-${name}-`));
  try {
    const sizes = [L, N, I, H, K].map(String);
    const train = trainOn.has(name);
    const given = [
      ...(threads === undefined ? [] : ['--threads', String(threads)]),
      ...(float64 ? ['--dtype', dtype] : []),
    ];
    const torch = json(PYTHON, [
      'bench/torch_peer.py',
      dir,
      ...sizes,
      '--cell',
      cell,
      ...(train ? ['--train'] : []),
      ...(peers.includes('ort') ? ['--onnx'] : []),
      ...given,
    ]);
    const tsx = ['--import', 'tsx', 'bench/contender.ts', dir];
    const ours: Row['ours'] = {};
    for (const k of kernels)
      ours[k] = json(process.execPath, [
        ...tsx,
        'stacked-rnn',
        k,
        ...sizes,
        '--cell',
        cell,
        ...(train ? ['--train'] : []),
        ...given,
      ]);
    const ran: Row['peers'] = {};
    for (const peer of PEERS) {
      if (peers.includes(peer.key))
        ran[peer.key] = json(process.execPath, [...tsx, peer.contender, '-', ...sizes, '--cell', cell, ...given]);
    }
    return { torch, ours, peers: ran };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const num = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
// whole ms from 10 s up (float64's reference path), where toPrecision would write 2.300e+4
const ms = (v: unknown) =>
  Number.isFinite(num(v))
    ? num(v) < 1
      ? num(v).toPrecision(3)
      : num(v) < 1e4
        ? num(v).toPrecision(4)
        : num(v).toFixed(0)
    : '-';
const ratio = (peer: unknown, us: unknown) =>
  Number.isFinite(num(peer) / num(us)) ? `${(num(peer) / num(us)).toFixed(2)}x` : '-';
const err = (v: unknown) => (Number.isFinite(num(v)) ? num(v).toExponential(1) : '-');
const mb = (v: unknown) => (Number.isFinite(num(v)) ? num(v).toFixed(0) : '-');

/** The float64 table: stacked-rnn's float64 module against PyTorch's .double() (no other peer runs float64). */
function table64(rows: Row[]): string {
  const main = kernels[0] as string;
  const head = [
    'config',
    'L, N, I, H, K',
    `threads ${main} / PyTorch`,
    ...kernels.map((k) => `stacked-rnn ${k} f64 ms`),
    'PyTorch f64 ms',
    `PyTorch / ${main}`,
    `error ${main} vs PyTorch f64`,
    `repeats ${main} / PyTorch`,
    `peak MB ${main} / PyTorch`,
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const us = r.ours[main];
    lines.push(
      `| ${[
        r.config,
        r.dims,
        `${us?.threads ?? '-'} / ${r.torch.threads ?? '-'}`,
        ...kernels.map((k) => ms(r.ours[k]?.forward_ms)),
        ms(r.torch.forward_ms),
        ratio(r.torch.forward_ms, us?.forward_ms),
        err(us?.error),
        `${us?.forward_reps ?? '-'} / ${r.torch.forward_reps ?? '-'}`,
        `${mb(us?.peak_rss_mb)} / ${mb(r.torch.peak_rss_mb)}`,
      ].join(' | ')} |`,
    );
  }
  const trained = rows.filter((r) => r.torch.train_ms !== undefined);
  if (trained.length > 0) {
    lines.push(
      '',
      `| float64 training step (forward + backward of output.sum() + Adam step) | threads ${main} / PyTorch | ${kernels.map((k) => `stacked-rnn ${k} f64 ms`).join(' | ')} | PyTorch f64 ms | PyTorch / ${main} | repeats ${main} / PyTorch |`,
      `|---|---|${kernels.map(() => '---|').join('')}---|---|---|`,
    );
    for (const r of trained) {
      const us = r.ours[main];
      const ourTimes = kernels.map((k) => {
        const skipped = r.ours[k]?.train_skipped;
        return typeof skipped === 'string' ? `not timed (${skipped})` : ms(r.ours[k]?.train_ms);
      });
      lines.push(
        `| ${[
          `${r.config} (${r.dims})`,
          `${us?.threads ?? '-'} / ${r.torch.train_threads ?? '-'}`,
          ...ourTimes,
          ms(r.torch.train_ms),
          ratio(r.torch.train_ms, us?.train_ms),
          `${us?.train_reps ?? '-'} / ${r.torch.train_reps ?? '-'}`,
        ].join(' | ')} |`,
      );
    }
  }
  return lines.join('\n');
}

function table(rows: Row[], peers: readonly PeerName[]): string {
  const main = kernels[0] as string;
  const shown = PEERS.filter((p) => peers.includes(p.key));
  const others = (r: Row, field: string) => [r.torch[field], ...shown.map((p) => r.peers[p.key]?.[field])];
  const head = [
    'config',
    'L, N, I, H, K',
    `threads ${main} / PyTorch`,
    ...kernels.map((k) => `stacked-rnn ${k} ms`),
    'PyTorch ms',
    ...shown.map((p) => `${p.label} ms`),
    ...['PyTorch', ...shown.map((p) => p.label)].map((label) => `${label} / ${main}`),
    `error ${main} / ${['PyTorch f32', ...shown.map((p) => p.label)].join(' / ')}`,
    `peak MB ${main} / ${['PyTorch', ...shown.map((p) => p.label)].join(' / ')}`,
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const us = r.ours[main]?.forward_ms;
    lines.push(
      `| ${[
        r.config,
        r.dims,
        `${r.ours[main]?.threads ?? '-'} / ${r.torch.threads ?? '-'}`,
        ...kernels.map((k) => ms(r.ours[k]?.forward_ms)),
        ...others(r, 'forward_ms').map(ms),
        ...others(r, 'forward_ms').map((t) => ratio(t, us)),
        [r.ours[main]?.error, ...others(r, 'error')].map(err).join(' / '),
        [r.ours[main]?.peak_rss_mb, ...others(r, 'peak_rss_mb')].map(mb).join(' / '),
      ].join(' | ')} |`,
    );
  }
  const trained = rows.filter((r) => r.torch.train_ms !== undefined);
  if (trained.length > 0) {
    lines.push(
      '',
      `| training step (forward + backward of output.sum()) | threads ${main} / PyTorch | ${kernels.map((k) => `stacked-rnn ${k} ms`).join(' | ')} | PyTorch ms | PyTorch / ${main} |`,
    );
    lines.push(`|---|---|${kernels.map(() => '---|').join('')}---|---|`);
    for (const r of trained) {
      const t = r.ours[main]?.train_ms;
      const threads = `${r.ours[main]?.threads ?? '-'} / ${r.torch.threads ?? '-'}`;
      const ourTimes = kernels.map((k) => ms(r.ours[k]?.train_ms)).join(' | ');
      lines.push(
        `| ${r.config} (${r.dims}) | ${threads} | ${ourTimes} | ${ms(r.torch.train_ms)} | ${ratio(r.torch.train_ms, t)} |`,
      );
    }
  }
  return lines.join('\n');
}

// tfjs runs the RNN only (bench/tfjs-peer.ts); neither peer runs float64 here
const peers: PeerName[] = float64
  ? []
  : [
      ...(resolves('onnxruntime-node') ? ['ort' as const] : []),
      ...(cell === 'rnn' && resolves('@tensorflow/tfjs-backend-wasm') ? ['tfjs' as const] : []),
    ];
const rows: Row[] = [];
for (const name of configs) {
  const c = CONFIGS[name];
  if (!c) throw new Error(`unknown configuration '${name}': choose from ${Object.keys(CONFIGS).join('')}`);
  for (const threads of threadCounts) {
    process.stderr.write(`configuration ${name}${threads === undefined ? '' : `, ${threads} threads`} ...\n`);
    const before = await handoffNs();
    const r = runConfig(name, c, peers, threads);
    const handoff: [number, number] = [before, await handoffNs()];
    const dims = [c.L, c.N, c.I, c.H, c.K].join(', ');
    const config = `${name} ${c.title}${threads === undefined ? '' : ` @${threads}`}`;
    rows.push({ config, dims, ...(threads === undefined ? {} : { threads }), ...r, handoffNs: handoff });
  }
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`;
const handoffs = rows.map((r) => `${r.config.split(' ')[0]} ${r.handoffNs?.map((n) => n.toFixed(0)).join('/')}`);
const cellName = { rnn: 'nn.RNN (tanh)', lstm: 'nn.LSTM', gru: 'nn.GRU' }[cell];
const threads64 =
  threadCounts[0] === undefined
    ? 'at its default threads, PyTorch `.double()` at the faster of 1 and 2 threads, for the forward and the training step each'
    : 'and PyTorch `.double()` at the thread counts given (--threads)';
const note64 = `Float64: the model in float64 on both sides (stacked-rnn \`dtype: 'float64'\` ${threads64}); PyTorch's weights and input, widened exactly. Median ms per call; a call slower than the 3 s budget is timed once (repeats 1). Ratio: PyTorch's time over stacked-rnn's (above 1: stacked-rnn is faster). Error: max |output - PyTorch float64| / max(1, max |PyTorch float64|). onnxruntime and tfjs are left out: the graph exported here and tfjs's kernels are float32 only. Our training step is not timed when the forward took over 30 s.`;
const text64 = `Cell: ${cellName}, float64.\n\n${table64(rows)}\n\n${note64} ${machine}, ${stamp}.`;
const text = float64
  ? text64
  : `Cell: ${cellName}.\n\n${table(rows, peers)}\n\nMedian ms per call; ratios are the peer's time over stacked-rnn's (above 1: stacked-rnn is faster). Error: max |output - PyTorch float64| / max(1, max |PyTorch float64|). Core-to-core round trip before/after each configuration (bench/handoff.ts; the host moves it, and the native layer pipeline with it): ${handoffs.join(', ')} ns. ${machine}, ${stamp}.`;
if (rows.length > 0) console.log(text);
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const results: Record<string, unknown> = { machine, stamp, cell, ...(float64 ? { dtype } : {}), kernels, rows };

if (sweep) {
  const base = { L: 256, N: 32, I: 128, H: 256, K: 1 };
  const series: Series[] = [];
  for (const dim of ['L', 'N', 'H'] as const) {
    const values =
      dim === 'N' ? [8, 16, 32, 64, 128] : dim === 'L' ? [64, 128, 256, 512, 1024] : [64, 128, 256, 512, 1024];
    const ours: [number, number][] = [];
    const torch: [number, number][] = [];
    for (const v of values) {
      process.stderr.write(`sweep ${dim} = ${v} ...\n`);
      const r = runConfig(`${dim}${v}`, { ...base, [dim]: v }, []);
      ours.push([v, num(r.ours[kernels[0] as string]?.forward_ms)]);
      torch.push([v, num(r.torch.forward_ms)]);
    }
    series.push({ dim, ours, torch });
  }
  results.sweep = series;
  const svg = cell === 'rnn' ? 'performance-scaling.svg' : `performance-scaling-${cell}.svg`;
  writeFileSync(join(ROOT, 'docs', svg), scalingSvg(series, base));
  console.log(`\nwrote docs/${svg}`);
}

/** One size of the sweep: PyTorch at 1 and 2 threads (each run makes the same weights and input), then ours. */
function runSweepSize(size: (typeof SWEEP)[number]): SweepRow {
  const dir = mkdtempSync(join(tmpdir(), `stacked-rnn-sweep-${size.name}-`));
  try {
    const sizes = [size.L, size.N, size.I, size.H, size.K].map(String);
    const torch = [1, 2].map((t) =>
      json(PYTHON, ['bench/torch_peer.py', dir, ...sizes, '--cell', size.cell, '--threads', String(t)]),
    );
    const ours = kernels.map((k) =>
      json(process.execPath, [
        '--import',
        'tsx',
        'bench/contender.ts',
        dir,
        'stacked-rnn',
        k,
        ...sizes,
        '--cell',
        size.cell,
      ]),
    );
    return {
      ...size,
      torchMs: torch.map((r) => num(r.forward_ms)) as [number, number],
      oursMs: ours.map((r) => num(r.forward_ms)),
      error: [num(ours[0]?.error), num(torch[0]?.error)],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (sizeSweep) {
  const swept: SweepRow[] = [];
  const named = flag('--sizes', '')
    .split(',')
    .filter((n) => n !== '');
  for (const n of named) {
    if (!SWEEP.some((s) => s.name === n))
      throw new Error(`unknown size '${n}': choose from ${SWEEP.map((s) => s.name)}`);
  }
  for (const size of SWEEP.filter((s) => named.length === 0 || named.includes(s.name))) {
    process.stderr.write(`sweep ${size.name} ...\n`);
    swept.push(runSweepSize(size));
  }
  results.sizeSweep = swept.map((r) => ({ ...r, gflop: sweepFlops(r) / 1e9 }));
  const text = `${sweepTable(swept, kernels)}\n\n${machine}, ${stamp}.`;
  console.log(`\n${text}`);
  writeFileSync(join(ROOT, 'bench', 'results', 'latest-sweep.md'), `${text}\n`);
}

// results/<stamp>.json always; latest.md for the RNN (as before), latest-lstm.md and latest-gru.md for the others;
// with --dtype float64, latest-float64.md, latest-float64-lstm.md and latest-float64-gru.md
const latest = `latest${float64 ? '-float64' : ''}${cell === 'rnn' ? '' : `-${cell}`}.md`;
writeFileSync(join(ROOT, 'bench', 'results', `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
if (rows.length > 0) writeFileSync(join(ROOT, 'bench', 'results', latest), `${text}\n`);
const wrote = [`${stamp}.json`, ...(rows.length > 0 ? [latest] : []), ...(sizeSweep ? ['latest-sweep.md'] : [])];
console.log(`\nwrote ${wrote.map((f) => `bench/results/${f}`).join(', ')}`);
