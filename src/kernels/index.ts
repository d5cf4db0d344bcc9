/**
 * Kernel selection. `STACKED_RNN_BACKEND` (or an explicit name) forces one, so tests can run every backend
 * against the reference; otherwise the fastest available is chosen.
 */
import { RnnError } from '../errors.js';
import type { Kernel } from './kernel.js';
import { nativeKernel, nativeUnavailable } from './native.js';
import { referenceKernel } from './reference.js';
import { browserThreadsKernel } from './wasm/browser.js';
import { wasmKernel } from './wasm/wasm.js';

export type { Kernel, Mode, RecurrenceArgs } from './kernel.js';
export { referenceKernel } from './reference.js';
export { getThreads, MAX_THREADS, setThreads } from './threads.js';

const registry = new Map<string, Kernel>([[referenceKernel.name, referenceKernel]]);
// in order of preference, last wins: WebAssembly SIMD on one thread (any platform), then on every core in a
// cross-origin isolated page or in Node.js without the addon ('wasm-threads'), then native (Node.js on x64 with
// AVX2 + FMA or on arm64, every core: ./threads.ts) when its addon loads
for (const fast of [wasmKernel, browserThreadsKernel, nativeKernel]) if (fast) registry.set(fast.name, fast);

/** Makes a kernel selectable by name (fast kernels register themselves when their module loads). */
export function registerKernel(kernel: Kernel): void {
  registry.set(kernel.name, kernel);
}

export function kernelNames(): string[] {
  return [...registry.keys()];
}

function envBackend(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.STACKED_RNN_BACKEND || undefined;
}

/** The kernel named `name`, or `STACKED_RNN_BACKEND`, or the best registered one. */
export function getKernel(name?: string): Kernel {
  const wanted = name ?? envBackend();
  if (wanted !== undefined) {
    const k = registry.get(wanted);
    if (!k && wanted === 'native' && nativeUnavailable !== null) {
      throw new RnnError(
        'invalid_argument',
        `The native backend is unavailable: ${nativeUnavailable}; build it from source with node native/build.mjs (needs a C++ compiler).`,
        {
          expected: kernelNames(),
          got: wanted,
          hint: 'run `stacked-rnn doctor` to see which kernel is in use and why',
        },
      );
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
