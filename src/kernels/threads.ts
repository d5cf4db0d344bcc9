/**
 * How many threads the native kernel runs a call on: the calling thread and up to n - 1 workers (native/pool.h).
 *
 * By default every logical CPU that Node.js reports (`os.availableParallelism()`); the environment variable
 * `STACKED_RNN_THREADS`, read once when the library loads, overrides that, and `setThreads(n)` overrides both. A
 * wrong STACKED_RNN_THREADS ('abc', 0, 1025) is an RnnError thrown by the first module built (or getThreads), not
 * while the library loads. When the system refuses to start a thread (a container's pids limit), the native pool
 * runs on the threads that started, getThreads() reports that count from then on, and one warning line goes to
 * stderr.
 * The native kernel has one pool of threads per process, so the count is the process's: worker_threads that load
 * the library after the first share it, and setThreads in any of them sets it for all. The thread count never
 * changes a float: the kernel splits its work so that every output element is the same chain of operations
 * whatever the count (test/kernel-threads.test.ts).
 *
 * In the browser the count is the threaded WebAssembly kernel's (./wasm/browser.ts): navigator.hardwareConcurrency
 * by default, used in a cross-origin isolated page (Web Workers sharing the module's memory); a page that is not
 * isolated runs on one thread whatever the setting. The reference kernel always runs on one thread.
 */
import { RnnError } from '../errors.js';

/** The most threads the native kernel takes. */
export const MAX_THREADS = 1024;

/** Where the count lives once the native kernel has loaded: its addon's process-wide setting. */
export interface ThreadsBackend {
  get(): number;
  set(n: number): void;
}
let backend: ThreadsBackend | null = null;

/** A thread count from the user: an integer from 1 to MAX_THREADS, else an RnnError naming `what` and the value. */
function checkThreads(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_THREADS) {
    const shown = typeof value === 'string' ? `'${value}'` : String(value);
    throw new RnnError('invalid_argument', `${what} must be an integer from 1 to ${MAX_THREADS}, got ${shown}`, {
      expected: `an integer from 1 to ${MAX_THREADS}`,
      got: value,
    });
  }
  return value;
}

/** Node's process, when there is one (the browser has none). */
function nodeProcess():
  | { env?: Record<string, string | undefined>; getBuiltinModule?: (id: string) => unknown }
  | undefined {
  return (globalThis as { process?: ReturnType<typeof nodeProcess> }).process;
}

/** The logical CPUs Node.js reports, or the browser's navigator.hardwareConcurrency, or 1. */
function machineThreads(): number {
  // getBuiltinModule keeps node:os out of the static imports, so bundlers for the browser never see it
  const os = nodeProcess()?.getBuiltinModule?.('node:os') as typeof import('node:os') | undefined;
  const browser = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  const n = os?.availableParallelism?.() ?? browser ?? 1;
  return Math.max(1, Math.min(MAX_THREADS, n));
}

/** STACKED_RNN_THREADS, when set (not empty), checked as setThreads checks its argument. */
function envThreads(): number | undefined {
  const text = nodeProcess()?.env?.STACKED_RNN_THREADS;
  if (text === undefined || text === '') return undefined;
  const trimmed = text.trim();
  return checkThreads(/^\d+$/.test(trimmed) ? Number(trimmed) : text, 'STACKED_RNN_THREADS');
}

/**
 * A wrong STACKED_RNN_THREADS, kept rather than thrown while the modules load: thrown there, it would escape as a
 * raw exception with a stack trace before any caller (the CLI's error handler) exists. checkThreadsEnv() throws it
 * where it can be reported, and every module's constructor calls it (through getKernel).
 */
let envError: RnnError | null = null;

function threadsAtLoad(): number {
  try {
    return envThreads() ?? machineThreads();
  } catch (err) {
    if (!(err instanceof RnnError)) throw err;
    envError = err;
    return machineThreads();
  }
}

let threads = threadsAtLoad();

/** Throws the RnnError of a wrong STACKED_RNN_THREADS (an integer from 1 to 1024), until setThreads overrides it. */
export function checkThreadsEnv(): void {
  if (envError) throw envError;
}

/**
 * A browser page or worker that is not cross-origin isolated: it cannot share memory with workers, so the
 * one-thread kernel runs whatever the setting.
 */
function singleThreadedPage(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean; document?: unknown; WorkerGlobalScope?: unknown };
  const browser = g.document !== undefined || g.WorkerGlobalScope !== undefined;
  return browser && nodeProcess()?.getBuiltinModule === undefined && g.crossOriginIsolated !== true;
}

/**
 * The number of threads the native kernel (or the browser's threaded WebAssembly kernel) runs a call on: 1 in a
 * browser page that is not cross-origin isolated, where one thread runs whatever `setThreads` asked.
 */
export function getThreads(): number {
  checkThreadsEnv();
  if (backend) return backend.get();
  return singleThreadedPage() ? 1 : threads;
}

/**
 * Sets the number of threads the native kernel runs a call on, the calling thread included: an integer from 1 to
 * 1024. More threads than the machine has cores are allowed (they take turns). Throws an RnnError otherwise.
 */
export function setThreads(n: number): void {
  threads = checkThreads(n, 'setThreads: the thread count');
  envError = null; // the program's own count replaces the variable's
  backend?.set(threads);
}

/**
 * Hands the count to the native kernel's addon (src/kernels/native.ts, when it loads): the process's first load
 * takes this module's count (STACKED_RNN_THREADS or every logical CPU); a later one (another worker_thread) keeps
 * the process's.
 */
export function bindThreads(b: ThreadsBackend, first: boolean): void {
  backend = b;
  if (first) b.set(threads);
}
