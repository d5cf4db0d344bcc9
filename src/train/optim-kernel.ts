/**
 * The optimizers' fast path: one call steps every float32 parameter (Adam, AdamW, SGD), and one call sums every
 * gradient's squares for clipGradNorm, in the kernel in use - native/optim_addon.h in the native addon (threaded),
 * native/optim_wasm.h in WebAssembly. Both run native/optim.h, which gives the same floats as the scalar steps of
 * ./optim.ts and ./clip.ts bit for bit (those stay the reference, and run float64 parameters and the reference
 * kernel).
 */
import { getKernel } from '../kernels/index.js';
import { nativeAddon } from '../kernels/native.js';
import type { WasmExports } from '../kernels/wasm/memory.js';
import { wasmExports } from '../kernels/wasm/wasm.js';

/** What a kernel offers the optimizers (the layouts of `consts` are native/optim_addon.h's). */
export interface OptimKernel {
  readonly name: string;
  // biome-ignore format: one line per C signature
  adamStep(p: Float32Array[], g: Float32Array[], m: Float32Array[], v: Float32Array[], vmax: Float32Array[] | null, consts: Float64Array): void;
  sgdStep(p: Float32Array[], g: Float32Array[], buf: (Float32Array | null)[], consts: Float64Array): void;
  /** out[i] = the sum of squares of x[i], in native/optim.h's order (./clip.ts sums the same way). */
  sumSquares(x: Float32Array[], out: Float64Array): void;
  /** x[i] *= coef, each product rounded to float32. */
  scale(x: Float32Array[], coef: number): void;
}

/** The optimizer entry points of native/addon.cc (absent from an addon built before them). */
type NativeOptim = Omit<OptimKernel, 'name'>;

/** The optimizer exports of native/wasm.cc (native/optim_wasm.h), on one array each. */
interface WasmOptim {
  memory: WebAssembly.Memory;
  __heap_base: { readonly value: number };
  // biome-ignore format: one line per C signature
  optim_adam(p: number, g: number, m: number, v: number, vmax: number, n: number, consts: number, i: number): void;
  optim_sgd(p: number, g: number, buf: number, n: number, consts: number, i: number): void;
  optim_sum_squares(x: number, n: number): number;
  optim_scale(x: number, n: number, coef: number): void;
}

function nativeOptim(): OptimKernel | null {
  const a = nativeAddon as unknown as Partial<NativeOptim> | null;
  if (!a?.adamStep || !a.sgdStep || !a.sumSquares || !a.scale) return null;
  const n = a as NativeOptim;
  return {
    name: 'native',
    adamStep: (p, g, m, v, vmax, c) => n.adamStep(p, g, m, v, vmax, c),
    sgdStep: (p, g, buf, c) => n.sgdStep(p, g, buf, c),
    sumSquares: (x, out) => n.sumSquares(x, out),
    scale: (x, coef) => n.scale(x, coef),
  };
}

/**
 * Over the one-thread WebAssembly module: each parameter's arrays are copied into its memory, stepped, and the
 * changed ones copied back (the copies cost about what the step does; the step itself is SIMD, one pass).
 */
function wasmOptim(exports: WasmExports | null): OptimKernel | null {
  const w = exports as unknown as Partial<WasmOptim> | null;
  if (!w?.optim_adam || !w.optim_sgd || !w.optim_sum_squares || !w.optim_scale) return null;
  const x = w as WasmOptim;
  /** Room for `count` arrays of n floats and the constants, from __heap_base; their addresses. */
  const lay = (n: number, count: number, consts: Float64Array | null): number[] => {
    const base = Math.ceil(Number(x.__heap_base.value) / 64) * 64;
    const stride = Math.ceil((4 * n) / 64) * 64;
    const end = base + count * stride + (consts ? 8 * consts.length : 0);
    const have = x.memory.buffer.byteLength;
    if (end > have) x.memory.grow(Math.ceil((end - have) / 65536));
    if (consts) new Float64Array(x.memory.buffer, base + count * stride, consts.length).set(consts);
    return Array.from({ length: count + 1 }, (_, k) => base + k * stride);
  };
  const put = (at: number, a: Float32Array, n: number) =>
    new Float32Array(x.memory.buffer, at, n).set(a.subarray(0, n));
  const get = (at: number, a: Float32Array, n: number) => a.set(new Float32Array(x.memory.buffer, at, n));
  return {
    name: 'wasm',
    adamStep(p, g, m, v, vmax, consts) {
      p.forEach((pi, i) => {
        const n = pi.length;
        const at = lay(n, 5, consts);
        const arrays = [pi, g[i], m[i], v[i], vmax?.[i] ?? null];
        arrays.forEach((a, k) => a && put(at[k] as number, a, n));
        // biome-ignore format: the C signature
        x.optim_adam(at[0] as number, at[1] as number, at[2] as number, at[3] as number, vmax ? (at[4] as number) : 0, n, at[5] as number, i);
        [0, 2, 3, 4].forEach((k) => {
          const a = arrays[k];
          if (a) get(at[k] as number, a, n);
        });
      });
    },
    sgdStep(p, g, buf, consts) {
      p.forEach((pi, i) => {
        const n = pi.length;
        const at = lay(n, 3, consts);
        const b = buf[i] ?? null;
        put(at[0] as number, pi, n);
        put(at[1] as number, g[i] as Float32Array, n);
        if (b) put(at[2] as number, b, n);
        x.optim_sgd(at[0] as number, at[1] as number, b ? (at[2] as number) : 0, n, at[3] as number, i);
        get(at[0] as number, pi, n);
        if (b) get(at[2] as number, b, n);
      });
    },
    sumSquares(arrays, out) {
      arrays.forEach((a, i) => {
        const at = lay(a.length, 1, null);
        put(at[0] as number, a, a.length);
        out[i] = x.optim_sum_squares(at[0] as number, a.length);
      });
    },
    scale(arrays, coef) {
      for (const a of arrays) {
        const at = lay(a.length, 1, null);
        put(at[0] as number, a, a.length);
        x.optim_scale(at[0] as number, a.length, coef);
        get(at[0] as number, a, a.length);
      }
    },
  };
}

const byKernel = new Map<string, OptimKernel | null>([
  ['native', nativeOptim()],
  ['wasm', wasmOptim(wasmExports)],
]);

/**
 * The fast path of the kernel in use (`getKernel()`: STACKED_RNN_BACKEND, or the fastest), or null where it has
 * none (the reference kernel, a kernel without these entry points): then ./optim.ts and ./clip.ts step in JS.
 */
export function optimKernel(): OptimKernel | null {
  const name = getKernel().name;
  // the threaded WebAssembly kernel steps on the one-thread module's entry points (same floats)
  return byKernel.get(name === 'wasm-threads' ? 'wasm' : name) ?? null;
}
