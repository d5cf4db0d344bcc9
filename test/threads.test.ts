/**
 * The thread count (src/kernels/threads.ts): every logical CPU by default, STACKED_RNN_THREADS read once when the
 * library loads, `setThreads(n)` after that; anything but an integer from 1 to 1024 is refused with an RnnError,
 * from the environment at load and from setThreads at the call. The load-time behaviour is seen in child
 * processes, each loading the library with its own environment.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as library from '../src/index.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { getThreads, MAX_THREADS, setThreads } from '../src/kernels/threads.js';
import { Generator } from '../src/random.js';
import { uniform } from './helpers/random.js';

const INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const NATIVE = fileURLToPath(new URL('../src/kernels/native.ts', import.meta.url));

/** A child node that loads the library with STACKED_RNN_THREADS = value (undefined: unset) and runs `script`. */
function child(value: string | undefined, script: string) {
  const env = { ...process.env };
  delete env.STACKED_RNN_THREADS;
  if (value !== undefined) env.STACKED_RNN_THREADS = value;
  const code = `const lib = await import(${JSON.stringify(INDEX)});
const { nativeAddon } = await import(${JSON.stringify(NATIVE)});
${script}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

describe('the thread count', () => {
  const loaded = getThreads();
  after(() => setThreads(loaded));

  test('getThreads and setThreads are exported from the library', () => {
    assert.equal(library.getThreads, getThreads);
    assert.equal(library.setThreads, setThreads);
    assert.equal(library.MAX_THREADS, 1024);
  });

  test('is every logical CPU by default, and STACKED_RNN_THREADS set to an empty string is unset', () => {
    const print = 'console.log(lib.getThreads(), nativeAddon ? nativeAddon.threads() : lib.getThreads());';
    for (const value of [undefined, '']) {
      const r = child(value, print);
      assert.equal(r.status, 0, r.stderr);
      const n = availableParallelism();
      assert.equal(r.stdout, `${n} ${n}`, `STACKED_RNN_THREADS=${JSON.stringify(value)}`);
    }
  });

  test('STACKED_RNN_THREADS is read when the library loads, and reaches the native addon', () => {
    const r = child(
      ' 3 ',
      `const first = [lib.getThreads(), nativeAddon ? nativeAddon.threads() : 3];
process.env.STACKED_RNN_THREADS = '5';
console.log(...first, lib.getThreads());`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '3 3 3', 'the setting at load, the addon, and the setting after the variable changed');
  });

  test('an invalid STACKED_RNN_THREADS lets the library load, and the first module built throws an RnnError naming it', () => {
    for (const [value, shown] of [
      ['0', '0'],
      ['-2', "'-2'"],
      ['2.5', "'2.5'"],
      ['four', "'four'"],
      ['1025', '1025'],
    ]) {
      // thrown while loading, it would escape before any caller could report it (issue 25, item 12)
      const r = child(
        value,
        'console.log("loaded"); new lib.RNN({ inputSize: 1, hiddenSize: 1 }); console.log("built");',
      );
      assert.notEqual(r.status, 0, `STACKED_RNN_THREADS=${value} built a module`);
      assert.match(r.stdout, /loaded/);
      assert.doesNotMatch(r.stdout, /built/);
      assert.match(r.stderr, /RnnError/, `STACKED_RNN_THREADS=${value}`);
      assert.ok(
        r.stderr.includes(`STACKED_RNN_THREADS must be an integer from 1 to 1024, got ${shown}`),
        `STACKED_RNN_THREADS=${value}: ${r.stderr.split('\n').find((l) => l.includes('STACKED_RNN_THREADS'))}`,
      );
    }
  });

  test('setThreads takes an integer from 1 to 1024, and the native addon runs with it', () => {
    for (const n of [1, 2, 3, 8, MAX_THREADS, 2]) {
      setThreads(n);
      assert.equal(getThreads(), n);
      if (nativeAddon) assert.equal(nativeAddon.threads(), n, 'the addon');
    }
  });

  test("the README's example sets and reads the count as it says", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .find((b) => b.includes('setThreads('));
    assert.ok(block, "README.md has no ```ts block with 'setThreads('");
    const r = child(
      undefined,
      `${block.replace("from 'stacked-rnn'", `from ${JSON.stringify(INDEX)}`).replace(/^import (.*) from (.*);$/m, 'const $1 = await import($2);')}
console.log(getThreads(), nativeAddon ? nativeAddon.threads() : getThreads());`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '8 8');
  });

  test('setThreads refuses anything else with an RnnError, and keeps the count it had', () => {
    setThreads(3);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1025, '4', undefined, null]) {
      assert.throws(
        () => setThreads(bad as number),
        (e: unknown) =>
          e instanceof library.RnnError &&
          e.code === 'invalid_argument' &&
          e.message.startsWith('setThreads: the thread count must be an integer from 1 to 1024, got ') &&
          Object.is(e.got, bad),
        `setThreads(${String(bad)})`,
      );
      assert.equal(getThreads(), 3, `after setThreads(${String(bad)})`);
      if (nativeAddon) assert.equal(nativeAddon.threads(), 3, `the addon after setThreads(${String(bad)})`);
    }
  });

  test("a worker_thread shares the process count, and its calls and this thread's at once each give one thread's bits", {
    skip: nativeAddon ? false : 'no native addon',
  }, async () => {
    setThreads(3);
    // a worker does not inherit tsx's loader: its code registers it, then loads the TypeScript helper
    const helper = new URL('./helpers/threads-worker.ts', import.meta.url).href;
    const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(helper)}); });`;
    const worker = new Worker(boot, { eval: true });
    try {
      const seen = await new Promise<{ threads: number; first: boolean }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.deepEqual(seen, { threads: 3, first: false }, "the worker's view, after its own load");
      assert.equal(getThreads(), 3, "this thread's, after the worker's load");
      // columns at 3 threads: each call holds the pool for every step, so the two threads' calls meet there
      const [L, N, H] = [30, 4, 400];
      const g = new Generator(9);
      const work = { L, N, H, pre: uniform(g, L * N * H), whh: uniform(g, H * H, 0.05), h0: uniform(g, N * H) };
      const kernel = createNativeKernel(nativeAddon as NonNullable<typeof nativeAddon>, { exactBelow: 0 });
      const run = () => {
        const out = new Float32Array(L * N * H);
        const dir = { L, N, H, outStride: H, outOffset: 0, mode: 'RNN_TANH' as const, reverse: false, lengths: null };
        kernel.recurrence({ ...dir, out, hN: new Float32Array(N * H), ...work });
        return out;
      };
      setThreads(1);
      const want = run();
      setThreads(3);
      const theirs = new Promise<{ outs: Float32Array[] }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      worker.postMessage({ ...work, calls: 100 });
      for (let i = 0; i < 100; i++) assert.deepEqual(run(), want, `this thread, call ${i}`);
      const { outs } = await theirs;
      assert.equal(outs.length, 100);
      outs.forEach((out, i) => assert.deepEqual(out, want, `the worker, call ${i}`));
    } finally {
      await worker.terminate();
    }
  });
});
