/**
 * The native kernel: native/addon.cc (AVX2 + FMA, AVX-512 or NEON, on every core: `setThreads`, ./threads.ts)
 * behind the kernel interface, for Node.js.
 *
 * The addon ships prebuilt for linux-x64, linux-arm64 and win32-x64 (prebuilds/, scripts/build-prebuilds.sh), and
 * is built at install elsewhere when a compiler is there (`node native/build.mjs`); when none loads, or the CPU
 * lacks AVX2/FMA, `nativeKernel` is null, `nativeUnavailable` says why, and the next kernel is used.
 *
 * The LSTM and GRU recurrences are fused (native/gated.h): each step's product with the gate math in its tiles'
 * epilogue, forward and backward, on the same threads as the RNN's.
 *
 * Precision: the float32 path is float32 throughout, as PyTorch's CPU path is (FMA sums, restarted every 64 terms,
 * the state rounded to float32 every step), with biases and activations in float64 and rounded once. The backward
 * sums likewise: products in float32 tiles restarted every 64 terms, the long sums of the weight gradients over
 * all L*N rows added per chunk of 512 rows in float64 and rounded into storage once. float64 models run the
 * float64 kernels (native/f64.h: the same panels and tiles over double vectors, one FMA chain per output, the
 * cells' activations in float64; within 1e-12 of PyTorch float64 relative to the output's scale). Small problems
 * (under FAST_MIN_WORK multiply-adds, or a float32 scratch buffer under `exactBelow` elements) go to the reference
 * kernel, where a Node-API call saves nothing over plain loops and the reference gives the float32 nearest the
 * exact result instead (and the reference's own float64 bits).
 */
import { allFloat32, allFloat64, type FloatArray } from '../dtype.js';
import { EXACT_BELOW, float32Scratch, minWorkFor, readF32, sinkF32 } from './f32.js';
import { gatedRecurrence, gatedRecurrenceBackward } from './gated.js';
import {
  gatesOf,
  type Kernel,
  LAYOUT_CODES,
  type LayersArgs,
  layerWork,
  MODE_CODES,
  type PreparedWeight,
  type RecurrenceArgs,
  type RecurrenceBackwardArgs,
  type WeightLayout,
} from './kernel.js';
import { nativeSourceHash } from './native-source.js';
import { referenceKernel } from './reference.js';
import { bindThreads } from './threads.js';

