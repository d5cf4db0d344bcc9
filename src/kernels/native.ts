/**
 * The native kernel: native/addon.cc (AVX2 + FMA on every core: `setThreads`, ./threads.ts) behind the kernel
 * interface, for Node.js.
 *
 * The addon is built at install (`node native/build.mjs`); when it is missing, fails to load or the CPU lacks
 * AVX2/FMA, `nativeKernel` is null and the next kernel is used.
 *
 * Precision: the native path is float32 throughout, as PyTorch's CPU path is (FMA sums, restarted every 64 terms,
 * the state rounded to float32 every step), with biases and activations in float64 and rounded once. The backward
 * sums likewise: products in float32 tiles restarted every 64 terms, the long sums of the weight gradients over
 * all L*N rows added per chunk of 512 rows in float64 and rounded into storage once. Everything else goes to the
 * reference kernel: float64 models and small problems (fewer than `exactBelow` elements in a scratch buffer),
 * where a Node-API call saves nothing over plain loops and the reference gives the float32 nearest the exact
 * result instead.
 */
import type { FloatArray } from '../dtype.js';
import { EXACT_BELOW, float32Scratch, readF32, sinkF32 } from './f32.js';
import { gatedRecurrence, gatedRecurrenceBackward } from './gated.js';
import type { Kernel, LayersArgs, RecurrenceArgs, RecurrenceBackwardArgs } from './kernel.js';
import { referenceKernel } from './reference.js';
import { bindThreads } from './threads.js';

/** What native/addon.cc exports (see its header). */
export interface NativeAddon {
  supported: boolean;
  /** Whether this load made the process's thread pool (false in a worker_thread loading it after another). */
  first: boolean;
  /** The thread count (1 to 1024); sets it when n is given (./threads.ts passes the library's setting). */
  threads(n?: number): number;
  /** [threads, blocks, team]: how `recurrence` would split a step of N rows and H features now (native/jobs.h). */
  recurrenceSplit(N: number, H: number): [number, number, number];
  linear(
    y: Float32Array,
    x: Float32Array,
    w: Float32Array,
    b1: Float32Array | null,
    b2: Float32Array | null,
    M: number,
    C: number,
    O: number,
  ): void;
  recurrence(
    out: Float32Array,
    hN: Float32Array,
    pre: Float32Array,
    whh: Float32Array,
    h0: Float32Array,
    L: number,
    N: number,
    H: number,
    outStride: number,
    outOffset: number,
    relu: boolean,
    reverse: boolean,
    lengths: Int32Array | null,
  ): void;
  layers(
    outs: Float32Array[],
    hN: Float32Array,
    x: Float32Array,
    h0: Float32Array,
    wih: Float32Array[],
    whh: Float32Array[],
    bih: (Float32Array | null)[],
    bhh: (Float32Array | null)[],
    L: number,
    N: number,
    I: number,
    H: number,
    relu: boolean,
    lengths: Int32Array | null,
  ): boolean;
  /** Whether `layers` takes a stack of K layers, N rows and H features (it declines, writing nothing, otherwise). */
  layersTakes(K: number, N: number, H: number): boolean;
  linearBackward(
    dx: Float32Array | null,
    dw: Float32Array,
    db1: Float32Array | null,
    db2: Float32Array | null,
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    M: number,
    C: number,
    O: number,
  ): void;
  recurrenceBackward(
    dpre: Float32Array,
    dh0: Float32Array,
    dwhh: Float32Array,
    dout: Float32Array | null,
    dhN: Float32Array | null,
    out: Float32Array,
    h0: Float32Array,
    whh: Float32Array,
    L: number,
    N: number,
    H: number,
    outStride: number,
    outOffset: number,
    relu: boolean,
    reverse: boolean,
    lengths: Int32Array | null,
  ): void;
}

/** Why the addon is not in use, or null when it is. */
export let nativeUnavailable: string | null = null;

function loadAddon(): NativeAddon | null {
  // getBuiltinModule keeps node:module out of the static imports, so bundlers for the browser never see it
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const nodeModule = proc?.getBuiltinModule?.('node:module') as typeof import('node:module') | undefined;
  if (!nodeModule) {
    nativeUnavailable = 'not running in Node.js';
    return null;
  }
  try {
    // the same path from src/kernels/ (tsx) and dist/kernels/ (built)
    const addon = nodeModule.createRequire(import.meta.url)(
      '../../native/build/Release/stacked_rnn.node',
    ) as NativeAddon;
    if (!addon.supported) {
      nativeUnavailable = 'this CPU lacks AVX2 or FMA';
      return null;
    }
    return addon;
  } catch (e) {
    nativeUnavailable = `the addon did not load (${(e as Error).message.split('\n')[0]}); build it with node native/build.mjs`;
    return null;
  }
}

/** The loaded addon, or null (see `nativeUnavailable`). */
export const nativeAddon: NativeAddon | null = loadAddon();
if (nativeAddon)
  bindThreads({ get: () => nativeAddon.threads(), set: (n) => nativeAddon.threads(n) }, nativeAddon.first);

function f32(...arrays: (FloatArray | null)[]): boolean {
  return arrays.every((a) => a === null || a instanceof Float32Array);
}

