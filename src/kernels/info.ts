/**
 * Which kernel runs the models here, on what, and why: `kernelInfo()` for the library, `stacked-rnn doctor` for
 * the command line.
 */
import { getKernel } from './index.js';
import { nativeAddon, nativeOrigin, nativeUnavailable } from './native.js';
import { getThreads } from './threads.js';
import { browserPool } from './wasm/browser.js';

export interface KernelInfo {
  /** The kernel `getKernel()` returns: 'native', 'wasm-threads', 'wasm' or 'reference' (or a registered one). */
  kernel: string;
  /**
   * What it runs on: 'avx2', 'avx512' or 'neon' (native), 'wasm-relaxed-simd' or 'wasm-simd128' (WebAssembly),
   * 'float64' (the reference kernel, plain loops).
   */
  isa: string;
  /** The threads a call runs on (the calling thread included). */
  threads: number;
  /** Where the native binary came from, when the native kernel is in use. */
  binary: { origin: 'prebuilt' | 'source'; path: string } | null;
  /** process.platform-process.arch, or 'browser'. */
  platform: string;
  /** Why the native kernel is not in use (null when it is). */
  nativeUnavailable: string | null;
  /** What to do to get the fast kernel, when it is missing (null when it is in use). */
  advice: string | null;
}

function platform(): string {
  const p = (globalThis as { process?: { platform?: string; arch?: string } }).process;
  return p?.platform ? `${p.platform}-${p.arch}` : 'browser';
}

/**
 * The kernel in use (STACKED_RNN_BACKEND included) and what it runs on.
 *
 * @example
 * ```ts
 * const { kernel, isa, threads } = kernelInfo(); // e.g. { kernel: 'native', isa: 'avx2', threads: 16, ... }
 * ```
 */
export function kernelInfo(): KernelInfo {
  const kernel = getKernel();
  const where = platform();
  const addon = kernel.name === 'native' ? nativeAddon : null;
  const native = addon !== null;
  const isa = addon
    ? addon.isa
    : kernel.name === 'wasm-threads'
      ? browserPool?.relaxed
        ? 'wasm-relaxed-simd'
        : 'wasm-simd128'
      : kernel.name === 'wasm'
        ? 'wasm-simd128'
        : kernel.name === 'reference'
          ? 'float64'
          : 'unknown';
  const threads = native || kernel.name === 'wasm-threads' ? getThreads() : 1;
  let advice: string | null = null;
  if (!native && where !== 'browser') {
    advice =
      nativeAddon !== null
        ? 'the native kernel is available: unset STACKED_RNN_BACKEND to use it'
        : `there is no prebuilt binary for ${where} that loads here; with a C++ compiler (and Python for ` +
          'node-gyp, or g++ alone) run `node native/build.mjs` in the package folder to build it from source' +
          (kernel.name === 'wasm-threads' ? '; until then the WebAssembly kernel runs on every core' : '');
  } else if (!native && kernel.name === 'wasm') {
    advice = 'serve the page cross-origin isolated (COOP same-origin, COEP require-corp) for every core';
  }
  return {
    kernel: kernel.name,
    isa,
    threads,
    binary: native && nativeOrigin ? { origin: nativeOrigin.kind, path: nativeOrigin.path } : null,
    platform: where,
    nativeUnavailable: native ? null : nativeUnavailable,
    advice,
  };
}
