/**
 * The WebAssembly kernels' exports (native/wasm.cc, and native/wasm_threads.cc's additions) and the layout of one
 * call's arrays in the module's memory.
 */
import type { FloatArray } from '../../dtype.js';

/** What a call's layout needs of an instance: its memory and where its arrays may start. */
export interface WasmMemory {
  memory: WebAssembly.Memory;
  /** Where a call's arrays may start: the module's __heap_base, or above the workers' stacks (./pool.ts). */
  __heap_base: { readonly value: number };
  /** The threaded build (native/wasm_threads.cc): where the jobs' own allocations start, for the next call. */
  set_arena?(at: number): void;
  /**
   * The threaded build's pool: `bytes` kept between calls (a prepared weight) below every call's arrays and the
   * workers' stacks, at the returned offset. The one-thread builds' kernels keep such blocks themselves.
   */
  reserve?(bytes: number): number;
}

export interface WasmExports extends WasmMemory {
  panel_width(): number;
  // biome-ignore format: one line per C signature
  linear(y: number, x: number, w: number, b1: number, b2: number, M: number, C: number, O: number, Bp: number): void;
  // biome-ignore format: one line per C signature
  recurrence(out: number, hN: number, pre: number, whh: number, h0: number, L: number, N: number, H: number, outStride: number, outOffset: number, relu: number, reverse: number, lengths: number, Bp: number, buf: number): void;
  // biome-ignore format: one line per C signature
  linear_backward(dx: number, dw: number, db1: number, db2: number, dy: number, x: number, w: number, M: number, C: number, O: number, Bp: number, work: number, acc: number, bsum: number): void;
  // biome-ignore format: one line per C signature
  recurrence_backward(dpre: number, dh0: number, dwhh: number, dout: number, dhN: number, out: number, h0: number, whh: number, L: number, N: number, H: number, outStride: number, outOffset: number, relu: number, reverse: number, lengths: number, Z: number, Bp: number, dh: number, zero: number, work: number, acc: number): void;
  gated_work_bytes(backward: number, lstm: number, L: number, N: number, H: number, P: number): number;
  // biome-ignore format: one line per C signature
  gated_recurrence(out: number, hN: number, cN: number, pre: number, whh: number, h0: number, c0: number, whr: number, bhh: number, tape: number, L: number, N: number, H: number, P: number, outStride: number, outOffset: number, lstm: number, reverse: number, lengths: number, work: number, whhPacked: number, whrPacked: number): void;
  /** w (O, C) packed at Bp as `layout` lays it out (0 panels, 3 the GRU's W_hh, 4 the LSTM's): a prepared weight. */
  pack(Bp: number, w: number, layout: number, O: number, C: number): void;
  /** The floats `pack` writes. */
  packed_floats(layout: number, O: number, C: number): number;
  // biome-ignore format: one line per C signature
  gated_recurrence_backward(dpre: number, dh0: number, dc0: number, dwhh: number, dwhr: number, dbhh: number, dout: number, dhN: number, dcN: number, out: number, h0: number, c0: number, whh: number, whr: number, tape: number, L: number, N: number, H: number, P: number, outStride: number, outOffset: number, lstm: number, reverse: number, lengths: number, work: number): void;
  grad_weight_floats(O: number, C: number): number;
  grad_weight_doubles(O: number, C: number): number;
  /** The threaded build: whether `layers` / `gated_layers` take such a stack (the wavefront, on 2+ threads). */
  layers_takes?(K: number, N: number, H: number): number;
  gated_layers_takes?(lstm: number, K: number, N: number, H: number): number;
  // biome-ignore format: one line per C signature
  layers?(outs: number, hN: number, x: number, h0: number, wih: number, whh: number, bih: number, bhh: number, L: number, N: number, I: number, H: number, K: number, relu: number, lengths: number): number;
  // biome-ignore format: one line per C signature
  gated_layers?(outs: number, hN: number, cN: number, x: number, h0: number, c0: number, wih: number, whh: number, bih: number, bhh: number, tapes: number, L: number, N: number, I: number, H: number, K: number, lstm: number, lengths: number): number;
}

