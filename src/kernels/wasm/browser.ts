/**
 * The threaded WebAssembly kernel as the browser's default: in a page that is cross-origin isolated (served with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`, so that
 * SharedArrayBuffer exists), a pool of getThreads() threads (navigator.hardwareConcurrency unless setThreads says
 * otherwise), bound to setThreads. Elsewhere none: a page that is not isolated runs the one-thread kernel
 * (./wasm.ts), and Node.js keeps the native kernel (the threaded one is there for tests: ./pool.ts).
 *
 * The pool and its two builds (./binary-threads.ts, ./binary-relaxed.ts) come in by a dynamic import, only in an
 * isolated page: a bundler splits them into a chunk of their own (Vite does by default, esbuild with
 * --splitting), so a page that does not run them does not load them. Until the import resolves (`kernelReady()`),
 * the one-thread kernel runs.
 */
import type { Kernel } from '../kernel.js';
import { bindThreads, getThreads } from '../threads.js';
import type { WasmPool } from './pool.js';
import { workersAvailable } from './workers.js';

/** The browser's pool, when the threaded kernel is in use (for the tests and the benchmark to await its workers). */
export let browserPool: WasmPool | null = null;

async function start(): Promise<Kernel | null> {
  if ((globalThis as { process?: unknown }).process !== undefined || !workersAvailable()) return null;
  try {
    const { createWasmThreadsKernel } = await import('./pool.js');
    const { kernel, pool } = createWasmThreadsKernel(getThreads());
    bindThreads({ get: () => pool.threads(), set: (n) => pool.setThreads(n) }, false);
    browserPool = pool;
    return kernel;
  } catch {
    return null; // no shared memory after all (an embedder's policy): the one-thread kernel
  }
}

/** The threaded WebAssembly kernel of a cross-origin isolated page once loaded, or null (elsewhere, or failed). */
export const browserThreadsKernel: Promise<Kernel | null> = start();