/** What native/addon.cc exports (see its header). */
export interface NativeAddon {
  supported: boolean;
  /** Whether this CPU runs the AVX-512 build (stacked_rnn_avx512.node). */
  avx512: boolean;
  /** Which build this is. */
  isa: 'avx2' | 'avx512' | 'neon';
  /** The hash of the native source it was built from (scripts/build-prebuilds.sh), '' for a source build. */
  sourceHash: string;
  /** Whether this load made the process's thread pool (false in a worker_thread loading it after another). */
  first: boolean;
  /** The thread count (1 to 1024); sets it when n is given (./threads.ts passes the library's setting). */
  threads(n?: number): number;
  /** [threads, blocks, team]: how `recurrence` would split a step of N rows and H features now (native/jobs.h). */
  recurrenceSplit(N: number, H: number): [number, number, number];
  linear(
    y: Float32Array,
    x: Float32Array,
    w: Float32Array | unknown,
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
    whh: Float32Array | unknown,
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
    wih: (Float32Array | unknown)[],
    whh: (Float32Array | unknown)[],
    bih: (Float32Array | null)[],
    bhh: (Float32Array | null)[],
    L: number,
    N: number,
    I: number,
    H: number,
    relu: boolean,
    lengths: Int32Array | null,
  ): boolean;
  /**
   * `w` (O, C) packed once (native/prepared.h): layout 0 panels, 3 the GRU's and 4 the LSTM's W_hh. An external
   * that linear's w, recurrence's whh and gatedRecurrence's whh and whr take instead of the array.
   */
  prepare(w: Float32Array | Float64Array, layout: 0 | 3 | 4, O: number, C: number, into?: unknown): unknown;
  /** The bytes a prepared weight holds. */
  preparedBytes(prepared: unknown): number;
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
  /** The fused LSTM (lstm true) or GRU recurrence (native/gated.h), with `RecurrenceArgs`' meanings. */
  gatedRecurrence(
    out: Float32Array,
    hN: Float32Array,
    cN: Float32Array | null,
    pre: Float32Array,
    whh: Float32Array | unknown,
    h0: Float32Array,
    c0: Float32Array | null,
    whr: Float32Array | unknown | null,
    bhh: Float32Array | null,
    tape: Float32Array | null,
    L: number,
    N: number,
    H: number,
    P: number,
    outStride: number,
    outOffset: number,
    lstm: boolean,
    reverse: boolean,
    lengths: Int32Array | null,
  ): void;
  /** An LSTM or GRU stack without projection as a wavefront, as `layers`; false when it declines. */
  gatedLayers(
    outs: Float32Array[],
    hN: Float32Array,
    cN: Float32Array | null,
    x: Float32Array,
    h0: Float32Array,
    c0: Float32Array | null,
    wih: (Float32Array | unknown)[],
    whh: (Float32Array | unknown)[],
    bih: (Float32Array | null)[],
    bhh: (Float32Array | null)[],
    tapes: Float32Array[] | null,
    L: number,
    N: number,
    I: number,
    H: number,
    lstm: boolean,
    lengths: Int32Array | null,
  ): boolean;
  /** float64 (native/f64_addon.h): `linear` over Float64Arrays (w: an array or a float64 `prepare` handle). */
  linear64(
    y: Float64Array,
    x: Float64Array,
    w: Float64Array | unknown,
    b1: Float64Array | null,
    b2: Float64Array | null,
    M: number,
    C: number,
    O: number,
  ): void;
  /** float64 `linearBackward`. */
  linearBackward64(
    dx: Float64Array | null,
    dw: Float64Array,
    db1: Float64Array | null,
    db2: Float64Array | null,
    dy: Float64Array,
    x: Float64Array,
    w: Float64Array,
    M: number,
    C: number,
    O: number,
  ): void;
  /**
   * float64 `recurrence` of any mode: mode 0 tanh, 1 relu, 3 GRU, 4 LSTM (cN, c0 the LSTM's, bhh the GRU's, tape
   * the gated cells', whr and P < H a projected LSTM's; else null and H).
   */
  recurrence64(
    out: Float64Array,
    hN: Float64Array,
    cN: Float64Array | null,
    pre: Float64Array,
    whh: Float64Array | unknown,
    h0: Float64Array,
    c0: Float64Array | null,
    bhh: Float64Array | null,
    tape: Float64Array | null,
    L: number,
    N: number,
    H: number,
    outStride: number,
    outOffset: number,
    mode: 0 | 1 | 3 | 4,
    reverse: boolean,
    lengths: Int32Array | null,
    whr: Float64Array | unknown | null,
    P: number,
  ): void;
  /** The float64 layer wavefront of every mode (`layers` and `gatedLayers` in one); false when it declines. */
  layers64(
    outs: Float64Array[],
    hN: Float64Array,
    cN: Float64Array | null,
    x: Float64Array,
    h0: Float64Array,
    c0: Float64Array | null,
    wih: (Float64Array | unknown)[],
    whh: (Float64Array | unknown)[],
    bih: (Float64Array | null)[],
    bhh: (Float64Array | null)[],
    tapes: Float64Array[] | null,
    L: number,
    N: number,
    I: number,
    H: number,
    mode: 0 | 1 | 3 | 4,
    lengths: Int32Array | null,
  ): boolean;
  /** Whether `layers64` takes a stack of K layers, N rows and H features. */
  layersTakes64(mode: 0 | 1 | 3 | 4, K: number, N: number, H: number): boolean;
  /** float64 `recurrenceBackward` of `recurrence64`'s modes (mode as there; dc0, dcN, c0 the LSTM's). */
  recurrenceBackward64(
    dpre: Float64Array,
    dh0: Float64Array,
    dc0: Float64Array | null,
    dwhh: Float64Array,
    dbhh: Float64Array | null,
    dout: Float64Array | null,
    dhN: Float64Array | null,
    dcN: Float64Array | null,
    out: Float64Array,
    h0: Float64Array,
    c0: Float64Array | null,
    whh: Float64Array,
    tape: Float64Array | null,
    L: number,
    N: number,
    H: number,
    outStride: number,
    outOffset: number,
    mode: 0 | 1 | 3 | 4,
    reverse: boolean,
    lengths: Int32Array | null,
    whr: Float64Array | null,
    dwhr: Float64Array | null,
    P: number,
  ): void;
  /** Whether `gatedLayers` takes a stack of K layers, N rows and H features. */
  gatedLayersTakes(lstm: boolean, K: number, N: number, H: number): boolean;
  /** [threads, blocks, team]: how the threads would share the steps of such a fused recurrence now (native/gated_jobs.h). */
  gatedSplit(lstm: boolean, N: number, H: number, P: number): [number, number, number];
  /** Its backward (native/gated_backward.h), with `RecurrenceBackwardArgs`' meanings, accumulating. */
  gatedRecurrenceBackward(
    dpre: Float32Array,
    dh0: Float32Array,
    dc0: Float32Array | null,
    dwhh: Float32Array,
    dwhr: Float32Array | null,
    dbhh: Float32Array | null,
    dout: Float32Array | null,
    dhN: Float32Array | null,
    dcN: Float32Array | null,
    out: Float32Array,
    h0: Float32Array,
    c0: Float32Array | null,
    whh: Float32Array,
    whr: Float32Array | null,
    tape: Float32Array,
    L: number,
    N: number,
    H: number,
    P: number,
    outStride: number,
    outOffset: number,
    lstm: boolean,
    reverse: boolean,
    lengths: Int32Array | null,
  ): void;
}

