/**
 * Kernel selection. `STACKED_RNN_BACKEND` (or an explicit name) forces one, so tests can run every backend
 * against the reference; otherwise the fastest available is chosen.
 */
import { checkArgument, isObject, RnnError } from '../errors.js';
import type { Kernel } from './kernel.js';
import { nativeKernel, nativeUnavailable } from './native.js';
import { referenceKernel } from './reference.js';
import { checkThreadsEnv } from './threads.js';
import { browserThreadsKernel, nodeThreadsKernel } from './wasm/browser.js';
import { wasm64Ready } from './wasm/f64.js';
import { wasmKernel, wasmUnavailable } from './wasm/wasm.js';

export type { Kernel, Mode, RecurrenceArgs } from './kernel.js';
export { referenceKernel } from './reference.js';
export { getThreads, MAX_THREADS, setThreads } from './threads.js';

const registry = new Map<string, Kernel>([[referenceKernel.name, referenceKernel]]);
// in order of preference, last wins: WebAssembly SIMD on one thread (any platform), then on every core in a
// cross-origin isolated page or in Node.js without the addon ('wasm-threads'), then native (Node.js on x64 with
// AVX2 + FMA or on arm64, every core: ./threads.ts) when its addon loads
for (const fast of [wasmKernel, nodeThreadsKernel, nativeKernel]) if (fast) registry.set(fast.name, fast);
// The threaded WebAssembly kernel of a cross-origin isolated page is imported on demand (./wasm/browser.ts) and
// registers when it has loaded, after the others, so it is preferred from then on.
const ready = browserThreadsKernel.then((k) => {
  if (k) registry.set(k.name, k);
});

/** What `kernelReady` waits for besides the fastest kernel. */
export interface KernelReadyOptions {
  /**
   * Also the WebAssembly kernels' float64 build, which a page loads on demand (a chunk of its own: most pages run
   * float32); until it has loaded, float64 models there run on the reference kernel. Default false.
   */
  float64?: boolean;
}

/**
 * Resolves once the fastest kernel of this environment is loaded: in a cross-origin isolated page, the threaded
 * WebAssembly kernel, which is imported on demand (modules made before run on the one-thread kernel); at once
 * elsewhere. `await kernelReady()` before building the modules of a page that should run on every core, and
 * `await kernelReady({ float64: true })` before running a float64 model in a page.
 *
 * @example
 * ```ts
 * await kernelReady({ float64: true });
 * const lstm = new LSTM({ inputSize: 8, hiddenSize: 64, dtype: 'float64' });
 * ```
 */
export function kernelReady(options: KernelReadyOptions = {}): Promise<void> {
  checkArgument(isObject(options), 'kernelReady: options', 'an object such as { float64: true }', options);
  const { float64 = false } = options;
  checkArgument(typeof float64 === 'boolean', 'kernelReady: options.float64', 'a boolean', float64);
  return float64 ? Promise.all([ready, wasm64Ready()]).then(() => {}) : ready;
}

/** Makes a kernel selectable by name (fast kernels register themselves when their module loads). */
export function registerKernel(kernel: Kernel): void {
  checkArgument(
    isObject(kernel) && typeof kernel.name === 'string',
    'registerKernel: kernel',
    'a Kernel with a name',
    kernel,
  );
  registry.set(kernel.name, kernel);
}

export function kernelNames(): string[] {
  return [...registry.keys()];
}

/** Why a kernel that exists in some environments is not registered in this one, or null. */
function unavailable(name: string): string | null {
  if (name === 'native') return nativeUnavailable;
  if (name === 'wasm') return wasmUnavailable;
  if (name === 'wasm-threads' && !registry.has(name))
    return 'it runs in a cross-origin isolated browser page (after kernelReady()), or in Node.js without the native kernel';
  return null;
}

/**
 * Throws the RnnError of a wrong environment variable: STACKED_RNN_THREADS (an integer from 1 to 1024) or
 * STACKED_RNN_NATIVE_ISA ('avx2' or 'avx512'; a typo would silently keep the default). They are read while the
 * library loads, where an error would escape before anyone could report it; every module's constructor calls
 * this (through getKernel), and the CLI before any command.
 */
export function checkEnvironment(): void {
  checkThreadsEnv();
  const isa = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    ?.STACKED_RNN_NATIVE_ISA;
  if (isa !== undefined && isa !== '' && isa !== 'avx2' && isa !== 'avx512') {
    throw new RnnError('invalid_argument', `STACKED_RNN_NATIVE_ISA must be 'avx2' or 'avx512', got '${isa}'`, {
      expected: ['avx2', 'avx512'],
      got: isa,
    });
  }
}

function envBackend(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.STACKED_RNN_BACKEND || undefined;
}

/** The kernel named `name`, or `STACKED_RNN_BACKEND`, or the best registered one. */
export function getKernel(name?: string): Kernel {
  checkEnvironment();
  const wanted = name ?? envBackend();
  if (wanted !== undefined) {
    const k = registry.get(wanted);
    const reason = k ? null : unavailable(wanted);
    if (reason) {
      // a kernel that exists but did not start here: its reason, not "Unknown backend"
      throw new RnnError('invalid_argument', `backend '${wanted}' is unavailable here: ${reason}`, {
        expected: kernelNames(),
        got: wanted,
        hint:
          wanted === 'native'
            ? 'build it from source with node native/build.mjs (needs a C++ compiler); `stacked-rnn doctor` says which kernel runs and why'
            : `choose one of ${kernelNames()
                .map((n) => `'${n}'`)
                .join(', ')}`,
      });
    }
    if (!k) {
      throw new RnnError(
        'invalid_argument',
        `Unknown backend '${wanted}'. Select from ${kernelNames()
          .map((n) => `'${n}'`)
          .join(', ')}.`,
        {
          expected: kernelNames(),
          got: wanted,
        },
      );
    }
    return k;
  }
  // Preference: the last registered fast kernel wins over the reference.
  return [...registry.values()].at(-1) as Kernel;
}
