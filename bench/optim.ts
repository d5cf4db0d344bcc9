/**
 * `npm run bench -- --optim`: the optimizer step and clipGradNorm over 1 M float32 parameters on each kernel that
 * has them in one run - the scalar JavaScript step (the reference kernel), native (when its addon loads), wasm, and
 * wasm-threads at 1 and 2 threads (a pool of its own, registered here) - and what the WebAssembly path's copies
 * alone cost: each array copied into a Float32Array standing for the module's memory and the changed ones back, as
 * src/train/optim-kernel.ts copies them.
 *
 * The parameters are an LSTM's: four of 256 K elements and four of 1 K. Each row is the median of --reps (default
 * 30) turns, the kernels taking turns, each timing the second of two calls (the arrays in cache); the machine's load average is printed, as every number here moves with it.
 */
import { loadavg } from 'node:os';
import { registerKernel } from '../src/kernels/index.js';
import { nativeKernel } from '../src/kernels/native.js';
import { createWasmThreadsKernel } from '../src/kernels/wasm/pool.js';
import { tensor } from '../src/tensor.js';
import { clipGradNorm } from '../src/train/clip.js';
import { Adam, type Param } from '../src/train/optim.js';

const SIZES = [262144, 262144, 262144, 262144, 1024, 1024, 1024, 1024];
const i = process.argv.indexOf('--reps');
const REPS = i >= 0 ? Number(process.argv[i + 1]) : 30;

const { kernel: threaded, pool } = createWasmThreadsKernel(2);
await pool.ready();
registerKernel(threaded);

interface Contender {
  label: string;
  backend: string;
  threads: number;
}
const contenders: Contender[] = [
  { label: 'JavaScript', backend: 'reference', threads: 1 },
  ...(nativeKernel ? [{ label: 'native, 1 thread', backend: 'native', threads: 1 }] : []),
  { label: 'wasm', backend: 'wasm', threads: 1 },
  { label: 'wasm-threads, 1 thread', backend: 'wasm-threads', threads: 1 },
  { label: 'wasm-threads, 2 threads', backend: 'wasm-threads', threads: 2 },
];

function params(seed: number): Param[] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
  return SIZES.map((n) => {
    const value = tensor(Float32Array.from({ length: n }, rand), [n], 'float32');
    const grad = tensor(Float32Array.from({ length: n }, rand), [n], 'float32');
    return { value, grad };
  });
}

function withBackend<T>(name: string, fn: () => T): T {
  const before = process.env.STACKED_RNN_BACKEND;
  process.env.STACKED_RNN_BACKEND = name;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.STACKED_RNN_BACKEND;
    else process.env.STACKED_RNN_BACKEND = before;
  }
}

const time = (fn: () => void) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] as number;

// what the copies alone cost: Adam's p, g, m, v in and p, m, v out; the clip's gradients in (sum), in and out (scale)
const arrays = SIZES.map((n) => new Float32Array(n).fill(0.5));
const memory = new Float32Array(SIZES.reduce((a, b) => a + b, 0) * 4);
const copies = (into: number, out: number) => () => {
  for (let r = 0; r < into + out; r++) {
    let at = 0;
    for (const a of arrays) {
      if (r < into) memory.set(a, at);
      else a.set(memory.subarray(at, at + a.length));
      at += a.length;
    }
  }
};

const rows = new Map<string, { adam: number[]; clip: number[] }>();
const runs = contenders.map((c) => {
  const list = params(7);
  const adam = new Adam(list, { lr: 1e-3 });
  rows.set(c.label, { adam: [], clip: [] });
  return { c, list, adam };
});
const copyAdam: number[] = [];
const copyClip: number[] = [];
for (let r = 0; r < REPS; r++) {
  for (const { c, list, adam } of runs) {
    pool.setThreads(c.threads);
    const row = rows.get(c.label) as { adam: number[]; clip: number[] };
    withBackend(c.backend, () => {
      // the second of two calls: the arrays in cache, as after the backward that wrote the gradients
      for (const keep of [false, true]) {
        const clip = time(() => clipGradNorm(list, 1e6));
        const step = time(() => adam.step());
        if (keep) row.clip.push(clip);
        if (keep) row.adam.push(step);
      }
    });
  }
  copies(4, 3)();
  copyAdam.push(time(copies(4, 3)));
  copyClip.push(time(copies(2, 1)));
}

const total = SIZES.reduce((a, b) => a + b, 0);
console.log(`optimizer: Adam and clipGradNorm over ${(total / 1e6).toFixed(2)} M float32 parameters`);
console.log(`load average ${loadavg()[0]?.toFixed(2)}, median of ${REPS}\n`);
console.log('kernel                      Adam.step ms   clipGradNorm ms');
for (const [label, { adam, clip }] of rows) {
  console.log(`${label.padEnd(28)}${median(adam).toFixed(2).padStart(9)}${median(clip).toFixed(2).padStart(18)}`);
}
console.log(
  `${'copies alone (wasm path)'.padEnd(28)}${median(copyAdam).toFixed(2).padStart(9)}${median(copyClip).toFixed(2).padStart(18)}`,
);
pool.close();