/** Why the addon is not in use, or null when it is. */
export let nativeUnavailable: string | null = null;

/** Where the loaded addon came from: a binary shipped in prebuilds/, or one built from source at install. */
export interface NativeOrigin {
  kind: 'prebuilt' | 'source';
  /** The binary's path (the AVX2 or NEON build; the AVX-512 build is beside it). */
  path: string;
}

/** Where the addon in use came from, or null when none loaded. */
export let nativeOrigin: NativeOrigin | null = null;

/** The two builds of native/addon.cc: AVX2 (stacked_rnn.node), and AVX-512 where the CPU has it (arm64: NEON). */
export const nativeBuilds: { avx2: NativeAddon | null; avx512: NativeAddon | null } = { avx2: null, avx512: null };

type NodeModule = typeof import('node:module');
type NodeFs = typeof import('node:fs');
type NodePath = typeof import('node:path');
type NodeUrl = typeof import('node:url');

/**
 * Finds and loads the addon: first the prebuilt binary for this platform and architecture
 * (prebuilds/<platform>-<arch>/, shipped in the package), used only when it was built from the shipped native/
 * source (its `sourceHash`, ./native-source.ts); then the one built at install (native/build/Release/).
 * STACKED_RNN_NATIVE_FROM=prebuilt or =source takes only that one.
 */
function loadAddon(): NativeAddon | null {
  // getBuiltinModule keeps node:module out of the static imports, so bundlers for the browser never see it
  const proc = (
    globalThis as {
      process?: {
        getBuiltinModule?: (id: string) => unknown;
        env?: Record<string, string | undefined>;
        platform?: string;
        arch?: string;
      };
    }
  ).process;
  const get = proc?.getBuiltinModule;
  const [nodeModule, fs, path, url] = ['node:module', 'node:fs', 'node:path', 'node:url'].map((id) => get?.(id)) as [
    NodeModule | undefined,
    NodeFs | undefined,
    NodePath | undefined,
    NodeUrl | undefined,
  ];
  if (!nodeModule || !fs || !path || !url) {
    nativeUnavailable = 'not running in Node.js';
    return null;
  }
  // the package's root, from src/kernels/ (tsx) and dist/kernels/ (built)
  const root = url.fileURLToPath(new URL('../../', import.meta.url));
  const require = nodeModule.createRequire(import.meta.url);
  const target = `${proc?.platform}-${proc?.arch}`;
  const from = proc?.env?.STACKED_RNN_NATIVE_FROM;
  const candidates: NativeOrigin[] = [
    { kind: 'prebuilt' as const, path: path.join(root, 'prebuilds', target, 'stacked_rnn.node') },
    { kind: 'source' as const, path: path.join(root, 'native', 'build', 'Release', 'stacked_rnn.node') },
  ].filter((c) => !from || c.kind === from);
  const why: string[] = [];
  for (const candidate of candidates) {
    const what = candidate.kind === 'prebuilt' ? `prebuilt binary for ${target}` : 'binary built from source';
    if (!fs.existsSync(candidate.path)) {
      why.push(`no ${what} (${candidate.path})`);
      continue;
    }
    let addon: NativeAddon;
    try {
      addon = require(candidate.path) as NativeAddon;
    } catch (e) {
      why.push(`the ${what} did not load (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    if (!addon.supported) {
      why.push(`this CPU lacks AVX2 or FMA, which the ${what} needs`);
      continue;
    }
    if (candidate.kind === 'prebuilt') {
      const shipped = nativeSourceHash(path.join(root, 'native'));
      if (shipped !== null && addon.sourceHash !== shipped) {
        why.push(
          `the ${what} was built from other native source (its hash ${addon.sourceHash || 'none'}, the shipped ` +
            `source's ${shipped}): rebuild it with npm run build:prebuilds`,
        );
        continue;
      }
    }
    nativeOrigin = candidate;
    nativeBuilds.avx2 = addon;
    // On a CPU with AVX-512, the same source built for it (loaded only once the AVX2 build has said the CPU runs
    // it): its products' tiles are twice as wide and its floats the same. STACKED_RNN_NATIVE_ISA=avx2 keeps the
    // AVX2 build.
    if (addon.avx512) {
      try {
        const wide = require(path.join(path.dirname(candidate.path), 'stacked_rnn_avx512.node')) as NativeAddon;
        if (wide.supported) nativeBuilds.avx512 = wide;
      } catch {
        // not built (an old compiler or assembler): the AVX2 build serves
      }
    }
    return proc?.env?.STACKED_RNN_NATIVE_ISA !== 'avx2' && nativeBuilds.avx512 ? nativeBuilds.avx512 : addon;
  }
  nativeUnavailable = why.join('; ');
  return null;
}

