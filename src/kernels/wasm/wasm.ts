/**
 * The WebAssembly kernel: native/core.h compiled for WebAssembly SIMD (scripts/build-wasm.sh), for the browser
 * and for Node.js without the native addon. It ships inside this module as base64, so it needs no download and
 * no build step; it is compiled synchronously on first import (about 20 KB) and runs on the calling thread.
 *
 * Each call copies its arrays into the module's memory, runs, and copies the results back: the copies are
 * O(rows x features), the work O(rows x features x features). Precision and the hand-off of small problems and
 * float64 to the reference kernel are as for the native kernel (see ../native.ts).
 */
import type { FloatArray } from '../../tensor.js';
import type { Kernel, RecurrenceArgs } from '../kernel.js';
import { referenceKernel } from '../reference.js';
import { WASM_KERNEL_BASE64 } from './binary.js';

interface WasmExports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  panel_width(): number;
  // biome-ignore format: one line per C signature
  linear(y: number, x: number, w: number, b1: number, b2: number, M: number, C: number, O: number, Bp: number): void;
  // biome-ignore format: one line per C signature
  recurrence(out: number, hN: number, pre: number, whh: number, h0: number, L: number, N: number, H: number, outStride: number, outOffset: number, relu: number, reverse: number, lengths: number, Bp: number, buf: number): void;
}

/** Why the WebAssembly kernel is not in use, or null when it is. */
export let wasmUnavailable: string | null = null;

function instantiate(): WasmExports | null {
  try {
    const bytes = Uint8Array.from(atob(WASM_KERNEL_BASE64), (c) => c.charCodeAt(0));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    return instance.exports as unknown as WasmExports;
  } catch (e) {
    wasmUnavailable = `WebAssembly SIMD is unavailable (${(e as Error).message})`;
    return null;
  }
}

/** Byte offsets in the module's memory for one call's arrays, laid out from __heap_base, 64-byte aligned. */
class Layout {
  private end: number;
  constructor(private readonly w: WasmExports) {
    this.end = Number(w.__heap_base.value);
  }
  take(bytes: number): number {
    const at = Math.ceil(this.end / 64) * 64;
    this.end = at + bytes;
    return at;
  }
  /** Grows the memory to hold everything taken; views made before this may be detached. */
  commit(): void {
    const have = this.w.memory.buffer.byteLength;
    if (this.end > have) this.w.memory.grow(Math.ceil((this.end - have) / 65536));
  }
  f32(at: number, length: number): Float32Array {
    return new Float32Array(this.w.memory.buffer, at, length);
  }
}

export interface WasmKernelOptions {
  /** The kernel's name. Default 'wasm'. */
  name?: string;
  /** As for the native kernel: scratch buffers shorter than this go to the reference. Default 4096. */
  exactBelow?: number;
}

/** A kernel over a WebAssembly instance: float32 buffers go to it, anything else to the reference kernel. */
export function createWasmKernel(w: WasmExports, options: WasmKernelOptions = {}): Kernel {
  const exactBelow = options.exactBelow ?? 4096;
  const NR = w.panel_width();
  const panels = (O: number) => Math.ceil(O / NR) * NR;
  return {
    ...referenceKernel,
    name: options.name ?? 'wasm',

    scratch(like: FloatArray, length: number): FloatArray {
      return like instanceof Float32Array && length >= exactBelow
        ? new Float32Array(length)
        : referenceKernel.scratch(like, length);
    },

    linear(y, x, wt, b1, b2, M, C, O) {
      const f32 = (a: FloatArray | null) => a === null || a instanceof Float32Array;
      if (!(f32(y) && f32(x) && f32(wt) && f32(b1) && f32(b2))) {
        referenceKernel.linear(y, x, wt, b1, b2, M, C, O);
        return;
      }
      const m = new Layout(w);
      const [py, px, pw] = [m.take(4 * M * O), m.take(4 * M * C), m.take(4 * O * C)];
      const pb1 = b1 ? m.take(4 * O) : 0;
      const pb2 = b2 ? m.take(4 * O) : 0;
      const bp = m.take(4 * panels(O) * C);
      m.commit();
      m.f32(px, M * C).set(x.subarray(0, M * C));
      m.f32(pw, O * C).set(wt.subarray(0, O * C));
      if (b1) m.f32(pb1, O).set(b1.subarray(0, O));
      if (b2) m.f32(pb2, O).set(b2.subarray(0, O));
      w.linear(py, px, pw, pb1, pb2, M, C, O, bp);
      y.set(m.f32(py, M * O));
    },

    recurrence(a: RecurrenceArgs) {
      const { out, hN, pre, whh, h0, L, N, H, lengths } = a;
      if (![out, hN, pre, whh, h0].every((v) => v instanceof Float32Array)) {
        referenceKernel.recurrence(a);
        return;
      }
      const m = new Layout(w);
      const outLength = L * N * a.outStride;
      const [pout, phN, ppre, pwhh, ph0] = [
        m.take(4 * outLength),
        m.take(4 * N * H),
        m.take(4 * L * N * H),
        m.take(4 * H * H),
        m.take(4 * N * H),
      ];
      const plen = lengths ? m.take(4 * N) : 0;
      const [bp, buf] = [m.take(4 * panels(H) * H), m.take(8 * N * H)];
      m.commit();
      // the other direction's half of `out` must survive the round trip
      m.f32(pout, outLength).set(out.subarray(0, outLength));
      m.f32(ppre, L * N * H).set(pre.subarray(0, L * N * H));
      m.f32(pwhh, H * H).set(whh.subarray(0, H * H));
      m.f32(ph0, N * H).set(h0.subarray(0, N * H));
      if (lengths) new Int32Array(w.memory.buffer, plen, N).set(lengths.subarray(0, N));
      const relu = a.nonlinearity === 'relu' ? 1 : 0;
      w.recurrence(
        pout,
        phN,
        ppre,
        pwhh,
        ph0,
        L,
        N,
        H,
        a.outStride,
        a.outOffset,
        relu,
        a.reverse ? 1 : 0,
        plen,
        bp,
        buf,
      );
      out.set(m.f32(pout, outLength));
      hN.set(m.f32(phN, N * H));
    },
  };
}

/** The module's exports, or null (see `wasmUnavailable`). */
export const wasmExports: WasmExports | null = instantiate();

/** The WebAssembly kernel, or null when WebAssembly SIMD is unavailable. */
export const wasmKernel: Kernel | null = wasmExports ? createWasmKernel(wasmExports) : null;
