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
import { registerKernel, setThreads } from '../src/kernels/index.js';
import { nativeKernel } from '../src/kernels/native.js';
import { createWasmThreadsKernel } from '../src/kernels/wasm/pool.js';
import { wasmKernel, wasmKernelCalls } from '../src/kernels/wasm/wasm.js';
import { tensor } from '../src/tensor.js';
import { clipGradNorm } from '../src/train/clip.js';
import { Adam, type Param } from '../src/train/optim.js';
import { BEFORE, beforeOptim } from './optim-before.js';

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
  ...(nativeKernel
    ? [
        { label: 'native, 1 thread', backend: 'native', threads: 1 },
        { label: 'native, 2 threads', backend: 'native', threads: 2 },
      ]
    : []),
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
/** The median and, in brackets, the fastest: on a loaded machine the fastest says more about what the threads do. */
const show = (a: number[]) => `${median(a).toFixed(2)} (${Math.min(...a).toFixed(2)})`.padStart(15);

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

/**
 * Adam's one call alone on a kernel's instance (the arrays already in its memory): the step without the copies.
 * Each call's room is the next call's, so the table is written again before each.
 */
function callAlone(kernel: typeof threaded): () => () => void {
  const calls = wasmKernelCalls.get(kernel);
  if (!calls) throw new Error('not a WebAssembly kernel');
  const x = calls.exports as unknown as Record<string, (...a: number[]) => number>;
  const adam = x.optim_adam as (...a: number[]) => void;
  return () => {
    const m = calls.layout();
    const P = SIZES.length;
    const [table, lengths, consts] = [m.take(20 * P), m.take(4 * P), m.take(8 * (10 + 2 * P))];
    const at = SIZES.flatMap((n) => [m.take(4 * n), m.take(4 * n), m.take(4 * n), m.take(4 * n), 0]);
    const blocks = m.take(
      (x.optim_blocks_bytes as (...a: number[]) => number)(
        P,
        SIZES.reduce((a, b) => a + b),
      ),
    );
    m.commit();
    const buffer = calls.exports.memory.buffer;
    new Uint32Array(buffer, table, 5 * P).set(at);
    new Int32Array(buffer, lengths, P).set(SIZES);
    new Float64Array(buffer, consts, 10 + 2 * P).set([0, 0, 0, 0.9, 0.1, 0.999, 0.001, 1e-8, 0, 1]);
    for (let k = 0; k < P; k++) new Float64Array(buffer, consts + 80 + 16 * k, 2).set([-1e-3, 0.3]);
    return () => adam(table, lengths, P, consts, blocks);
  };
}

const rows = new Map<string, { adam: number[]; clip: number[] }>();
const runs = contenders.map((c) => {
  const list = params(7);
  const adam = new Adam(list, { lr: 1e-3 });
  rows.set(c.label, { adam: [], clip: [] });
  return { c, list, adam };
});
// the path before the one call (BEFORE's per-parameter calls on the one-thread build), its kernel calls directly
const before = beforeOptim();
const old = (() => {
  const arrays = () => SIZES.map((n) => new Float32Array(n).map((_, j) => ((j * 7919) % 1000) / 1000 - 0.5));
  const [p, g, m, v] = [arrays(), arrays(), arrays(), arrays()];
  const consts = new Float64Array(10 + 2 * SIZES.length).fill(-1e-3);
  consts.set([0, 0, 0, 0.9, 0.1, 0.999, 0.001, 1e-8, 0, 1]);
  return { p, g, m, v, consts, adam: [] as number[], clip: [] as number[] };
})();
const alone = [
  { label: 'wasm', threads: 1, call: callAlone(wasmKernel as typeof threaded), times: [] as number[] },
  { label: 'wasm-threads, 1 thread', threads: 1, call: callAlone(threaded), times: [] as number[] },
  { label: 'wasm-threads, 2 threads', threads: 2, call: callAlone(threaded), times: [] as number[] },
];
const copyAdam: number[] = [];
const copyClip: number[] = [];
for (let r = 0; r < REPS; r++) {
  for (const { c, list, adam } of runs) {
    pool.setThreads(c.threads);
    setThreads(c.threads);
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
  if (before) {
    for (const keep of [false, true]) {
      const clip = time(() => before.clip(old.g, 1));
      const step = time(() => before.adamStep(old.p, old.g, old.m, old.v, old.consts));
      if (keep) old.clip.push(clip);
      if (keep) old.adam.push(step);
    }
  }
  for (const a of alone) {
    pool.setThreads(a.threads);
    const call = a.call();
    call();
    a.times.push(time(call));
  }
  copies(4, 3)();
  copyAdam.push(time(copies(4, 3)));
  copyClip.push(time(copies(2, 1)));
}

const total = SIZES.reduce((a, b) => a + b, 0);
console.log(`optimizer: Adam and clipGradNorm over ${(total / 1e6).toFixed(2)} M float32 parameters`);
console.log(`load average ${loadavg()[0]?.toFixed(2)}, median of ${REPS}\n`);
console.log('ms: median (fastest)          Adam.step   clipGradNorm');
for (const [label, { adam, clip }] of rows) console.log(`${label.padEnd(28)}${show(adam)}${show(clip)}`);
if (before) console.log(`${`wasm before (${BEFORE})`.padEnd(28)}${show(old.adam)}${show(old.clip)}`);
console.log(`${'copies alone (wasm path)'.padEnd(28)}${show(copyAdam)}${show(copyClip)}`);
console.log('\nAdam, the one call alone (its arrays already in the module memory):');
for (const a of alone) console.log(`${a.label.padEnd(28)}${show(a.times)}`);
pool.close();
