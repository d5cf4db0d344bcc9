/**
 * `npm run bench -- --train-lm`: the whole training step of a character model against PyTorch's, phase by phase.
 *
 * The model: Embedding(65, 64) -> LSTM(64, 256, num_layers=2) -> Linear(256, 65), float32, 0.88 M parameters; a
 * batch of 32 sequences of 64 characters; cross-entropy, backward, clip_grad_norm(1.0), Adam. PyTorch runs
 * bench/train_lm_torch.py at 1 and 2 threads (its better total is compared); stacked-rnn runs here on the fastest
 * kernel at the library's thread setting. Then Adam.step over 1 M float32 parameters alone, for both.
 *
 * Phases: forward (Embedding, LSTM, Linear, recording for the backward); loss (ours: the cross-entropy and its
 * gradient; PyTorch's: the cross-entropy, its gradient being in its backward); backward; clip; optimizer. The
 * optimizer and clip rows also show stacked-rnn's scalar JavaScript path (what ran before the kernel had them).
 * Each is the median of steps within about --seconds (default 5) each; the machine's load average is printed, as
 * every number here moves with it.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  crossEntropyLossWithGrad,
  Embedding,
  getKernel,
  getThreads,
  IntTensor,
  Linear,
  LSTM,
  Sequential,
} from '../src/index.js';
import { tensor } from '../src/tensor.js';
import { clipGradNorm } from '../src/train/clip.js';
import { Adam } from '../src/train/optim.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./train_lm_torch.py', import.meta.url));
const [V, E, H, K, L, N] = [65, 64, 256, 2, 64, 32];
const PHASES = ['forward', 'loss', 'backward', 'clip', 'optimizer', 'step'] as const;
type Phase = (typeof PHASES)[number];
type Times = Record<Phase, number> & { adam1m: number; reps: number };

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const seconds = Number(flag('--seconds', '5'));

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1] as number;
};

/** Runs fn with STACKED_RNN_BACKEND=reference: the optimizer and clip take their scalar JavaScript path. */
function inJs<T>(fn: () => T): T {
  const before = process.env.STACKED_RNN_BACKEND;
  process.env.STACKED_RNN_BACKEND = 'reference';
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.STACKED_RNN_BACKEND;
    else process.env.STACKED_RNN_BACKEND = before;
  }
}

function ours(): { times: Times; jsClip: number; jsOptimizer: number; jsAdam1m: number; params: number } {
  const model = new Sequential({
    emb: new Embedding({ numEmbeddings: V, embeddingDim: E }),
    rnn: new LSTM({ inputSize: E, hiddenSize: H, numLayers: K }),
    head: new Linear({ inFeatures: H, outFeatures: V }),
  });
  const params = model.parameters();
  const opt = new Adam(params, { lr: 2e-3 });
  const ids = new IntTensor(
    Int32Array.from({ length: L * N }, () => Math.floor(Math.random() * V)),
    [L, N],
  );
  const targets = Int32Array.from({ length: L * N }, () => Math.floor(Math.random() * V));
  const phases: Record<Phase, number[]> = { forward: [], loss: [], backward: [], clip: [], optimizer: [], step: [] };
  const step = (record: boolean) => {
    const t0 = performance.now();
    const [logits] = model.forward(ids, null, { requiresGrad: true });
    const t1 = performance.now();
    const flat = logits.reshape([L * N, V]);
    const dLogits = crossEntropyLossWithGrad(flat, targets).grad.reshape(logits.shape);
    const t2 = performance.now();
    model.zeroGrad();
    model.backward(dLogits);
    const t3 = performance.now();
    clipGradNorm(params, 1.0);
    const t4 = performance.now();
    opt.step();
    const t5 = performance.now();
    if (!record) return;
    const spans: [Phase, number, number][] = [
      ['forward', t0, t1],
      ['loss', t1, t2],
      ['backward', t2, t3],
      ['clip', t3, t4],
      ['optimizer', t4, t5],
      ['step', t0, t5],
    ];
    for (const [k, a, b] of spans) phases[k].push(b - a);
  };
  for (let i = 0; i < 3; i++) step(false);
  const start = performance.now();
  while (phases.step.length < 5 || (performance.now() - start < seconds * 1000 && phases.step.length < 100)) {
    step(true);
  }
  // the scalar JavaScript clip and Adam on the same model (its gradients as the last step left them)
  const jsClip: number[] = [];
  const jsOptimizer: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    inJs(() => clipGradNorm(params, 1.0));
    const t1 = performance.now();
    inJs(() => opt.step());
    jsClip.push(t1 - t0);
    jsOptimizer.push(performance.now() - t1);
  }
  // Adam over one 1 M-element float32 parameter
  const n = 1 << 20;
  const big = tensor(
    Float32Array.from({ length: n }, () => Math.random() - 0.5),
    [n],
    'float32',
  );
  const grad = tensor(
    Float32Array.from({ length: n }, () => Math.random() - 0.5),
    [n],
    'float32',
  );
  const bigOpt = new Adam([{ value: big, grad }], { lr: 1e-3 });
  const time = (reps: number, fn: () => void) => {
    const t: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      fn();
      t.push(performance.now() - t0);
    }
    return median(t);
  };
  time(3, () => bigOpt.step());
  const adam1m = time(50, () => bigOpt.step());
  const jsAdam1m = time(5, () => inJs(() => bigOpt.step()));
  const times = Object.fromEntries(PHASES.map((k) => [k, median(phases[k])])) as Record<Phase, number>;
  const count = params.reduce((s, p) => s + p.value.numel, 0);
  return {
    times: { ...times, adam1m, reps: phases.step.length },
    jsClip: median(jsClip),
    jsOptimizer: median(jsOptimizer),
    jsAdam1m,
    params: count,
  };
}

