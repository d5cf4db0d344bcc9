/**
 * How many threads the native kernel runs a call on: the calling thread and up to n - 1 workers (native/pool.h).
 *
 * By default every logical CPU that Node.js reports (`os.availableParallelism()`); the environment variable
 * `STACKED_RNN_THREADS`, read once when the library loads, overrides that, and `setThreads(n)` overrides both.
 * The thread count never changes a float: the kernel splits its work so that every output element is the same
 * chain of operations whatever the count (test/kernel-threads.test.ts). The WebAssembly and reference kernels
 * run on one thread whatever the setting.
 */
import { RnnError } from '../errors.js';

/** The most threads the native kernel takes. */
export const MAX_THREADS = 1024;

type Listener = (n: number) => void;
const listeners: Listener[] = [];

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

/** The logical CPUs Node.js reports, or 1 outside Node.js. */
function machineThreads(): number {
  // getBuiltinModule keeps node:os out of the static imports, so bundlers for the browser never see it
  const os = nodeProcess()?.getBuiltinModule?.('node:os') as typeof import('node:os') | undefined;
  const n = os?.availableParallelism?.() ?? 1;
  return Math.max(1, Math.min(MAX_THREADS, n));
}

/** STACKED_RNN_THREADS, when set (not empty), checked as setThreads checks its argument. */
function envThreads(): number | undefined {
  const text = nodeProcess()?.env?.STACKED_RNN_THREADS;
  if (text === undefined || text === '') return undefined;
  const trimmed = text.trim();
  return checkThreads(/^\d+$/.test(trimmed) ? Number(trimmed) : text, 'STACKED_RNN_THREADS');
}

let threads = envThreads() ?? machineThreads();

/** The number of threads the native kernel runs a call on (the calling thread included). */
export function getThreads(): number {
  return threads;
}

/**
 * Sets the number of threads the native kernel runs a call on, the calling thread included: an integer from 1 to
 * 1024. More threads than the machine has cores are allowed (they take turns). Throws an RnnError otherwise.
 */
export function setThreads(n: number): void {
  threads = checkThreads(n, 'setThreads: the thread count');
  for (const listener of listeners) listener(threads);
}

/** Calls `listener` with the thread count now and whenever it is set (the native kernel passes it to its addon). */
export function onThreads(listener: Listener): void {
  listeners.push(listener);
  listener(threads);
}
