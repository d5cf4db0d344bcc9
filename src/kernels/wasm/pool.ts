/**
 * The threaded WebAssembly kernel: native/wasm_threads.cc (scripts/build-wasm.sh) on one shared memory, run by
 * this thread and n - 1 workers (./workers.ts), with native/jobs.h's split of the work (the input projection by
 * blocks of rows, the recurrence by row blocks and teams, small steps of a stack as the layer wavefront; the LSTM
 * and GRU likewise). The floats are the one-thread build's at any thread count.
 *
 * The workers start asynchronously; until they run, calls go on this thread alone (a worker that is not there
 * never joins a call), so the kernel is usable at once. Needs SharedArrayBuffer and workers: Node.js, or a page
 * that is cross-origin isolated (`Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`).
 */
import type { Kernel } from '../kernel.js';
import { WASM_RELAXED_BASE64 } from './binary-relaxed.js';
import { WASM_THREADS_BASE64 } from './binary-threads.js';
import { wasmBytes } from './decode.js';
import type { WasmExports } from './memory.js';
import { createWasmKernel, type WasmKernelOptions } from './wasm.js';
import { type StartedWorker, startWorker } from './workers.js';

/** The memory the threaded build declares (--initial-memory in scripts/build-wasm.sh), and its most: 2 GiB. */
const THREADS_INITIAL_PAGES = 32;
const MAX_PAGES = 32768;
/** Each worker's stack: far more than the kernel's deepest call needs (its largest frame is a few KiB). */
const STACK_BYTES = 1 << 17;

interface PoolExports extends Omit<WasmExports, '__heap_base'> {
  __heap_base: WebAssembly.Global;
  pool_linear: WasmExports['linear'];
  pool_recurrence(...args: Parameters<WasmExports['recurrence']>): number;
  pool_gated_recurrence(...args: Parameters<WasmExports['gated_recurrence']>): number;
  set_threads(n: number): void;
  get_threads(): number;
}

export interface WasmPool {
  /** The exports as the kernel calls them: the forward entry points on the pool, arrays above the stacks. */
  readonly exports: WasmExports;
  /** Whether this is the relaxed-SIMD build (fused multiply-adds in the products). */
  readonly relaxed: boolean;
  /** Sets the thread count (this thread and up to n - 1 workers, started as needed). */
  setThreads(n: number): void;
  /** The setting. */
  threads(): number;
  /** The threads a call runs on now: the setting, at most 1 + the workers running. */
  running(): number;
  /** Resolves once every worker started so far is running; rejects if one failed to start. */
  ready(): Promise<void>;
  /** Stops the workers; later calls run on this thread. */
  close(): void;
}

/** (func (param v128 v128 v128) (result v128) f32x4.relaxed_madd): valid where the engine has relaxed SIMD. */
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2,
  253, 133, 2, 11,
]);

/** Whether this engine has relaxed SIMD (Chromium 114 and later), so the pool can take the fused build. */
export function relaxedSimd(): boolean {
  return WebAssembly.validate(RELAXED_PROBE);
}

const compiled = new Map<boolean, WebAssembly.Module>();

export interface WasmPoolOptions {
  /** The relaxed-SIMD build (fused multiply-adds in the products). Default: where the engine has it. */
  relaxed?: boolean;
}

/** A pool of `threads` threads over a fresh instance; throws when SharedArrayBuffer or workers are unavailable. */
export function createWasmPool(threads: number, options: WasmPoolOptions = {}): WasmPool {
  const relaxed = options.relaxed ?? relaxedSimd();
  let module = compiled.get(relaxed);
  if (!module) {
    const base64 = relaxed ? WASM_RELAXED_BASE64 : WASM_THREADS_BASE64;
    module = new WebAssembly.Module(wasmBytes(base64));
    compiled.set(relaxed, module);
  }
  const memory = new WebAssembly.Memory({ initial: THREADS_INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
  const x = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as PoolExports;
  // the workers' stacks go above __heap_base, one by one as they start; each call's arrays go above them
  let base = Number(x.__heap_base.value);
  const workers: StartedWorker[] = [];
  let setting = 1;
  const grow = (end: number) => {
    const have = memory.buffer.byteLength;
    if (end > have) memory.grow(Math.ceil((end - have) / 65536));
  };
  const ok = (what: string) => (ran: number) => {
    if (!ran) throw new RangeError(`${what}: out of WebAssembly memory`);
  };
  const [okRecurrence, okGated] = [ok('recurrence'), ok('gated recurrence')];
  const exports: WasmExports = {
    ...(x as unknown as WasmExports),
    memory, // imported, not exported
    __heap_base: {
      get value() {
        return base;
      },
    },
    linear: x.pool_linear,
    recurrence: (...a) => okRecurrence(x.pool_recurrence(...a)),
    gated_recurrence: (...a) => okGated(x.pool_gated_recurrence(...a)),
    // kept blocks go where the next stack would, and base moves past them: stacks and calls stay above
    reserve(bytes) {
      const at = Math.ceil(base / 64) * 64;
      base = at + bytes;
      grow(base);
      return at;
    },
  };
  const pool: WasmPool = {
    exports,
    relaxed,
    setThreads(n) {
      setting = n;
      x.set_threads(n);
      while (workers.length < n - 1) {
        const stack = Math.ceil(base / 64) * 64 + STACK_BYTES;
        base = stack;
        grow(base);
        workers.push(startWorker({ module, memory, tid: workers.length + 1, stack }));
      }
    },
    threads: () => setting,
    running: () => x.get_threads(),
    async ready() {
      // a worker that failed to start is one that never joins a call: wait for those that did
      const started = (await Promise.allSettled(workers.map((w) => w.ready))).filter((r) => r.status === 'fulfilled');
      // a worker posts 'ready' just before it counts itself in worker_main
      const want = Math.min(setting, started.length + 1);
      while (x.get_threads() < want) await new Promise((done) => setTimeout(done, 1));
    },
    close() {
      for (const w of workers.splice(0)) w.terminate();
      setting = 1;
      x.set_threads(1);
    },
  };
  pool.setThreads(threads);
  return pool;
}

/** The threaded WebAssembly kernel over a new pool of `threads` threads, and the pool. */
export function createWasmThreadsKernel(
  threads: number,
  options: WasmKernelOptions & WasmPoolOptions = {},
): { kernel: Kernel; pool: WasmPool } {
  const pool = createWasmPool(threads, options.relaxed === undefined ? {} : { relaxed: options.relaxed });
  return { kernel: createWasmKernel(pool.exports, { name: 'wasm-threads', ...options }), pool };
}