function torch(threads: number): Times | string {
  const r = spawnSync(PYTHON, [SCRIPT, String(threads), String(seconds)], { encoding: 'utf8' });
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{'))
    return (r.stderr || r.error?.message || 'failed').trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Times;
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

const load = loadavg().map((l) => l.toFixed(1));
console.log(
  `train-lm: Embedding(${V}, ${E}) -> LSTM(${E}, ${H}, num_layers=${K}) -> Linear(${H}, ${V}), batch ${N} x ${L}`,
);
console.log(`load average before: ${load.join(', ')} on ${cpus().length} cores`);
const peers = [1, 2].map((t) => [t, torch(t)] as const);
const me = ours();
const ran = peers.filter((p): p is readonly [number, Times] => typeof p[1] !== 'string');
for (const [t, r] of peers) if (typeof r === 'string') console.log(`PyTorch at ${t} thread(s) did not run: ${r}`);
const best = ran.sort((a, b) => a[1].step - b[1].step)[0];
console.log(
  `stacked-rnn: kernel ${getKernel().name}, ${getThreads()} thread(s), ${me.params} parameters, ${me.times.reps} steps`,
);
if (best) {
  for (const [t, r] of ran) console.log(`PyTorch ${t} thread(s): step ${fmt(r.step)} ms (${r.reps} steps)`);
  const [bt, b] = best;
  console.log(`\n| phase | PyTorch (${bt} thread${bt > 1 ? 's' : ''}) | stacked-rnn | ratio |`);
  console.log('|---|---|---|---|');
  for (const k of PHASES) {
    const extra = k === 'clip' ? ` (JS: ${fmt(me.jsClip)})` : k === 'optimizer' ? ` (JS: ${fmt(me.jsOptimizer)})` : '';
    console.log(
      `| ${k === 'step' ? '**whole step**' : k} | ${fmt(b[k])} ms | ${fmt(me.times[k])} ms${extra} | ${(b[k] / me.times[k]).toFixed(2)} |`,
    );
  }
  const torchAdam = Math.min(...ran.map(([, r]) => r.adam1m));
  console.log(
    `| Adam.step, 1 M float32 parameters | ${fmt(torchAdam)} ms | ${fmt(me.times.adam1m)} ms (JS: ${fmt(me.jsAdam1m)}) | ${(torchAdam / me.times.adam1m).toFixed(2)} |`,
  );
  console.log('\nratio: PyTorch ms / stacked-rnn ms (above 1: stacked-rnn faster)');
} else {
  console.log(JSON.stringify(me));
}
console.log(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(', ')}`,
);
