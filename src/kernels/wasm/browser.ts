/**
 * The threaded WebAssembly kernel as the default where there is no native kernel: in a page that is cross-origin
 * isolated (served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
 * require-corp`, so that SharedArrayBuffer exists), and in Node.js when the native addon did not load (no
 * prebuilt binary for the platform and no compiler at install: macOS, musl, an old glibc), a pool of
 * getThreads() threads (navigator.hardwareConcurrency or every logical CPU, unless setThreads or
 * STACKED_RNN_THREADS says otherwise) on Web Workers or worker_threads, with relaxed SIMD's fused multiply-adds
 * where the engine has them, bound to setThreads. Elsewhere null: a page that is not isolated runs the one-thread
 * kernel (./wasm.ts), and Node.js with the addon the native kernel.
 */
import type { Kernel } from '../kernel.js';
import { nativeKernel } from '../native.js';
import { bindThreads, getThreads } from '../threads.js';
import { createWasmThreadsKernel, type WasmPool } from './pool.js';
import { workersAvailable } from './workers.js';

/** The pool, when the threaded kernel is in use (for the tests and the benchmark to await its workers). */
export let browserPool: WasmPool | null = null;

function start(): Kernel | null {
  const node = (globalThis as { process?: unknown }).process !== undefined;
  if ((node && nativeKernel) || !workersAvailable()) return null;
  try {
    const { kernel, pool } = createWasmThreadsKernel(getThreads());
    bindThreads({ get: () => pool.threads(), set: (n) => pool.setThreads(n) }, false);
    browserPool = pool;
    return kernel;
  } catch {
    return null; // no shared memory after all (an embedder's policy): the one-thread kernel
  }
}

/** The threaded WebAssembly kernel of a cross-origin isolated page, or of Node.js without the addon, or null. */
export const browserThreadsKernel: Kernel | null = start();