/** The loaded addon, or null (see `nativeUnavailable`). */
export const nativeAddon: NativeAddon | null = loadAddon();
if (nativeAddon)
  bindThreads({ get: () => nativeAddon.threads(), set: (n) => nativeAddon.threads(n) }, nativeAddon.first);

export interface NativeKernelOptions {
  /** The kernel's name. Default 'native'. */
  name?: string;
  /**
   * Scratch buffers (a layer's `pre` (L, N, H) or output (L, N, D*H)) shorter than this come from the reference
   * kernel (float64), which sends the whole layer to the reference, when the call does not say its work (calls
   * that do are judged by FAST_MIN_WORK multiply-adds). Default 4096; 0 runs every float32 call native.
   */
  exactBelow?: number;
}

export { EXACT_BELOW };

/** A weight packed by one addon build (native/prepared.h), as `Kernel.prepare` returns it. */
class NativePrepared implements PreparedWeight {
  constructor(
    readonly addon: NativeAddon,
    readonly handle: unknown,
    readonly bytes: number,
  ) {}
}

/**
 * A kernel over the addon: float32 buffers go to its float32 kernels, float64 ones to its float64 kernels, small
 * problems and mixed buffers to the reference kernel. In the backward, small float64 buffers beside float32 ones
 * are read and accumulated through float32 (see ./f32.ts).
 */