export interface NativeKernelOptions {
  /** The kernel's name. Default 'native'. */
  name?: string;
  /**
   * Scratch buffers (a layer's `pre` (L, N, H) or output (L, N, D*H)) shorter than this come from the reference
   * kernel (float64), which sends the whole layer to the reference. Default 4096; 0 runs every float32 call native.
   */
  exactBelow?: number;
}

export { EXACT_BELOW };

/**
 * A kernel over the addon: float32 buffers go native, anything else (float64 scratch included) to the reference
 * kernel. In the backward, small float64 buffers beside float32 ones are read and accumulated through float32
 * (see ./f32.ts).
 */
export function createNativeKernel(addon: NativeAddon, options: NativeKernelOptions = {}): Kernel {
  const exactBelow = options.exactBelow ?? EXACT_BELOW;
  const kernel: Kernel = {
    ...referenceKernel,
    name: options.name ?? 'native',

    scratch: float32Scratch(exactBelow),

    linear(y, x, w, b1, b2, M, C, O) {
      if (y instanceof Float32Array && x instanceof Float32Array && w instanceof Float32Array && f32(b1, b2)) {
        addon.linear(y, x, w, b1 as Float32Array | null, b2 as Float32Array | null, M, C, O);
      } else {
        referenceKernel.linear(y, x, w, b1, b2, M, C, O);
      }
    },

    recurrence(a: RecurrenceArgs) {
      // LSTM and GRU: the gate math in plain loops around this kernel's products, until fused ones exist here
      if (a.mode === 'LSTM' || a.mode === 'GRU') {
        gatedRecurrence(kernel, a);
        return;
      }
      const { out, hN, pre, whh, h0 } = a;
      if (
        out instanceof Float32Array &&
        hN instanceof Float32Array &&
        pre instanceof Float32Array &&
        whh instanceof Float32Array &&
        h0 instanceof Float32Array
      ) {
        const relu = a.mode === 'RNN_RELU';
        addon.recurrence(out, hN, pre, whh, h0, a.L, a.N, a.H, a.outStride, a.outOffset, relu, a.reverse, a.lengths);
      } else {
        referenceKernel.recurrence(a);
      }
    },

    layers(a: LayersArgs): boolean {
      const { hN, x, h0, weights, N, H } = a;
      // Decided before any buffer is made: small problems go to the reference kernel (its float64 scratch), and
      // the rest of the rule is the addon's (two threads or more, and a step the recurrence would not share).
      if (a.L * N * H < exactBelow || !addon.layersTakes(weights.length, N, H)) return false;
      if (!f32(hN, x, h0) || !weights.every((w) => f32(w.wih, w.whh, w.bih, w.bhh))) return false;
      const outs = weights.map((_, k) => a.layerOutput(k));
      if (!f32(...outs)) return false;
      // biome-ignore format: the addon's argument order
      return addon.layers(outs as Float32Array[], hN as Float32Array, x as Float32Array, h0 as Float32Array, weights.map((w) => w.wih as Float32Array), weights.map((w) => w.whh as Float32Array), weights.map((w) => w.bih as Float32Array | null), weights.map((w) => w.bhh as Float32Array | null), a.L, N, a.I, H, a.mode === 'RNN_RELU', a.lengths);
    },

    linearBackward(dx, dw, db1, db2, dy, x, w, M, C, O) {
      if (!(dw instanceof Float32Array && dy instanceof Float32Array && x instanceof Float32Array)) {
        referenceKernel.linearBackward(dx, dw, db1, db2, dy, x, w, M, C, O);
        return;
      }
      const [dx32, flushDx] = sinkF32(dx);
      const [db1_32, flush1] = sinkF32(db1);
      const [db2_32, flush2] = sinkF32(db2);
      addon.linearBackward(dx32, dw, db1_32, db2_32, dy, x, readF32(w) as Float32Array, M, C, O);
      flushDx();
      flush1();
      flush2();
    },

    recurrenceBackward(a: RecurrenceBackwardArgs) {
      if (a.mode === 'LSTM' || a.mode === 'GRU') {
        gatedRecurrenceBackward(kernel, a);
        return;
      }
      const { dpre, dwhh, dout, out, whh } = a;
      if (
        !(dpre instanceof Float32Array && dwhh instanceof Float32Array && out instanceof Float32Array) ||
        !(whh instanceof Float32Array && (dout === null || dout instanceof Float32Array))
      ) {
        referenceKernel.recurrenceBackward(a);
        return;
      }
      const [dh0, flush] = sinkF32(a.dh0);
      const relu = a.mode === 'RNN_RELU';
      // biome-ignore format: the addon's argument order
      addon.recurrenceBackward(dpre, dh0, dwhh, dout, readF32(a.dhN), out, readF32(a.h0) as Float32Array, whh, a.L, a.N, a.H, a.outStride, a.outOffset, relu, a.reverse, a.lengths);
      flush();
    },
  };
  return kernel;
}

/** The native kernel, or null when the addon is unavailable. */
export const nativeKernel: Kernel | null = nativeAddon ? createNativeKernel(nativeAddon) : null;
