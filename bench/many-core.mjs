// Issue 13's comparison on a many-core machine: stacked-rnn against PyTorch at each thread count, forward and
// training step, for the RNN (and the LSTM and GRU), both sides on the same weights and input. Plain JavaScript
// over the built library (dist/), so it runs where only node and the packed project are (bench/many-core.sh,
// ../shared/device/pack.sh); bench/many_core_torch.py is PyTorch's side.
//
//   node bench/many-core.mjs [--configs CD] [--cells rnn,lstm,gru] [--threads 1,2,4,8,16] [--budget 1.5]
//                            [--train-configs CD] [--no-train] [--out DIR] [--builds PATH,...]
//
// For each configuration and cell, PyTorch (python3, or $PYTHON) makes the weights and the input, computes the
// float64 output and times itself at every thread count (torch.set_num_threads) in one process; then stacked-rnn
// loads those weights and times itself at every thread count (setThreads) in this process: the forward (median
// of repeats within about --budget seconds, at least 2) and the training step (forward recorded + backward of
// output.sum(), the input's gradient not computed, as PyTorch's x does not require grad). Prints a Markdown table
// (PyTorch's time over ours: above 1, stacked-rnn is faster) with the machine it ran on, and writes it with the
// raw numbers to DIR/many-core.md and DIR/many-core.json (DIR: --out, else $OUT, else bench/results), rewritten
// after every configuration and cell, so that a run cut short by its time limit still leaves what it measured.
// The training step is timed for the configurations in --train-configs (default: C and D, the issue's).
// --builds times other builds of the native addon beside the packed one, in the same process (e.g. a change's
// build against the code before it): one more set of columns each, named by the file.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const lib = await import(new URL('../dist/index.js', import.meta.url).href);
const { nativeAddon, createNativeKernel } = await import(new URL('../dist/kernels/native.js', import.meta.url).href);
const { getKernel, registerKernel } = await import(new URL('../dist/kernels/index.js', import.meta.url).href);

const CONFIGS = {
  A: { L: 3, N: 3, I: 2, H: 3, K: 2 },
  B: { L: 100, N: 1, I: 32, H: 64, K: 2 },
  C: { L: 256, N: 32, I: 128, H: 256, K: 3 },
  D: { L: 128, N: 128, I: 512, H: 512, K: 4 },
  E: { L: 2048, N: 8, I: 64, H: 128, K: 2 },
};
const CELLS = { rnn: lib.RNN, lstm: lib.LSTM, gru: lib.GRU };