export function createNativeKernel(addon: NativeAddon, options: NativeKernelOptions = {}): Kernel {
  const exactBelow = options.exactBelow ?? EXACT_BELOW;
  const minWork = minWorkFor(exactBelow);
  /**
   * Whether `layers` should leave a stack to the layer-by-layer calls: too little work for this kernel
   * (FAST_MIN_WORK: the reference runs it), or a single chunk of steps (native/addon.cc's CH: 16 rows), which a
   * wavefront cannot overlap: the layers would run one after the other, plus a hand-over between the threads (a
   * step of a stream, or one forward per step, took 4x as long).
   */
  const leaveLayers = (a: LayersArgs) =>
    a.L <= (a.N >= 16 ? 1 : Math.floor(16 / a.N)) || layerWork(a.L, a.N, a.I, a.H, a.H, 1, a.mode) < minWork;
  /** The handle of a weight this addon prepared, else the array itself (packed again by the call). */
  const weight = (prepared: PreparedWeight | null | undefined, w: FloatArray): unknown =>
    prepared instanceof NativePrepared && prepared.addon === addon ? prepared.handle : w;
  /** Whether this addon has the float64 kernels (one built before them has none), and runs a call of `work` there. */
  const has64 = typeof addon.linear64 === 'function';
  const native64 = (work: number) => has64 && work >= minWork;
  /** An LSTM or GRU stack as a wavefront (native/gated_jobs.h), on the same rule as the RNN's `layers`. */
  function gatedLayers(a: LayersArgs): boolean {
    const { hN, x, h0, weights, N, H } = a;
    const lstm = a.mode === 'LSTM';
    const [c0, cN] = lstm ? [a.c0 ?? null, a.cN ?? null] : [null, null];
    if (leaveLayers(a) || !addon.gatedLayersTakes(lstm, weights.length, N, H)) return false;
    if (!allFloat32(hN, x, h0, c0, cN) || !weights.every((w) => allFloat32(w.wih, w.whh, w.bih, w.bhh))) return false;
    const outs = weights.map((_, k) => a.layerOutput(k));
    const tapes = a.layerTape ? weights.map((_, k) => (a.layerTape as (k: number) => FloatArray)(k)) : null;
    if (!allFloat32(...outs) || (tapes && !allFloat32(...tapes))) return false;
    // biome-ignore format: the addon's argument order
    return addon.gatedLayers(outs as Float32Array[], hN as Float32Array, cN as Float32Array | null, x as Float32Array, h0 as Float32Array, c0 as Float32Array | null, weights.map((w) => weight(w.prepared?.wih, w.wih as Float32Array)), weights.map((w) => weight(w.prepared?.whh, w.whh as Float32Array)), weights.map((w) => w.bih as Float32Array | null), weights.map((w) => w.bhh as Float32Array | null), tapes as Float32Array[] | null, a.L, N, a.I, H, lstm, a.lengths);
  }

  /**
   * A float64 recurrence in the addon (native/f64.h), fused with its cell's math (a projected LSTM's projection
   * too). False: not float64 or too small (the reference's).
   */
  function recurrence64(a: RecurrenceArgs): boolean {
    const { out, hN, pre, whh, h0, L, N, H, mode } = a;
    const G = gatesOf(mode);
    const [c0, cN, whr, bhh, tape] = [a.c0 ?? null, a.cN ?? null, a.whr ?? null, a.bhh ?? null, a.tape ?? null];
    if (!allFloat64(out, hN, pre, whh, h0, c0, cN, whr, bhh, tape) || !native64(L * N * G * H * (a.P ?? H)))
      return false;
    const lstm = mode === 'LSTM';
    const projection = lstm && whr !== null ? weight(a.whrPrepared, whr) : null;
    // biome-ignore format: the addon's argument order
    addon.recurrence64(out as Float64Array, hN as Float64Array, lstm ? (cN as Float64Array | null) : null, pre as Float64Array, weight(a.whhPrepared, whh), h0 as Float64Array, lstm ? (c0 as Float64Array | null) : null, mode === 'GRU' ? (bhh as Float64Array | null) : null, G > 1 ? (tape as Float64Array | null) : null, L, N, H, a.outStride, a.outOffset, MODE_CODES[mode], a.reverse, a.lengths, projection, projection === null ? H : (a.P ?? H));
    return true;
  }

  /** A float64 stack as the wavefront (native/f64_jobs.h's layers64_job), on the float32 stacks' rule. */
  function layers64(a: LayersArgs): boolean {
    const { hN, x, h0, weights, N, H, mode } = a;
    const lstm = mode === 'LSTM';
    const [c0, cN] = lstm ? [a.c0 ?? null, a.cN ?? null] : [null, null];
    if (leaveLayers(a) || !addon.layersTakes64(MODE_CODES[mode], weights.length, N, H)) return false;
    if (!allFloat64(hN, x, h0, c0, cN) || !weights.every((w) => allFloat64(w.wih, w.whh, w.bih, w.bhh))) return false;
    const outs = weights.map((_, k) => a.layerOutput(k));
    const gated = mode === 'LSTM' || mode === 'GRU';
    const tapes = gated && a.layerTape ? weights.map((_, k) => (a.layerTape as (k: number) => FloatArray)(k)) : null;
    if (!allFloat64(...outs) || (tapes && !allFloat64(...tapes))) return false;
    // biome-ignore format: the addon's argument order
    return addon.layers64(outs as Float64Array[], hN as Float64Array, cN as Float64Array | null, x as Float64Array, h0 as Float64Array, c0 as Float64Array | null, weights.map((w) => weight(w.prepared?.wih, w.wih)), weights.map((w) => weight(w.prepared?.whh, w.whh)), weights.map((w) => w.bih as Float64Array | null), weights.map((w) => w.bhh as Float64Array | null), tapes as Float64Array[] | null, a.L, N, a.I, H, MODE_CODES[mode], a.lengths);
  }

  /** The float64 backward of `recurrence64`'s calls (native/f64.h's Backward64); false as it. */
  function recurrenceBackward64(a: RecurrenceBackwardArgs): boolean {
    const { dpre, dh0, dwhh, dout, dhN, out, h0, whh, L, N, H, mode } = a;
    const G = gatesOf(mode);
    const lstm = mode === 'LSTM';
    const [dc0, dcN, c0] = lstm ? [a.dc0 ?? null, a.dcN ?? null, a.c0 ?? null] : [null, null, null];
    const [whr, dbhh, tape] = [a.whr ?? null, mode === 'GRU' ? (a.dbhh ?? null) : null, a.tape ?? null];
    if (!allFloat64(dpre, dh0, dwhh, dout, dhN, out, h0, whh, dc0, dcN, c0, whr, a.dwhr ?? null, dbhh, tape))
      return false;
    if (!native64(L * N * G * H * (a.P ?? H))) return false;
    const [projection, dwhr] =
      lstm && whr !== null ? [whr as Float64Array, (a.dwhr ?? null) as Float64Array | null] : [null, null];
    // biome-ignore format: the addon's argument order
    addon.recurrenceBackward64(dpre as Float64Array, dh0 as Float64Array, dc0 as Float64Array | null, dwhh as Float64Array, dbhh as Float64Array | null, dout as Float64Array | null, dhN as Float64Array | null, dcN as Float64Array | null, out as Float64Array, h0 as Float64Array, c0 as Float64Array | null, whh as Float64Array, G > 1 ? (tape as Float64Array | null) : null, L, N, H, a.outStride, a.outOffset, MODE_CODES[mode], a.reverse, a.lengths, projection, dwhr, projection === null ? H : (a.P ?? H));
    return true;
  }

  const kernel: Kernel = {
    ...referenceKernel,
    name: options.name ?? 'native',

    scratch: float32Scratch(exactBelow),

    prepare(w, layout: WeightLayout, O, C, into) {
      if (!(w instanceof Float32Array || (w instanceof Float64Array && has64)) || O < 1 || C < 1) {
        return null;
      }
      const old = into instanceof NativePrepared && into.addon === addon ? into : null;
      const handle = old
        ? addon.prepare(w, LAYOUT_CODES[layout], O, C, old.handle)
        : addon.prepare(w, LAYOUT_CODES[layout], O, C);
      return old?.handle === handle ? old : new NativePrepared(addon, handle, addon.preparedBytes(handle));
    },

    linear(y, x, w, b1, b2, M, C, O, prepared) {
      if (y instanceof Float32Array && x instanceof Float32Array && w instanceof Float32Array && allFloat32(b1, b2)) {
        addon.linear(y, x, weight(prepared, w), b1 as Float32Array | null, b2 as Float32Array | null, M, C, O);
      } else if (allFloat64(y, x, w, b1, b2) && native64(M * C * O)) {
        // biome-ignore format: the addon's argument order
        addon.linear64(y as Float64Array, x as Float64Array, weight(prepared, w), b1 as Float64Array | null, b2 as Float64Array | null, M, C, O);
      } else {
        referenceKernel.linear(y, x, w, b1, b2, M, C, O);
      }
    },

    recurrence(a: RecurrenceArgs) {
      if (recurrence64(a)) return;
      // LSTM and GRU: fused (native/gated.h) when every buffer is float32; else the gate math in plain loops
      // around this kernel's products (./gated.ts), which hands float64 to the reference kernel
      if (a.mode === 'LSTM' || a.mode === 'GRU') {
        const lstm = a.mode === 'LSTM';
        const [c0, cN, whr, bhh, tape] = [a.c0 ?? null, a.cN ?? null, a.whr ?? null, a.bhh ?? null, a.tape ?? null];
        if (allFloat32(a.out, a.hN, a.pre, a.whh, a.h0, c0, cN, whr, bhh, tape)) {
          // biome-ignore format: the addon's argument order
          addon.gatedRecurrence(a.out as Float32Array, a.hN as Float32Array, lstm ? (cN as Float32Array | null) : null, a.pre as Float32Array, weight(a.whhPrepared, a.whh as Float32Array), a.h0 as Float32Array, lstm ? (c0 as Float32Array | null) : null, whr === null ? null : weight(a.whrPrepared, whr as Float32Array), lstm ? null : (bhh as Float32Array | null), tape as Float32Array | null, a.L, a.N, a.H, a.P ?? a.H, a.outStride, a.outOffset, lstm, a.reverse, a.lengths);
        } else {
          gatedRecurrence(kernel, a);
        }
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
        addon.recurrence(
          out,
          hN,
          pre,
          weight(a.whhPrepared, whh),
          h0,
          a.L,
          a.N,
          a.H,
          a.outStride,
          a.outOffset,
          relu,
          a.reverse,
          a.lengths,
        );
      } else {
        referenceKernel.recurrence(a);
      }
    },

    layers(a: LayersArgs): boolean {
      if (a.x instanceof Float64Array) return has64 && layers64(a);
      if (a.mode === 'LSTM' || a.mode === 'GRU') return gatedLayers(a);
      const { hN, x, h0, weights, N, H } = a;
      // Decided before any buffer is made: small problems go to the reference kernel (its float64 scratch), and
      // the rest of the rule is the addon's (two threads or more, and a step the recurrence would not share).
      if (leaveLayers(a) || !addon.layersTakes(weights.length, N, H)) return false;
      if (!allFloat32(hN, x, h0) || !weights.every((w) => allFloat32(w.wih, w.whh, w.bih, w.bhh))) return false;
      const outs = weights.map((_, k) => a.layerOutput(k));
      if (!allFloat32(...outs)) return false;
      // biome-ignore format: the addon's argument order
      return addon.layers(outs as Float32Array[], hN as Float32Array, x as Float32Array, h0 as Float32Array, weights.map((w) => weight(w.prepared?.wih, w.wih as Float32Array)), weights.map((w) => weight(w.prepared?.whh, w.whh as Float32Array)), weights.map((w) => w.bih as Float32Array | null), weights.map((w) => w.bhh as Float32Array | null), a.L, N, a.I, H, a.mode === 'RNN_RELU', a.lengths);
    },

    linearBackward(dx, dw, db1, db2, dy, x, w, M, C, O) {
      if (allFloat64(dx, dw, db1, db2, dy, x, w) && native64(M * C * O)) {
        // biome-ignore format: the addon's argument order
        addon.linearBackward64(dx as Float64Array | null, dw as Float64Array, db1 as Float64Array | null, db2 as Float64Array | null, dy as Float64Array, x as Float64Array, w as Float64Array, M, C, O);
        return;
      }
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
      if (recurrenceBackward64(a)) return;
      if (a.mode === 'LSTM' || a.mode === 'GRU') {
        const lstm = a.mode === 'LSTM';
        const [whr, dwhr, dbhh, tape] = [a.whr ?? null, a.dwhr ?? null, a.dbhh ?? null, a.tape ?? null];
        if (tape instanceof Float32Array && allFloat32(a.dpre, a.dwhh, a.out, a.whh, a.dout, whr, dwhr, dbhh)) {
          // small float64 buffers beside float32 ones (states and their gradients) go through float32
          const [dh0, flushH] = sinkF32(a.dh0);
          const [dc0, flushC] = sinkF32(lstm ? (a.dc0 ?? null) : null);
          const [dhN, dcN] = [readF32(a.dhN), lstm ? readF32(a.dcN ?? null) : null];
          const [h0, c0] = [readF32(a.h0) as Float32Array, lstm ? readF32(a.c0 ?? null) : null];
          // biome-ignore format: the addon's argument order
          addon.gatedRecurrenceBackward(a.dpre as Float32Array, dh0, dc0, a.dwhh as Float32Array, dwhr as Float32Array | null, lstm ? null : (dbhh as Float32Array | null), a.dout as Float32Array | null, dhN, dcN, a.out as Float32Array, h0, c0, a.whh as Float32Array, whr as Float32Array | null, tape, a.L, a.N, a.H, a.P ?? a.H, a.outStride, a.outOffset, lstm, a.reverse, a.lengths);
          flushH();
          flushC();
        } else {
          gatedRecurrenceBackward(kernel, a);
        }
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