/** The float64 build's exports (native/wasm_f64.cc, native/f64_wasm.h). */
export interface Wasm64Exports extends WasmMemory {
  pack64(Bp: number, w: number, layout: number, O: number, C: number): void;
  packed64_doubles(layout: number, O: number, C: number): number;
  linear64(y: number, x: number, w: number, b1: number, b2: number, M: number, C: number, O: number, Bp: number): void;
  // biome-ignore format: one line per C signature
  recurrence64(out: number, hN: number, cN: number, pre: number, whh: number, h0: number, c0: number, bhh: number, tape: number, L: number, N: number, H: number, outStride: number, outOffset: number, mode: number, reverse: number, lengths: number, Bp: number, state: number): void;
  gw64_doubles(O: number, C: number): number;
  // biome-ignore format: one line per C signature
  linear_backward64(dx: number, dw: number, db1: number, db2: number, dy: number, x: number, w: number, M: number, C: number, O: number, Bp: number, work: number, bsum: number): void;
  // biome-ignore format: one line per C signature
  recurrence_backward64(dpre: number, dh0: number, dc0: number, dwhh: number, dbhh: number, dout: number, dhN: number, dcN: number, out: number, h0: number, c0: number, whh: number, tape: number, L: number, N: number, H: number, outStride: number, outOffset: number, mode: number, reverse: number, lengths: number, Z: number, Bp: number, state: number, work: number, bsum: number): void;
}

/** Byte offsets in the module's memory for one call's arrays, laid out from __heap_base, 64-byte aligned. */
export class Layout {
  private end: number;
  /** `start`: where the call's arrays may begin (above blocks kept between calls); default __heap_base. */
  constructor(
    private readonly w: WasmMemory,
    start = Number(w.__heap_base.value),
  ) {
    this.end = start;
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
    this.w.set_arena?.(this.end);
  }
  i32(at: number, length: number): Int32Array {
    return new Int32Array(this.w.memory.buffer, at, length);
  }
  f32(at: number, length: number): Float32Array {
    return new Float32Array(this.w.memory.buffer, at, length);
  }
  /** Takes room for `a` (none when null: address 0) to be copied in with `put` once committed. */
  array(a: FloatArray | null, length: number): number {
    return a ? this.take(4 * length) : 0;
  }
  /** Copies a (float32) array in at `at`. */
  put(at: number, a: FloatArray | null, length: number): void {
    if (a) this.f32(at, length).set(a.subarray(0, length));
  }
  /** Copies `length` floats at `at` back out into `a`. */
  get(at: number, a: FloatArray | null, length: number): void {
    if (a) a.set(this.f32(at, length));
  }
  f64(at: number, length: number): Float64Array {
    return new Float64Array(this.w.memory.buffer, at, length);
  }
  /** Takes room for a float64 array (none when null: address 0), as `array`. */
  array64(a: FloatArray | null, length: number): number {
    return a ? this.take(8 * length) : 0;
  }
  /** Copies a float64 array in at `at`. */
  put64(at: number, a: FloatArray | null, length: number): void {
    if (a) this.f64(at, length).set(a.subarray(0, length));
  }
  /** Copies `length` doubles at `at` back out into `a`. */
  get64(at: number, a: FloatArray | null, length: number): void {
    if (a) a.set(this.f64(at, length));
  }
}

/**
 * Blocks of an instance's memory kept between calls (prepared weights), below every call's arrays: in the pool's
 * kept region (`reserve`, below the workers' stacks too), or from the top of the kept blocks up in a one-thread
 * build. A collected owner's block goes back, by size, to the next block of that size.
 */
export class KeptBlocks {
  private top: number;
  private readonly free = new Map<number, number[]>();
  private readonly collected = new FinalizationRegistry<[number, number]>(([at, bytes]) => {
    this.free.set(bytes, [...(this.free.get(bytes) ?? []), at]);
  });
  constructor(private readonly w: WasmMemory) {
    this.top = Number(w.__heap_base.value);
  }
  /** The offset of `bytes` kept until `release` is registered and its owner collected. */
  keep(bytes: number): number {
    const reused = this.free.get(bytes)?.pop();
    if (reused !== undefined) return reused;
    if (this.w.reserve) return this.w.reserve(bytes);
    const at = Math.ceil(Math.max(this.top, Number(this.w.__heap_base.value)) / 64) * 64;
    this.top = at + bytes;
    const have = this.w.memory.buffer.byteLength;
    if (this.top > have) this.w.memory.grow(Math.ceil((this.top - have) / 65536));
    return at;
  }
  /** The block at `at` of `bytes` returns once `owner` is collected. */
  release(owner: object, at: number, bytes: number): void {
    this.collected.register(owner, [at, bytes]);
  }
  /** A call's arrays, above the kept blocks. */
  layout(): Layout {
    return new Layout(this.w, Math.max(this.top, Number(this.w.__heap_base.value)));
  }
}
