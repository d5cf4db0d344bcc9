/**
 * The threaded WebAssembly kernel as the default where there is no native kernel: in a page that is cross-origin
 * isolated (served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
 * require-corp`, so that SharedArrayBuffer exists), and in Node.js when the native addon did not load (no
 * prebuilt binary for the platform and no compiler at install: macOS, musl, an old glibc): a pool of
 * getThreads() threads (navigator.hardwareConcurrency or every logical CPU, unless setThreads or
 * STACKED_RNN_THREADS says otherwise) on Web Workers or worker_threads, with relaxed SIMD's fused multiply-adds
 * where the engine has them, bound to setThreads. Elsewhere none: a page that is not isolated runs the one-thread
 * kernel (./wasm.ts), and Node.js with the addon the native kernel.
 *
 * The pool and its two builds (./binary-threads.ts, ./binary-relaxed.ts) are loaded only where they run: in Node.js
 * at once, by a require that bundlers do not follow; in a page by a dynamic import, which a bundler splits into a
 * chunk of its own (Vite does by default, esbuild with --splitting), so a page that does not run them does not
 * load them. Until that import resolves (`kernelReady()`), the one-thread kernel runs.
 */
import type { Kernel } from '../kernel.js';
import { nativeKernel } from '../native.js';
import { bindThreads, getThreads } from '../threads.js';
import type { WasmPool } from './pool.js';
import { workersAvailable } from './workers.js';

/** The pool, when the threaded kernel is in use (for the tests and the benchmark to await its workers). */
export let browserPool: WasmPool | null = null;

type PoolModule = typeof import('./pool.js');

/** The threaded kernel over a pool of getThreads() threads, bound to setThreads; null where it cannot start. */
function startWith(pool: PoolModule): Kernel | null {
  try {
    const { kernel, pool: threads } = pool.createWasmThreadsKernel(getThreads());
    bindThreads({ get: () => threads.threads(), set: (n) => threads.setThreads(n) }, false);
    browserPool = threads;
    return kernel;
  } catch {
    return null; // no shared memory after all (an embedder's policy): the one-thread kernel
  }
}

type NodeProcess = { getBuiltinModule?: (id: string) => unknown };

/** Node.js without the native kernel: the threaded kernel at once (a synchronous require of ./pool.js). */
function startInNode(proc: NodeProcess): Kernel | null {
  if (nativeKernel || !workersAvailable()) return null;
  const nodeModule = proc.getBuiltinModule?.('node:module') as typeof import('node:module') | undefined;
  if (!nodeModule) return null;
  try {
    return startWith(nodeModule.createRequire(import.meta.url)('./pool.js') as PoolModule);
  } catch {
    return null;
  }
}

const proc = (globalThis as { process?: NodeProcess }).process;

/** In Node.js without the native addon: the threaded WebAssembly kernel, ready at once; else null. */
export const nodeThreadsKernel: Kernel | null = proc ? startInNode(proc) : null;

/** In a cross-origin isolated page: the threaded kernel once its chunk has loaded; else null. */
export const browserThreadsKernel: Promise<Kernel | null> =
  proc || !workersAvailable() ? Promise.resolve(null) : import('./pool.js').then(startWith, () => null);
