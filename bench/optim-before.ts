/**
 * The WebAssembly optimizer path as it was before the one-call version (commit 69106d6), for `--optim` to time in
 * the same run: that commit's one-thread build (read with git), each parameter's arrays copied into its memory,
 * stepped by one call per parameter and copied back; the clip's sums and scaling likewise, one array a call.
 */
import { execFileSync } from 'node:child_process';
import { wasmBytes } from '../src/kernels/wasm/decode.js';

export const BEFORE = '69106d6';

interface Before {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  // biome-ignore format: the C signature
  optim_adam(p: number, g: number, m: number, v: number, vmax: number, n: number, consts: number, i: number): void;
  optim_sum_squares(x: number, n: number): number;
  optim_scale(x: number, n: number, coef: number): void;
}

/** Adam and the clip's two calls of that commit, or null where git or the commit is not there. */
export function beforeOptim(): {
  adamStep(p: Float32Array[], g: Float32Array[], m: Float32Array[], v: Float32Array[], consts: Float64Array): void;
  clip(x: Float32Array[], coef: number): Float64Array;
} | null {
  let source: string;
  try {
    source = execFileSync('git', ['show', `${BEFORE}:src/kernels/wasm/binary.ts`], { encoding: 'utf8' });
  } catch {
    return null;
  }
  const base64 = source.slice(source.indexOf("'") + 1, source.lastIndexOf("'"));
  const x = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes(base64)), {}).exports as unknown as Before;
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
    adamStep(p, g, m, v, consts) {
      p.forEach((pi, i) => {
        const n = pi.length;
        const at = lay(n, 5, consts) as [number, number, number, number, number, number];
        const arrays = [pi, g[i], m[i], v[i]] as Float32Array[];
        arrays.forEach((a, k) => put(at[k] as number, a, n));
        x.optim_adam(at[0], at[1], at[2], at[3], 0, n, at[5], i);
        for (const k of [0, 2, 3]) get(at[k] as number, arrays[k] as Float32Array, n);
      });
    },
    clip(arrays, coef) {
      const out = Float64Array.from(arrays, (a) => {
        const at = lay(a.length, 1, null);
        put(at[0] as number, a, a.length);
        return x.optim_sum_squares(at[0] as number, a.length);
      });
      for (const a of arrays) {
        const at = lay(a.length, 1, null);
        put(at[0] as number, a, a.length);
        x.optim_scale(at[0] as number, a.length, coef);
        get(at[0] as number, a, a.length);
      }
      return out;
    },
  };
}