function flag(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const configs = flag('--configs', 'CD').split('');
const cells = flag('--cells', 'rnn,lstm,gru').split(',');
const counts = flag('--threads', '1,2,4,8,16').split(',').map(Number);
const budget = Number(flag('--budget', '1.5'));
const trainConfigs = process.argv.includes('--no-train') ? '' : flag('--train-configs', 'CD');
const outDir = flag('--out', process.env.OUT || join(here, 'results'));
const python = process.env.PYTHON || 'python3';
// the kernels timed: the library's own, then each build given (registered as a kernel named by its path)
// (each build has its own pool of threads, which setThreads does not reach: its count is set here as well)
const builds = [getKernel().name, ...flag('--builds', '').split(',').filter(Boolean)];
const require = createRequire(import.meta.url);
const addons = new Map();
for (const path of builds.slice(1)) {
  addons.set(path, require(resolve(path)));
  registerKernel(createNativeKernel(addons.get(path), { name: path }));
}
for (const c of configs) if (!CONFIGS[c]) throw new Error(`unknown configuration '${c}'`);
for (const c of cells) if (!CELLS[c]) throw new Error(`unknown cell '${c}': rnn, lstm or gru`);
for (const n of counts) if (!Number.isInteger(n) || n < 1) throw new Error(`--threads takes integers >= 1, got ${n}`);

function log(line) {
  process.stderr.write(`${line}\n`);
}

/** Median ms of fn within about `budget` seconds, at least `least` calls, after one warm-up call. */
function medianMs(fn, least = 2, most = 100) {
  fn();
  const times = [];
  const start = performance.now();
  while (times.length < most && (times.length < least || performance.now() - start < budget * 1000)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function floats(dir, name, Type = Float32Array) {
  const b = readFileSync(join(dir, name));
  return new Type(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** max |got - want| / max(1, max |want|), as bench/contender.ts measures it. */
function scaledError(got, want) {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

function torchSide(dir, dims, cell, train) {
  const { L, N, I, H, K } = dims;
  const args = [join(here, 'many_core_torch.py'), dir, ...[L, N, I, H, K].map(String), '--cell', cell];
  args.push('--threads', counts.join(','), '--budget', String(budget), ...(train ? [] : ['--no-train']));
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${python} ${args.join(' ')} failed (${r.status})`);
  return JSON.parse(line);
}

function ourSide(dir, dims, cell, train, backend) {
  const { L, N, I, H, K } = dims;
  const names = JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8'));
  const all = floats(dir, 'weights.bin');
  const sd = new Map();
  let at = 0;
  for (const [name, shape] of names) {
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(name, new lib.Tensor(all.slice(at, at + n), shape));
    at += n;
  }
  const net = new CELLS[cell]({ inputSize: I, hiddenSize: H, numLayers: K, backend });
  net.loadStateDict(sd);
  const x = new lib.Tensor(floats(dir, 'x.bin'), [L, N, I]);
  const out64 = floats(dir, 'out64.bin', Float64Array);
  const ones = new lib.Tensor(new Float32Array(L * N * H).fill(1), [L, N, H]);
  const runs = {};
  for (const T of counts) {
    lib.setThreads(T);
    const addon = addons.get(backend);
    const run = { threads: addon ? addon.threads(T) : lib.getThreads() };
    run.forward_ms = medianMs(() => net.forwardStates(x));
    run.error = scaledError(net.forwardStates(x)[0].data, out64);
    if (train) {
      run.train_ms = medianMs(() => {
        net.zeroGrad();
        net.forwardStates(x, null, { requiresGrad: true });
        net.backwardStates(ones, [], { inputGrad: false });
      });
    }
    runs[T] = run;
    log(`stacked-rnn ${backend} ${cell} T=${T}: ${JSON.stringify(run)}`);
  }
  return runs;
}

const fmt = (v) => (v === undefined ? '-' : v < 1 ? v.toPrecision(3) : v.toPrecision(4));
const ratio = (peer, us) => (peer && us ? `${(peer / us).toFixed(2)}x` : '-');

function lscpu() {
  const r = spawnSync('lscpu', [], { encoding: 'utf8' });
  const lines = (r.stdout ?? '').split('\n');
  const pick = (key) =>
    lines
      .find((l) => l.startsWith(key))
      ?.split(':')[1]
      ?.trim();
  const flags = pick('Flags')?.split(' ') ?? [];
  const simd = ['avx2', 'fma', 'avx512f', 'avx512vl', 'amx_tile'].filter((f) => flags.includes(f));
  return `${pick('Model name') ?? cpus()[0]?.model}, ${pick('Socket(s)') ?? '?'} socket(s), ${pick('Core(s) per socket') ?? '?'} cores per socket, ${pick('Thread(s) per core') ?? '?'} thread(s) per core, ${simd.join(' ')}`;
}

const cpu = lscpu();
const isa = nativeAddon ? `native kernel ${nativeAddon.isa}` : 'no native kernel';
function write(final) {
  const machine = `${cpu}; os.availableParallelism() ${availableParallelism()}; Node ${process.version}, ${isa}; PyTorch ${torchInfo?.torch ?? '?'}`;
  const extra = builds.slice(1);
  const head = `| config (L, N, I, H, K) | cell | threads | stacked-rnn forward ms | PyTorch forward ms | PyTorch / ours | stacked-rnn training step ms | PyTorch training step ms | PyTorch / ours | error ours |${extra.map((b) => ` ${b} forward / training ms |`).join('')}`;
  const lines = [head, `|---|---|---|---|---|---|---|---|---|---|${extra.map(() => '---|').join('')}`];
  for (const r of rows) {
    const { L, N, I, H, K } = r.dims;
    lines.push(
      `| ${r.config} (${L}, ${N}, ${I}, ${H}, ${K}) | ${r.cell} | ${r.T} | ${fmt(r.ours.forward_ms)} | ${fmt(r.torch?.forward_ms)} | ${ratio(r.torch?.forward_ms, r.ours.forward_ms)} | ${fmt(r.ours.train_ms)} | ${fmt(r.torch?.train_ms)} | ${ratio(r.torch?.train_ms, r.ours.train_ms)} | ${r.ours.error.toExponential(1)} |${r.others.map((o) => ` ${fmt(o.forward_ms)} / ${fmt(o.train_ms)} |`).join('')}`,
    );
  }
  const stamp = new Date().toISOString();
  const text = `${lines.join('\n')}\n\nMedian ms (within about ${budget} s per cell, at least 2 runs). ${machine}. PyTorch's parallel setup: ${(torchInfo?.parallel ?? []).join('; ')}. ${stamp}.\n`;
  if (final) console.log(text);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'many-core.md'), text);
  writeFileSync(
    join(outDir, 'many-core.json'),
    `${JSON.stringify({ machine, torch: torchInfo, stamp, rows }, null, 2)}\n`,
  );
  log(`wrote ${join(outDir, 'many-core.md')} and many-core.json`);
}

const rows = [];
let torchInfo = null;
for (const name of configs) {
  const dims = CONFIGS[name];
  for (const cell of cells) {
    const dir = mkdtempSync(join(tmpdir(), `stacked-rnn-many-core-${name}-${cell}-`));
    try {
      log(`configuration ${name}, ${cell}: PyTorch ...`);
      const train = trainConfigs.includes(name);
      const torch = torchSide(dir, dims, cell, train);
      torchInfo = { torch: torch.torch, parallel: torch.parallel };
      log(`configuration ${name}, ${cell}: stacked-rnn ...`);
      const ours = builds.map((b) => ourSide(dir, dims, cell, train, b));
      for (const T of counts) {
        const others = builds.slice(1).map((b, i) => ({ build: b, ...ours[i + 1][T] }));
        rows.push({ config: name, cell, dims, T, ours: ours[0][T], others, torch: torch.runs[String(T)] });
      }
    } catch (e) {
      log(`configuration ${name}, ${cell} failed: ${e.message}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    write(false);
  }
}
write(true);
