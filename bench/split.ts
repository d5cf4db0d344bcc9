/**
 * What splitting a recurrence between threads costs, measured on the native addon's own calls (no model, no
 * JavaScript around them): each time step of one `recurrence` call, at each thread count, against one thread.
 *
 *   node --import tsx bench/split.ts [--threads 1,2,4,8] [--addon PATH] [--reps 15]
 *
 * Two shapes, L = 2000 steps each, relu (the general step, not the fused single-row one):
 * - columns: N = 4, H = 368 (a step of 0.54 M multiply-adds, just above the threshold for sharing a step): one
 *   block whose team shares each step's panels and meets after every step. The time a step takes beyond its
 *   share of one thread's step (t_T - t_1 / team) is the barrier's round trip plus the state rows handed over.
 * - rows: N = 64, H = 256: blocks of rows, each run through every step by one thread, nothing shared per step.
 * Prints, per thread count, the split the addon chose ([threads, blocks, team]), the median us per step, and what
 * a step costs beyond its share of the first count's step on the threads that can run at once (t_T - t_first *
 * first / min(threads used, cores)): the round trip between the threads of a step and what they hand over, and
 * with more threads than cores, the turns they take.
 * --addon times another build of the addon (e.g. the code before a change: an older build may take fewer
 * threads than asked, and may not say which split it ran).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { NativeAddon } from '../src/kernels/native.js';
import { nativeAddon } from '../src/kernels/native.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const path = flag('--addon', '');
const addon = path ? (createRequire(import.meta.url)(resolve(path)) as NativeAddon) : nativeAddon;
if (!addon) throw new Error('no native addon: build it with node native/build.mjs');
const counts = flag('--threads', '1,2,4,8').split(',').map(Number);
const reps = Number(flag('--reps', '15'));
const L = 2000;

function random(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}

/** Median us per step of a recurrence of N rows and H features at the addon's current thread count. */
function usPerStep(N: number, H: number): number {
  const pre = random(L * N * H, 0.5);
  const whh = random(H * H, 1 / Math.sqrt(H));
  const h0 = new Float32Array(N * H);
  const out = new Float32Array(L * N * H);
  const hN = new Float32Array(N * H);
  const call = () => addon?.recurrence(out, hN, pre, whh, h0, L, N, H, H, 0, true, false, null);
  for (let i = 0; i < 3; i++) call();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    call();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return ((times[Math.floor(times.length / 2)] as number) * 1000) / L;
}

const shapes = [
  { name: 'columns', N: 4, H: 368 },
  { name: 'rows', N: 64, H: 256 },
];
const base = new Map<string, number>();
const lines = [
  '| shape | threads | split [threads, blocks, team] | us per step | one thread / this | us beyond its share |',
  '|---|---|---|---|---|---|',
];
for (const T of counts) {
  const took = addon.threads(T);
  for (const s of shapes) {
    const parts = typeof addon.recurrenceSplit === 'function' ? addon.recurrenceSplit(s.N, s.H) : null;
    const split = parts ? parts.join(', ') : '-';
    const used = parts ? parts[0] : took; // an older build: assume it used what it took
    const us = usPerStep(s.N, s.H);
    if (T === counts[0]) base.set(s.name, us);
    const speedup = (base.get(s.name) as number) / us;
    const beyond = us - ((base.get(s.name) as number) * (counts[0] as number)) / Math.min(used, availableParallelism());
    lines.push(
      `| ${s.name} (N ${s.N}, H ${s.H}) | ${T}${took === T ? '' : ` (took ${took})`} | ${split} | ${us.toFixed(2)} | ${speedup.toFixed(2)}x | ${beyond.toFixed(2)} |`,
    );
  }
}
console.log(lines.join('\n'));
console.log(`\n${path || 'native/build/Release/stacked_rnn.node'}, L ${L}, median of ${reps} calls each`);
