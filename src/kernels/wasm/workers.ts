/**
 * The threaded WebAssembly kernel's workers: Web Workers in the browser, worker_threads in Node.js, made from the
 * small source below (a Blob URL, or eval), so that a bundler needs no configuration and there is no extra file
 * to copy. Each receives the compiled module, the shared memory, its thread id and the top of its own stack,
 * instantiates the module on that memory and enters worker_main (native/wasm_pool.h), which never returns.
 */

/** What a worker is sent, once. */
export interface WorkerStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  /** The top of its stack: the module's __stack_pointer for that instance (stacks grow down). */
  stack: number;
}

/** A started worker: `ready` resolves once it has instantiated the module and is about to join calls. */
export interface StartedWorker {
  ready: Promise<void>;
  terminate(): void;
}

const WORKER_SOURCE = `'use strict';
const start = (d, ready) => {
  const x = new WebAssembly.Instance(d.module, { env: { memory: d.memory } }).exports;
  x.__stack_pointer.value = d.stack;
  ready();
  x.worker_main(d.tid);
};
// Node.js: worker_threads through process.getBuiltinModule, which an eval'd worker has whether Node runs it as
// CommonJS or as a module (it does the latter when the main script was run with --input-type=module)
const nodeThreads = typeof process === 'object' && process.getBuiltinModule ? process.getBuiltinModule('node:worker_threads') : null;
if (nodeThreads) {
  const { parentPort } = nodeThreads;
  parentPort.once('message', (d) => start(d, () => parentPort.postMessage('ready')));
} else {
  self.onmessage = (e) => start(e.data, () => self.postMessage('ready'));
}
`;

interface NodeWorker {
  on(event: 'message' | 'error', f: (v: unknown) => void): void;
  postMessage(v: unknown): void;
  unref(): void;
  terminate(): Promise<number>;
}
type NodeWorkerThreads = { Worker: new (source: string, options: { eval: boolean }) => NodeWorker };

/** Node's worker_threads, when this is Node.js (getBuiltinModule keeps it out of the browser's bundles). */
function nodeWorkerThreads(): NodeWorkerThreads | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return p?.getBuiltinModule?.('node:worker_threads') as NodeWorkerThreads | undefined;
}

/** Whether workers can be made here, sharing memory: Node.js, or a cross-origin isolated page. */
export function workersAvailable(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  if (nodeWorkerThreads()) return true;
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown; Blob?: unknown };
  return g.crossOriginIsolated === true && typeof g.Worker === 'function' && typeof g.Blob === 'function';
}

/**
 * Starts one worker on `start`; an error before it is ready (the worker cannot be made, or fails to instantiate)
 * rejects `ready`, and the pool runs without it. The rejection is handled here too, so that a pool that never
 * awaits `ready` does not end the process with an unhandled rejection.
 */
export function startWorker(start: WorkerStart): StartedWorker {
  let started: StartedWorker;
  try {
    started = startOne(start);
  } catch (err) {
    // the constructor itself refused (no threads left, a page's policy): a worker that never comes
    started = { ready: Promise.reject(err), terminate: () => undefined };
  }
  started.ready.catch(() => undefined);
  return started;
}

function startOne(start: WorkerStart): StartedWorker {
  const threads = nodeWorkerThreads();
  if (threads) {
    const w = new threads.Worker(WORKER_SOURCE, { eval: true });
    // ref'd until it is up (so that awaiting `ready` keeps the process alive), then not: a worker waiting for
    // calls does not keep the process alive
    const ready = new Promise<void>((done, fail) => {
      w.on('message', () => {
        w.unref();
        done();
      });
      w.on('error', (e) => {
        w.unref();
        fail(e);
      });
    });
    w.postMessage(start);
    return { ready, terminate: () => void w.terminate() };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url);
  const ready = new Promise<void>((done, fail) => {
    w.onmessage = () => {
      URL.revokeObjectURL(url);
      done();
    };
    w.onerror = (e) => fail(new Error(e.message));
  });
  w.postMessage(start);
  return { ready, terminate: () => w.terminate() };
}
