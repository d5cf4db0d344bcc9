/**
 * The optimizers' fast path: one call steps every float32 parameter (Adam, AdamW, SGD), and one call sums every
 * gradient's squares for clipGradNorm, in the kernel in use - native/optim_addon.h in the native addon (threaded),
 * native/optim_wasm.h in WebAssembly (on the threaded build's pool: native/wasm_optim_pool.h), a call per group of
 * parameters whose arrays fit in 4 MiB (all of a small model's). Both run native/optim.h, which gives the same floats as the scalar steps of
 * ./optim.ts and ./clip.ts bit for bit (those stay the reference, and run float64 parameters and the reference
 * kernel).
 */
import { getKernel } from '../kernels/index.js';
import type { Kernel } from '../kernels/kernel.js';
import { nativeAddon } from '../kernels/native.js';
import type { Layout, WasmExports } from '../kernels/wasm/memory.js';
import { wasmKernelCalls } from '../kernels/wasm/wasm.js';

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

/**
 * The optimizer exports of native/optim_wasm.h (the threaded build's, on its pool: native/wasm_optim_pool.h): the
 * parameters of a table per call.
 */
interface WasmOptim {
  optim_blocks_bytes(P: number, total: number): number;
  optim_adam(arrays: number, n: number, P: number, consts: number, blocks: number): void;
  optim_sgd(arrays: number, n: number, P: number, consts: number, blocks: number): void;
  optim_sum_squares(x: number, n: number, P: number, out: number, blocks: number): void;
  optim_scale(x: number, n: number, P: number, coef: number, blocks: number): void;
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
 * The bytes of arrays one call takes at most (bar a parameter larger than that alone), or on the threaded build a
 * block of OPTIM_BLOCK elements per thread if that is more: a group's copies, step and copies back then stay in
 * the cache (one call over 1 M parameters' 21 MB was slower, 5-6 ms against 4.2 for Adam, docs/performance.md).
 */
const CALL_BYTES = 1 << 22;
const OPTIM_BLOCK = 1 << 16;

/** One call's arguments: the table of addresses, the lengths, the count, the constants, `blocks` and the sums. */
type Call = (table: number, n: number, P: number, consts: number, blocks: number, sums: number) => void;

/**
 * Over a WebAssembly kernel's instance: the arrays of as many parameters as fit in a group are copied into its
 * memory (above the blocks the kernel keeps there), stepped in one call - on the threaded build's pool, its blocks
 * split between the threads - and the changed ones copied back. A gradient that is its parameter is copied once.
 */
function wasmOptim(name: string, calls: { exports: WasmExports; layout: () => Layout }): OptimKernel | null {
  const w = calls.exports as unknown as Partial<WasmOptim>;
  if (!w.optim_blocks_bytes || !w.optim_adam || !w.optim_sgd || !w.optim_sum_squares || !w.optim_scale) return null;
  const x = w as WasmOptim;
  const memory = () => calls.exports.memory.buffer;
  const threads = (calls.exports as { get_threads?: () => number }).get_threads ?? (() => 1);

  /**
   * Runs `call` over the parameters in groups of at most `most` bytes. lists: the K arrays of each parameter (p first;
   * null: none, address 0), `back` says which are copied back; consts: `head` shared entries, then `per` for each
   * parameter; sums: out[i] from the call's doubles, when given.
   */
  function each(
    lists: (Float32Array | null)[][],
    back: boolean[],
    consts: { c: Float64Array; head: number; per: number } | null,
    call: Call,
    out: Float64Array | null = null,
  ): void {
    const K = lists.length;
    const p = lists[0] as Float32Array[];
    const most = Math.max(CALL_BYTES, threads() * K * 4 * OPTIM_BLOCK);
    const array = (k: number, i: number) => lists[k]?.[i] ?? null;
    for (let i0 = 0; i0 < p.length; ) {
      let [i1, bytes] = [i0, 0];
      while (i1 < p.length && (i1 === i0 || bytes + 4 * K * (p[i1] as Float32Array).length <= most)) {
        bytes += 4 * K * (p[i1] as Float32Array).length;
        i1++;
      }
      const P = i1 - i0;
      const m = calls.layout();
      const [table, lengths, sums] = [m.take(4 * K * P), m.take(4 * P), out ? m.take(8 * P) : 0];
      const c = consts ? m.take(8 * (consts.head + consts.per * P)) : 0;
      const at: number[] = [];
      let total = 0;
      for (let i = i0; i < i1; i++) {
        const n = (p[i] as Float32Array).length;
        total += n;
        for (let k = 0; k < K; k++) {
          const a = array(k, i);
          // a gradient (k 1) that is its parameter shares the parameter's copy
          at.push(a === null ? 0 : k === 1 && a === p[i] ? (at[at.length - 1] as number) : m.take(4 * n));
        }
      }
      const blocks = m.take(x.optim_blocks_bytes(P, total));
      m.commit();
      new Uint32Array(memory(), table, K * P).set(at);
      new Int32Array(memory(), lengths, P).set(p.slice(i0, i1).map((a) => a.length));
      if (consts) {
        const { c: all, head, per } = consts;
        const view = new Float64Array(memory(), c, head + per * P);
        view.set(all.subarray(0, head));
        view.set(all.subarray(head + per * i0, head + per * i1), head);
      }
      const address = (k: number, i: number) => at[(i - i0) * K + k] as number;
      for (let i = i0; i < i1; i++) {
        for (let k = 0; k < K; k++) {
          if (!(k === 1 && array(k, i) === p[i])) m.put(address(k, i), array(k, i), (p[i] as Float32Array).length);
        }
      }
      call(table, lengths, P, c, blocks, sums);
      for (let i = i0; i < i1; i++) {
        for (let k = 0; k < K; k++) if (back[k]) m.get(address(k, i), array(k, i), (p[i] as Float32Array).length);
      }
      out?.set(new Float64Array(memory(), sums, P), i0);
      i0 = i1;
    }
  }

  return {
    name,
    adamStep(p, g, m, v, vmax, c) {
      const lists = [p, g, m, v, vmax ?? p.map(() => null)];
      const consts = { c, head: 10, per: 2 };
      each(lists, [true, false, true, true, true], consts, (t, n, P, k, b) => x.optim_adam(t, n, P, k, b));
    },
    sgdStep(p, g, buf, c) {
      const consts = { c, head: 7, per: 1 };
      each([p, g, buf], [true, false, true], consts, (t, n, P, k, b) => x.optim_sgd(t, n, P, k, b));
    },
    sumSquares(arrays, out) {
      each([arrays], [false], null, (t, n, P, _k, b, sums) => x.optim_sum_squares(t, n, P, sums, b), out);
    },
    scale(arrays, coef) {
      each([arrays], [true], null, (t, n, P, _k, b) => x.optim_scale(t, n, P, coef, b));
    },
  };
}

/** Each WebAssembly kernel's fast path, made on first use. */
const byWasmKernel = new WeakMap<Kernel, OptimKernel | null>();

const nativeFast = nativeOptim();

/**
 * The fast path of the kernel in use (`getKernel()`: STACKED_RNN_BACKEND, or the fastest), or null where it has
 * none (the reference kernel, a kernel without these entry points): then ./optim.ts and ./clip.ts step in JS.
 * WebAssembly kernels step on their own instance: the threaded one on its pool.
 */
export function optimKernel(): OptimKernel | null {
  const kernel = getKernel();
  if (kernel.name === 'native') return nativeFast;
  if (!byWasmKernel.has(kernel)) {
    const calls = wasmKernelCalls.get(kernel);
    byWasmKernel.set(kernel, calls ? wasmOptim(kernel.name, calls) : null);
  }
  return byWasmKernel.get(kernel) ?? null;
}
